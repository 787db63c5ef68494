"""Progress that tells the truth: totals of the rows taken, live counts, speed and ETA.

Through the real CLI against the sandbox: a pty where the bar is drawn, no stdin and no
terminal for the plain lines cron gets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from helpers import on_terminal
from test_run import TOKEN, make_csv, run_args

_ENV = {**os.environ, "LEADIMPORT_PROGRESS_EVERY": "0.2"}


def _on_terminal(args: list[Any]) -> list[str]:
    """Run ``leadimport ARGS`` on a pty; every frame the bar drew."""
    code, screen = on_terminal(args)
    assert code in (0, 1), screen[-2000:]
    frames = screen.replace("\r\n", "\n").split("\r")
    return [f.splitlines()[0] for f in frames if " rows, success " in f]


def _cron(args: list[Any]) -> subprocess.CompletedProcess[str]:
    """Run ``leadimport ARGS`` as cron does: no stdin, no terminal."""
    return subprocess.run(
        [sys.executable, "-m", "importer", *map(str, args)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_ENV, timeout=60,
    )  # fmt: skip


def test_the_bar_counts_the_rows_taken_and_every_success(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    src = make_csv(tmp_path / "leads.csv", 400)
    bars = _on_terminal(run_args(src, server, tmp_path / "run", "--limit", "50", "--rate", "80"))
    assert len(bars) >= 3, bars
    for bar in bars:
        done, total, success = re.match(r"(\d+)/(\d+) rows, success (\d+) ", bar).groups()  # type: ignore[union-attr]
        assert total == "50", bar  # not the file's 400
        assert success == done, bar  # the count moves with every row, not by 50s
    assert bars[-1].startswith("50/50 rows, success 50 · failed 0")


def _rates(stderr: str) -> list[float]:
    return [float(r) for r in re.findall(r" ([\d.]+) rows/s", stderr)]


def test_rerun_times_only_the_rows_it_sends(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.1, seed=4)
    src = make_csv(tmp_path / "leads.csv", 400)
    out = tmp_path / "run"
    first = _cron(run_args(src, server, out, "--max-attempts", "1", "--unlimited-rate"))
    assert first.returncode == 1, first.stderr
    again = _cron(["rerun", out, "--lead-token", TOKEN, "--rate", "15", "--max-attempts", "1"])
    assert again.returncode in (0, 1), again.stderr
    lines = [line for line in again.stderr.splitlines() if " progress: " in line]
    assert lines, again.stderr
    assert all(rate <= 15 * 1.5 for rate in _rates(again.stderr)), lines
    assert all(re.search(r" \d+/400 rows, ", line) for line in lines), lines


def test_plain_lines_of_a_workbook_have_a_total_and_an_eta(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    book = tmp_path / "leads.xlsx"
    pd.read_csv(make_csv(tmp_path / "leads.csv", 60), dtype=str).to_excel(book, index=False)
    done = _cron(run_args(book, server, tmp_path / "run", "--rate", "40"))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if " progress: " in line]
    assert lines, done.stderr
    assert all(re.search(r" \d+/60 rows, [\d.]+ rows/s, ETA \d:\d\d:\d\d, ", ln) for ln in lines), (
        lines
    )


def test_a_workbooks_rows_are_estimated_from_its_sheet_without_parsing_it(
    tmp_path: Path,
) -> None:
    """The progress bar's total for an .xlsx: its sheet's last row, first sheet or named
    one, even when the writer recorded no <dimension> (openpyxl then said nothing)."""
    import openpyxl

    from importer.pipeline import Source, Window, estimate_rows

    sample = Path(__file__).resolve().parents[1] / "samples" / "leads.xlsx"
    rows = openpyxl.load_workbook(sample, read_only=True)
    data_rows = sum(1 for _ in rows.worksheets[0].iter_rows()) - 1
    rows.close()
    assert estimate_rows(Source(sample)) == data_rows
    assert estimate_rows(Source(sample), Window(limit=7)) == 7

    book = openpyxl.load_workbook(sample)
    notes = book.create_sheet("Notes", 0)
    for i in range(3):
        notes.append([f"note {i}"])
    book.save(tmp_path / "two.xlsx")
    assert estimate_rows(Source(tmp_path / "two.xlsx")) == 2  # the first sheet: Notes
    assert estimate_rows(Source(tmp_path / "two.xlsx", sheet="Leads")) == data_rows
    assert estimate_rows(Source(tmp_path / "two.xlsx", sheet="Gone")) is None
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really")
    assert estimate_rows(Source(tmp_path / "broken.xlsx")) is None
