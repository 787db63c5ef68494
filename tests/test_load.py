"""Tests for importer.read: every format, exact row numbers, text kept as written, bad files."""

from __future__ import annotations

import codecs
import csv
import hashlib
import importlib.util
import io
import re
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import openpyxl
import pandas as pd
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import importer.read._csv as csv_reader
from importer.cli._options import say
from importer.errors import InputError
from importer.read import Chunk, Table, find_column, list_sheets, open_table
from importer.read._csv import OPEN_QUOTE
from importer.read._excel import has_error_cells
from importer.read._xlsx_formats import padding_format, zero_padded

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
BAD = Path(__file__).resolve().parent / "data" / "bad"
COLUMNS = [
    "First Name",
    "Last Name",
    "Phone",
    "E-mail",
    "Callback Time",
    "Amount",
    "State",
    "ZIP",
    "Source",
]
SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.suffix not in (".py", ".md"))
# tokens.csv has its own columns (a token per row); every other sample has COLUMNS.
# The samples of a lead source have their own columns, read by their own mapping.
LEAD_SAMPLES = [
    p
    for p in SAMPLE_FILES
    if p.name != "tokens.csv" and not (ROOT / "mappings" / f"{p.stem}.yaml").exists()
]


def _gen_leads() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_leads", ROOT / "benchmarks" / "gen_leads.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_leads = _gen_leads()


def read_all(table: Table, size: int = 50_000) -> tuple[pd.DataFrame, dict[int, str]]:
    """Every chunk of a table joined, and all problems."""
    chunks = list(table.chunks(size))
    for chunk in chunks:
        assert isinstance(chunk, Chunk)
        assert 0 < len(chunk.frame) <= size
        assert set(chunk.problems) <= set(chunk.frame.index)
    problems = {r: p for c in chunks for r, p in c.problems.items()}
    if not chunks:
        return pd.DataFrame(columns=table.columns), problems
    return pd.concat([c.frame for c in chunks]), problems


def rows_of(frame: pd.DataFrame) -> dict[int, list[str]]:
    return {
        int(n): list(row) for n, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    }


def csv_oracle(
    path: Path, encoding: str, delimiter: str
) -> tuple[list[str], dict[int, list[str]], int, set[int]]:
    """What Python's csv module says: headers, rows by Excel row number, blanks, too-long rows."""
    with path.open(encoding=encoding, newline="") as f:
        records = list(csv.reader(f, delimiter=delimiter))
    header = [h.replace("\ufeff", "").strip() for h in records[0]]
    width = len(header)
    rows, blank, long = {}, 0, set()
    for number, record in enumerate(records[1:], start=2):
        if all(not c.strip() for c in record):
            blank += 1
            continue
        if len(record) > width and any(c.strip() for c in record[width:]):
            long.add(number)
        rows[number] = (record + [""] * width)[:width]
    return header, rows, blank, long


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --- samples ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LEAD_SAMPLES, ids=lambda p: p.name)
def test_every_sample_loads_with_the_same_columns(path: Path) -> None:
    table = open_table(path)
    for name in COLUMNS:
        assert find_column(table, name) is not None, name
    frame, _ = read_all(table)
    assert len(frame) >= 3
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame.index.min() >= 2
    assert all(isinstance(v, str) for col in frame.columns for v in frame[col])


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter"),
    [
        ("leads.csv", "utf-8", ","),
        ("semicolon-cp1252.csv", "cp1252", ";"),
        ("excel-unicode.txt", "utf-16", "\t"),
        ("multiline.csv", "utf-8", ","),
        ("ragged.csv", "utf-8", ","),
        ("bom-headers.csv", "utf-8-sig", ","),
        ("scientific.csv", "utf-8", ","),
        ("duplicates.csv", "utf-8", ","),
    ],
)
def test_csv_samples_match_the_csv_module(name: str, encoding: str, delimiter: str) -> None:
    path = SAMPLES / name
    table = open_table(path)
    assert (table.format, table.encoding, table.delimiter) == ("csv", encoding, delimiter)
    headers, expected, blank, long = csv_oracle(path, encoding, delimiter)
    frame, problems = read_all(table)
    assert table.headers == headers
    assert rows_of(frame) == expected
    assert table.blank_rows == blank
    assert set(problems) == long


def test_leads_csv_is_a_realistic_mix() -> None:
    frame, _ = read_all(open_table(SAMPLES / "leads.csv"))
    phones = frame["Phone"]
    assert 250 <= len(frame) <= 300
    assert phones.str.contains("E+", regex=False).any()
    assert (phones == "").any() and (frame["E-mail"] == "").any()
    assert frame["ZIP"].str.startswith("0").any()
    assert phones[phones != ""].duplicated().any()


def test_multiline_sample_keeps_excel_row_numbers() -> None:
    table = open_table(SAMPLES / "multiline.csv")
    frame, _ = read_all(table)
    assert list(frame.index) == [2, 3, 5, 6, 7]
    assert table.blank_rows == 1
    assert frame.loc[3, "Source"] == "referral\nfrom Ann (row 2)"
    assert frame.loc[5, "Source"] == 'said "call me after 5",\nthen "no, before noon"'
    assert frame.loc[2, "Last Name"] == "Smith, Jr."


