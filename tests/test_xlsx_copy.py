"""The .xlsx copies written with XlsxWriter hold the cells the openpyxl writer held.

``old_finish`` below is the openpyxl write-only writer ``XlsxCopy.finish`` used before
(issue 14: XlsxWriter costs about half); it lives on only here, as the reference. Both write
the same tricky rows; the cells are read back with openpyxl and with calamine (how the
importer reads a fixed failures.xlsx again) and compared value by value and type by type.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest
from python_calamine import CalamineWorkbook

from importer.record._xlsx import XlsxCopy

OLD_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what openpyxl was spared
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not in XML 1.0

HEADERS = ["row", "error", "", "=Phone", "@Name", "last"]

TRICKY: list[object] = [
    "=1+1", '=HYPERLINK("http://evil.example","x")', "=", "+14042433218", "+1 312 764 1395",
    "-5", "-", "@SUM(A1)", "0012", "1e5", "3.14", "1,000", "http://x.example/a?b=1&c=2",
    "www.example.com", "mailto:a@b.example", "a,b", 'say "hi"', "'quoted", "line1\nline2",
    "  lead", "trail  ", " ", "\t", "tab\tin", "\x00nul\x1f\x0b", "émoji 😀 ü 中文", "a<b>&c",
    "<r>x</r>", "<r><t>x</t></r>", "TRUE", "false", "", None, 0, 1, -7, 2**53 - 1, True, False,
    "\u2028", "\ufffd", "x" * 40_000, "café" * 9000,
]  # fmt: skip

# What changes, on purpose: openpyxl wrote these wrong for Excel and for calamine.
CHANGED = {
    "cr\rhere": "openpyxl wrote a bare CR, which every XML reader turns into LF",
    "crlf\r\nx": "likewise",
    "_x0041_": "openpyxl wrote it as is: Excel and calamine read the escape, 'A'",
    "#N/A": "openpyxl wrote an error cell (calamine reads it as empty), not text",
}


def old_finish(copy: XlsxCopy) -> bool:
    """XlsxCopy.finish as it was, through openpyxl's write-only workbook."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    def cell(sheet: Any, value: object) -> object:
        if isinstance(value, int) or value is None or value == "":
            return value if value != "" else None
        text = OLD_ILLEGAL.sub("\ufffd", str(value))
        if not text.startswith("="):
            return text
        c = WriteOnlyCell(sheet, text)
        c.data_type = "s"
        return c

    tmp = copy.path.with_name(copy.path.name + ".tmp")
    book = Workbook(write_only=True)
    sheet = book.create_sheet(copy.path.stem)
    sheet.append([cell(sheet, h) for h in copy.headers])
    assert copy._spool is not None
    copy._spool.seek(0)
    for line in copy._spool:
        sheet.append([cell(sheet, v) for v in orjson.loads(line)])
    book.save(tmp)
    os.replace(tmp, copy.path)
    return True


def _rows(values: list[object]) -> list[list[object]]:
    """The values in rows of HEADERS' width, each also in the last column (the edge)."""
    width = len(HEADERS)
    rows = []
    for i, value in enumerate(values):
        row: list[object] = [i + 2, "bad phone", *[""] * (width - 2)]
        row[2 + i % (width - 3)] = value
        row[-1] = value if i % 2 else None
        rows.append(row)
    return rows


def _write(folder: Path, values: list[object], old: bool) -> Path:
    folder.mkdir()
    copy = XlsxCopy(folder / "failures.xlsx", HEADERS)
    copy.append(_rows(values))
    assert old_finish(copy) if old else copy.finish()
    assert sorted(p.name for p in folder.iterdir()) == ["failures.xlsx"]  # no .tmp left
    return folder / "failures.xlsx"


def _openpyxl_cells(path: Path) -> tuple[list[str], int, int, list[list[tuple[object, ...]]]]:
    with path.open("rb") as f:  # closed even when openpyxl fails on the file
        book = openpyxl.load_workbook(f)
        sheet = book.active
        cells = [[(type(c.value), c.value, c.data_type) for c in row] for row in sheet.iter_rows()]
        return book.sheetnames, sheet.max_row, sheet.max_column, cells


