"""Wire config → load → normalize → send → record for ``validate``, ``run`` and ``rerun``.

No printing here: a command line (or, later, a web page) watches through a ``Progress``
object and gets a ``Summary`` back. Every row of the input ends in ``results.csv``.

A run makes two passes over the input. The first validates each chunk and streams its
valid rows to the sender, recording every outcome in the journal. The second validates
again (cheap, and deterministic) and merges the journal's outcomes into the results
files. Because the journal is the only state, ``rerun`` is the same code with a journal
that already holds outcomes: rows that succeeded are not sent again, and a run killed
half-way through is finished by its rerun.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from importer import journal as journal_mod
from importer.config import (
    Duplicates,
    MappingConfig,
    check_endpoint,
    closest_header,
    load_mapping,
    mapping_yaml,
    resolve_token,
    token_fingerprint,
)
from importer.errors import ConfigError, OutputError
from importer.journal import Journal, Outcome
from importer.ledger import Ledger, body_hash
from importer.load import Chunk, Table, find_column, open_table
from importer.payload import DuplicateTracker, RowStatus, bind, build_rows
from importer.results import ResultsWriter, Summary, write_summary
from importer.schedule import RescheduleBuilder, RescheduleSpec
from importer.send import Request, Result, SendReport, SendSettings, send_rows
from importer.suggest import suggest_mapping

EXIT_OK, EXIT_ROWS_FAILED, EXIT_UNUSABLE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_FAILURE_STATUSES = {RowStatus.INVALID.value, RowStatus.FAILED.value, RowStatus.NOT_SENT.value}
_CHUNK_ROWS = 20_000  # peak RSS ~300 MB at any file size; 50k: ~400 MB, 5 % faster
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"

log = logging.getLogger("leadimport")
log.addHandler(logging.NullHandler())


class Progress(Protocol):
    """What a front end implements to watch a run."""

    def start(self, phase: str, total: int | None) -> None: ...
    def advance(self, status: str) -> None: ...
    def retry(self) -> None: ...
    def note(self, message: str) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    """A Progress that shows nothing."""

    def start(self, phase: str, total: int | None) -> None:
        """Ignore."""

    def advance(self, status: str) -> None:
        """Ignore."""

    def retry(self) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""

    def end(self) -> None:
        """Ignore."""


@dataclass(frozen=True, slots=True)
class Source:
    """An input spreadsheet and how to read it."""

    path: Path
    fmt: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    def open(self) -> Table:
        """Open the spreadsheet (raises InputError when unusable)."""
        return open_table(
            self.path,
            fmt=self.fmt,
            sheet=self.sheet,
            encoding=self.encoding,
            delimiter=self.delimiter,
        )


@dataclass(frozen=True, slots=True)
class Window:
    """Which data rows to take: from ``start_row`` (spreadsheet numbering), at most ``limit``."""

    start_row: int | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class SendOptions:
    """Command-line overrides of the mapping's sending settings (None = the mapping's)."""

    endpoint: str | None = None
    lead_token: str | None = None
    rate: float | None = None
    unlimited_rate: bool = False
    concurrency: int | None = None
    max_attempts: int | None = None
    timeout_s: float | None = None
    max_consecutive_failures: int = 50
    ledger: Path | None = None  # --skip-unchanged: the ledger file


# ---------------------------------------------------------------- run folders


def make_run_dir(out: Path | None, input_path: Path, root: Path = Path("output")) -> Path:
    """Create the run folder (``output/<stem>-<YYYYmmdd-HHMMSS>`` unless ``out``) and probe it.

    Raises OutputError when the folder cannot be created or written, or the disk is
    nearly full, so nothing is sent that could not be recorded.
    """
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = root / f"{input_path.stem}-{stamp}"
        out, n = base, 2
        while out.exists():
            out, n = Path(f"{base}-{n}"), n + 1
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{out}: cannot create the output folder ({exc.strerror}); choose another with --out"
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
            "free some space or choose another folder with --out"
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
            "the results; free some space or choose another folder with --out"
        )


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def estimate_rows(source: Source) -> int | None:
    """A quick estimate of the data rows (line count for text files), for progress bars."""
    if source.path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return None
    try:
        with source.path.open("rb") as fh:
            lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return None
    if source.encoding and "16" in source.encoding:
        lines //= 2
    return max(lines - 1, 0)


# ---------------------------------------------------------------- reading rows

Builder = Callable[[Chunk], pd.DataFrame]


@dataclass(frozen=True, slots=True)
class Job:
    """What one run reads and how it turns spreadsheet rows into requests."""

    command: str
    source: Source
    mapping: MappingConfig
    token: str | None
    window: Window
    make_builder: Callable[[Table], Builder]
    duplicates: Duplicates
    extra_columns: tuple[str, ...] = ()  # e.g. reschedule's "note"


def import_job(
    command: str, source: Source, mapping: MappingConfig, token: str | None, window: Window
) -> Job:
    """A job that maps columns to a Trackdrive body with the mapping file."""

    def make_builder(table: Table) -> Builder:
        plan = bind(mapping, table, token)
        return lambda chunk: build_rows(chunk, plan)

    return Job(command, source, mapping, token, window, make_builder, mapping.duplicates)


def _windowed(table: Table, window: Window) -> Iterator[Chunk]:
    taken = 0
    for chunk in table.chunks(_CHUNK_ROWS):
        frame = chunk.frame
        if window.start_row is not None:
            frame = frame[frame.index >= window.start_row]
        if window.limit is not None:
            frame = frame.iloc[: max(window.limit - taken, 0)]
        taken += len(frame)
        if len(frame) != len(chunk.frame):
            problems = {r: p for r, p in chunk.problems.items() if r in frame.index}
            chunk = Chunk(frame=frame, problems=problems)
        if len(frame):
            yield chunk
        if window.limit is not None and taken >= window.limit:
            return


def _built(job: Job) -> Iterator[tuple[Table, Chunk, pd.DataFrame]]:
    """Every chunk of the input with its validated rows, duplicates rule applied."""
    tracker = DuplicateTracker(job.duplicates)
    if job.duplicates is Duplicates.LAST:
        table = job.source.open()
        build = job.make_builder(table)
        for chunk in _windowed(table, job.window):
            tracker.note_last(build(chunk))
    table = job.source.open()
    build = job.make_builder(table)
    for chunk in _windowed(table, job.window):
        yield table, chunk, tracker.apply(build(chunk))


def check_job(job: Job) -> None:
    """Open the input and bind the job to it: config and input errors surface here."""
    job.make_builder(job.source.open())


# ---------------------------------------------------------------- results


def _merge(
    rows: pd.DataFrame,
    outcomes: dict[int, Outcome] | None,
    in_flight: set[int],
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
    in_flight_outcome = Outcome(
        0,
        RowStatus.FAILED.value,
        error="in flight when the run stopped: Trackdrive may or may not have "
        "stored it; `leadimport rerun` sends it again",
    )
    unsent_outcome = Outcome(0, RowStatus.NOT_SENT.value, error=not_reached)
    found = [
        outcomes.get(row) or (in_flight_outcome if row in in_flight else unsent_outcome)
        for row in valid.to_numpy(dtype="int64").tolist()
    ]
    columns = {
        "status": [o.status for o in found],
        "http_status": ["" if o.http_status is None else str(o.http_status) for o in found],
        "attempts": [str(o.attempts) if o.attempts else "" for o in found],
        "error": [o.error for o in found],
        "lead_id": [o.lead_id for o in found],
        "trackdrive_number_plain": [o.trackdrive_number_plain for o in found],
        "sms_number_plain": [o.sms_number_plain for o in found],
    }
    for name, values in columns.items():
        filled = out[name].astype("object")
        filled.loc[valid] = values
        out[name] = filled
    return out


class _FirstPass:
    """The first pass's chunks, kept for the report when the file is small.

    Re-reading and re-validating is what keeps memory flat on big files; on a small one
    it is half a second of a few seconds' run, so up to ``limit`` rows are kept instead.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self.rows = 0
        self.chunks: list[tuple[Table, Chunk, pd.DataFrame]] | None = []
        self.complete = False

    def keep(self, item: tuple[Table, Chunk, pd.DataFrame]) -> None:
        self.rows += len(item[2])
        if self.chunks is not None and self.rows <= self.limit:
            self.chunks.append(item)
        else:
            self.chunks = None

    def replay(self) -> list[tuple[Table, Chunk, pd.DataFrame]] | None:
        return self.chunks if self.complete else None


