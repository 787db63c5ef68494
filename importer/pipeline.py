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
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
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
    load_mapping,
    resolve_token,
    token_fingerprint,
)
from importer.errors import ConfigError, OutputError
from importer.journal import Journal, Outcome
from importer.load import Chunk, Table, open_table
from importer.payload import DuplicateTracker, Plan, RowStatus, bind, build_rows
from importer.results import RESULT_COLUMNS, ResultsWriter, Summary, write_summary
from importer.send import Request, Result, SendReport, SendSettings, send_rows

EXIT_OK, EXIT_ROWS_FAILED, EXIT_UNUSABLE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_FAILURE_STATUSES = {RowStatus.INVALID.value, RowStatus.FAILED.value, RowStatus.NOT_SENT.value}
_CHUNK_ROWS = 50_000


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


def _built(
    source: Source, mapping: MappingConfig, token: str | None, window: Window
) -> Iterator[tuple[Table, Chunk, pd.DataFrame]]:
    """Every chunk of the input with its validated rows, duplicates rule applied."""
    tracker = DuplicateTracker(mapping.duplicates)
    if mapping.duplicates is Duplicates.LAST:
        table = source.open()
        plan = bind(mapping, table, token)
        for chunk in _windowed(table, window):
            tracker.note_last(build_rows(chunk, plan))
    table = source.open()
    plan = bind(mapping, table, token)
    for chunk in _windowed(table, window):
        yield table, chunk, tracker.apply(build_rows(chunk, plan))


def open_plan(source: Source, mapping: MappingConfig, token: str | None) -> tuple[Table, Plan]:
    """Open the input and bind the mapping to it (config and input errors surface here)."""
    table = source.open()
    return table, bind(mapping, table, token)


# ---------------------------------------------------------------- results


def _merge(
    rows: pd.DataFrame,
    outcomes: dict[int, Outcome] | None,
    in_flight: set[int],
    not_reached: str,
) -> pd.DataFrame:
    """The RESULT_COLUMNS frame of one chunk, with send outcomes merged in."""
    out = pd.DataFrame(
        {
            "row": rows.index.astype("int64"),
            "status": rows["status"].to_numpy(),
            "http_status": "",
            "attempts": "",
            "error": rows["error"].to_numpy(),
            "caller_id": rows["caller_id"].to_numpy(),
            "email": rows["email"].to_numpy(),
            "lead_id": "",
            "trackdrive_number_plain": "",
            "sms_number_plain": "",
            "payload": rows["payload"]
            .where(rows["status"] != RowStatus.INVALID.value, "")
            .to_numpy(),
        },
        index=rows.index,
    ).astype({c: "object" for c in RESULT_COLUMNS if c != "row"})
    if outcomes is None:
        return out
    valid = out.index[out["status"] == RowStatus.VALID.value]
    for row in valid:
        o = outcomes.get(int(row))
        if o is None:
            if row in in_flight:
                o = Outcome(
                    int(row),
                    RowStatus.FAILED.value,
                    error="in flight when the run stopped: Trackdrive may or may not have "
                    "stored it; `leadimport rerun` sends it again",
                )
            else:
                o = Outcome(int(row), RowStatus.NOT_SENT.value, error=not_reached)
        out.at[row, "status"] = o.status
        out.at[row, "http_status"] = "" if o.http_status is None else o.http_status
        out.at[row, "attempts"] = o.attempts or ""
        out.at[row, "error"] = o.error
        out.at[row, "lead_id"] = o.lead_id
        out.at[row, "trackdrive_number_plain"] = o.trackdrive_number_plain
        out.at[row, "sms_number_plain"] = o.sms_number_plain
    return out


def _report(
    run_dir: Path,
    source: Source,
    mapping: MappingConfig,
    token: str | None,
    window: Window,
    journal: Journal | None,
    not_reached: str = "",
) -> tuple[ResultsWriter, int]:
    """Second pass: write results.csv and failures.csv; return the writer and blank rows."""
    outcomes: dict[int, Outcome] | None = None
    in_flight: set[int] = set()
    if journal is not None:
        outcomes, in_flight = journal.state()
    writer: ResultsWriter | None = None
    table: Table | None = None
    for table, chunk, rows in _built(source, mapping, token, window):
        if writer is None:
            hidden = set()
            if mapping.token.column is not None:
                hidden = {c for c in table.columns if c.lower() == mapping.token.column.lower()}
            writer = ResultsWriter(run_dir, table.headers, hidden)
        merged = _merge(rows, outcomes, in_flight, not_reached)
        bad = merged["status"].isin(_FAILURE_STATUSES)
        writer.write(merged, chunk.frame, bad)
    if writer is None:  # no data row in the window
        table = table or source.open()
        writer = ResultsWriter(run_dir, table.headers, set())
    writer.finish()
    return writer, (table.blank_rows if table is not None else 0)