def test_ragged_sample_keeps_every_row() -> None:
    frame, problems = read_all(open_table(SAMPLES / "ragged.csv"))
    assert list(frame.index) == [2, 3, 4, 5, 6, 7]
    assert list(frame.loc[3]) == ["Bob", "Jones", "312-555-0102", "bob@example.com"] + [""] * 5
    assert sorted(problems) == [4, 6]
    assert problems[4].startswith("row has 10 cells but the header has 9; a cell may contain")
    assert "'extra', 'cells'" in problems[6]


def test_bom_headers_are_cleaned_and_found() -> None:
    table = open_table(SAMPLES / "bom-headers.csv")
    assert table.headers[:4] == ["first name", "LAST NAME", "phone", "E-MAIL"]
    assert find_column(table, "Phone") == "phone"
    assert find_column(table, "e-mail") == "E-MAIL"


def test_leads_xlsx_matches_openpyxl() -> None:
    path = SAMPLES / "leads.xlsx"
    book = openpyxl.load_workbook(path)
    rows = list(book.active.iter_rows())
    cells = [[c.value for c in r] for r in rows]
    numbers = [r[2] for r in cells[1:] if isinstance(r[2], int)]
    dates = [r[4] for r in cells[1:] if isinstance(r[4], datetime)]
    zips = [c for r in rows[1:] for c in r[7:8] if c.number_format == "00000"]
    assert numbers and dates and zips, "the sample must hold number, date and ZIP cells"

    def text(cell: Any) -> str:
        v = cell.value
        if v is None:
            return ""
        if isinstance(v, datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(v, int) and cell.number_format == "00000":
            return f"{v:05d}"  # what Excel shows
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    expected = {
        n: [text(c) for c in r]
        for n, r in enumerate(rows[1:], start=2)
        if any(c.value not in (None, "") for c in r)
    }
    table = open_table(path)
    frame, problems = read_all(table)
    assert (table.format, table.sheet) == ("excel", "Leads")
    assert rows_of(frame) == expected
    assert table.blank_rows == len(cells) - 1 - len(expected)
    assert problems == {}


@pytest.mark.parametrize("name", ["leads.xls", "leads.ods"])
def test_old_and_open_workbooks(name: str) -> None:
    table = open_table(SAMPLES / name)
    frame, _ = read_all(table)
    assert list(frame.index) == [2, 3, 4, 6, 7, 8]
    assert table.blank_rows == 1
    assert frame.loc[2, "Phone"] == "2125550101"
    assert frame.loc[2, "Callback Time"] == "2026-12-01 09:30:00"
    assert frame.loc[3, "Amount"] == "1200.5"
    assert frame.loc[4, "Phone"] == "13035550103"
    assert frame.loc[4, "Callback Time"] == "2026-12-02"
    assert frame.loc[4, "ZIP"] == "2134"  # stored as a number: the zero is gone
    assert frame.loc[6, "ZIP"] == "02139"  # stored as text: kept
    assert frame.loc[6, "Amount"] == "N/A"


# --- text is never inferred ---------------------------------------------------------------

TRICKY = ["02134", "N/A", "NULL", "nan", "NaN", "", "1234567890123456789", "TRUE", "1e5", "-0"]


def test_cells_are_read_as_written(tmp_path: Path) -> None:
    lines = ["a,b"] + [f"{v},x" for v in TRICKY] + ['" 007 ",  spaced  ']
    frame, _ = read_all(open_table(write(tmp_path / "t.csv", "\n".join(lines) + "\n")))
    assert list(frame["a"]) == TRICKY + [" 007 "]
    assert frame.loc[len(TRICKY) + 2, "b"] == "  spaced  "
    assert str(frame["a"].dtype) == "str"


def test_nul_bytes_are_kept(tmp_path: Path) -> None:
    frame, _ = read_all(open_table(BAD / "nul-bytes.csv"))
    assert frame.loc[3, "First Name"] == "B\x00b"
    assert frame.loc[3, "Phone"] == "312-555-01\x0002"
    assert frame.loc[3, "Source"] == "\x00"
    assert list(frame.index) == [2, 3, 4]


# --- encodings and delimiters -------------------------------------------------------------

ACCENTED = "name,city\nJosé,Zoë Müller\nRenée,São Paulo\n"


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("cp1252", "cp1252"),
        ("latin-1", "cp1252"),  # the same bytes for these letters
        ("utf-16", "utf-16"),
        ("utf-16-be", "utf-16-be"),
    ],
)
def test_encodings_are_detected(tmp_path: Path, encoding: str, detected: str) -> None:
    raw = ACCENTED.encode(encoding)
    if encoding == "utf-16-be":
        raw = codecs.BOM_UTF16_BE + raw
        detected = "utf-16"
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    table = open_table(path)
    assert table.encoding == detected
    frame, _ = read_all(table)
    assert table.headers == ["name", "city"]
    assert list(frame["city"]) == ["Zoë Müller", "São Paulo"]


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "latin-1", "utf-16", "utf-16-le"])
def test_encoding_can_be_given(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path / "t.csv", ACCENTED, encoding)
    table = open_table(path, encoding=encoding)
    assert table.encoding == codecs.lookup(encoding).name
    frame, _ = read_all(table)
    assert list(frame["name"]) == ["José", "Renée"]


