"""The run folder: making and probing it, and everything a run writes into it.

``make_run_dir`` creates the folder and checks that it can hold the results before anything
is sent; ``run_log`` logs the run to ``run.log``. While rows are sent, ``Recorder``
journals every answer (and keeps the ledger); afterwards ``write_report`` (the second pass)
merges the journal's outcomes into ``results.csv`` and ``failures.csv``, and ``make_summary``
counts them into the ``Summary`` with the run's exit status.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from importer.clean import RowStatus, hide_values
from importer.config import MappingConfig, SendConfig, TokenSource, load_mapping
from importer.errors import ConfigError, ExitStatus, OutputError, Setting, mention, printable
from importer.pipeline._ahead import ahead
from importer.pipeline._jobs import FirstPass, Job, Progress, Source, Window, built_chunks
from importer.read import Table, find_column
from importer.record import (
    JOURNAL_FILE,
    OUTCOME_COLUMNS,
    RUN_FILE,
    SUMMARY_FILE,
    Journal,
    Ledger,
    Outcome,
    Outcomes,
    ResultsWriter,
    Summary,
)
from importer.send import Result, SendReport, SendStatus

_OUT = mention(Setting.OUT)
_HTTP_STATUS = re.compile(r"HTTP (\d{3})\b")
_FAILURE_STATUSES = {RowStatus.INVALID.value, RowStatus.FAILED.value, RowStatus.NOT_SENT.value}
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f]")
PRIVATE_DIR = 0o700  # run folders hold leads' personal data: their owner's alone
PRIVATE_FILE = 0o600

log = logging.getLogger("leadimport")
log.addHandler(logging.NullHandler())


# ---------------------------------------------------------------- run folders


def make_run_dir(out: Path | None, input_path: Path, root: Path = Path("output")) -> Path:
    """Create the run folder (``output/<stem>-<YYYYmmdd-HHMMSS>`` unless ``out``) and probe it.

    Raises OutputError when the folder cannot be created or written, or the disk is
    nearly full, so nothing is sent that could not be recorded.
    """
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        stem = _UNPRINTABLE.sub("_", input_path.stem)  # no ESC sequence in a folder's name
        base = root / f"{stem}-{stamp}"
        out, n = base, 2
        while out.exists():
            out, n = Path(f"{base}-{n}"), n + 1
    try:
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        if created:  # it will hold personal data; mkdir's mode obeys the umask
            out.chmod(PRIVATE_DIR)
    except OSError as exc:
        raise OutputError(
            f"{out}: cannot create the output folder ({exc.strerror}); choose another with {_OUT}"
        ) from None
    check_writable(out, input_path)
    return out


def check_writable(folder: Path, input_path: Path | None = None) -> None:
    """Fail early (OutputError) if ``folder`` is not writable or has too little space."""
    probe = folder / ".write-probe"
    try:
        with probe.open("wb") as fh:
            fh.write(b"\0" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise OutputError(
            f"{folder}: the output folder is not writable ({exc.strerror}); "
            f"free some space or choose another folder with {_OUT}"
        ) from None
    try:
        size = input_path.stat().st_size if input_path else 0
    except OSError:
        size = 0
    need = 4 * size + 16 * 1024 * 1024  # results + failures + journal, with room to spare
    free = shutil.disk_usage(folder).free
    if free < need:
        raise OutputError(
            f"{folder}: only {free // 1048576} MB free, about {need // 1048576} MB needed for "
            f"the results; free some space or choose another folder with {_OUT}"
        )


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mapping_essence(mapping: MappingConfig) -> MappingConfig:
    """What makes two mappings build the same requests (the token itself is checked apart)."""
    token = mapping.token if mapping.token.column is not None else TokenSource()
    return replace(mapping, path=Path("."), endpoint="", send=SendConfig(), token=token)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def claim_run_dir(
    out: Path,
    command: str,
    source: Source,
    sha: str,
    mapping: MappingConfig,
    endpoint: str,
    window: Window,
    reschedule: dict[str, Any] | None = None,
) -> bool:
    """May this run use the folder ``out``? True when it holds this very run, to go on with.

    A run folder belongs to one input (its SHA-256), one mapping and one endpoint: its
    journal is matched to the file by row number, so rows of another file would be taken
    for sent. A folder holding another run raises ConfigError naming what differs; one
    that holds only a validation of the same file is simply written over (nothing was sent).
    """
    info = _read_json(out / RUN_FILE)
    held = info or _read_json(out / SUMMARY_FILE)
    if held is None:
        if (out / JOURNAL_FILE).exists():
            raise ConfigError(
                f"{out}: holds the journal of a run but no {RUN_FILE}; "
                f"choose another {_OUT} (a new folder for each run)"
            )
        return False
    held_input = Path(str(held.get("input", "?"))).name
    differs: list[str] = []
    if held.get("input_sha256") != sha:
        differs.append(f"another file ({held_input}, not {source.path.name})")
    sent = info is not None
    if info is not None and command == "validate":
        raise ConfigError(
            f"{out}: holds a {info.get('command')} of {held_input} that sent rows; validating "
            f"into it would replace its results: choose another {_OUT}"
        )
    if info is not None:
        try:
            held_mapping = load_mapping(out / "mapping.yaml", implied_timezone="UTC")
            same_mapping = _mapping_essence(held_mapping) == (_mapping_essence(mapping))
        except ConfigError:
            same_mapping = False
        if not same_mapping:
            differs.append(f"another mapping ({info.get('mapping', '?')})")
        if info.get("endpoint") != endpoint:
            differs.append(f"another endpoint ({_host(str(info.get('endpoint')))})")
        read_as = [info.get(k) for k in ("format", "sheet", "encoding", "delimiter")]
        if read_as != [source.fmt, source.sheet, source.encoding, source.delimiter]:
            differs.append("the file read another way (format, sheet, encoding or delimiter)")
        if (info.get("start_row"), info.get("limit")) != (window.start_row, window.limit):
            differs.append("another range of rows (start row or limit)")
        if (info.get("command") == "reschedule") != (command == "reschedule") or (
            reschedule is not None and info.get("reschedule") != reschedule
        ):
            differs.append(f"another kind of run ({info.get('command')})")
    if differs:
        what = f"a {held.get('command', 'run')} of {held_input}"
        advice = (
            f"finish that run with `leadimport rerun {out}`, or choose another {_OUT}"
            if sent
            else f"choose another {_OUT}, or delete that folder"
        )
        raise ConfigError(
            f"{out}: already holds {what}, with {'; '.join(differs)}; {advice} "
            "(a new folder for each run)"
        )
    return sent


def _host(endpoint: str) -> str:
    return urlsplit(endpoint).netloc or endpoint


class Recorder:
    """The sender's observer: journal every event, keep the ledger, count progress."""

    def __init__(
        self, journal: Journal, progress: Progress, ledger: Ledger | None, run_dir: Path
    ) -> None:
        self.journal = journal
        self.progress = progress
        self.ledger = ledger
        self.run_dir = run_dir
        self.pending: dict[int, tuple[str, str]] = {}  # row -> (key, body hash) while sending
        self._began: dict[int, float] = {}  # row -> when its attempt in flight started
        self._last_log = time.monotonic()
        self._done = 0

    def skipped(self, row: int, reason: str) -> None:
        """A valid row that is deliberately not sent (unchanged since the last run)."""
        self.journal.finished(Outcome(row=row, status=RowStatus.SKIPPED.value, error=reason))
        self.progress.advance(RowStatus.SKIPPED.value)

    def attempt_started(self, row: int, attempt: int) -> None:
        self._began[row] = time.perf_counter()
        self.journal.started(row, attempt)

    def _latency_ms(self, row: int) -> float | None:
        began = self._began.pop(row, None)
        return None if began is None else round((time.perf_counter() - began) * 1000, 1)

    def retry_scheduled(self, row: int, attempt: int, reason: str, delay_s: float) -> None:
        # The sender words an answer "HTTP 503…"; anything else got no answer at all.
        answered = _HTTP_STATUS.match(reason)
        status = int(answered.group(1)) if answered else None
        self.journal.retried(row, attempt, status, self._latency_ms(row), delay_s)
        log.info("row %d: %s; attempt %d in %.1f s", row, hide_values(reason), attempt + 1, delay_s)
        self.progress.retry(status)  # a 429 is counted as throttled while it runs

    def finished(self, result: Result) -> None:
        # One unpacking, not a lookup per field: this runs once per row.
        row, sent, http_status, attempts, error, lead_id, number, sms = result
        pending = self.pending.pop(row, None)
        ms = self._latency_ms(row)
        # The endpoint's words may hold ESC sequences; a success has none.
        error = printable(error) if error else ""
        # An enum's .value is a Python-level property: the usual case skips it.
        status = "success" if sent is SendStatus.SUCCESS else sent.value
        # Journal.done, not finished(Outcome(…)): once per row, the Outcome was pure cost.
        self.journal.done(
            row,
            status,
            pending[0] if pending else "",
            http_status,
            attempts,
            error,
            lead_id,
            number,
            sms,
            ms=ms,
        )
        if status != "success":
            log.info("row %d: %s: %s", row, status, hide_values(error))
        elif self.ledger is not None and pending:
            self.ledger.record(pending[0], pending[1], self.run_dir)
        self.progress.advance(status)
        self._done += 1
        now = time.monotonic()
        if now - self._last_log >= 10:
            self._last_log = now
            log.info("progress: %d rows answered", self._done)


