"""Wire config → load → normalize → send → record for ``validate``, ``run`` and ``rerun``.

No printing here: a command line (or, later, a web page) watches through a ``Progress``
object and gets a ``Summary`` back. Every row of the input ends in ``results.csv``.

A run makes two passes over the input. The first validates each chunk and streams its
valid rows to the sender, recording every outcome in the journal. The second validates
again (cheap, and deterministic) and merges the journal's outcomes into the results
files. Because the journal is the only state, ``rerun`` is the same code with a journal
that already holds outcomes: rows that succeeded are not sent again, and a run killed
half-way through is finished by its rerun.

What a run reads and how its rows become requests (the ``Job``) lives in ``jobs``; the
run folder and everything written into it (journal, results, summary, log) in
``runfolder``. The names the command line uses from those modules are re-exported here.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from yarl import URL

from importer.clean import RescheduleSpec, RowStatus, text_array
from importer.config import (
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_MAX_RETRY_WAIT_S,
    MappingConfig,
    check_endpoint,
    load_mapping,
    mapping_yaml,
    resolve_token,
    token_fingerprint,
)
from importer.errors import ConfigError, ImporterError, Setting, mention
from importer.pipeline._ahead import ahead
from importer.pipeline._jobs import (
    FIRST_CHUNK_ROWS,
    FirstPass,
    Job,
    NoProgress,
    Progress,
    Source,
    Window,
    built_chunks,
    check_job,
    estimate_rows,
    import_job,
    reschedule_job,
)
from importer.pipeline._runfolder import (
    Recorder,
    check_writable,
    claim_run_dir,
    file_sha256,
    log,
    log_summary,
    make_run_dir,
    make_summary,
    now_iso,
    run_log,
    write_report,
)
from importer.pipeline._runinfo import RunInfo, read_info, write_info
from importer.pipeline._stop import StopSwitch
from importer.record import (
    Journal,
    Ledger,
    Outcome,
    ResultsWriter,
    RunLock,
    SendFacts,
    Summary,
    body_hash,
    read_journal,
    write_summary,
)
from importer.record import write_report as write_html_report
from importer.send import (
    TOKEN_REJECTED_STATUSES,
    Request,
    SendReport,
    SendSettings,
)


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
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES
    max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S
    ledger: Path | None = None  # --skip-unchanged: the ledger file


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
    started, started_at = time.monotonic(), now_iso()
    mapping = load_mapping(mapping_path)
    job = import_job("validate", source, mapping, None, window)
    check_job(job)  # config/input errors before any folder is made
    sha = file_sha256(source.path)
    if out is not None:
        claim_run_dir(out, "validate", source, sha, mapping, mapping.endpoint, window)
    run_dir = make_run_dir(out, source.path)
    with run_log(run_dir):
        log.info("validate %s with %s", source.path, mapping_path)
        progress.start("validate", estimate_rows(source, window))
        writer, blank = write_report(run_dir, job, None)
        progress.end()
        summary = make_summary(
            job, run_dir, sha, mapping.endpoint, writer, blank, started, started_at
        )
        write_summary(run_dir, summary)
        _report_page(run_dir, writer)
        log_summary(summary)
    return summary


def _report_page(
    run_dir: Path, writer: ResultsWriter, sends: Future[SendFacts] | None = None
) -> None:
    """Write report.html; a page that cannot be written does not change how the run went.

    ``sends``: the journal's facts, being read in another thread (``_journal_facts``).
    """
    try:
        write_html_report(run_dir, writer.facts, sends.result() if sends else None)
    except Exception as exc:  # results and summary are written: the run stands as it went
        log.warning("no report.html: %s", exc if isinstance(exc, ImporterError) else repr(exc))


# ---------------------------------------------------------------- run / rerun


def _endpoint(options: SendOptions, recorded: str, where: str) -> str:
    """The endpoint to send to: the option when given, else the mapping's (or run's)."""
    if options.endpoint:
        return check_endpoint(options.endpoint, mention(Setting.ENDPOINT))
    return check_endpoint(recorded, where)


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
        max_retry_wait_s=options.max_retry_wait_s,
    )


def _requests(
    job: Job, done: dict[int, Outcome], recorder: Recorder, first_pass: FirstPass
) -> Iterator[Request]:
    """The rows to send, lazily: valid rows that have not succeeded (or been skipped) yet."""
    finished = {RowStatus.SUCCESS.value, RowStatus.SKIPPED.value}
    ledger = recorder.ledger
    changed: set[str] = set()  # keys sent in this run: their later rows must follow
    progress = recorder.progress
    token = job.token or ""
    # A row that failed earlier must not be sent after a later row of the same lead has
    # succeeded: its older data would overwrite the newer (duplicates: all).
    last_success: dict[str, int] = {}
    for outcome in done.values():
        if outcome.status == RowStatus.SUCCESS.value and outcome.key:
            last_success[outcome.key] = max(outcome.row, last_success.get(outcome.key, 0))
    # Chunks are read and validated a chunk ahead, in a thread of their own: the event loop's
    # thread only walks the built rows.
    for item in ahead(built_chunks(job, FIRST_CHUNK_ROWS), "leadimport-build"):
        first_pass.keep(item)
        rows = item[2]
        status = rows["status"]
        for s in status[status != RowStatus.VALID.value].tolist():
            progress.advance(s)
        valid = rows[status == RowStatus.VALID.value]
        for row, key, payload, row_token in _as_lists(valid, job.mapping.token.column, token):
            prior = done.get(row)
            if prior is not None and prior.status in finished:
                progress.advance(prior.status, earlier=True)
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
            yield Request(row, key, payload, row_token)
    first_pass.complete = True


def _as_lists(
    valid: pd.DataFrame, token_column: str | None, token: str
) -> Iterator[tuple[int, str, bytes, str]]:
    """Each valid row's number, key, body and token, taken from its columns a block at a time.

    Walking the Arrow-backed Series row by row took ~6 % of the sending process's CPU;
    tolist() gives the same values at a fraction of it. A block, not the whole chunk: a
    chunk's bodies as Python strings would be ~10 MB more at the memory peak. Bodies come
    out as the bytes that are sent (the same cost as str, and none to encode them later).
    """
    for start in range(0, len(valid), _BLOCK_ROWS):
        block = valid.iloc[start : start + _BLOCK_ROWS]
        rows = block.index.tolist()
        tokens = [str(t) for t in block["token"].tolist()] if token_column else [token] * len(rows)
        bodies = text_array(block["payload"]).cast(pa.large_binary()).to_pylist()
        yield from zip(rows, block["key"].tolist(), bodies, tokens, strict=True)


_BLOCK_ROWS = 1024


async def _send(
    requests: Iterator[Request],
    settings: SendSettings,
    recorder: Recorder,
    handle_signals: bool,
    switch: StopSwitch | None = None,
) -> SendReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if switch is not None:
        switch.attach(stop)
    installed: list[signal.Signals] = []
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
    from importer.send import send_rows

    recorder.journal.flush_each_turn(loop)
    try:
        return await send_rows(requests, settings, recorder, stop=stop)
    finally:
        recorder.journal.flush_each_turn(None)
        for sig in installed:
            loop.remove_signal_handler(sig)
        if switch is not None:
            switch.detach(stop)


def _execute(
    job: Job,
    run_dir: Path,
    endpoint: str,
    settings: SendSettings,
    progress: Progress,
    handle_signals: bool,
    ledger_path: Path | None,
    extra: dict[str, Any],
    sha: str,
    switch: StopSwitch | None = None,
) -> Summary:
    """Send the job's rows into ``run_dir``; ``sha``: the input's SHA-256, as run.json has it.

    One process at a time (RunLock): the journal is read before anything is sent.
    """
    started, started_at = time.monotonic(), now_iso()
    with RunLock(run_dir), run_log(run_dir):
        log.info(
            "%s %s -> %s (rate %s/s, concurrency %d, max attempts %d)",
            job.command,
            job.source.path,
            endpoint,
            settings.rate or "unlimited",
            settings.concurrency,
            settings.max_attempts,
        )
        journal = Journal(run_dir)
        done, _ = journal.state()
        ledger = Ledger(ledger_path, endpoint) if ledger_path else None
        # Where this run's requests go, recorded before the first one: rerun trusts run.json
        # only as far as it agrees (a host edited into it would receive the token).
        journal.open(job.command, rate=settings.rate or 0, endpoint=endpoint)
        progress.start("send", estimate_rows(job.source, job.window))
        try:
            recorder = Recorder(journal, progress, ledger, run_dir)
            first_pass = FirstPass()
            from importer.send import new_event_loop  # aiohttp loads here, not for a validate

            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                report = runner.run(
                    _send(
                        _requests(job, done, recorder, first_pass),
                        settings,
                        recorder,
                        handle_signals,
                        switch,
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
        with ThreadPoolExecutor(1, thread_name_prefix="leadimport-report") as pool:
            sends = _journal_facts(pool, journal)
            writer, blank = write_report(run_dir, job, journal, not_reached, first_pass)
            summary = make_summary(
                job, run_dir, sha, endpoint, writer, blank, started, started_at, report, extra
            )
            write_summary(run_dir, summary)
            _report_page(run_dir, writer, sends)
        log_summary(summary)
    return summary


# A journal up to this size is read for the report's charts while the results are written.
_OVERLAP_JOURNAL_BYTES = 64 << 20


def _journal_facts(pool: ThreadPoolExecutor, journal: Journal) -> Future[SendFacts] | None:
    """Start reading the journal's facts for report.html in ``pool``; None for a big journal.

    After the last request both cores are free: the report's read (Arrow's JSON reader,
    mostly without the GIL) and the results pass overlap. Not for a big journal: both at
    once would double the memory of a million-row run's last step (it is read then).
    """
    try:
        if journal.path.stat().st_size > _OVERLAP_JOURNAL_BYTES:
            return None
    except OSError:
        return None
    return pool.submit(read_journal, journal.path)


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
    stop: StopSwitch | None = None,
) -> Summary:
    """Validate and send every valid row of ``source``; write the run folder.

    ``stop`` lets another thread stop the run as Ctrl-C does (``StopSwitch``).
    """
    progress = progress or NoProgress()
    mapping = load_mapping(mapping_path)
    token = resolve_token(mapping, options.lead_token)
    endpoint = _endpoint(options, mapping.endpoint, f"{mapping.path}: endpoint")
    job = import_job("run", source, mapping, token, window)
    check_job(job)
    sha = file_sha256(source.path)
    if out is not None and claim_run_dir(out, "run", source, sha, mapping, endpoint, window):
        # The same file, mapping and endpoint: the same run, which goes on where it stopped.
        return rerun(out, options, progress, handle_signals, stop)
    run_dir = make_run_dir(out, source.path, out_root)
    if mapping.token.literal:  # never copy a token into the run folder
        (run_dir / "mapping.yaml").write_text(mapping_yaml(mapping), encoding="utf-8")
    else:
        shutil.copyfile(mapping_path, run_dir / "mapping.yaml")
    settings = _settings(mapping, options, endpoint)
    write_info(run_dir, RunInfo.of(job, endpoint, settings, options.ledger, sha, now_iso()))
    return _execute(
        job,
        run_dir,
        endpoint,
        settings,
        progress,
        handle_signals,
        options.ledger,
        extra or {},
        sha,
        stop,
    )


def rerun(
    run_dir: Path,
    options: SendOptions = SendOptions(),
    progress: Progress | None = None,
    handle_signals: bool = True,
    stop: StopSwitch | None = None,
) -> Summary:
    """Send again every row of an earlier run that did not succeed and is not invalid.

    A run stopped or killed half way is finished this way. ``stop``: as for ``run``.
    """
    progress = progress or NoProgress()
    info = read_info(run_dir)
    with RunLock(run_dir):  # refused at once while another process sends this run; taken
        pass  # again, for good, before the journal is read (_execute)
    source = info.source
    if not source.path.exists():
        raise ConfigError(
            f"{run_dir}: the run's input {source.path} is gone; put it back to rerun this run"
        )
    if file_sha256(source.path) != info.input_sha256:
        raise ConfigError(
            f"{run_dir}: the input {source.path} changed since this run; "
            "import the new file with `leadimport run` instead"
        )
    # A folder from before every time column needed a zone read its times as UTC.
    mapping = load_mapping(run_dir / "mapping.yaml", implied_timezone="UTC")
    recorded = info.token_fingerprint
    rejected = token_rejected(run_dir)
    literal = _source_literal(info.mapping)
    if rejected and literal and not options.lead_token:
        # The rejected token is written in the source mapping: a rerun would have to read
        # a token from elsewhere; a new run from the corrected mapping is the plain way.
        raise ConfigError(
            f"{run_dir}: the endpoint rejected this run's lead token, written in "
            f"{info.mapping}; correct lead_token there and start a new run with that "
            f"mapping (`leadimport run`), or pass {mention(Setting.LEAD_TOKEN)}",
            path=run_dir,
            key="lead_token",
        )
    token = options.lead_token or _literal_token(info.mapping, recorded)
    token = resolve_token(mapping, token)
    if token and recorded and token_fingerprint(token) != recorded:
        if not rejected:
            raise ConfigError(
                f"{run_dir}: the lead token differs from the one this run used "
                f"(fingerprint {token_fingerprint(token)[:8]}… vs {recorded[:8]}…); "
                "pass the same token, or start a new run"
            )
        # The endpoint refused the old token: the corrected one takes its place for good.
        log.info("rerun: the rejected lead token is replaced (fingerprint %s…)", recorded[:8])
        info = replace(info, token_fingerprint=token_fingerprint(token))
        write_info(run_dir, info)
    endpoint = _rerun_endpoint(run_dir, info, options)
    check_writable(run_dir)
    base = replace(
        options,
        rate=options.rate or info.rate,
        unlimited_rate=options.unlimited_rate or (info.rate is None and not options.rate),
        concurrency=options.concurrency or info.concurrency,
        max_attempts=options.max_attempts or info.max_attempts,
        timeout_s=options.timeout_s or info.timeout_s,
    )
    settings = _settings(mapping, base, endpoint)
    window = info.window
    if info.command == "reschedule" and info.reschedule is not None:
        spec = RescheduleSpec.from_json(info.reschedule)
        job = reschedule_job(source, mapping, token, window, spec)
    else:
        job = import_job("rerun", source, mapping, token, window)
    job = replace(job, command="rerun")
    ledger = Path(info.ledger) if info.ledger else None
    sha = info.input_sha256  # checked against the file above
    return _execute(
        job, run_dir, endpoint, settings, progress, handle_signals, ledger, {}, sha, stop
    )


def endpoint_origin(endpoint: str) -> str:
    """Scheme, host and port of ``endpoint``: who receives its requests and the token."""
    return str(URL(endpoint).origin())


def rerun_endpoint(run_dir: Path, options: SendOptions = SendOptions()) -> str:
    """The endpoint a rerun of ``run_dir`` sends to (the option's, else run.json's).

    ConfigError when run.json names another host than the journal recorded for the run.
    """
    return _rerun_endpoint(run_dir, read_info(run_dir), options)


def _rerun_endpoint(run_dir: Path, info: RunInfo, options: SendOptions) -> str:
    endpoint = _endpoint(options, info.endpoint, f"{run_dir}: run.json: endpoint")
    if options.endpoint:  # said by the person running it: nothing to check against
        return endpoint
    recorded = Journal(run_dir).endpoints()  # none in a journal from before they were
    origin = endpoint_origin(endpoint)
    if recorded and origin not in {endpoint_origin(e) for e in recorded}:
        sent_to = endpoint_origin(recorded[-1])
        raise ConfigError(
            f"{run_dir}: run.json names the host {origin}, but this run sent to {sent_to} "
            f"(run.json was edited?); nothing sent. To send to {sent_to} again pass "
            f"{mention(Setting.ENDPOINT, recorded[-1])}; to send to {origin}, pass "
            f"{mention(Setting.ENDPOINT, endpoint)}",
            path=run_dir,
            key="endpoint",
            value=endpoint,
        )
    return endpoint


def token_rejected(run_dir: Path) -> bool:
    """Whether the endpoint rejected the lead token of ``run_dir``'s last send (401/403)."""
    outcomes, _ = Journal(run_dir).state()
    return any(
        o.http_status in TOKEN_REJECTED_STATUSES and o.status != RowStatus.SUCCESS.value
        for o in outcomes.values()
    )