def test_wrong_encoding_given_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "a,b\n1,2\nJosé,3\n", "cp1252")
    with pytest.raises(InputError) as e:
        open_table(path, encoding="utf-8")
    assert say(e.value) == (
        f"{path}: row 3 is not valid UTF-8 text (the file may mix encodings); try "
        "--encoding cp1252 (Excel on Windows), or re-save the file as UTF-8"
    )


def test_unknown_encoding_name(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "a,b\n1,2\n")
    with pytest.raises(InputError, match="unknown encoding 'klingon'; use a name like utf-8"):
        open_table(path, encoding="klingon")


def test_decoding_error_deep_in_the_file_names_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_reader, "SAMPLE_BYTES", 4096)
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 4096)
    body = "".join(f'{i},"multi\nline",x\n' for i in range(20_000))
    raw = ("a,b,c\n" + body).encode() + "Zoë,1,2\n".encode("cp1252") + b"9,9,9\n"
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    table = open_table(path)
    assert table.encoding == "utf-8"
    seen: list[int] = []
    with pytest.raises(InputError) as e:
        for chunk in table.chunks(500):
            seen.extend(chunk.frame.index)
    assert say(e.value).startswith(f"{path}: row 20002 is not valid UTF-8 text")
    assert "--encoding cp1252" in say(e.value)
    assert seen and seen == list(range(2, len(seen) + 2))


def test_cp1252_undefined_byte_deep_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_reader, "SAMPLE_BYTES", 1024)
    raw = ("a,b\n" + "Zoë,1\n" * 500).encode("cp1252") + b"x\x81,2\n"
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    table = open_table(path)
    assert table.encoding == "cp1252"
    with pytest.raises(InputError, match=r"row 502 cannot be decoded as cp1252; .* latin-1"):
        read_all(table)


def test_mixed_encodings_in_the_sample() -> None:
    path = BAD / "mixed-encodings.csv"
    with pytest.raises(InputError) as e:
        open_table(path)
    assert say(e.value) == (
        f"{path}: row 1502 is not valid UTF-8 but rows before it are: the file mixes encodings; "
        "re-save it as UTF-8, or pass --encoding cp1252 to read it all as Windows-1252"
    )
    frame, _ = read_all(open_table(path, encoding="cp1252"))
    assert frame.loc[1502, "First Name"] == "Zoë"
    assert len(frame) == 1502


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_detected(tmp_path: Path, delimiter: str) -> None:
    rows = [["Name", "Phone", "Note"], ["Ann", "212-555-0101", "a, b; c|d"], ["Bob", "1", "x"]]
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    table = open_table(write(tmp_path / "t.txt", buf.getvalue()))
    assert table.delimiter == delimiter
    frame, _ = read_all(table)
    assert frame.loc[2, "Note"] == "a, b; c|d"


def test_semicolons_win_over_decimal_commas(tmp_path: Path) -> None:
    text = "Name;Amount;City\nAnn;1,5;Paris\nBob;2,75;Lyon, France\n"
    table = open_table(write(tmp_path / "t.csv", text))
    assert table.delimiter == ";"
    assert list(read_all(table)[0]["Amount"]) == ["1,5", "2,75"]


@pytest.mark.parametrize(
    ("given", "used"), [(";", ";"), ("semicolon", ";"), ("tab", "\t"), ("\\t", "\t")]
)
def test_delimiter_can_be_given(tmp_path: Path, given: str, used: str) -> None:
    text = f"a{used}b,c\n1{used}2,3\n"
    table = open_table(write(tmp_path / "t.csv", text), delimiter=given)
    assert table.delimiter == used
    assert table.headers == ["a", "b,c"]