# ---------------------------------------------------------------- results


def _merge(
    rows: pd.DataFrame,
    outcomes: Outcomes | None,
    not_reached: str,
    extra_columns: tuple[str, ...],
) -> pd.DataFrame:
    """The result columns of one chunk, with send outcomes merged in."""
    blank = pd.Series("", index=rows.index, dtype="str")
    out = pd.DataFrame(
        {
            "row": rows.index.astype("int64"),
            "status": rows["status"],
            "http_status": blank,
            "attempts": blank,
            "error": rows["error"],
            "warnings": rows.get("warnings", blank),
            "caller_id": rows["caller_id"],
            "email": rows["email"],
            "lead_id": blank,
            "trackdrive_number_plain": blank,
            "sms_number_plain": blank,
            "payload": rows["payload"].where(rows["status"] != RowStatus.INVALID.value, ""),
            **{c: rows[c] for c in extra_columns},
        },
        index=rows.index,
    )
    if outcomes is None:
        return out
    valid = out.index[out["status"] == RowStatus.VALID.value]
    if valid.empty:
        return out
    at, found, in_flight = outcomes.find(valid.to_numpy(dtype="int64"))
    unsent = ~found & ~in_flight
    in_flight &= ~found  # a row sent again after an outcome keeps that outcome
    otherwise = {
        "status": (RowStatus.FAILED.value, RowStatus.NOT_SENT.value),
        "error": (
            "in flight when the run stopped: Trackdrive may or may not have "
            "stored it; `leadimport rerun` sends it again",
            not_reached,
        ),
    }
    for name in OUTCOME_COLUMNS:
        values = np.empty(len(valid), dtype=object)
        values[found] = outcomes.take(name, at[found])
        values[in_flight], values[unsent] = otherwise.get(name, ("", ""))  # one text each
        filled = out[name].astype("object")
        filled.loc[valid] = values
        out[name] = filled
    return out


