"""Past runs: what the run folders under an output folder say about themselves.

Read from each folder's own ``summary.json`` (and ``run.json`` for what kind of run it
is: a folder finished by ``rerun`` is still the run of its file). Folders of a batch sit
one level deeper, under the batch's folder. Anything unreadable is passed over: history
is for looking back, never a reason to stop a run.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from importer.config import load_mapping, resolve_token, token_fingerprint
from importer.errors import ExitStatus, ImporterError
from importer.pipeline._runfolder import file_sha256
from importer.pipeline._runinfo import read_info
from importer.record import (
    FAILURES_FILE,
    JOURNAL_FILE,
    RESULTS_FILE,
    RUN_FILE,
    SUMMARY_FILE,
    Journal,
    is_sending,
)


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
    started_at: str = ""
    rows: int = 0
    interrupted: bool = False  # stopped (Ctrl-C, a page's Stop): the rest is not_sent
    unfinished: bool = False  # a send began after the last summary and never wrote one
    sending: bool = False  # a process (a terminal's, a page's) is sending it right now

    @property
    def status(self) -> str:
        """running; done; or interrupted: stopped, or killed before it wrote its summary."""
        if self.sending:
            return "running"
        return "interrupted" if self.interrupted or self.unfinished else "done"

    @property
    def host(self) -> str:
        """The endpoint's host (and port): where the rows went, without path or token."""
        return urlsplit(self.endpoint).netloc or self.endpoint

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
        """Rows a rerun would still try to send (none for a check: it sends nothing)."""
        if not self.sent:
            return 0
        return self.counts.get("failed", 0) + self.counts.get("not_sent", 0)

    def to_dict(self) -> dict[str, Any]:
        """The run as plain JSON values, for a JSON listing and the browser face."""
        return {
            "run_dir": str(self.run_dir),
            "finished_at": self.finished_at,
            "started_at": self.started_at,
            "kind": self.kind,
            "command": self.command,
            "input": self.input,
            "endpoint_host": self.host,
            "sent": self.sent,
            "rows": self.rows,
            "counts": dict(self.counts),
            "exit_code": self.exit_code,
            "rerun_pending": self.pending,
            "status": self.status,
        }


def past_runs(root: Path, unfinished: bool = False) -> list[PastRun]:
    """Every run folder under ``root`` (and one level deeper, for batches), newest first.

    With ``unfinished``, also the folders of sends that never wrote their summary (killed,
    or still sending in another process): their counts are the journal's so far, and
    their ``finished_at`` is when the journal was last written.
    """
    if not root.is_dir():
        return []
    found = [*root.glob(f"*/{SUMMARY_FILE}"), *root.glob(f"*/*/{SUMMARY_FILE}")]
    runs = [run for path in found if (run := _read(path.parent, unfinished)) is not None]
    if unfinished:
        started = [*root.glob(f"*/{RUN_FILE}"), *root.glob(f"*/*/{RUN_FILE}")]
        for path in started:
            if not (path.parent / SUMMARY_FILE).exists():
                run = _read_unfinished(path.parent)
                if run is not None:
                    runs.append(run)
    return sorted(runs, key=lambda r: r.finished_at, reverse=True)


def past_run(run_dir: Path) -> PastRun | None:
    """One run folder as ``past_runs(…, unfinished=True)`` lists it (None: not a run folder)."""
    if (run_dir / SUMMARY_FILE).exists():
        return _read(run_dir, unfinished=True)
    return _read_unfinished(run_dir)