def test_bad_delimiter_given(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the delimiter must be one character"):
        open_table(write(tmp_path / "t.csv", "a,b\n1,2\n"), delimiter=";;")


def test_single_column_file(tmp_path: Path) -> None:
    table = open_table(write(tmp_path / "t.csv", "Phone\n2125550101\n\n3125550102\n"))
    frame, _ = read_all(table)
    assert rows_of(frame) == {2: ["2125550101"], 4: ["3125550102"]}
    assert table.blank_rows == 1


# --- row numbers, blank rows, ragged rows -------------------------------------------------


def test_row_numbers_with_blank_rows_and_multiline_cells(tmp_path: Path) -> None:
    text = (
        "a,b,c\r\n"
        "1,2,3\r\n"  # 2
        "\r\n"  # 3: blank line
        ',"x\r\ny\r\nz",\r\n'  # 4: spans three lines
        ",,\r\n"  # 5: blank cells
        "   ,\t, \r\n"  # 6: whitespace only
        "7,8,9\r\n"  # 7
        '"",,""\r\n'  # 8: quoted empties
        "10,11,12"  # 9: no final newline
    )
    table = open_table(write(tmp_path / "t.csv", text))
    frame, problems = read_all(table)
    assert rows_of(frame) == {
        2: ["1", "2", "3"],
        4: ["", "x\r\ny\r\nz", ""],
        7: ["7", "8", "9"],
        9: ["10", "11", "12"],
    }
    assert table.blank_rows == 4
    assert problems == {}


def test_ragged_rows(tmp_path: Path) -> None:
    text = 'a,b,c\n1\n1,2\n1,2,3,4\n1,2,3,,\n,,,x\n"q,1",2,3,"4\n5"\n'
    frame, problems = read_all(open_table(write(tmp_path / "t.csv", text)))
    assert rows_of(frame) == {
        2: ["1", "", ""],
        3: ["1", "2", ""],
        4: ["1", "2", "3"],
        5: ["1", "2", "3"],
        6: ["", "", ""],
        7: ["q,1", "2", "3"],
    }
    assert sorted(problems) == [4, 6, 7]
    assert problems[4] == (
        "row has 4 cells but the header has 3; a cell may contain an unquoted delimiter (','); "
        "extra cells: '4'"
    )
    assert problems[7].endswith("extra cells: '4\\n5'")


@pytest.mark.parametrize("shape", ["spare delimiter", "header has more", "extra cells"])
@pytest.mark.parametrize("block", [512, 1 << 20])
def test_rows_whose_usual_width_is_not_the_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str, block: int
) -> None:
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", block)
    line = {
        "spare delimiter": "{i},x,y,",
        "header has more": "{i},x",
        "extra cells": "{i},x,y,z{i}",
    }
    lines = ["a,b,c"] + [line[shape].format(i=i) for i in range(2, 400)]
    lines[50], lines[60], lines[70], lines[80] = "odd,1,2", "odd", "", '"q\nr",1,2,3,4'
    path = write(tmp_path / "t.csv", "\r\n".join(lines) + "\r\n")
    _, expected, blank, long = csv_oracle(path, "utf-8", ",")
    table = open_table(path)
    frame, problems = read_all(table, 100)
    assert rows_of(frame) == expected
    assert table.blank_rows == blank == 1
    assert set(problems) == long
    if shape == "extra cells":
        assert problems[5] == (
            "row has 4 cells but the header has 3; a cell may contain an unquoted delimiter "
            "(','); extra cells: 'z5'"
        )
    assert problems[81] == (
        "row has 5 cells but the header has 3; a cell may contain an unquoted delimiter "
        "(','); extra cells: '3', '4'"
    )


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk size must be at least 1"):
        next(open_table(SAMPLES / "duplicates.csv").chunks(0))


@pytest.mark.parametrize(
    ("text", "row", "rows"),
    [
        ('a,b\n1,2\n3,"oops\n5,6\n7,8\n', 3, [2, 3]),  # swallowed rows keep the cell count
        ('a,b,c\n1,2,3\n"oops,5\n6,7\n', 3, [2, 3]),  # swallowed rows give too few cells
        ('a,b\n1,2\n3,"4"\n', None, [2, 3]),
        ('a,b\n1,2\n3,"multi\nline"\n', None, [2, 3]),
    ],
)
def test_a_quote_left_open_is_reported(
    tmp_path: Path, text: str, row: int | None, rows: list[int]
) -> None:
    frame, problems = read_all(open_table(write(tmp_path / "t.csv", text)))
    assert list(frame.index) == rows
    if row is None:
        assert problems == {}
    else:
        assert problems == {row: OPEN_QUOTE}
        assert "never closed" in problems[row]


def test_duplicate_and_blank_headers(tmp_path: Path) -> None:
    text = "Name,Phone,,Name, phone ,Name (2)\n1,2,3,4,5,6\n"
    table = open_table(write(tmp_path / "t.csv", text))
    assert table.headers == ["Name", "Phone", "", "Name", "phone", "Name (2)"]
    assert table.columns == ["Name", "Phone", "Column C", "Name (2)", "phone (2)", "Name (2) (2)"]
    assert table.duplicate_headers == ["Name", "Phone"]
    assert find_column(table, "name") == "Name"
    assert find_column(table, "Name (2)") == "Name (2) (2)"
    frame, _ = read_all(table)
    assert list(frame.loc[2]) == ["1", "2", "3", "4", "5", "6"]


def test_duplicate_headers_sample() -> None:
    table = open_table(BAD / "duplicate-headers.csv")
    assert table.columns == ["Name", "Phone", "Name (2)", "phone (2)", "E-mail"]
    assert table.duplicate_headers == ["Name", "Phone"]


def test_a_thousand_columns() -> None:
    table = open_table(BAD / "many-columns.csv")
    frame, _ = read_all(table)
    assert len(table.columns) == 1000 and frame.shape == (3, 1000)
    assert frame.loc[4, "col999"] == "r2c999"


def test_a_header_longer_than_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_reader, "SAMPLE_BYTES", 64)
    header = ";".join(f"column number {i}" for i in range(300))
    path = write(tmp_path / "t.csv", header + "\n" + ";".join(map(str, range(300))) + "\n")
    table = open_table(path)
    assert table.delimiter == ";" and len(table.headers) == 300
    assert read_all(table)[0].loc[2, "column number 299"] == "299"