def write_report(
    run_dir: Path,
    job: Job,
    journal: Journal | None,
    not_reached: str = "",
    first_pass: FirstPass | None = None,
) -> tuple[ResultsWriter, int]:
    """Second pass: write results.csv and failures.csv; return the writer and blank rows."""
    outcomes = journal.outcomes() if journal is not None else None
    writer: ResultsWriter | None = None
    table: Table | None = None
    replay = first_pass.replay() if first_pass else None
    # The next chunk is read and validated while this one's results are written.
    # All the rows are known when the first pass kept them: a results.xlsx too big to keep
    # is then given up before its first chunk is converted.
    known = first_pass.rows if replay is not None and first_pass else None
    for table, chunk, rows in replay if replay is not None else ahead(built_chunks(job)):
        if writer is None:
            writer = _writer(run_dir, job, table, known)
        merged = _merge(rows, outcomes, not_reached, job.extra_columns)
        bad = merged["status"].isin(_FAILURE_STATUSES)
        writer.write(merged, chunk.frame, bad)
        # Let this chunk go before waiting for the next: the loop's names would keep it
        # (~20 MB of text and its built rows) alive while the next one is built.
        del merged, bad, rows, chunk
    if writer is None or table is None:  # no data row in the window
        table = table or job.source.open()
        writer = _writer(run_dir, job, table)
    writer.finish()
    return writer, table.blank_rows


def _writer(run_dir: Path, job: Job, table: Table, rows: int | None = None) -> ResultsWriter:
    hidden: set[str] = set()
    if job.mapping.token.column is not None:
        label = find_column(table, job.mapping.token.column)
        hidden = {label} if label else set()
    return ResultsWriter(run_dir, table.headers, hidden, job.extra_columns, rows)