def _report(
    run_dir: Path,
    job: Job,
    journal: Journal | None,
    not_reached: str = "",
    first_pass: _FirstPass | None = None,
) -> tuple[ResultsWriter, int]:
    """Second pass: write results.csv and failures.csv; return the writer and blank rows."""
    outcomes: dict[int, Outcome] | None = None
    in_flight: set[int] = set()
    if journal is not None:
        outcomes, in_flight = journal.state()
    writer: ResultsWriter | None = None
    table: Table | None = None
    replay = first_pass.replay() if first_pass else None
    for table, chunk, rows in replay if replay is not None else _built(job):
        if writer is None:
            writer = _writer(run_dir, job, table)
        merged = _merge(rows, outcomes, in_flight, not_reached, job.extra_columns)
        bad = merged["status"].isin(_FAILURE_STATUSES)
        writer.write(merged, chunk.frame, bad)
    if writer is None or table is None:  # no data row in the window
        table = table or job.source.open()
        writer = _writer(run_dir, job, table)
    writer.finish()
    return writer, table.blank_rows


def _writer(run_dir: Path, job: Job, table: Table) -> ResultsWriter:
    hidden: set[str] = set()
    if job.mapping.token.column is not None:
        label = find_column(table, job.mapping.token.column)
        hidden = {label} if label else set()
    return ResultsWriter(run_dir, table.headers, hidden, job.extra_columns)