def test_a_10_mb_cell_is_emptied_and_its_row_flagged(tmp_path: Path) -> None:
    """Over MAX_CELL_BYTES (1 MiB) a cell is not kept: its row is invalid, the file goes on."""
    big = "x" * 10_000_000
    quoted = ("line,\n" * 1_700_000)[:10_000_000]
    fits = "y" * 1_000_000
    text = f'a,b,c\n1,{big},3\n4,"{quoted}",6\n7,8,9\n10,{fits},12\n'
    frame, problems = read_all(open_table(write(tmp_path / "t.csv", text)))
    assert list(frame.index) == [2, 3, 4, 5]
    assert frame.loc[2, "b"] == "" and frame.loc[2, "c"] == "3"
    assert frame.loc[3, "b"] == "" and frame.loc[3, "c"] == "6"
    assert frame.loc[4, "c"] == "9"
    assert frame.loc[5, "b"] == fits  # 1,000,000 bytes: within the limit
    assert problems == {
        2: "cell too large: 9.5 MB in column 'b' (at most 1 MB a cell); shorten it",
        3: "cell too large: 9.5 MB in column 'b' (at most 1 MB a cell); shorten it",
    }


# --- streaming ----------------------------------------------------------------------------


def _messy_file(path: Path, rows: int) -> Path:
    gen_leads.write_leads_csv(path, rows, seed=3)
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write('Ann,"Smith\nJr.",2125550101,,,,NY,02134,"a,b"\r\n')
        f.write("too,many,cells,1,2,3,4,5,6,7,8\r\n")
        f.write("too,few\r\n\r\n")
        f.write(",,,,,,,,,\r\n")
    return path


@pytest.mark.parametrize(("size", "block"), [(1, 1 << 20), (97, 512), (1000, 4096), (10**9, 64)])
def test_chunks_give_the_same_rows_as_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, block: int
) -> None:
    rows = 300 if size == 1 else 3000
    path = _messy_file(tmp_path / "leads.csv", rows)
    headers, expected, blank, long = csv_oracle(path, "utf-8", ",")
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", block)
    table = open_table(path)
    frame, problems = read_all(table, size)
    assert table.headers == headers
    assert rows_of(frame) == expected
    assert table.blank_rows == blank
    assert set(problems) == long and long


@pytest.mark.parametrize(("size", "first"), [(1000, 7), (1000, 1), (100, 250), (1000, 1000)])
def test_a_smaller_first_chunk_then_full_ones_give_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, first: int
) -> None:
    path = _messy_file(tmp_path / "leads.csv", 3000)
    headers, expected, blank, long = csv_oracle(path, "utf-8", ",")
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 4096)
    table = open_table(path)
    chunks = list(table.chunks(size, first=first))
    # The first chunk holds at most `first` rows (or `size`, whichever is smaller), the
    # others at most `size` (blank rows are left out after the cut), and they do get bigger.
    assert 0 < len(chunks[0].frame) <= min(first, size)
    assert all(0 < len(c.frame) <= size for c in chunks[1:])
    if first < size:
        assert max(len(c.frame) for c in chunks[1:]) > first
    frame = pd.concat([c.frame for c in chunks])
    assert rows_of(frame) == expected
    assert table.blank_rows == blank
    assert {r for c in chunks for r in c.problems} == long


def test_a_first_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk size must be at least 1, not 0"):
        next(open_table(SAMPLES / "duplicates.csv").chunks(10, first=0))


def test_chunks_can_only_be_read_once() -> None:
    table = open_table(SAMPLES / "duplicates.csv")
    read_all(table)
    with pytest.raises(RuntimeError, match="only once"):
        next(table.chunks())


def test_sha256() -> None:
    path = SAMPLES / "leads.csv"
    assert open_table(path).sha256() == hashlib.sha256(path.read_bytes()).hexdigest()


# no control characters: a cell full of them makes the file look binary, which is refused
ALPHABET = st.characters(
    codec="cp1252", categories=("L", "N", "P", "S", "Zs"), include_characters="\r\n\t\"'"
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    width=st.integers(2, 5),
    rows=st.lists(st.lists(st.text(ALPHABET, max_size=12), max_size=7), max_size=25),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    block=st.sampled_from([64, 1 << 20]),
)
def test_any_csv_python_writes_reads_back_the_same(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    width: int,
    rows: list[list[str]],
    delimiter: str,
    encoding: str,
    block: int,
) -> None:
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", block)
    header = [f"h{i}" for i in range(width)]
    rows = rows + [["last"] * width]
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    path = tmp_path / "p.csv"
    path.write_bytes(buf.getvalue().encode(encoding))
    table = open_table(path, encoding=encoding, delimiter=delimiter)
    _, expected, blank, long = csv_oracle(path, encoding, delimiter)
    frame, problems = read_all(table, 7)
    assert rows_of(frame) == expected
    assert table.blank_rows == blank
    assert set(problems) == long


