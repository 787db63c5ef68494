"""Write a run folder's ``results.csv``, ``failures.csv`` and ``summary.json``.

Files are written under a temporary name and renamed into place when complete, so a
reader (or a rerun after a crash) never sees half a results file.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from importer.errors import OutputError

RESULT_COLUMNS = [
    "row",
    "status",
    "http_status",
    "attempts",
    "error",
    "caller_id",
    "email",
    "lead_id",
    "trackdrive_number_plain",
    "sms_number_plain",
    "payload",
]
RESULTS_FILE = "results.csv"
FAILURES_FILE = "failures.csv"
SUMMARY_FILE = "summary.json"
TOKEN_HIDDEN = "(hidden: lead token)"

_FORMULA_START = r"^[=@+\-\t\r]"
_PLAIN_NUMBER = r"[+-]?\d+(?:[.,]\d+)?"
_QUOTED_VALUE = re.compile(r"'[^']*'")


def excel_safe(values: pd.Series) -> pd.Series:
    """Make text cells that Excel/LibreOffice would run as formulas show as text.

    A cell starting with = @ + - (or tab/CR) that is not a plain number gets a leading
    apostrophe (OWASP's advice for CSV injection); plain numbers such as an E.164
    ``+18004506787`` stay as they are so phones remain readable.
    """
    values = values.astype("str")
    risky = values.str.contains(_FORMULA_START, regex=True) & ~values.str.fullmatch(_PLAIN_NUMBER)
    if not risky.any():
        return values
    return values.where(~risky, "'" + values)


def error_reason(error: str) -> str:
    """Group errors by their shape: the quoted values are replaced by '…'."""
    first = error.split("; ")[0]
    return _QUOTED_VALUE.sub("'…'", first)


@dataclass(slots=True)
class Tally:
    """Counts per status and the most common failure reasons, gathered while writing."""

    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    reason_rows: dict[str, list[int]] = field(default_factory=dict)
    rows: int = 0

    def add(self, frame: pd.DataFrame) -> None:
        """Count one chunk of results."""
        self.rows += len(frame)
        self.counts.update(frame["status"].value_counts().to_dict())
        bad = frame[frame["error"] != ""]
        if bad.empty:
            return
        for row, error in zip(bad["row"], bad["error"], strict=True):
            reason = error_reason(str(error))
            self.reasons[reason] += 1
            listed = self.reason_rows.setdefault(reason, [])
            if len(listed) < 5:
                listed.append(int(row))

    def top_reasons(self, n: int = 5) -> list[dict[str, Any]]:
        """The ``n`` most common failure reasons with a few row numbers each."""
        return [
            {"reason": r, "count": c, "rows": self.reason_rows.get(r, [])}
            for r, c in self.reasons.most_common(n)
        ]


class ResultsWriter:
    """Stream result rows into ``results.csv`` and not-valid rows into ``failures.csv``."""

    def __init__(
        self,
        run_dir: Path,
        headers: list[str],
        hidden_columns: set[str],
        extra_columns: tuple[str, ...] = (),
    ) -> None:
        self.run_dir = run_dir
        self.headers = headers
        self.hidden = hidden_columns
        self.columns = [*RESULT_COLUMNS, *extra_columns]
        self.tally = Tally()
        self._results = run_dir / (RESULTS_FILE + ".tmp")
        self._failures = run_dir / (FAILURES_FILE + ".tmp")
        self._first = True
        try:
            for tmp in (self._results, self._failures):
                tmp.write_text("", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"{run_dir}: cannot write results ({exc.strerror})") from None

    def write(self, results: pd.DataFrame, original: pd.DataFrame, bad: pd.Series) -> None:
        """Append one chunk: ``results`` has the result columns; ``bad`` marks failure rows."""
        out = results[self.columns].copy()
        for col in ("error", "caller_id", "email", "lead_id", "payload", *self.columns[11:]):
            out[col] = excel_safe(out[col])
        self.tally.add(results)
        header = self._first
        self._first = False
        self._append(out, self._results, header=header, columns=self.columns)
        failed = original.loc[bad[bad].index].copy()
        for label in self.hidden:
            failed[label] = TOKEN_HIDDEN
        failed.columns = pd.Index(self.headers)
        for position in range(failed.shape[1]):
            failed.iloc[:, position] = excel_safe(failed.iloc[:, position])
        failed.insert(
            0, "error", excel_safe(results.loc[failed.index, "error"]), allow_duplicates=True
        )
        failed.insert(0, "row", failed.index, allow_duplicates=True)
        self._append(failed, self._failures, header=header, columns=None)

    def _append(self, frame: pd.DataFrame, path: Path, *, header: bool, columns: Any) -> None:
        try:
            frame.to_csv(path, mode="a", header=header, index=False, columns=columns)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write results ({exc.strerror})") from None

    def finish(self) -> None:
        """Move the finished files into place."""
        if self._first:  # no rows at all: still write the headers
            pd.DataFrame(columns=self.columns).to_csv(self._results, index=False)
            pd.DataFrame(columns=["row", "error", *self.headers]).to_csv(
                self._failures, index=False
            )
        os.replace(self._results, self.run_dir / RESULTS_FILE)
        os.replace(self._failures, self.run_dir / FAILURES_FILE)


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``summary.json`` says about a run."""

    command: str
    run_dir: str
    input: str
    input_sha256: str
    mapping: str
    endpoint: str
    rows: int
    counts: dict[str, int]
    blank_rows: int
    top_reasons: list[dict[str, Any]]
    started_at: str
    finished_at: str
    duration_s: float
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    aborted: str | None = None
    interrupted: bool = False
    exit_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The summary as pretty JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"


def write_summary(run_dir: Path, summary: Summary) -> Path:
    """Write ``summary.json`` atomically and return its path."""
    path = run_dir / SUMMARY_FILE
    tmp = run_dir / (SUMMARY_FILE + ".tmp")
    try:
        tmp.write_text(summary.to_json(), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the summary ({exc.strerror})") from None
    return path
