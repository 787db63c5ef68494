"""Result files that open cleanly where people open them, and that link back to the file.

``results.xlsx`` and ``failures.xlsx`` beside the CSVs hold text cells: a phone keeps its
``+`` and its spaces, a formula is shown, never run, and no apostrophe is added. Rows of a
re-imported failures file carry ``original_row``: the row of the first spreadsheet.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
from helpers import EXAMPLE, HEADER, invoke, read_results

from importer.record import RESULT_COLUMNS

TOKEN = "tok-outputs-1"
FORMULA = '=HYPERLINK("http://evil.example","x")'


def _leads(path: Path, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            phone = f"+1 212 555 {1000 + i:04d}"
            w.writerow([f"F{i}", f"L{i}", phone, f"p{i}@example.com", "", "100", "NY", "02134",
                        FORMULA if i == 0 else "web"])  # fmt: skip
    return path


def _send(src: Path, server: Any, out: Path) -> int:
    code, _, err = invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--out", out,
        "--lead-token", TOKEN, "--max-attempts", "1", "--unlimited-rate", "--yes",
    )  # fmt: skip
    assert code in (0, 1), err
    return code


def _sheet(path: Path) -> list[list[Any]]:
    book = openpyxl.load_workbook(path)
    cells = [[(c.value, c.data_type) for c in row] for row in book.active.iter_rows()]
    book.close()
    return cells


def test_xlsx_copies_keep_phones_and_show_formulas_as_text(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.5, seed=7)
    run = tmp_path / "run"
    _send(_leads(tmp_path / "leads.csv", 30), server, run)

    results = pd.read_excel(run / "results.xlsx", dtype=str, engine="openpyxl")
    assert results["caller_id"].tolist() == [f"+1212555{1000 + i:04d}" for i in range(30)]
    assert results["row"].tolist() == [str(r) for r in range(2, 32)]
    # every cell but row numbers is a text cell: Excel shows it as it is
    sheet = _sheet(run / "results.xlsx")
    assert {kind for row in sheet[1:] for _, kind in row[1:]} <= {"s", "n"}
    phone = RESULT_COLUMNS.index("caller_id")
    assert all(kind == "s" for value, kind in (row[phone] for row in sheet[1:]))

    failed = [r for r in read_results(run) if r["status"] != "success"]
    assert failed, "the sandbox was to fail some rows"
    book = _sheet(run / "failures.xlsx")
    assert [v for v, _ in book[0]] == ["row", "error", *HEADER]
    assert [row[0][0] for row in book[1:]] == [int(r["row"]) for r in failed]
    assert [row[4] for row in book[1:]] == [
        (f"+1 212 555 {1000 + int(r['row']) - 2:04d}", "s") for r in failed
    ]  # no apostrophe before the phone
    if failed[0]["row"] == "2":
        assert book[1][10] == (FORMULA, "s")  # shown as text, never run
    # The CSVs stay safe for a spreadsheet that opens them directly.
    with (run / "failures.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert all(not cell.startswith(("=", "+", "@", "-")) for row in rows for cell in row)


def test_reimported_failures_link_back_to_the_original_rows(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.5, seed=3)
    first = tmp_path / "first"
    _send(_leads(tmp_path / "leads.csv", 40), server, first)
    failed_first = {r["row"] for r in read_results(first) if r["status"] != "success"}

    second = tmp_path / "second"  # the fixed failures, opened and saved in Excel
    _send(first / "failures.xlsx", server, second)
    again = read_results(second)
    assert [r["original_row"] for r in again] == sorted(failed_first, key=int)
    assert [r["row"] for r in again] == [str(n) for n in range(2, 2 + len(again))]
    failed_second = [r for r in again if r["status"] != "success"]
    assert failed_second, "the sandbox was to fail some rows again"

    third = tmp_path / "third"  # and once more, from the CSV this time
    _send(second / "failures.csv", server, third)
    last = read_results(third)
    assert [r["original_row"] for r in last] == [r["original_row"] for r in failed_second]
    sent = {lead["caller_id"] for lead in server.leads()}
    assert all(lead["data"].keys().isdisjoint({"original_row", "row", "error"})
               for lead in server.leads())  # fmt: skip
    assert len(sent) <= 40


# --- issue 12's small ones ----------------------------------------------------------------

_ONE_BAD_ONE_BLANK = (
    ",".join(HEADER) + "\n"
    "A,B,12x,a@x.com,,1,NY,02134,web\n"
    ",,,,,,,,\n"
    "C,D,(212) 555-0101,c@x.com,,1,NY,02134,web\n"
)


def test_the_summary_says_one_blank_row_and_shows_the_bad_value(tmp_path: Path) -> None:
    src = tmp_path / "b.csv"
    src.write_text(_ONE_BAD_ONE_BLANK, encoding="utf-8")
    code, out, _ = invoke("validate", src, "-m", EXAMPLE, "--out", tmp_path / "v")
    assert code == 1
    assert "  rows:     2 (1 blank row skipped)\n" in out
    assert "contains letters; write the phone number in digits  (rows 2, e.g. '12x')" in out

    code, out, _ = invoke("validate", src, "-m", EXAMPLE, "--out", tmp_path / "q", "-q")
    assert (code, out) == (
        1,
        f"{tmp_path / 'q' / 'results.csv'}\n{tmp_path / 'q' / 'failures.csv'}\n",
    )


def test_mapping_check_reports_matched_missing_and_unused_columns(tmp_path: Path) -> None:
    src = tmp_path / "leads.csv"
    headers = [h if h != "ZIP" else "Zip Code" for h in HEADER] + ["Notes"]
    src.write_text(",".join(headers) + "\n" + "A,B,212-555-0101,a@x.com,,1,NY,02134,web,hi\n")
    code, out, err = invoke("mapping", "check", src, "-m", EXAMPLE)
    assert (code, err) == (2, "")
    assert out.splitlines() == [
        "matched:  fields.caller_id <- 'Phone'",
        "matched:  fields.email <- 'E-mail'",
        "matched:  fields.schedule_callback_at <- 'Callback Time'",
        "matched:  data.first_name <- 'First Name'",
        "matched:  data.last_name <- 'Last Name'",
        "matched:  data.loan_amount <- 'Amount'",
        "matched:  data.state <- 'State'",
        "matched:  data.source <- 'Source'",
        "missing:  data.zip: no column 'ZIP'; did you mean 'Zip Code'?",
        "unused:   'Zip Code', 'Notes' (not sent)",
    ]
    code, _, err = invoke("mapping", "check", tmp_path / "leads.csv", "-m", EXAMPLE, "-q")
    assert code == 2
    code, out, _ = invoke("mapping", "--help")
    assert "check " in out and "init " in out


def test_sandbox_stats_stay_small_after_a_big_import(tmp_path: Path, sandbox_factory: Any) -> None:
    import json
    import urllib.request

    from test_run import make_csv, run_args

    server = sandbox_factory(tokens=("tok-SECRET-4f9a2c77e1",))
    code, _, err = invoke(
        *run_args(make_csv(tmp_path / "l.csv", 60), server, tmp_path / "r", "--unlimited-rate")
    )
    assert code == 0, err
    with urllib.request.urlopen(f"{server.url}/_sandbox/stats") as answer:  # noqa: S310
        stats = json.load(answer)
    assert len(stats["peak_concurrency_by_caller_id"]) == 20
    assert stats["caller_ids_seen"] == 60