def _calamine_cells(path: Path) -> list[list[object]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()


def test_the_cells_are_those_the_openpyxl_writer_wrote(tmp_path: Path) -> None:
    old = _openpyxl_cells(_write(tmp_path / "old", TRICKY, old=True))
    new = _openpyxl_cells(_write(tmp_path / "new", TRICKY, old=False))
    assert new == old
    assert new[0] == ["failures"] and new[2] == len(HEADERS)
    header = [value for _, value, _ in new[3][0]]
    assert header == ["row", "error", None, "=Phone", "@Name", "last"]
    kinds = {(kind, data_type) for row in new[3][1:] for kind, _, data_type in row}
    assert kinds == {(str, "s"), (int, "n"), (bool, "b"), (type(None), "n")}  # no formula
    # calamine reads every cell as given (openpyxl's copy lost a cell of spaces to it).
    expected = [[_as_read(v) for v in row] for row in [HEADERS, *_rows(TRICKY)]]
    assert _calamine_cells(tmp_path / "new" / "failures.xlsx") == expected


def _as_read(value: object) -> object:
    """How calamine reads back a cell written from ``value``."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int):
        text = value if isinstance(value, bool) else ILLEGAL.sub("\ufffd", str(value))
        if isinstance(text, str):  # at most 32,767 UTF-16 units, no pair cut in half
            return text.encode("utf-16-le")[: 2 * 32_767].decode("utf-16-le", "ignore")
        return text
    return float(value)


def _one_cell(path: Path) -> object:
    """The cell at row 2, column 3 of ``_rows``' first row, as calamine reads it."""
    return _calamine_cells(path)[1][2]


@pytest.mark.parametrize("value", sorted(CHANGED))
def test_a_changed_cell_now_reads_back_as_written(tmp_path: Path, value: str) -> None:
    old = _one_cell(_write(tmp_path / "old", [value], old=True))
    new = _one_cell(_write(tmp_path / "new", [value], old=False))
    assert new == value
    assert old != value, CHANGED[value]


def test_illegal_characters_become_the_replacement_character(tmp_path: Path) -> None:
    path = _write(tmp_path / "new", ["a\x00b\x08c\x0bd\x1fe\tf\ng"], old=False)
    assert _one_cell(path) == "a\ufffdb\ufffdc\ufffdd\ufffde\tf\ng"


def test_a_noncharacter_no_longer_breaks_the_whole_workbook(tmp_path: Path) -> None:
    value = "x\ufffey\uffff"
    _write(tmp_path / "old", [value], old=True)
    with pytest.raises(Exception, match="not well-formed"):
        _openpyxl_cells(tmp_path / "old" / "failures.xlsx")
    assert _one_cell(_write(tmp_path / "new", [value], old=False)) == "x\ufffdy\ufffd"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("x" * 40_000, "x" * 32_767),  # as openpyxl cut it
        ("😀" * 20_000, "😀" * 16_383),  # openpyxl kept 40,000 UTF-16 units: past Excel's limit
        ("x" + "😀" * 16_383, "x" + "😀" * 16_383),  # 32,767 units: whole
        ("xy" + "😀" * 16_383, "xy" + "😀" * 16_382),  # no pair cut in half
        ("<r>" + "x" * 40_000 + "</r>", "<r>" + "x" * 32_764),  # no longer XML-like once cut
        ("<r>" + "x" * 32_760 + "</r>", "<r>" + "x" * 32_760 + "</r>"),
    ],
)
def test_a_cell_past_excels_limit_is_cut_at_32767_utf16_units(
    tmp_path: Path, value: str, kept: str
) -> None:
    assert _one_cell(_write(tmp_path / "new", [value], old=False)) == kept
    assert len(kept.encode("utf-16-le")) // 2 <= 32_767


def test_past_the_last_column_no_workbook_is_left(tmp_path: Path) -> None:
    copy = XlsxCopy(tmp_path / "failures.xlsx", [f"c{i}" for i in range(16_385)])
    copy.append([[1] * 16_385])
    assert copy.finish() is False
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_leaves_no_workbook_nor_tmp(tmp_path: Path) -> None:
    copy = XlsxCopy(tmp_path / "failures.xlsx", ["row"])
    copy.append([[2]])
    (tmp_path / "failures.xlsx.tmp").mkdir()  # the save cannot create its file
    assert copy.finish() is False
    (tmp_path / "failures.xlsx.tmp").rmdir()
    assert list(tmp_path.iterdir()) == []  # nor XlsxWriter's temporary folder


def test_an_empty_last_column_keeps_the_sheet_as_wide(tmp_path: Path) -> None:
    # openpyxl wrote no element for an empty cell, not even in the header: a sheet whose
    # last column is empty throughout is a column narrower, and stays so.
    dims = []
    for name in ("old", "new"):
        (tmp_path / name).mkdir()
        copy = XlsxCopy(tmp_path / name / "failures.xlsx", ["row", "error", ""])
        copy.append([[2, "bad phone", ""], [3, "bad phone", None]])
        assert old_finish(copy) if name == "old" else copy.finish()
        dims.append(_openpyxl_cells(tmp_path / name / "failures.xlsx"))
    assert dims[1] == dims[0]
    assert dims[1][2] == 2