# --- unusable files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty (0 bytes); export the spreadsheet again"),
        ("header-only.csv", "has a header row but no data rows"),
        ("header-then-blank-rows.csv", "has a header row but no data rows"),
        ("blank-header-row.csv", "row 1 is empty; the column names must be in row 1"),
        ("garbage.csv", "does not look like CSV text"),
        (
            "xlsx-named.csv",
            "is a zip file (probably an .xlsx or .ods workbook), not CSV text; "
            "rename it to .xlsx or pass --format excel",
        ),
        (
            "text-named.xlsx",
            "is a text file, not a workbook; rename it to .csv or pass --format csv",
        ),
        (
            "leads.pdf",
            "unknown file type ('.pdf'); supported: .csv, .tsv, .txt, .xlsx, .xlsm, .xls, .ods; "
            "pass --format csv or --format excel to read it anyway",
        ),
        ("truncated.xlsx", "cannot be read as a workbook ("),
        ("corrupt.xlsx", "the file is damaged or incomplete: open it in Excel and save it again"),
        ("missing-sheet.xlsx", "cannot read sheet 'Leads' ("),
        (
            "encrypted.xlsx",
            "the workbook is password-protected; open it in Excel, remove the password",
        ),
    ],
)
def test_unusable_files_say_what_is_wrong(name: str, message: str) -> None:
    path = BAD / name
    with pytest.raises(InputError) as e:
        open_table(path)
    text = say(e.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text and "Traceback" not in text


def test_binary_named_csv_with_a_text_like_start(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(32)) * 200)
    with pytest.raises(InputError, match="does not look like CSV text"):
        open_table(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: file not found; check the path"):
        open_table(tmp_path / "nope.csv")
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder, not a spreadsheet file"):
        open_table(folder)


def test_format_override(tmp_path: Path) -> None:
    path = write(tmp_path / "export.dat", "a,b\n1,2\n")
    with pytest.raises(InputError, match=r"unknown file type \('\.dat'\)"):
        open_table(path)
    for fmt in ("csv", "CSV", ".tsv", "txt"):
        assert open_table(path, fmt=fmt).format == "csv"
    with pytest.raises(InputError, match="unknown format 'pdf'; use csv or excel"):
        open_table(path, fmt="pdf")
    book = tmp_path / "book.bin"
    book.write_bytes((SAMPLES / "leads.xlsx").read_bytes())
    table = open_table(book, fmt="excel")
    assert table.format == "excel" and read_all(table)[0].shape[0] > 50
    xls = tmp_path / "old.xlsx"  # a .xls misnamed .xlsx still reads
    xls.write_bytes((SAMPLES / "leads.xls").read_bytes())
    assert read_all(open_table(xls))[0].shape == (6, 9)


def test_sheet_option_on_a_csv() -> None:
    with pytest.raises(InputError, match="a CSV file has no sheets; sheet applies to workbooks"):
        open_table(SAMPLES / "leads.csv", sheet="Leads")
    with pytest.raises(InputError, match="list of sheets applies to workbooks"):
        list_sheets(SAMPLES / "leads.csv")


# --- Excel --------------------------------------------------------------------------------


def _workbook(
    path: Path, sheets: dict[str, list[list[object]]], hidden: tuple[str, ...] = ()
) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


def test_list_sheets_and_choosing_one(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "b.xlsx",
        {
            "Notes": [["x"], ["y"]],
            "Leads": [["Phone"], ["2125550101"]],
            "Old": [["Phone"], ["3125550102"]],
        },
        hidden=("Notes",),
    )
    assert list_sheets(path) == ["Notes", "Leads", "Old"]
    assert open_table(path).sheet == "Leads"  # the first sheet a person sees
    table = open_table(path, sheet=" old ")
    assert table.sheet == "Old"
    assert list(read_all(table)[0]["Phone"]) == ["3125550102"]
    with pytest.raises(InputError) as e:
        open_table(path, sheet="Leeds")
    listed = "'Notes', 'Leads', 'Old'"
    assert say(e.value) == f"{path}: no sheet named 'Leeds'; the workbook has: {listed}"


@pytest.mark.parametrize("with_error_cell", [False, True])
def test_excel_cells_become_text(tmp_path: Path, with_error_cell: bool) -> None:
    values: list[object] = [
        8004506787,
        8004506787.0,
        501.5,
        2134,
        datetime(2026, 12, 1, 9, 30),
        datetime(2026, 12, 1, 9, 29, 59, 999_600),
        date(2026, 1, 2),
        time(14, 26, 43),
        True,
        False,
        "02134",
        " N/A ",
        0.1,
        timedelta(hours=25, minutes=3),
    ]
    expected = [
        "8004506787",
        "8004506787",
        "501.5",
        "2134",
        "2026-12-01 09:30:00",
        "2026-12-01 09:30:00",
        "2026-01-02",
        "14:26:43",
        "true",
        "false",
        "02134",
        " N/A ",
        "0.1",
        "25:03:00",
    ]
    headers = [f"c{i}" for i in range(len(values))]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(headers + ["err"])
    sheet.append(values + [None])
    sheet.cell(row=2, column=7).number_format = "yyyy-mm-dd"
    sheet.cell(row=2, column=14).number_format = "[h]:mm:ss"
    if with_error_cell:
        sheet.cell(row=2, column=len(values) + 1, value="#N/A").data_type = "e"
    else:
        sheet.cell(row=2, column=len(values) + 1, value="text")
    path = tmp_path / "types.xlsx"
    book.save(path)
    frame, _ = read_all(open_table(path))
    assert list(frame.loc[2]) == expected + ["#N/A" if with_error_cell else "text"]


def test_workbook_header_not_in_column_a(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B1"], sheet["C1"] = "Phone", "Name"
    sheet["B2"], sheet["C3"] = 2125550101, "Bob"
    path = tmp_path / "b.xlsx"
    book.save(path)
    table = open_table(path)
    assert table.columns == ["Column A", "Phone", "Name"]
    assert rows_of(read_all(table)[0]) == {2: ["", "2125550101", ""], 3: ["", "", "Bob"]}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [[None], ["Phone"], ["1"]],
            "row 1 of sheet 'Leads' is empty; the column names must be in row 1",
        ),
        ([["Phone"]], "sheet 'Leads' has a header row but no data rows"),
        ([["Phone"], [None], [" "]], "sheet 'Leads' has a header row but no data rows"),
        ([], "sheet 'Leads' is empty"),
    ],
)
def test_unusable_sheets(tmp_path: Path, rows: list[list[object]], message: str) -> None:
    path = _workbook(tmp_path / "b.xlsx", {"Leads": rows})
    with pytest.raises(InputError) as e:
        open_table(path)
    assert say(e.value).startswith(f"{path}: {message}")