def _read_unfinished(run_dir: Path) -> PastRun | None:
    """A run folder with a run.json and a journal but no summary: a send that never ended."""
    info = _json(run_dir / RUN_FILE)
    try:
        written = (run_dir / JOURNAL_FILE).stat().st_mtime
    except OSError:
        return None
    if info is None:
        return None
    counts: dict[str, int] = {}
    outcomes, _ = Journal(run_dir).state()
    for outcome in outcomes.values():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    try:
        return PastRun(
            run_dir=run_dir,
            kind=str(info["command"]),
            command=str(info["command"]),
            input=str(info["input"]),
            input_sha256=str(info.get("input_sha256", "")),
            endpoint=str(info.get("endpoint", "")),
            counts=counts,
            finished_at=datetime.fromtimestamp(written).astimezone().isoformat(timespec="seconds"),
            exit_code=int(ExitStatus.INTERRUPTED),
            started_at=str(info.get("created_at", "")),
            unfinished=True,
            sending=is_sending(run_dir),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _read(run_dir: Path, unfinished: bool = False) -> PastRun | None:
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
            started_at=str(summary.get("started_at", "")),
            rows=int(summary.get("rows", 0)),
            interrupted=bool(summary.get("interrupted", False)),
            unfinished=unfinished and _stopped_since(run_dir),
            sending=unfinished and is_sending(run_dir),
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


@dataclass(frozen=True, slots=True)
class Pruned:
    """What ``prune_runs`` did: the folders removed, the bytes freed, the folders kept."""

    removed: list[Path] = field(default_factory=list)
    freed_bytes: int = 0
    kept_pending: list[PastRun] = field(default_factory=list)


def prune_runs(root: Path, older_than: timedelta, now: datetime | None = None) -> Pruned:
    """Delete the run folders under ``root`` that finished more than ``older_than`` ago.

    Kept: every folder with rows still to send (a rerun needs its journal), every folder
    without a readable summary (a run in progress, or not ours), and every file that is not
    a run folder, the ledger first of all. A batch folder left empty goes too.
    """
    now = now or datetime.now().astimezone()
    cutoff = now - older_than
    removed: list[Path] = []
    kept: list[PastRun] = []
    freed = 0
    for run in past_runs(root):
        try:
            finished = datetime.fromisoformat(run.finished_at)
        except ValueError:
            continue
        if finished.tzinfo is None:
            finished = finished.astimezone()
        if finished >= cutoff:
            continue
        if run.pending:
            kept.append(run)
            continue
        size = _size(run.run_dir)
        try:
            shutil.rmtree(run.run_dir)
        except OSError:
            continue
        removed.append(run.run_dir)
        freed += size
        parent = run.run_dir.parent
        if parent.resolve() != root.resolve():
            with contextlib.suppress(OSError):  # only when empty: a batch's runs all gone
                parent.rmdir()
    return Pruned(removed, freed, kept)


def _size(folder: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


# ---------------------------------------------------------------- rows fixed and imported again

_FAILURES_XLSX = "failures.xlsx"
_NOT_DONE = {"failed", "invalid", "not_sent"}


@dataclass(frozen=True, slots=True)
class RowFate:
    """Where a row that did not succeed in a run ended, after its failures were imported again."""

    row: int  # in the first run's spreadsheet
    status: str  # its last status: success once any re-import sent it
    run_dir: Path  # the run folder that gave it that status
    row_there: int  # its row number in that run's input (a failures file)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "row": self.row,
            "status": self.status,
            "run_dir": str(self.run_dir),
            "row_there": self.row_there,
        }


def row_fates(run_dir: Path, root: Path | None = None) -> list[RowFate]:
    """Every row of ``run_dir`` that did not succeed there, and where it finally ended.

    Follows the runs under ``root`` (default: the run folder's own output folder) whose
    input is ``run_dir``'s failures file, then theirs, and so on: their ``original_row``
    column names the first spreadsheet's row. A success is final; otherwise the latest
    run's status stands.
    """
    root = root or run_dir.parent
    fates = {
        row: RowFate(row, status, run_dir, row)
        for row, status, _ in _results(run_dir)
        if status in _NOT_DONE
    }
    runs = sorted(past_runs(root), key=lambda r: r.finished_at)
    queue = [run_dir]
    while queue:
        parent = queue.pop(0)
        inputs = {str((parent / name).resolve()) for name in (FAILURES_FILE, _FAILURES_XLSX)}
        for child in runs:
            if str(Path(child.input).resolve()) not in inputs or child.run_dir == parent:
                continue
            queue.append(child.run_dir)
            for row, status, original in _results(child.run_dir):
                known = fates.get(original) if original is not None else None
                if known is not None and known.status != "success":
                    fates[known.row] = RowFate(known.row, status, child.run_dir, row)
    return [fates[row] for row in sorted(fates)]


def _results(run_dir: Path) -> list[tuple[int, str, int | None]]:
    """(row, status, original_row) of each line of a run's results.csv (none if unreadable)."""
    found: list[tuple[int, str, int | None]] = []
    try:
        with (run_dir / RESULTS_FILE).open(newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                original = (rec.get("original_row") or "").lstrip("'")
                found.append(
                    (int(rec["row"]), rec["status"], int(original) if original.isdigit() else None)
                )
    except (OSError, KeyError, ValueError):
        return found
    return found


@dataclass(frozen=True, slots=True)
class Settled:
    """A run with no row left for ``rerun``: its invalid rows, and those fixed since."""

    invalid: list[RowFate]  # still not sent anywhere: fix them in the failures file
    fixed: list[RowFate]  # sent successfully by an import of its failures file


def settled_run(
    run_dir: Path, root: Path | None = None, token: str | None = None
) -> Settled | None:
    """None when ``rerun`` has rows to send in ``run_dir`` (or its summary is unreadable).

    No token is needed to send nothing; one that is given (``token``, else the mapping's
    or the environment's) and is not the run's own is for the rerun itself to refuse.
    """
    summary = _read(run_dir)
    if summary is None or summary.pending or not summary.sent:
        return None
    if _stopped_since(run_dir) or not _same_token(run_dir, token):
        return None
    try:  # a changed input is for the rerun itself to refuse, naming what to do instead
        if file_sha256(Path(summary.input)) != summary.input_sha256:
            return None
    except OSError:
        return None
    fates = row_fates(run_dir, root)
    return Settled(
        invalid=[f for f in fates if f.status != "success"],
        fixed=[f for f in fates if f.status == "success"],
    )


def _stopped_since(run_dir: Path) -> bool:
    """Did a send after the summary stop without writing one (killed)? The journal says."""
    try:
        journal = (run_dir / JOURNAL_FILE).stat().st_mtime
    except OSError:
        return False
    try:
        return journal > (run_dir / SUMMARY_FILE).stat().st_mtime
    except OSError:
        return True


def _same_token(run_dir: Path, token: str | None) -> bool:
    """False when a token at hand is not the one the run used."""
    try:
        recorded = read_info(run_dir).token_fingerprint
        given = resolve_token(load_mapping(run_dir / "mapping.yaml", implied_timezone="UTC"), token)
    except ImporterError:  # no token to be had: none is needed to send nothing
        return token is None
    return not (given and recorded and token_fingerprint(given) != recorded)