def _exit_code(counts: dict[str, int], aborted: str | None, interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if aborted:
        return EXIT_ABORTED
    if any(counts.get(s, 0) for s in _FAILURE_STATUSES):
        return EXIT_ROWS_FAILED
    return EXIT_OK


def _summary(
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
    aborted = report.aborted if report else None
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
        top_reasons=writer.tally.top_reasons(),
        started_at=started_at,
        finished_at=_now_iso(),
        duration_s=round(time.monotonic() - started, 3),
        requests=report.requests if report else 0,
        retries=report.retries if report else 0,
        throttled=report.throttled if report else 0,
        aborted=aborted,
        interrupted=interrupted,
        exit_code=_exit_code(counts, aborted, interrupted),
        extra=extra or {},
    )


def _now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


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
def _run_log(run_dir: Path) -> Iterator[None]:
    """Log this run's events to ``run.log`` in its folder (plain, timestamped lines)."""
    handler = LogFile(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def _log_summary(summary: Summary) -> None:
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
        log.error("aborted: %s", summary.aborted)
    for item in summary.top_reasons:
        log.info("  %d x %s (rows %s)", item["count"], item["reason"], item["rows"])


# ---------------------------------------------------------------- validate


def validate(
    source: Source,
    mapping_path: Path,
    out: Path | None = None,
    window: Window = Window(),
    progress: Progress | None = None,
) -> Summary:
    """Validate every row without sending; write the run folder; return the summary."""
    progress = progress or NoProgress()
    started, started_at = time.monotonic(), _now_iso()
    mapping = load_mapping(mapping_path)
    job = import_job("validate", source, mapping, None, window)
    check_job(job)  # config/input errors before any folder is made
    run_dir = make_run_dir(out, source.path)
    with _run_log(run_dir):
        log.info("validate %s with %s", source.path, mapping_path)
        sha = file_sha256(source.path)
        progress.start("validate", estimate_rows(source))
        writer, blank = _report(run_dir, job, None)
        progress.end()
        summary = _summary(job, run_dir, sha, mapping.endpoint, writer, blank, started, started_at)
        write_summary(run_dir, summary)
        _log_summary(summary)
    return summary


# ---------------------------------------------------------------- run / rerun


class _Recorder:
    """The sender's observer: journal every event, keep the ledger, count progress."""

    def __init__(
        self, journal: Journal, progress: Progress, ledger: Ledger | None, run_dir: Path
    ) -> None:
        self.journal = journal
        self.progress = progress
        self.ledger = ledger
        self.run_dir = run_dir
        self.pending: dict[int, tuple[str, str]] = {}  # row -> (key, body hash) while sending
        self._last_log = time.monotonic()
        self._done = 0

    def skipped(self, row: int, reason: str) -> None:
        """A valid row that is deliberately not sent (unchanged since the last run)."""
        self.journal.finished(Outcome(row=row, status=RowStatus.SKIPPED.value, error=reason))
        self.progress.advance(RowStatus.SKIPPED.value)

    def attempt_started(self, row: int, attempt: int) -> None:
        self.journal.started(row, attempt)

    def retry_scheduled(self, row: int, attempt: int, reason: str, delay_s: float) -> None:
        log.info("row %d: %s; attempt %d in %.1f s", row, reason, attempt + 1, delay_s)
        self.progress.retry()

    def finished(self, result: Result) -> None:
        pending = self.pending.pop(result.row, None)
        self.journal.finished(
            Outcome(
                row=result.row,
                key=pending[0] if pending else "",
                status=result.status.value,
                http_status=result.http_status,
                attempts=result.attempts,
                error=result.error,
                lead_id=result.lead_id,
                trackdrive_number_plain=result.trackdrive_number_plain,
                sms_number_plain=result.sms_number_plain,
            )
        )
        if self.ledger is not None and pending and result.status.value == "success":
            self.ledger.record(pending[0], pending[1], self.run_dir)
        if result.status.value != "success":
            log.info("row %d: %s: %s", result.row, result.status.value, result.error)
        self.progress.advance(result.status.value)
        self._done += 1
        now = time.monotonic()
        if now - self._last_log >= 10:
            self._last_log = now
            log.info("progress: %d rows answered", self._done)


def _settings(mapping: MappingConfig, options: SendOptions, endpoint: str) -> SendSettings:
    cfg = mapping.send
    rate = None if options.unlimited_rate else (options.rate or cfg.rate)
    return SendSettings(
        endpoint=endpoint,
        rate=rate,
        concurrency=options.concurrency or cfg.concurrency,
        max_attempts=options.max_attempts or cfg.max_attempts,
        timeout_s=options.timeout_s or cfg.timeout_s,
        max_consecutive_failures=options.max_consecutive_failures,
    )


def _requests(
    job: Job, done: dict[int, Outcome], recorder: _Recorder, first_pass: _FirstPass
) -> Iterator[Request]:
    """The rows to send, lazily: valid rows that have not succeeded (or been skipped) yet."""
    finished = {RowStatus.SUCCESS.value, RowStatus.SKIPPED.value}
    ledger = recorder.ledger
    changed: set[str] = set()  # keys sent in this run: their later rows must follow
    progress = recorder.progress
    # A row that failed earlier must not be sent after a later row of the same lead has
    # succeeded: its older data would overwrite the newer (duplicates: all).
    last_success: dict[str, int] = {}
    for outcome in done.values():
        if outcome.status == RowStatus.SUCCESS.value and outcome.key:
            last_success[outcome.key] = max(outcome.row, last_success.get(outcome.key, 0))
    for item in _built(job):
        first_pass.keep(item)
        rows = item[2]
        status = rows["status"]
        for s in status[status != RowStatus.VALID.value]:
            progress.advance(s)
        valid = rows[status == RowStatus.VALID.value]
        tokens = valid["token"] if job.mapping.token.column else None
        for i, (row, key, payload) in enumerate(
            zip(valid.index, valid["key"], valid["payload"], strict=True)
        ):
            row = int(row)
            prior = done.get(row)
            if prior is not None and prior.status in finished:
                progress.advance(prior.status)
                continue
            later = last_success.get(key, 0)
            if later > row:
                recorder.skipped(
                    row, f"superseded by row {later}, sent successfully later for the same lead"
                )
                continue
            digest = ""
            if ledger is not None:
                digest = body_hash(payload)
                if key not in changed:
                    entry = ledger.lookup(key)
                    if entry is not None and entry.body_hash == digest:
                        recorder.skipped(
                            row, f"unchanged since {entry.sent_at}, run {entry.run_dir}"
                        )
                        continue
                changed.add(key)
            recorder.pending[row] = (key, digest)
            row_token = str(tokens.iloc[i]) if tokens is not None else (job.token or "")
            yield Request(row=row, key=str(key), body=str(payload), token=row_token)
    first_pass.complete = True


async def _send(
    requests: Iterator[Request],
    settings: SendSettings,
    recorder: _Recorder,
    handle_signals: bool,
) -> SendReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
    try:
        return await send_rows(requests, settings, recorder, stop=stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _execute(
    job: Job,
    run_dir: Path,
    endpoint: str,
    settings: SendSettings,
    progress: Progress,
    handle_signals: bool,
    ledger_path: Path | None,
    extra: dict[str, Any],
) -> Summary:
    started, started_at = time.monotonic(), _now_iso()
    with _run_log(run_dir):
        log.info(
            "%s %s -> %s (rate %s/s, concurrency %d, max attempts %d)",
            job.command,
            job.source.path,
            endpoint,
            settings.rate or "unlimited",
            settings.concurrency,
            settings.max_attempts,
        )
        sha = file_sha256(job.source.path)
        journal = Journal(run_dir)
        done, _ = journal.state()
        ledger = Ledger(ledger_path, endpoint) if ledger_path else None
        journal.open(job.command)
        progress.start("send", estimate_rows(job.source))
        try:
            recorder = _Recorder(journal, progress, ledger, run_dir)
            first_pass = _FirstPass()
            report = asyncio.run(
                _send(
                    _requests(job, done, recorder, first_pass), settings, recorder, handle_signals
                )
            )
        finally:
            journal.close()
            if ledger is not None:
                ledger.close()
            progress.end()
        if report.aborted:
            not_reached = f"not sent: {report.aborted}"
        elif report.interrupted:
            not_reached = "not sent: the run was interrupted"
        else:
            not_reached = "not sent"
        writer, blank = _report(run_dir, job, journal, not_reached, first_pass)
        summary = _summary(
            job, run_dir, sha, endpoint, writer, blank, started, started_at, report, extra
        )
        write_summary(run_dir, summary)
        _log_summary(summary)
    return summary


def _run_info(
    job: Job, endpoint: str, settings: SendSettings, ledger: Path | None
) -> dict[str, Any]:
    src = job.source
    return {
        "command": job.command,
        "input": str(src.path.resolve()),
        "input_sha256": file_sha256(src.path),
        "format": src.fmt,
        "sheet": src.sheet,
        "encoding": src.encoding,
        "delimiter": src.delimiter,
        "mapping": str(job.mapping.path.resolve()),
        "endpoint": endpoint,
        "token_fingerprint": token_fingerprint(job.token) if job.token else None,
        "start_row": job.window.start_row,
        "limit": job.window.limit,
        "rate": settings.rate,
        "concurrency": settings.concurrency,
        "max_attempts": settings.max_attempts,
        "timeout_s": settings.timeout_s,
        "ledger": str(ledger.resolve()) if ledger else None,
        "created_at": _now_iso(),
    }


def run(
    source: Source,
    mapping_path: Path,
    options: SendOptions = SendOptions(),
    out: Path | None = None,
    window: Window = Window(),
    progress: Progress | None = None,
    handle_signals: bool = True,
    extra: dict[str, Any] | None = None,
    out_root: Path = Path("output"),
) -> Summary:
    """Validate and send every valid row of ``source``; write the run folder."""
    progress = progress or NoProgress()
    mapping = load_mapping(mapping_path)
    token = resolve_token(mapping, options.lead_token)
    endpoint = check_endpoint(options.endpoint or mapping.endpoint, "--endpoint")
    job = import_job("run", source, mapping, token, window)
    check_job(job)
    run_dir = make_run_dir(out, source.path, out_root)
    if mapping.token.literal:  # never copy a token into the run folder
        (run_dir / "mapping.yaml").write_text(mapping_yaml(mapping), encoding="utf-8")
    else:
        shutil.copyfile(mapping_path, run_dir / "mapping.yaml")
    settings = _settings(mapping, options, endpoint)
    journal_mod.write_run_info(run_dir, _run_info(job, endpoint, settings, options.ledger))
    return _execute(
        job, run_dir, endpoint, settings, progress, handle_signals, options.ledger, extra or {}
    )


def rerun(
    run_dir: Path,
    options: SendOptions = SendOptions(),
    progress: Progress | None = None,
    handle_signals: bool = True,
) -> Summary:
    """Send again every row of an earlier run that did not succeed and is not invalid."""
    progress = progress or NoProgress()
    info = journal_mod.read_run_info(run_dir)
    source = Source(
        Path(info["input"]),
        fmt=info.get("format"),
        sheet=info.get("sheet"),
        encoding=info.get("encoding"),
        delimiter=info.get("delimiter"),
    )
    if not source.path.exists():
        raise ConfigError(
            f"{run_dir}: the run's input {source.path} is gone; put it back to rerun this run"
        )
    if file_sha256(source.path) != info.get("input_sha256"):
        raise ConfigError(
            f"{run_dir}: the input {source.path} changed since this run; "
            "import the new file with `leadimport run` instead"
        )
    mapping = load_mapping(run_dir / "mapping.yaml")
    recorded = info.get("token_fingerprint")
    token = options.lead_token or _literal_token(info.get("mapping"), recorded)
    token = resolve_token(mapping, token)
    if token and recorded and token_fingerprint(token) != recorded:
        raise ConfigError(
            f"{run_dir}: the lead token differs from the one this run used "
            f"(fingerprint {token_fingerprint(token)[:8]}… vs {recorded[:8]}…); "
            "pass the same token, or start a new run"
        )
    endpoint = check_endpoint(options.endpoint or info["endpoint"], "--endpoint")
    check_writable(run_dir)
    base = replace(
        options,
        rate=options.rate or info.get("rate"),
        unlimited_rate=options.unlimited_rate or (info.get("rate") is None and not options.rate),
        concurrency=options.concurrency or info.get("concurrency"),
        max_attempts=options.max_attempts or info.get("max_attempts"),
        timeout_s=options.timeout_s or info.get("timeout_s"),
    )
    settings = _settings(mapping, base, endpoint)
    window = Window(info.get("start_row"), info.get("limit"))
    if info.get("command") == "reschedule":
        spec = RescheduleSpec.from_json(info["reschedule"])
        job = reschedule_job(source, mapping, token, window, spec)
    else:
        job = import_job("rerun", source, mapping, token, window)
    job = replace(job, command="rerun")
    ledger = Path(info["ledger"]) if info.get("ledger") else None
    return _execute(job, run_dir, endpoint, settings, progress, handle_signals, ledger, {})


def _literal_token(mapping_path: str | None, fingerprint: str | None) -> str | None:
    """The run's literal token from its source mapping (the run folder has no copy of it)."""
    if not mapping_path or not fingerprint:
        return None
    try:
        literal = load_mapping(Path(mapping_path)).token.literal
    except ConfigError:  # moved or edited since: --lead-token or the environment then
        return None
    return literal if literal and token_fingerprint(literal) == fingerprint else None


# ---------------------------------------------------------------- reschedule


def reschedule_job(
    source: Source,
    mapping: MappingConfig,
    token: str | None,
    window: Window,
    spec: RescheduleSpec,
) -> Job:
    """A job whose bodies carry only caller_id, next_action_at (and update_all_matching)."""

    def make_builder(table: Table) -> Builder:
        label = find_column(table, spec.caller_id_column)
        if label is None:
            raise ConfigError(
                f"{table.path}: no column named '{spec.caller_id_column}'. The file has: "
                + ", ".join(f"'{h}'" for h in table.headers[:30])
                + closest_header(spec.caller_id_column, table.headers)
            )
        return RescheduleBuilder(
            label, spec, mapping.region, mapping.timezone, token, mapping.date_order
        )

    # One request per lead: a second row for the same phone would only repeat the first.
    return Job(
        "reschedule", source, mapping, token, window, make_builder, Duplicates.FIRST, ("note",)
    )


def phone_column(source: Source, mapping: MappingConfig | None, named: str | None) -> str:
    """Which column holds the phone numbers: named, the mapping's, results.csv's, or guessed."""
    if named:
        return named
    if mapping is not None:
        spec = mapping.field("caller_id")
        if spec is not None and spec.column is not None:
            return spec.column
    table = source.open()
    if find_column(table, "caller_id") is not None and find_column(table, "status") is not None:
        return "caller_id"  # a results.csv of an earlier run
    guess = suggest_mapping(table, mapping.region if mapping else "US").caller_id
    if guess is None:
        raise ConfigError(
            f"{source.path}: no column looks like phone numbers; name it with --caller-id-column"
        )
    return guess


def reschedule(
    source: Source,
    mapping: MappingConfig,
    spec: RescheduleSpec,
    options: SendOptions = SendOptions(),
    out: Path | None = None,
    window: Window = Window(),
    progress: Progress | None = None,
    dry_run: bool = False,
    handle_signals: bool = True,
) -> Summary:
    """Change ``next_action_at`` of every lead in ``source``."""
    progress = progress or NoProgress()
    token = None if dry_run else resolve_token(mapping, options.lead_token)
    endpoint = check_endpoint(options.endpoint or mapping.endpoint, "--endpoint")
    job = reschedule_job(source, mapping, token, window, spec)
    check_job(job)
    run_dir = make_run_dir(out, source.path)
    if dry_run:
        started, started_at = time.monotonic(), _now_iso()
        with _run_log(run_dir):
            writer, blank = _report(run_dir, replace(job, command="reschedule --dry-run"), None)
            summary = _summary(
                replace(job, command="reschedule --dry-run"),
                run_dir,
                file_sha256(source.path),
                endpoint,
                writer,
                blank,
                started,
                started_at,
            )
            write_summary(run_dir, summary)
        return summary
    (run_dir / "mapping.yaml").write_text(mapping_yaml(mapping), encoding="utf-8")
    settings = _settings(mapping, options, endpoint)
    info = _run_info(job, endpoint, settings, None)
    info["reschedule"] = spec.to_json()
    journal_mod.write_run_info(run_dir, info)
    return _execute(job, run_dir, endpoint, settings, progress, handle_signals, None, {})