def test_excel_chunks_and_blank_rows(tmp_path: Path) -> None:
    rows: list[list[object]] = [["Phone", "Name"]]
    for i in range(2, 2000):
        rows.append([None, None] if i % 7 == 0 else [2125550000 + i, f"n{i}"])
    path = _workbook(tmp_path / "b.xlsx", {"Leads": rows})
    table = open_table(path)
    frame, _ = read_all(table, 333)
    kept = [i for i in range(2, 2000) if i % 7]
    assert list(frame.index) == kept
    assert list(frame["Phone"]) == [str(2125550000 + i) for i in kept]
    assert table.blank_rows == len(range(2, 2000)) - len(kept)


# --- find_column --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "found"),
    [("Phone", "Phone"), (" phone ", "Phone"), ("PHONE", "Phone"), ("\ufeffPhone", "Phone"),
     ("E-MAIL", "E-mail"), ("Email", None), ("", None)],
)  # fmt: skip
def test_find_column(name: str, found: str | None) -> None:
    assert find_column(open_table(SAMPLES / "leads.csv"), name) == found


# --- the lead generator ---------------------------------------------------------------------


def test_generator_mix(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    gen_leads.write_leads_csv(path, 4000, seed=5)
    table = open_table(path)
    assert table.headers == COLUMNS
    frame, _ = read_all(table)
    assert 0.01 < table.blank_rows / 4000 < 0.04
    phones = frame["Phone"]
    bad = phones.isin(gen_leads._BAD_PHONES)
    assert 0.015 < bad.mean() < 0.05
    assert phones.str.fullmatch(r"\d\.\d+E\+\d+").sum() > 5
    good = phones[(phones != "") & ~bad]
    for value in good.sample(400, random_state=1):
        number = phonenumbers.parse(value, "US")
        assert phonenumbers.is_valid_number(number), value
    digits = good.str.replace(r"\D", "", regex=True).str[-10:]
    assert digits.duplicated().sum() > 20
    no_phone = frame[phones == ""]
    assert (no_phone["E-mail"] != "").mean() > 0.8 and (no_phone["E-mail"] == "").any()
    times = frame["Callback Time"]
    assert times.str.contains("T").any() and times.str.contains("M$", regex=True).any()
    assert times.isin(gen_leads._BAD_TIMES).any() and (times == "").mean() > 0.2
    assert frame["ZIP"].str.match(r"0\d{4}").any()


def test_generator_is_deterministic_and_has_a_cli(tmp_path: Path) -> None:
    gen_leads.main([str(tmp_path / "a.csv"), "--rows", "500", "--seed", "9"])
    gen_leads.write_leads_csv(tmp_path / "b.csv", 500, seed=9)
    gen_leads.write_leads_csv(tmp_path / "c.csv", 500, seed=10)
    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.csv", "b.csv", "c.csv"))
    assert a == b != c
    with (tmp_path / "a.csv").open(newline="", encoding="utf-8") as f:
        assert sum(1 for _ in csv.reader(f)) == 501


def test_generator_xlsx_has_number_and_date_cells(tmp_path: Path) -> None:
    path = tmp_path / "g.xlsx"
    gen_leads.write_leads_xlsx(path, 300, seed=2)
    book = openpyxl.load_workbook(path)
    cells = list(book.active.iter_rows(min_row=2, values_only=True))
    assert len(cells) == 300
    assert any(isinstance(r[2], int) for r in cells if r)
    assert any(isinstance(r[4], datetime) for r in cells if r)
    frame, _ = read_all(open_table(path))
    assert frame["Phone"].str.fullmatch(r"1?\d{10}").sum() > 50
    assert frame["Callback Time"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").any()
    assert not frame["Phone"].str.endswith(".0").any()


def test_samples_are_rebuilt_identically(tmp_path: Path) -> None:
    """make_samples.py writes the committed text samples byte for byte."""
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HERE = tmp_path
    module.main()
    for path in SAMPLE_FILES:
        rebuilt = tmp_path / path.name
        if path.suffix in (".csv", ".txt"):
            assert rebuilt.read_bytes() == path.read_bytes(), path.name
        else:
            original, _ = read_all(open_table(path))
            again, _ = read_all(open_table(rebuilt))
            pd.testing.assert_frame_equal(original, again)


def test_frame_index_is_the_row_number() -> None:
    """The frame's index is the row number, named 'row', never a data column."""
    frame, _ = read_all(open_table(SAMPLES / "leads.csv"))
    assert frame.index.name == "row" and "row" not in frame.columns
    assert re.fullmatch(r"int64", str(frame.index.dtype))


def test_xlsx_error_cells_are_found_without_reading_cells(tmp_path: Path) -> None:
    path = SAMPLES / "leads.xlsx"
    assert not has_error_cells(path)
    broken = tmp_path / "e.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b'<c r="A2"', b'<c r="A2" t="e"', 1)
            dst.writestr(item, data)
    assert has_error_cells(broken)


# --- zero-padded number formats (ZIP codes) in .xlsx ---------------------------------------


@pytest.mark.parametrize(
    ("code", "plain"),
    [
        ("00000", "00000"),
        ("00000\\-0000", "00000-0000"),
        ('000"-"00"-"0000', "000-00-0000"),
        ("00000-0000", "00000-0000"),
        ("0", None),  # no padding
        ("0.00", None),
        ("#,##0", None),
        ("General", None),
        ("[<=9999999]###-####;(###) ###-####", None),  # Excel's phone format: sections
        ("00000;-00000", None),
        ("yyyy-mm-dd", None),
    ],
)
def test_padding_formats_are_recognised(code: str, plain: str | None) -> None:
    assert padding_format(code) == plain


@pytest.mark.parametrize(
    ("number", "fmt", "shown"),
    [
        (2134, "00000", "02134"),
        (12345, "00000", "12345"),
        (123456, "00000", "123456"),  # too long: Excel shows every digit
        (21341234, "00000-0000", "02134-1234"),
        (12345, "00000-0000", "00001-2345"),
        (78051120, "000-00-0000", "078-05-1120"),
        (-42, "0000", "-0042"),
        (0, "00000", "00000"),
    ],
)
def test_zero_padded_is_what_excel_shows(number: int, fmt: str, shown: str) -> None:
    assert zero_padded(number, fmt) == shown


def _zip_workbook(path: Path, *, error_cell: bool = False, offset: int = 0) -> Path:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Leads"
    other = book.create_sheet("Other")  # same columns, no formats: must not be padded
    for sheet in (first, other):
        blank = [None] * offset
        sheet.append([*blank, "Phone", "ZIP", "ZIP4", "Amount"])
        sheet.append([*blank, 2125550101, 2134, 21341234, 501])
        sheet.append([*blank, 2125550102, "0213", 12345, 7])  # a text cell is left as typed
        sheet.append([*blank, 2125550103, 2139.0, None, 2134])
    for row in (2, 3, 4):
        first.cell(row=row, column=offset + 2).number_format = "00000"
        first.cell(row=row, column=offset + 3).number_format = "00000\\-0000"
    if error_cell:
        first.cell(row=2, column=offset + 5, value="#N/A").data_type = "e"
    book.save(path)
    return path


@pytest.mark.parametrize(
    ("error_cell", "offset"),
    [(False, 0), (False, 2), (True, 0)],
    ids=["calamine", "offset", "openpyxl"],
)
def test_xlsx_zip_codes_are_read_as_excel_shows_them(
    tmp_path: Path, error_cell: bool, offset: int
) -> None:
    path = _zip_workbook(tmp_path / "zips.xlsx", error_cell=error_cell, offset=offset)
    frame, _ = read_all(open_table(path))
    assert list(frame["ZIP"]) == ["02134", "0213", "02139"]
    assert list(frame["ZIP4"]) == ["02134-1234", "00001-2345", ""]
    assert list(frame["Amount"]) == ["501", "7", "2134"]  # no format: the number as is
    assert list(frame["Phone"]) == ["2125550101", "2125550102", "2125550103"]
    other, _ = read_all(open_table(path, sheet="Other"))
    assert list(other["ZIP"]) == ["2134", "0213", "2139"]


# --- Excel's "sep=" line -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "encoding"),
    [("sep=;\r\n", "utf-8"), ("sep=;\n", "utf-8-sig"), ("sep=;\r\n", "cp1252")],
    ids=["crlf", "bom", "cp1252"],
)
def test_excels_sep_line_names_the_delimiter_and_is_not_a_row(
    tmp_path: Path, prefix: str, encoding: str
) -> None:
    text = (
        prefix + "Phone;Name;City\r\n"
        "2125550101;Ann;Zürich\r\n"  # row 2, as Excel shows it: the sep line is hidden
        "2125550102;Bob;Bern;extra\r\n"  # row 3: one cell too many
        "\r\n"  # row 4: blank
        "2125550103;Cy;Basel\r\n"
    )
    path = write(tmp_path / "sep.csv", text, encoding)
    table = open_table(path)
    assert (table.delimiter, table.columns) == (";", ["Phone", "Name", "City"])
    frame, problems = read_all(table)
    assert rows_of(frame) == {
        2: ["2125550101", "Ann", "Zürich"],
        3: ["2125550102", "Bob", "Bern"],
        5: ["2125550103", "Cy", "Basel"],
    }
    assert list(problems) == [3] and "extra cells: 'extra'" in problems[3]


def test_a_sep_line_is_overridden_by_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path / "sep.csv", "sep=;\nPhone|Name\n2125550101|Ann\n")
    frame, _ = read_all(open_table(path, delimiter="|"))
    assert rows_of(frame) == {2: ["2125550101", "Ann"]}