def _exit_code(counts: dict[str, int], aborted: str | None, interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if aborted:
        return EXIT_ABORTED
    if any(counts.get(s, 0) for s in _FAILURE_STATUSES):
        return EXIT_ROWS_FAILED
    return EXIT_OK


def _summary(
    command: str,
    run_dir: Path,
    source: Source,
    sha: str,
    mapping: MappingConfig,
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
        command=command,
        run_dir=str(run_dir),
        input=str(source.path),
        input_sha256=sha,
        mapping=str(mapping.path),
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
    open_plan(source, mapping, None)  # config/input errors before any folder is made
    run_dir = make_run_dir(out, source.path)
    sha = file_sha256(source.path)
    progress.start("validate", estimate_rows(source))
    writer, blank = _report(run_dir, source, mapping, None, window, None)
    progress.end()
    summary = _summary(
        "validate",
        run_dir,
        source,
        sha,
        mapping,
        mapping.endpoint,
        writer,
        blank,
        started,
        started_at,
    )
    write_summary(run_dir, summary)
    return summary


# ---------------------------------------------------------------- run / rerun


class _Recorder:
    """The sender's observer: journal every event, count progress."""

    def __init__(self, journal: Journal, progress: Progress) -> None:
        self.journal = journal
        self.progress = progress

    def attempt_started(self, row: int, attempt: int) -> None:
        self.journal.started(row, attempt)

    def retry_scheduled(self, row: int, attempt: int, reason: str, delay_s: float) -> None:
        self.progress.retry()

    def finished(self, result: Result) -> None:
        self.journal.finished(
            Outcome(
                row=result.row,
                status=result.status.value,
                http_status=result.http_status,
                attempts=result.attempts,
                error=result.error,
                lead_id=result.lead_id,
                trackdrive_number_plain=result.trackdrive_number_plain,
                sms_number_plain=result.sms_number_plain,
            )
        )
        self.progress.advance(result.status.value)


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
    source: Source,
    mapping: MappingConfig,
    token: str | None,
    window: Window,
    done: dict[int, Outcome],
    progress: Progress,
) -> Iterator[Request]:
    """The rows to send, lazily: valid rows that have not succeeded yet."""
    for _table, _chunk, rows in _built(source, mapping, token, window):
        status = rows["status"]
        for s in status[status != RowStatus.VALID.value]:
            progress.advance(s)
        valid = rows[status == RowStatus.VALID.value]
        tokens = valid["token"] if mapping.token.column else None
        for i, (row, key, payload) in enumerate(
            zip(valid.index, valid["key"], valid["payload"], strict=True)
        ):
            prior = done.get(int(row))
            if prior is not None and prior.status == RowStatus.SUCCESS.value:
                progress.advance(RowStatus.SUCCESS.value)
                continue
            row_token = str(tokens.iloc[i]) if tokens is not None else (token or "")
            yield Request(row=int(row), key=str(key), body=json.loads(payload), token=row_token)


async def _send(
    requests: Iterator[Request],
    settings: SendSettings,
    recorder: _Recorder,
    handle_signals: bool,
) -> SendReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
    try:
        return await send_rows(requests, settings, recorder, stop=stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _execute(
    command: str,
    run_dir: Path,
    source: Source,
    mapping: MappingConfig,
    token: str | None,
    endpoint: str,
    settings: SendSettings,
    window: Window,
    progress: Progress,
    handle_signals: bool,
    extra: dict[str, Any],
) -> Summary:
    started, started_at = time.monotonic(), _now_iso()
    sha = file_sha256(source.path)
    journal = Journal(run_dir)
    done, _ = journal.state()
    journal.open(command)
    progress.start("send", estimate_rows(source))
    try:
        recorder = _Recorder(journal, progress)
        report = asyncio.run(
            _send(
                _requests(source, mapping, token, window, done, progress),
                settings,
                recorder,
                handle_signals,
            )
        )
    finally:
        journal.close()
        progress.end()
    if report.aborted:
        not_reached = f"not sent: {report.aborted}"
    elif report.interrupted:
        not_reached = "not sent: the run was interrupted"
    else:
        not_reached = "not sent"
    writer, blank = _report(run_dir, source, mapping, token, window, journal, not_reached)
    summary = _summary(
        command,
        run_dir,
        source,
        sha,
        mapping,
        endpoint,
        writer,
        blank,
        started,
        started_at,
        report,
        extra,
    )
    write_summary(run_dir, summary)
    return summary


def run(
    source: Source,
    mapping_path: Path,
    options: SendOptions = SendOptions(),
    out: Path | None = None,
    window: Window = Window(),
    progress: Progress | None = None,
    handle_signals: bool = True,
    extra: dict[str, Any] | None = None,
) -> Summary:
    """Validate and send every valid row of ``source``; write the run folder."""
    progress = progress or NoProgress()
    mapping = load_mapping(mapping_path)
    token = resolve_token(mapping, options.lead_token)
    endpoint = check_endpoint(options.endpoint or mapping.endpoint, "--endpoint")
    open_plan(source, mapping, token)
    run_dir = make_run_dir(out, source.path)
    shutil.copyfile(mapping_path, run_dir / "mapping.yaml")
    settings = _settings(mapping, options, endpoint)
    journal_mod.write_run_info(
        run_dir,
        {
            "input": str(source.path.resolve()),
            "input_sha256": file_sha256(source.path),
            "format": source.fmt,
            "sheet": source.sheet,
            "encoding": source.encoding,
            "delimiter": source.delimiter,
            "mapping": str(mapping_path.resolve()),
            "endpoint": endpoint,
            "token_fingerprint": token_fingerprint(token) if token else None,
            "start_row": window.start_row,
            "limit": window.limit,
            "rate": settings.rate,
            "concurrency": settings.concurrency,
            "max_attempts": settings.max_attempts,
            "timeout_s": settings.timeout_s,
            "created_at": _now_iso(),
        },
    )
    return _execute(
        "run",
        run_dir,
        source,
        mapping,
        token,
        endpoint,
        settings,
        window,
        progress,
        handle_signals,
        extra or {},
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
    mapping_path = run_dir / "mapping.yaml"
    mapping = load_mapping(mapping_path)
    token = resolve_token(mapping, options.lead_token)
    recorded = info.get("token_fingerprint")
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
    return _execute(
        "rerun",
        run_dir,
        source,
        mapping,
        token,
        endpoint,
        settings,
        window,
        progress,
        handle_signals,
        {},
    )