def _exit_code(counts: dict[str, int], aborted: str | None, interrupted: bool) -> int:
    if interrupted:
        return ExitStatus.INTERRUPTED
    if aborted:
        return ExitStatus.ABORTED
    if any(counts.get(s, 0) for s in _FAILURE_STATUSES):
        return ExitStatus.ROWS_FAILED
    return ExitStatus.OK


def make_summary(
    job: Job,
    run_dir: Path,
    sha: str,
    endpoint: str,
    writer: ResultsWriter,
    blank_rows: int,
    started: float,
    started_at: str,
    report: SendReport | None = None,
    extra: dict[str, Any] | None = None,
) -> Summary:
    counts = dict(writer.tally.counts)
    top_reasons = writer.tally.top_reasons()
    examples = {r["reason"]: writer.tally.examples.get(r["reason"]) for r in top_reasons}
    # The endpoint's words (an abort reason quotes them) go to summary.json: escaped, no value.
    aborted = printable(hide_values(report.aborted)) if report and report.aborted else None
    interrupted = report.interrupted if report else False
    return Summary(
        command=job.command,
        run_dir=str(run_dir),
        input=str(job.source.path),
        input_sha256=sha,
        mapping=str(job.mapping.path),
        endpoint=endpoint,
        rows=writer.tally.rows,
        counts=counts,
        blank_rows=blank_rows,
        top_reasons=top_reasons,
        started_at=started_at,
        finished_at=now_iso(),
        duration_s=round(time.monotonic() - started, 3),
        requests=report.requests if report else 0,
        retries=report.retries if report else 0,
        throttled=report.throttled if report else 0,
        aborted=aborted,
        interrupted=interrupted,
        exit_code=_exit_code(counts, aborted, interrupted),
        extra=extra or {},
        skipped_reasons=writer.tally.top_skips(),
        warnings=dict(writer.tally.warnings.most_common()),
        warnings_total=sum(writer.tally.warnings.values()),
        warned_rows=writer.tally.warned_rows,
        unguarded=list(job.mapping.unguarded),
        examples={r: e for r, e in examples.items() if e is not None},
    )


def now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


class PrintableFormatter(logging.Formatter):
    """Log lines with every control character written as ``\\xNN``: one line per event, and
    nothing a terminal showing the log (``tail -f``, ``less -R``) would obey."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


class LogFile(logging.FileHandler):
    """A log file that never stops or garbles a run: a line lost to a full disk is dropped.

    The journal is the record that matters (and stops the run when it cannot be written);
    logging's default would print a traceback on stderr for every line it cannot write.
    """

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the line."""

    def close(self) -> None:
        """Close, even when the last lines cannot be flushed."""
        with contextlib.suppress(OSError):
            super().close()


@contextlib.contextmanager
def run_log(run_dir: Path) -> Iterator[None]:
    """Log this run's events to ``run.log`` in its folder (plain, timestamped lines).

    Afterwards every file of the folder is made readable by its owner only.
    """
    try:
        with logging_to(log_file_handler(run_dir / "run.log")):
            yield
    finally:
        make_private(run_dir)


def make_private(run_dir: Path) -> None:
    """Make the files directly in ``run_dir`` PRIVATE_FILE (they are written by several parts)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(run_dir):
            if entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.chmod(entry.path, PRIVATE_FILE)


def log_file_handler(path: Path) -> logging.Handler:
    """A handler appending plain, timestamped log lines to ``path``; OSError if it can't."""
    handler = LogFile(path, encoding="utf-8")
    handler.setFormatter(PrintableFormatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    return handler


@contextlib.contextmanager
def logging_to(handler: logging.Handler) -> Iterator[None]:
    """Meanwhile the run's log (at INFO at least) also goes to ``handler``; closed after."""
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def log_summary(summary: Summary) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
    log.info(
        "%s finished in %.1f s: %d rows (%s); %d requests, %d retries, %d throttled; exit %d",
        summary.command,
        summary.duration_s,
        summary.rows,
        counts or "none",
        summary.requests,
        summary.retries,
        summary.throttled,
        summary.exit_code,
    )
    if summary.aborted:
        log.error("aborted: %s", hide_values(summary.aborted))
    for item in summary.top_reasons:
        log.info("  %d x %s (rows %s)", item["count"], item["reason"], item["rows"])
    for item in summary.skipped_reasons:
        log.info("  skipped by design: %d x %s", item["count"], item["reason"])