def rejected_literal_mapping(run_dir: Path) -> str | None:
    """The source mapping holding the literal lead token the endpoint rejected, if so.

    None when the token was not rejected or came from elsewhere (an option, the
    environment): then a rerun with the corrected token is the way on.
    """
    if not token_rejected(run_dir):
        return None
    info = read_info(run_dir)
    literal = _source_literal(info.mapping)
    if literal and token_fingerprint(literal) == info.token_fingerprint:
        return info.mapping
    return None


def _source_literal(mapping_path: str | None) -> str | None:
    """The literal lead token the run's source mapping holds now, if any."""
    if not mapping_path:
        return None
    try:
        return load_mapping(Path(mapping_path)).token.literal
    except ConfigError:
        return None


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
    endpoint = _endpoint(options, mapping.endpoint, f"{mapping.path}: endpoint")
    job = reschedule_job(source, mapping, token, window, spec)
    check_job(job)
    sha = file_sha256(source.path)
    if out is not None:
        command = "validate" if dry_run else "reschedule"
        if claim_run_dir(out, command, source, sha, mapping, endpoint, window, spec.to_json()):
            return rerun(out, options, progress, handle_signals)
    run_dir = make_run_dir(out, source.path)
    if dry_run:
        started, started_at = time.monotonic(), now_iso()
        with run_log(run_dir):
            writer, blank = write_report(
                run_dir, replace(job, command="reschedule (dry run)"), None
            )
            summary = make_summary(
                replace(job, command="reschedule (dry run)"),
                run_dir,
                sha,
                endpoint,
                writer,
                blank,
                started,
                started_at,
            )
            write_summary(run_dir, summary)
            _report_page(run_dir, writer)
        return summary
    (run_dir / "mapping.yaml").write_text(mapping_yaml(mapping), encoding="utf-8")
    settings = _settings(mapping, options, endpoint)
    info = RunInfo.of(job, endpoint, settings, None, sha, now_iso())
    write_info(run_dir, replace(info, reschedule=spec.to_json()))
    return _execute(job, run_dir, endpoint, settings, progress, handle_signals, None, {}, sha)
