"""failures.csv built a column at a time is byte for byte what pandas' to_csv wrote, and
the first-byte excel_safe_arrow quotes the cells the two regexes did.

The reference implementations (the code they replaced) live here only: chunks of tricky
cells go through both, on real files.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from openpyxl import load_workbook

from importer.clean import FAILURE_COLUMNS, ORIGINAL_ROW, TOKEN_HIDDEN
from importer.record import FAILURES_FILE, RESULT_COLUMNS, RESULTS_FILE, ResultsWriter
from importer.record._results import excel_safe, excel_safe_arrow

TEXT = pa.large_string()

# Cells a spreadsheet or a CSV reader could trip on, and ones that must stay as they are.
TRICKY = [
    "",
    " ",
    "\t",
    "plain",
    'say "hi"',
    '"',
    '""',
    "a,b",
    "a\nb",
    "a\rb",
    "a\r\nb",
    "\r",
    "\n",
    "=1+1",
    "=",
    "@SUM(A1)",
    "+1 (303) 555-0100",
    "+18004506787",
    "-12.50",
    "+7,5",
    "-",
    "+",
    "\t=1",
    "\r=1",
    " =1",
    "'=quoted",
    "Müller",
    "日本語",
    "emoji 📞",
    "\u2028line",
    "a\x85b",
    "nul\x00byte",
    "ctrl\x1fx",
    '=HYPERLINK("http://x","y")',
    "x" * 300,
]


def old_excel_safe_arrow(values: pa.Array) -> pa.Array:
    """The two-regex version excel_safe_arrow replaced."""
    risky = pc.and_(
        pc.match_substring_regex(values, r"^[=@+\-\t\r]"),
        pc.invert(pc.match_substring_regex(values, r"^[+-]?\d+(?:[.,]\d+)?$")),
    )
    if not pc.any(risky).as_py():
        return values
    quoted = pc.binary_join_element_wise(pa.scalar("'", TEXT), values, pa.scalar("", TEXT))
    return pc.if_else(risky, quoted, values)


def test_excel_safe_arrow_agrees_with_the_regexes() -> None:
    values = pa.array([*TRICKY, None, *TRICKY[::-1], None], TEXT)
    assert excel_safe_arrow(values).equals(old_excel_safe_arrow(values))
    for start, length in [(1, 10), (13, 5), (0, 0), (len(TRICKY), 3), (20, 40)]:
        part = values.slice(start, length)  # an offset into shared buffers
        assert excel_safe_arrow(part).equals(old_excel_safe_arrow(part)), (start, length)
    for same in (pa.array(["", ""], TEXT), pa.array([None, None], TEXT), pa.array([], TEXT)):
        assert excel_safe_arrow(same).equals(old_excel_safe_arrow(same))


class OldWriter(ResultsWriter):
    """ResultsWriter with failures.csv written as before: DataFrame.to_csv."""

    def _write_failures(
        self, results: pd.DataFrame, arrays: list[pa.Array], original: pd.DataFrame, rows: pd.Index
    ) -> None:
        failed = original.loc[rows].iloc[:, self._skip :].copy()
        for label in self.hidden:
            failed[label] = failed[label].where(failed[label].str.strip() == "", TOKEN_HIDDEN)
        failed.columns = pd.Index(self._failure_headers)
        errors = results.loc[failed.index, "error"]
        linked = [results.loc[failed.index, ORIGINAL_ROW]] if self._skip else []
        if self._failures_xlsx.takes(len(failed)):
            self._failures_xlsx.append(
                zip(failed.index.tolist(), errors, *linked, *failed.T.to_numpy(), strict=True)
            )
        for position in range(failed.shape[1]):
            failed.iloc[:, position] = excel_safe(failed.iloc[:, position])
        row_column, error_column = FAILURE_COLUMNS
        failed.insert(
            0, error_column, excel_safe(results.loc[failed.index, "error"]), allow_duplicates=True
        )
        failed.insert(0, row_column, failed.index, allow_duplicates=True)
        if self._skip:
            failed.insert(2, ORIGINAL_ROW, excel_safe(linked[0]), allow_duplicates=True)
        failed.to_csv(
            self._failures,
            mode="a",
            header=not self._wrote_failures,
            index=False,
            quoting=csv.QUOTE_NONNUMERIC,
        )
        self._wrote_failures = True

    def _failures_header(self) -> bytes:
        path = self.run_dir / "header.csv"
        pd.DataFrame(columns=[*self._ours, *self._failure_headers]).to_csv(
            path, index=False, quoting=csv.QUOTE_NONNUMERIC
        )
        return path.read_bytes()


def chunks(
    headers: list[str], count: int, seed: int, size: int = 60
) -> list[tuple[pd.DataFrame, pd.DataFrame, pd.Series]]:
    """``count`` chunks of results, original rows and the failure mask, of tricky cells."""
    pick = random.Random(seed)
    out = []
    first = 2
    for _ in range(count):
        numbers = list(range(first, first + size))
        first += size + pick.randint(0, 3)  # blank rows between chunks
        rows: list[dict[str, Any]] = []
        for n in numbers:
            status = pick.choice(["valid", "invalid", "invalid", "failed", "skipped"])
            cell = pick.choice(TRICKY)
            error = "" if status == "valid" else f"Phone: '{cell}' is not a phone number"
            if status == "invalid" and pick.random() < 0.3:
                error += f" | Email: '{pick.choice(TRICKY)}' is not an email"
            if pick.random() < 0.05:
                error = "=" + error + "\ud800"  # a formula start and a lone surrogate
            rows.append(
                {c: "" for c in RESULT_COLUMNS}
                | {
                    "row": n,
                    "status": status,
                    "error": error,
                    "caller_id": pick.choice(TRICKY),
                    "payload": '{"note": "' + pick.choice(TRICKY) + '"}',
                }
            )
        results = pd.DataFrame(
            rows, index=pd.Index(numbers, dtype="int64", name="row"), dtype=object
        )
        # Text columns as the run folder has them; error as object, to hold a lone surrogate.
        results = results.astype({c: "str" for c in RESULT_COLUMNS if c != "error"})
        results["row"] = results["row"].astype("int64")
        cells = [[pick.choice([*TRICKY, None]) for _ in headers] for _ in numbers]
        for line, n in zip(cells, numbers, strict=True):
            if headers[:2] == ["row", "error"]:  # a failures.csv imported again
                line[0], line[1] = str(n - 1), "old error"
                if headers[2] == ORIGINAL_ROW:
                    line[2] = pick.choice(["7", "=7", "", "1,000"])
        original = pd.DataFrame(
            cells, index=pd.Index(numbers, dtype="int64", name="row"), columns=headers, dtype="str"
        )
        out.append((results, original, results["status"].isin(["invalid", "failed"])))
    return out


def workbook_rows(path: Path) -> list[tuple[object, ...]]:
    book = load_workbook(path, read_only=True)
    try:
        return [tuple(row) for row in book.active.iter_rows(values_only=True)]
    finally:
        book.close()


@pytest.mark.parametrize(
    ("headers", "hidden"),
    [
        (["=Name", 'Say "x"', "Phone,Cell", "Token"], {"Token"}),
        (["Name", "Phone"], set()),
        (["row", "error", "Name", "Token"], {"Token"}),  # failures.csv imported again
        (["row", "error", ORIGINAL_ROW, "Name", "@Phone"], set()),  # ... and again
    ],
)
@pytest.mark.parametrize("count", [1, 3])
def test_failures_csv_is_what_to_csv_wrote(
    tmp_path: Path, headers: list[str], hidden: set[str], count: int
) -> None:
    for seed in range(3):
        written = {}
        for name, kind in (("old", OldWriter), ("new", ResultsWriter)):
            folder = tmp_path / f"{name}{seed}"
            folder.mkdir()
            writer = kind(folder, headers, hidden)
            for results, original, bad in chunks(headers, count, seed):
                writer.write(results, original, bad)
            writer.finish()
            written[name] = folder
        old, new = written["old"], written["new"]
        assert (new / FAILURES_FILE).read_bytes() == (old / FAILURES_FILE).read_bytes()
        assert (new / RESULTS_FILE).read_bytes() == (old / RESULTS_FILE).read_bytes()
        assert workbook_rows(new / "failures.xlsx") == workbook_rows(old / "failures.xlsx")
    assert b"(hidden: lead token)" in (new / FAILURES_FILE).read_bytes() or not hidden


@pytest.mark.parametrize(
    "headers", [["Name", "=Phone", 'a "b"', ""], ["row", "error", ORIGINAL_ROW, "Name"]]
)
def test_failures_csv_without_failures_has_the_header_to_csv_wrote(
    tmp_path: Path, headers: list[str]
) -> None:
    written = {}
    for name, kind in (("old", OldWriter), ("new", ResultsWriter)):
        folder = tmp_path / name
        folder.mkdir()
        writer = kind(folder, headers, set())
        results, original, bad = chunks(headers, 1, 0)[0]
        writer.write(results, original, bad & False)
        writer.finish()
        written[name] = (folder / FAILURES_FILE).read_bytes()
    assert written["new"] == written["old"]
    assert written["new"].count(b"\n") == 1


def test_many_failures_go_past_the_workbook_copy(tmp_path: Path) -> None:
    # Past FAILURES_XLSX_MAX_ROWS the copy gives up; failures.csv goes on, the same bytes.
    headers = ["Name", "Phone"]
    written = {}
    for name, kind in (("old", OldWriter), ("new", ResultsWriter)):
        folder = tmp_path / name
        folder.mkdir()
        writer = kind(folder, headers, set())
        for results, original, bad in chunks(headers, 3, 1, size=6000):
            writer.write(results, original, bad)
        writer.finish()
        written[name] = folder
    failures = (written["new"] / FAILURES_FILE).read_bytes()
    assert failures == (written["old"] / FAILURES_FILE).read_bytes()
    assert not (written["new"] / "failures.xlsx").exists()
    assert np.count_nonzero(np.frombuffer(failures, np.uint8) == ord("\n")) > 10_000
