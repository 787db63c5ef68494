"""Tests for importer.record's results.csv, failures.csv and summary.json, on real files."""

from __future__ import annotations

import contextlib
import csv
import json
import resource
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from importer.errors import ExitStatus, OutputError
from importer.read import open_table
from importer.record import (
    ERROR_SEPARATOR,
    FAILURES_FILE,
    RESULT_COLUMNS,
    RESULTS_FILE,
    SUMMARY_FILE,
    ResultsWriter,
    Summary,
    Tally,
    write_summary,
)
from importer.record._results import error_reason, excel_safe, excel_safe_arrow

HEADERS = ["Name", "Phone", "Token"]


def results(*rows: dict[str, Any]) -> pd.DataFrame:
    """A chunk of results as the run folder builds it: text cells, indexed by Excel row."""
    frame = pd.DataFrame(
        [{c: "" for c in RESULT_COLUMNS} | row for row in rows],
        index=[row["row"] for row in rows],
    )
    frame["row"] = frame["row"].astype("int64")
    return frame


def original(rows: dict[int, list[str]], headers: list[str] = HEADERS) -> pd.DataFrame:
    return pd.DataFrame(list(rows.values()), index=list(rows), columns=headers, dtype="str")


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@contextlib.contextmanager
def full_disk(limit: int) -> Iterator[None]:
    """Files cannot grow past ``limit`` bytes (EFBIG), as on a full disk (tests run as root,
    where chmod stops nothing). Python ignores SIGXFSZ, so the write just fails."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_the_result_columns_and_their_order() -> None:
    assert RESULT_COLUMNS == [
        "row",
        "status",
        "http_status",
        "attempts",
        "error",
        "warnings",
        "caller_id",
        "email",
        "lead_id",
        "trackdrive_number_plain",
        "sms_number_plain",
        "payload",
    ]
    assert (RESULTS_FILE, FAILURES_FILE, SUMMARY_FILE) == (
        "results.csv",
        "failures.csv",
        "summary.json",
    )
    assert ERROR_SEPARATOR == " | "


# -- results.csv and failures.csv ------------------------------------------------------------


def test_results_and_failures_are_written_with_their_columns(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, HEADERS, {"Token"})
    chunk = results(
        {
            "row": 2,
            "status": "success",
            "http_status": "200",
            "attempts": "1",
            "caller_id": "+13035550100",
            "lead_id": "L-1",
            "trackdrive_number_plain": "+18005550100",
            "payload": '{"caller_id": "+13035550100", "note": "a, b"}',
        },
        {"row": 3, "status": "invalid", "error": "Phone: '12' is not a phone number"},
        {"row": 4, "status": "failed", "http_status": "500", "attempts": "5", "error": "HTTP 500"},
    )
    writer.write(
        chunk,
        original({2: ["Ann", "303 555 0100", "tok-1"], 3: ["Bo", "12", ""], 4: ["Cy", "1", "t"]}),
        chunk["status"] != "success",
    )
    # Nothing is in place until finish(): a reader never sees half a file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failures.csv.tmp", "results.csv.tmp"]
    writer.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "failures.csv",
        "failures.xlsx",
        "results.csv",
        "results.xlsx",
    ]
    assert read_csv(tmp_path / RESULTS_FILE) == [
        RESULT_COLUMNS,
        [
            "2",
            "success",
            "200",
            "1",
            "",
            "",
            "+13035550100",
            "",
            "L-1",
            "+18005550100",
            "",
            '{"caller_id": "+13035550100", "note": "a, b"}',
        ],
        ["3", "invalid", "", "", "Phone: '12' is not a phone number", "", "", "", "", "", "", ""],
        ["4", "failed", "500", "5", "HTTP 500", "", "", "", "", "", "", ""],
    ]
    # The failed rows as they were in the file, behind their row number and error; the
    # token hidden, except where the cell was empty (that may be the row's problem).
    assert read_csv(tmp_path / FAILURES_FILE) == [
        ["row", "error", "Name", "Phone", "Token"],
        ["3", "Phone: '12' is not a phone number", "Bo", "12", ""],
        ["4", "HTTP 500", "Cy", "1", "(hidden: lead token)"],
    ]
    assert writer.columns == RESULT_COLUMNS
    assert (writer.tally.rows, dict(writer.tally.counts)) == (
        3,
        {"success": 1, "invalid": 1, "failed": 1},
    )


def test_several_chunks_append_under_one_header(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, HEADERS, set())
    for first in (2, 4, 6):
        chunk = results(
            {"row": first, "status": "success"},
            {"row": first + 1, "status": "invalid", "error": f"bad {first + 1}"},
        )
        writer.write(
            chunk,
            original({first: ["a", "1", "t"], first + 1: ["b", "2", "t"]}),
            chunk["status"] == "invalid",
        )
    writer.finish()
    assert [line[:2] for line in read_csv(tmp_path / RESULTS_FILE)] == [
        ["row", "status"],
        *([str(r), "success" if r % 2 == 0 else "invalid"] for r in range(2, 8)),
    ]
    assert read_csv(tmp_path / FAILURES_FILE) == [
        ["row", "error", "Name", "Phone", "Token"],
        ["3", "bad 3", "b", "2", "t"],
        ["5", "bad 5", "b", "2", "t"],
        ["7", "bad 7", "b", "2", "t"],
    ]


def test_without_failures_failures_csv_still_has_its_header(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, HEADERS, {"Token"})
    chunk = results({"row": 2, "status": "success"})
    writer.write(chunk, original({2: ["a", "1", "t"]}), chunk["status"] != "success")
    writer.finish()
    assert read_csv(tmp_path / FAILURES_FILE) == [["row", "error", "Name", "Phone", "Token"]]
    assert len(read_csv(tmp_path / RESULTS_FILE)) == 2


def test_a_file_with_no_rows_still_gets_both_files(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, HEADERS, set())
    writer.finish()
    assert read_csv(tmp_path / RESULTS_FILE) == [RESULT_COLUMNS]
    assert read_csv(tmp_path / FAILURES_FILE) == [["row", "error", *HEADERS]]
    assert (writer.tally.rows, writer.tally.top_reasons()) == (0, [])


def test_extra_columns_follow_the_result_columns(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, HEADERS, set(), extra_columns=("scheduled_at", "zone"))
    chunk = results({"row": 2, "status": "success", "scheduled_at": "=NOW()", "zone": "UTC"})
    writer.write(chunk, original({2: ["a", "1", "t"]}), chunk["status"] != "success")
    writer.finish()
    assert read_csv(tmp_path / RESULTS_FILE) == [
        [*RESULT_COLUMNS, "scheduled_at", "zone"],
        ["2", "success", "", "", "", "", "", "", "", "", "", "", "'=NOW()", "UTC"],
    ]


def test_failures_csv_imported_again_gets_new_row_and_error_columns(tmp_path: Path) -> None:
    headers = ["row", "error", "Name", "Phone"]  # a failures.csv, fixed and imported again
    writer = ResultsWriter(tmp_path, headers, set())
    chunk = results({"row": 2, "status": "invalid", "error": "Phone: '3' is not a phone"})
    writer.write(
        chunk,
        original({2: ["17", "old error", "Ann", "3"]}, headers),
        chunk["status"] == "invalid",
    )
    writer.finish()
    assert read_csv(tmp_path / FAILURES_FILE) == [
        ["row", "error", "original_row", "Name", "Phone"],  # row 17 of the first file
        ["2", "Phone: '3' is not a phone", "17", "Ann", "3"],
    ]


# -- formulas ----------------------------------------------------------------------------------

CELLS = [
    # (cell, as written to a CSV)
    ("=1+1", "'=1+1"),
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("=", "'="),
    ("-", "'-"),
    ("+1 (303) 555-0100", "'+1 (303) 555-0100"),  # a phone as typed: not a plain number
    ("+1e5", "'+1e5"),
    # Plain numbers stay readable: E.164 phones, signed amounts, decimal commas.
    ("+18004506787", "+18004506787"),
    ("-12", "-12"),
    ("-12.50", "-12.50"),
    ("+7,5", "+7,5"),
    # Not at the start, or not a formula start: untouched.
    (" =1+1", " =1+1"),
    ("a=b", "a=b"),
    ("1+1", "1+1"),
    ("x@example.com", "x@example.com"),
    ("'=already quoted", "'=already quoted"),
    ("", ""),
]


@pytest.mark.parametrize(("cell", "safe"), CELLS)
def test_excel_safe_quotes_cells_a_spreadsheet_would_run(cell: str, safe: str) -> None:
    column = pd.Series([cell, "plain"], index=[7, 9], dtype="str")
    assert excel_safe(column).to_dict() == {7: safe, 9: "plain"}


def test_excel_safe_arrow_quotes_only_risky_cells_and_keeps_missing_ones() -> None:
    values = pa.array([cell for cell, _ in CELLS] + [None], pa.large_string())
    assert excel_safe_arrow(values).to_pylist() == [safe for _, safe in CELLS] + [None]
    harmless = pa.array(["a", "+1", None], pa.large_string())
    assert excel_safe_arrow(harmless).to_pylist() == ["a", "+1", None]


def test_cells_that_could_run_as_formulas_are_text_in_both_files(tmp_path: Path) -> None:
    headers = ["=Name", "Phone", "@Token"]
    writer = ResultsWriter(tmp_path, headers, set())
    chunk = results(
        {
            "row": 2,
            "status": "invalid",
            "error": "Phone: '=1+1' is not a phone number",
            "warnings": "=Phone: '0044 1' starts with 00",
            "caller_id": "=1+1",
            "email": "@x",
            "lead_id": "+L",
            "payload": "-{}",
        },
        {"row": 3, "status": "success", "caller_id": "+13035550100", "email": "-5"},
    )
    writer.write(
        chunk,
        original({2: ["=cmd", "=1+1", "+t"], 3: ["a", "1", "t"]}, headers),
        chunk["status"] == "invalid",
    )
    writer.finish()
    assert read_csv(tmp_path / RESULTS_FILE)[1:] == [
        [
            "2",
            "invalid",
            "",
            "",
            "Phone: '=1+1' is not a phone number",  # does not start with a formula sign
            "'=Phone: '0044 1' starts with 00",  # a header can start with one
            "'=1+1",
            "'@x",
            "'+L",
            "",
            "",
            "'-{}",
        ],
        ["3", "success", "", "", "", "", "+13035550100", "-5", "", "", "", ""],
    ]
    assert read_csv(tmp_path / FAILURES_FILE) == [
        ["row", "error", "'=Name", "Phone", "'@Token"],  # a header cell can be a formula too
        ["2", "Phone: '=1+1' is not a phone number", "'=cmd", "'=1+1", "'+t"],
    ]


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"])
def test_a_line_break_inside_a_cell_cannot_start_a_record_with_a_formula(
    tmp_path: Path, newline: str
) -> None:
    # A lone CR went out unquoted in failures.csv: a reader began a new record at it, whose
    # first cell was a live formula. Re-importing failures.csv must give back the same rows.
    cell = f"Bob{newline}=cmd|' /C calc'!A0"
    error = f"Phone: '{cell}' is not a phone"
    writer = ResultsWriter(tmp_path, HEADERS, set())
    chunk = results({"row": 2, "status": "invalid", "error": error, "caller_id": cell})
    writer.write(chunk, original({2: [cell, cell, "t"], 3: ["Ann", "1", "t"]}), chunk["row"] == 2)
    writer.finish()
    assert read_csv(tmp_path / FAILURES_FILE) == [
        ["row", "error", *HEADERS],
        ["2", error, cell, cell, "t"],
    ]
    [header, row] = read_csv(tmp_path / RESULTS_FILE)
    assert dict(zip(header, row, strict=True))["caller_id"] == cell
    table = open_table(tmp_path / FAILURES_FILE)  # the tool's own reader, as a rerun would
    frame = pd.concat(chunk.frame for chunk in table.chunks())
    assert table.headers == ["row", "error", *HEADERS]
    assert frame.to_numpy().tolist() == [["2", error, cell, cell, "t"]]


@pytest.mark.parametrize("column", ["trackdrive_number_plain", "sms_number_plain"])
def test_numbers_from_the_endpoints_answer_cannot_run_as_formulas(
    tmp_path: Path, column: str
) -> None:
    writer = ResultsWriter(tmp_path, HEADERS, set())
    chunk = results({"row": 2, "status": "success", column: '=HYPERLINK("http://x","y")'})
    writer.write(chunk, original({2: ["a", "1", "t"]}), chunk["status"] != "success")
    writer.finish()
    row = dict(zip(*read_csv(tmp_path / RESULTS_FILE), strict=True))
    assert row[column] == '\'=HYPERLINK("http://x","y")'


@pytest.mark.parametrize("column", ["trackdrive_number_plain", "sms_number_plain"])
def test_plain_numbers_from_the_endpoints_answer_stay_as_they_are(
    tmp_path: Path, column: str
) -> None:
    writer = ResultsWriter(tmp_path, HEADERS, set())
    chunk = results({"row": 2, "status": "success", column: "+18442000001"})
    writer.write(chunk, original({2: ["a", "1", "t"]}), chunk["status"] != "success")
    writer.finish()
    row = dict(zip(*read_csv(tmp_path / RESULTS_FILE), strict=True))
    assert row[column] == "+18442000001"


def test_a_lone_surrogate_is_written_as_a_replacement_character(tmp_path: Path) -> None:
    # The journal keeps it as it came (aiohttp's surrogateescape); UTF-8 files cannot.
    writer = ResultsWriter(tmp_path, HEADERS, set())
    rows = [
        {"row": 2, "status": "success", "lead_id": "L\ud800"},
        {"row": 3, "status": "failed", "error": "HTTP 502 Bad \udcff Gateway"},
    ]
    # Object columns, as the run folder merges journal outcomes: a str column refuses them.
    chunk = pd.DataFrame(
        [{c: "" for c in RESULT_COLUMNS} | row for row in rows], index=[2, 3], dtype=object
    )
    chunk["row"] = chunk["row"].astype("int64")
    writer.write(
        chunk, original({2: ["a", "1", "t"], 3: ["b", "2", "t"]}), chunk["status"] == "failed"
    )
    writer.finish()
    written = read_csv(tmp_path / RESULTS_FILE)
    assert [r[RESULT_COLUMNS.index("lead_id")] for r in written[1:]] == ["L\ufffd", ""]
    assert written[2][RESULT_COLUMNS.index("error")] == "HTTP 502 Bad \ufffd Gateway"
    assert read_csv(tmp_path / FAILURES_FILE)[1][:2] == ["3", "HTTP 502 Bad \ufffd Gateway"]
    assert writer.tally.top_reasons() == [
        {"reason": "HTTP 502 Bad \ufffd Gateway", "count": 1, "rows": [3]}
    ]


# -- failure reasons ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            "Phone: '12345' is not a valid phone number for region US: too few digits",
            "Phone: '…' is not a valid phone number for region US: too few digits",
        ),
        (
            "Phone: '1' is not a phone number | E-mail: 'x' is not a valid email address",
            "Phone: '…' is not a phone number",  # the first problem only
        ),
        ("duplicate of row 12", "duplicate of row N"),
        (
            "superseded by row 40, sent successfully later for the same lead",
            "superseded by row N, sent successfully later for the same lead",
        ),
        (
            "unchanged since 2024-05-01 10:00:00 +0000, run output/run-1",
            "unchanged since the last run",
        ),
        ("HTTP 503 after 5 attempts", "HTTP 503 after 5 attempts"),
        ("Token: no lead token in this row", "Token: no lead token in this row"),
        ("arrow 5 'x'", "arrow 5 'x'"),  # neither a row number nor a quoted cell value
    ],
)
def test_errors_are_grouped_by_their_shape(error: str, reason: str) -> None:
    assert error_reason(error) == reason


def test_tally_counts_statuses_and_the_most_common_reasons(tmp_path: Path) -> None:
    tally = Tally()
    tally.add(
        results(
            *(
                {"row": r, "status": "invalid", "error": f"Phone: '{r}' is bad"}
                for r in range(2, 9)
            ),
            {"row": 9, "status": "success"},
        )
    )
    tally.add(
        results(
            {"row": 10, "status": "skipped", "error": "duplicate of row 2"},
            {"row": 11, "status": "skipped", "error": "duplicate of row 3"},
            {"row": 12, "status": "failed", "error": "HTTP 500 | HTTP 500"},
            {"row": 13, "status": "success"},
        )
    )
    assert tally.rows == 12
    assert dict(tally.counts) == {"invalid": 7, "success": 2, "skipped": 2, "failed": 1}
    assert tally.top_reasons() == [
        {"reason": "Phone: '…' is bad", "count": 7, "rows": [2, 3, 4, 5, 6]},  # five rows
        {"reason": "HTTP 500", "count": 1, "rows": [12]},
    ]
    assert [r["reason"] for r in tally.top_reasons(1)] == ["Phone: '…' is bad"]
    # Skipped by design (issue 12 item 6): counted apart, not a problem.
    assert tally.top_skips() == [{"reason": "duplicate of row N", "count": 2, "rows": [10, 11]}]


# -- summary.json ------------------------------------------------------------------------------


def summary(**changes: Any) -> Summary:
    values: dict[str, Any] = {
        "command": "run",
        "run_dir": "output/leads-1",
        "input": "leads.csv",
        "input_sha256": "ab" * 32,
        "mapping": "mappings/example.yaml",
        "endpoint": "https://example.trackdrive.com/api/v1/leads/create_or_update",
        "rows": 12,
        "counts": {"success": 10, "failed": 2},
        "blank_rows": 1,
        "top_reasons": [{"reason": "HTTP 500", "count": 2, "rows": [3, 9]}],
        "started_at": "2024-05-01T10:00:00+02:00",
        "finished_at": "2024-05-01T10:00:03+02:00",
        "duration_s": 3.25,
    }
    return Summary(**(values | changes))


def test_summary_json_round_trips_with_every_field_in_order(tmp_path: Path) -> None:
    written = summary(requests=14, retries=2, throttled=1, exit_code=1, extra={"skipped": 3})
    path = write_summary(tmp_path, written)
    assert path == tmp_path / "summary.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no .tmp left
    text = path.read_text(encoding="utf-8")
    assert text == written.to_json() and text.endswith("}\n")
    data = json.loads(text)
    # examples (an offending cell value per reason) are personal data: a console's only
    assert list(data) == [f.name for f in fields(Summary) if f.name != "examples"]
    assert Summary(**data) == written
    assert (data["aborted"], data["interrupted"], data["extra"]) == (None, False, {"skipped": 3})


def test_summary_defaults_are_a_clean_run() -> None:
    data = json.loads(summary().to_json())
    assert {k: data[k] for k in list(data)[13:]} == {
        "requests": 0,
        "retries": 0,
        "throttled": 0,
        "aborted": None,
        "interrupted": False,
        "exit_code": 0,
        "extra": {},
        "skipped_reasons": [],
        "warnings": {},
        "warnings_total": 0,
        "warned_rows": 0,
        "unguarded": [],
    }


def test_write_summary_replaces_the_previous_one(tmp_path: Path) -> None:
    write_summary(tmp_path, summary(command="run", exit_code=1))
    write_summary(tmp_path, summary(command="rerun", exit_code=0))
    data = json.loads((tmp_path / SUMMARY_FILE).read_text(encoding="utf-8"))
    assert (data["command"], data["exit_code"]) == ("rerun", 0)


# -- folders that cannot be written ------------------------------------------------------------

UNWRITABLE = [
    pytest.param(lambda tmp: tmp / "missing", "No such file or directory", id="missing-folder"),
    pytest.param(
        lambda tmp: (tmp / "a-file").touch() or tmp / "a-file", "Not a directory", id="a-file"
    ),
]


@pytest.mark.parametrize(("make", "why"), UNWRITABLE)
def test_results_in_a_folder_that_cannot_be_written(tmp_path: Path, make: Any, why: str) -> None:
    run_dir = make(tmp_path)
    with pytest.raises(OutputError) as caught:
        ResultsWriter(run_dir, HEADERS, set())
    assert str(caught.value) == f"{run_dir}: cannot write results ({why})"
    assert caught.value.exit_code == ExitStatus.UNUSABLE


@pytest.mark.parametrize(("make", "why"), UNWRITABLE)
def test_a_summary_in_a_folder_that_cannot_be_written(tmp_path: Path, make: Any, why: str) -> None:
    run_dir = make(tmp_path)
    with pytest.raises(OutputError) as caught:
        write_summary(run_dir, summary())
    assert str(caught.value) == f"{run_dir / SUMMARY_FILE}: cannot write the summary ({why})"


def test_failures_on_a_full_disk_are_an_output_error(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, HEADERS, set())
    chunk = results({"row": 2, "status": "invalid", "error": "bad"})
    with full_disk(4096), pytest.raises(OutputError) as caught:
        writer.write(chunk, original({2: ["x" * 10_000, "1", "t"]}), chunk["status"] != "")
    assert str(caught.value) == (
        f"{tmp_path / 'failures.csv.tmp'}: cannot write failures (File too large)"
    )
