"""Past runs: what the run folders under an output folder say about themselves.

Read from each folder's own ``summary.json`` (and ``run.json`` for what kind of run it
is: a folder finished by ``rerun`` is still the run of its file). Folders of a batch sit
one level deeper, under the batch's folder. Anything unreadable is passed over: history
is for looking back, never a reason to stop a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.pipeline._runfolder import file_sha256
from importer.record import RUN_FILE, SUMMARY_FILE


@dataclass(frozen=True, slots=True)
class PastRun:
    """One run folder, as its summary describes it."""

    run_dir: Path
    kind: str  # what the folder is: run, reschedule, validate, reschedule (dry run)
    command: str  # the command that last wrote it (run, rerun, …)
    input: str
    input_sha256: str
    endpoint: str
    counts: dict[str, int]
    finished_at: str
    exit_code: int

    @property
    def sent(self) -> bool:
        """Did this run send anything (rather than only check)?"""
        return self.kind in ("run", "reschedule")

    @property
    def succeeded(self) -> int:
        """Rows that reached Trackdrive."""
        return self.counts.get("success", 0)

    @property
    def pending(self) -> int:
        """Rows a rerun would still try to send."""
        return self.counts.get("failed", 0) + self.counts.get("not_sent", 0)


def past_runs(root: Path) -> list[PastRun]:
    """Every run folder under ``root`` (and one level deeper, for batches), newest first."""
    if not root.is_dir():
        return []
    found = [*root.glob(f"*/{SUMMARY_FILE}"), *root.glob(f"*/*/{SUMMARY_FILE}")]
    runs = [run for path in found if (run := _read(path.parent)) is not None]
    return sorted(runs, key=lambda r: r.finished_at, reverse=True)


def _read(run_dir: Path) -> PastRun | None:
    summary = _json(run_dir / SUMMARY_FILE)
    if summary is None:
        return None
    info = _json(run_dir / RUN_FILE) or {}
    try:
        return PastRun(
            run_dir=run_dir,
            kind=str(info.get("command") or summary["command"]),
            command=str(summary["command"]),
            input=str(summary["input"]),
            input_sha256=str(summary.get("input_sha256", "")),
            endpoint=str(summary.get("endpoint", "")),
            counts={str(k): int(v) for k, v in dict(summary["counts"]).items()},
            finished_at=str(summary.get("finished_at", "")),
            exit_code=int(summary.get("exit_code", 0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def earlier_imports(root: Path, input_path: Path, endpoint: str) -> list[PastRun]:
    """Runs under ``root`` that already sent this exact file to ``endpoint``, newest first.

    Runs where nothing succeeded don't count; a run finished by ``rerun`` does.
    """
    candidates = [
        run
        for run in past_runs(root)
        if run.kind == "run" and run.endpoint == endpoint and run.succeeded
    ]
    if not candidates:
        return []
    sha = file_sha256(input_path)  # only hashed when there is something to compare with
    return [run for run in candidates if run.input_sha256 == sha]
