"""The command line: the only module that parses arguments, prints, or exits."""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from importer.errors import ConfigError, ImporterError, OutputError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_HELP = """
Exit status: 0 every row succeeded (or was valid/skipped); 1 some rows failed or were
invalid; 2 the file, mapping or an option is unusable (nothing sent); 3 the run was
aborted (rejected lead token, too many failures in a row); 130 interrupted (Ctrl-C).
"""


def _fail(message: str, code: int) -> None:
    click.echo(f"leadimport: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn ImporterError into one line on stderr and its exit status (traceback with --verbose)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = bool(kwargs.get("verbose"))
        try:
            return func(*args, **kwargs)
        except ImporterError as exc:
            if verbose:
                traceback.print_exc()
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("leadimport: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # never a bare traceback for a person
            if verbose:
                traceback.print_exc()
            first = str(exc).splitlines()[0] if str(exc) else ""
            _fail(
                f"unexpected {type(exc).__name__}: {first} "
                "(run again with --verbose for the details, and please report it)",
                2,
            )

    return wrapper  # type: ignore[return-value]


def verbosity(func: F) -> F:
    """Add --verbose and --quiet."""
    func = click.option(
        "--quiet", "-q", is_flag=True, help="Print only errors and the result paths."
    )(func)
    func = click.option(
        "--verbose", "-v", is_flag=True, help="Show full tracebacks and more detail on errors."
    )(func)
    return func


mapping_option = click.option(
    "-m",
    "--mapping",
    "mapping_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The column-mapping YAML file.",
)


def window_options(func: F) -> F:
    """--limit and --start-row: which data rows to take."""
    func = click.option(
        "--start-row",
        type=click.IntRange(min=2),
        help="Start at this spreadsheet row (the header is row 1).",
    )(func)
    return click.option("--limit", type=click.IntRange(min=1), help="Only the first N data rows.")(
        func
    )


def input_options(func: F) -> F:
    """Options that say how to read the spreadsheet."""
    for opt in reversed(
        [
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["csv", "tsv", "txt", "xlsx", "xlsm", "xls", "ods", "excel"]),
                help="File format; by default from the file's extension.",
            ),
            click.option("--sheet", help="Worksheet to read from a workbook (default: the first)."),
            click.option(
                "--encoding",
                help="Text encoding of a CSV (e.g. utf-8, cp1252, utf-16); detected by default.",
            ),
            click.option(
                "--delimiter",
                help="CSV delimiter (one character, or 'tab'); detected by default.",
            ),
        ]
    ):
        func = opt(func)
    return func


def _source(
    path: Path, fmt: str | None, sheet: str | None, encoding: str | None, delimiter: str | None
) -> Any:
    from importer.pipeline import Source

    if delimiter is not None:
        delimiter = "\t" if delimiter.lower() in ("tab", "\\t") else delimiter
        if len(delimiter) != 1:
            raise click.BadParameter("must be one character, or 'tab'", param_hint="--delimiter")
    return Source(path, fmt=fmt, sheet=sheet, encoding=encoding, delimiter=delimiter)


class CliProgress:
    """A tqdm bar on a terminal; a plain log line every 10 s otherwise (cron)."""

    def __init__(self, quiet: bool, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.counts: dict[str, int] = {}
        self.retries = 0
        self.bar: Any = None
        self.phase = ""
        self.total: int | None = None
        self.t0 = time.monotonic()
        self.last_log = self.t0

    def start(self, phase: str, total: int | None) -> None:
        self.phase, self.total = phase, total
        self.counts, self.retries = {}, 0
        self.t0 = self.last_log = time.monotonic()
        if self.quiet or phase != "send":
            return
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="row", file=self.stream, dynamic_ncols=True)

    def _figures(self) -> str:
        c = self.counts
        return (
            f"success {c.get('success', 0)} · failed {c.get('failed', 0)} · "
            f"invalid {c.get('invalid', 0)} · retrying {self.retries}"
        )

    def advance(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.bar is not None:
            self.bar.update(1)
            if sum(self.counts.values()) % 50 == 0:
                self.bar.set_postfix_str(self._figures(), refresh=False)
        elif not self.quiet and self.phase == "send":
            now = time.monotonic()
            if now - self.last_log >= 10:
                self.last_log = now
                done = sum(self.counts.values())
                rate = done / max(now - self.t0, 1e-9)
                of = f"/{self.total}" if self.total else ""
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                click.echo(
                    f"{stamp} progress: {done}{of} rows, {rate:.1f} rows/s, {self._figures()}",
                    err=True,
                )

    def retry(self) -> None:
        self.retries += 1

    def note(self, message: str) -> None:
        if not self.quiet:
            click.echo(f"leadimport: {message}", err=True)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self._figures())
            self.bar.close()
            self.bar = None


def _print_summary(summary: Any, quiet: bool) -> None:
    run_dir = Path(summary.run_dir)
    if quiet:
        click.echo(str(run_dir / "results.csv"))
        return
    order = ["success", "valid", "skipped", "failed", "invalid", "not_sent"]
    counts = summary.counts
    parts = [f"{s} {counts[s]}" for s in order if counts.get(s)]
    parts += [f"{s} {n}" for s, n in counts.items() if s not in order and n]
    click.echo(f"{summary.command}: {summary.input}")
    blank = f" ({summary.blank_rows} blank rows skipped)" if summary.blank_rows else ""
    click.echo(f"  rows:     {summary.rows}{blank}")
    click.echo(f"  statuses: {' · '.join(parts) or 'none'}")
    if summary.requests:
        rate = summary.requests / max(summary.duration_s, 1e-9)
        click.echo(
            f"  sent:     {summary.requests} requests ({summary.retries} retries, "
            f"{summary.throttled} throttled) in {summary.duration_s:.1f} s, {rate:.1f}/s"
        )
    else:
        click.echo(f"  time:     {summary.duration_s:.1f} s")
    if summary.aborted:
        click.echo(f"  ABORTED:  {summary.aborted}")
    if summary.interrupted:
        click.echo("  INTERRUPTED: rows not sent are marked not_sent; `leadimport rerun` finishes")
    if summary.top_reasons:
        click.echo("  top problems:")
        for item in summary.top_reasons:
            rows = ", ".join(str(r) for r in item["rows"])
            more = ", …" if item["count"] > len(item["rows"]) else ""
            click.echo(f"    {item['count']:>6} × {item['reason']}  (rows {rows}{more})")
    click.echo(f"  results:  {run_dir / 'results.csv'}")
    if any(counts.get(s) for s in ("failed", "invalid", "not_sent")):
        click.echo(f"  failures: {run_dir / 'failures.csv'}")
        if counts.get("failed") or counts.get("not_sent"):
            click.echo(f"  retry:    leadimport rerun {run_dir}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="leadimport")
def main() -> None:
    """Load lead spreadsheets (CSV, Excel) into Trackdrive's leads/create_or_update endpoint.

    \b
    Start here:
      leadimport mapping init leads.csv -o mappings/mine.yaml
      leadimport validate leads.csv -m mappings/mine.yaml
      leadimport run leads.csv -m mappings/mine.yaml
      leadimport demo          (everything against a local sandbox)
    """


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@mapping_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Run folder (default: output/<file>-<timestamp>/).",
)
@window_options
@click.option("--list-sheets", is_flag=True, help="List the worksheets of a workbook and exit.")
@input_options
@verbosity
@handle_errors
def validate(
    file: Path,
    mapping_path: Path,
    out: Path | None,
    limit: int | None,
    start_row: int | None,
    list_sheets: bool,
    fmt: str | None,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    verbose: bool,
    quiet: bool,
) -> None:
    """Check every row of FILE against the mapping, without sending anything.

    Writes results.csv (one line per row: valid, invalid or skipped, with the exact JSON
    body that would be sent), failures.csv (the rows to fix, with their original columns)
    and summary.json into the run folder.
    """
    from importer import pipeline

    if list_sheets:
        _print_sheets(file, fmt)
        return
    source = _source(file, fmt, sheet, encoding, delimiter)
    summary = pipeline.validate(
        source, mapping_path, out, pipeline.Window(start_row, limit), CliProgress(quiet)
    )
    _print_summary(summary, quiet)
    sys.exit(summary.exit_code)


def _print_sheets(file: Path, fmt: str | None) -> None:
    from importer.load import list_sheets

    for name in list_sheets(file, fmt=fmt):
        click.echo(name)


def send_options(func: F) -> F:
    """Options shared by run, rerun and reschedule."""
    for opt in reversed(
        [
            click.option(
                "--endpoint",
                help="Endpoint URL; overrides the mapping's (an account subdomain, the sandbox).",
            ),
            click.option(
                "--lead-token",
                envvar="TRACKDRIVE_LEAD_TOKEN",
                show_envvar=True,
                help="Lead token, when the mapping does not set one. Prefer the environment "
                "variable: command lines are visible to other users.",
            ),
            click.option(
                "--rate",
                type=click.FloatRange(min=0, min_open=True),
                help="Requests per second (default: the mapping's send.rate, 10).",
            ),
            click.option(
                "--unlimited-rate",
                is_flag=True,
                help="Send as fast as the concurrency allows (slows down by itself on 429).",
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(min=1, max=512),
                help="Requests in flight at once (default: the mapping's, 8).",
            ),
            click.option(
                "--max-attempts",
                type=click.IntRange(min=1, max=100),
                help="Attempts per row for retryable errors (default 5).",
            ),
            click.option(
                "--timeout",
                "timeout_s",
                type=click.FloatRange(min=0, min_open=True),
                help="Seconds to wait for one answer (default 30).",
            ),
            click.option(
                "--max-consecutive-failures",
                type=click.IntRange(min=1),
                default=50,
                show_default=True,
                help="Abort (exit 3) when more than this many rows fail in a row (a wrong "
                "endpoint, a server that is down); the rows not sent are kept for rerun.",
            ),
        ]
    ):
        func = opt(func)
    return func


def _send_options(**kw: Any) -> Any:
    from importer.pipeline import SendOptions

    return SendOptions(
        endpoint=kw["endpoint"],
        lead_token=kw["lead_token"],
        rate=kw["rate"],
        unlimited_rate=kw["unlimited_rate"],
        concurrency=kw["concurrency"],
        max_attempts=kw["max_attempts"],
        timeout_s=kw["timeout_s"],
        max_consecutive_failures=kw["max_consecutive_failures"],
    )


def _warn_endpoint(endpoint: str, quiet: bool) -> None:
    from urllib.parse import urlparse

    from importer.send import is_loopback

    if urlparse(endpoint).scheme == "http" and not is_loopback(endpoint):
        click.echo(
            f"leadimport: warning: {urlparse(endpoint).hostname} is reached over plain http: "
            "the lead token and the leads travel unencrypted; use https",
            err=True,
        )


def _confirm_large_send(source: Any, endpoint: str, yes: bool) -> None:
    from importer.pipeline import estimate_rows
    from importer.send import is_loopback

    if yes or is_loopback(endpoint) or not sys.stdin.isatty():
        return
    rows = estimate_rows(source)
    if rows is not None and rows <= 1000:
        return
    host = endpoint.split("/")[2] if "//" in endpoint else endpoint
    about = f"about {rows} rows" if rows is not None else "all rows of this workbook"
    if not click.confirm(f"Send {about} to {host}?", default=False, err=True):
        _fail("not confirmed; nothing was sent (pass --yes to skip this question)", 2)


def _expand(patterns: tuple[str, ...]) -> list[Path]:
    """Files named on the command line; quoted globs ('incoming/*.csv') are expanded here."""
    files: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise ConfigError(f"no file matches '{pattern}'")
            files += [Path(m) for m in matches]
        else:
            files.append(Path(pattern))
    return files


@contextlib.contextmanager
def _log_file(path: Path | None) -> Iterator[None]:
    """With --log-file, append the run's log lines to that file too."""
    if path is None:
        yield
        return
    from importer.pipeline import LOG_FORMAT, LogFile

    try:
        handler = LogFile(path, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the log file ({exc.strerror})") from None
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("leadimport")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def _notify(url: str | None, summaries: list[Any]) -> None:
    if not url or not summaries:
        return
    from importer.notify import notify

    try:
        notify(url, summaries)
    except OSError as exc:
        click.echo(f"leadimport: warning: could not notify {url}: {exc}", err=True)


def batch_options(func: F) -> F:
    """Options for nightly jobs: ledger, logs, webhook."""
    for opt in reversed(
        [
            click.option(
                "--skip-unchanged",
                is_flag=True,
                help="Do not send a row whose body is unchanged since it was last sent "
                "successfully (remembered in the ledger). Takes the ledger's lock.",
            ),
            click.option(
                "--ledger",
                type=click.Path(path_type=Path),
                default=Path("output/ledger.sqlite"),
                show_default=True,
                help="The ledger file for --skip-unchanged.",
            ),
            click.option(
                "--log-file",
                type=click.Path(path_type=Path),
                help="Also append plain, timestamped log lines here (every run folder "
                "always gets its own run.log).",
            ),
            click.option(
                "--notify",
                "notify_url",
                metavar="URL",
                help="After the run, POST summary.json (with a Slack-compatible 'text') here.",
            ),
        ]
    ):
        func = opt(func)
    return func


@main.command()
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@mapping_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Run folder (default: output/<file>-<timestamp>/); with several files, the "
    "folder that holds their run folders.",
)
@window_options
@click.option("--dry-run", is_flag=True, help="Validate only, send nothing (same as `validate`).")
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Do not ask before sending over 1,000 rows to a non-local endpoint.",
)
@send_options
@batch_options
@input_options
@verbosity
@handle_errors
def run(
    files: tuple[str, ...],
    mapping_path: Path,
    out: Path | None,
    limit: int | None,
    start_row: int | None,
    dry_run: bool,
    yes: bool,
    skip_unchanged: bool,
    ledger: Path,
    log_file: Path | None,
    notify_url: str | None,
    fmt: str | None,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    verbose: bool,
    quiet: bool,
    **send_kw: Any,
) -> None:
    """Validate each FILE, then send every valid row to Trackdrive.

    Each valid row becomes one POST of its JSON body, with the lead token in the query
    string, through a rate-limited pool of workers that retries 429/5xx/timeouts with
    backoff. Every outcome is journaled as it happens; the run folder gets results.csv,
    failures.csv, summary.json and run.log. `leadimport rerun DIR` sends what did not
    succeed.

    Several files (or a quoted pattern such as 'incoming/*.csv') each get their own run
    folder; the exit status is the worst of them.
    """
    from importer import pipeline
    from importer.config import load_mapping
    from importer.ledger import LedgerLock

    paths = _expand(files)
    window = pipeline.Window(start_row, limit)
    out_root = Path("output")
    if len(paths) > 1 and out is not None:
        out_root, out = out, None
    if dry_run:
        worst = 0
        for path in paths:
            source = _source(path, fmt, sheet, encoding, delimiter)
            summary = pipeline.validate(source, mapping_path, out, window, CliProgress(quiet))
            _print_summary(summary, quiet)
            worst = max(worst, summary.exit_code)
        sys.exit(worst)
    options = _send_options(**send_kw)
    if skip_unchanged:
        options = replace(options, ledger=ledger)
    endpoint = options.endpoint or load_mapping(mapping_path).endpoint
    _warn_endpoint(endpoint, quiet)
    lock = LedgerLock(ledger) if skip_unchanged else None
    if lock is not None:
        lock.acquire()
    summaries = []
    worst = 0
    try:
        with _log_file(log_file):
            for path in paths:
                source = _source(path, fmt, sheet, encoding, delimiter)
                try:
                    _confirm_large_send(source, endpoint, yes)
                    summary = pipeline.run(
                        source,
                        mapping_path,
                        options,
                        out,
                        window,
                        CliProgress(quiet),
                        out_root=out_root,
                    )
                except ImporterError as exc:
                    if len(paths) == 1:
                        raise
                    click.echo(f"leadimport: error: {exc}", err=True)
                    worst = max(worst, exc.exit_code)
                    continue
                _print_summary(summary, quiet)
                summaries.append(summary)
                worst = max(worst, summary.exit_code)
                if summary.interrupted:
                    break
    finally:
        if lock is not None:
            lock.release()
    _notify(notify_url, summaries)
    sys.exit(worst)


@main.command()
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path))
@send_options
@verbosity
@handle_errors
def rerun(run_dir: Path, verbose: bool, quiet: bool, **send_kw: Any) -> None:
    """Send again every row of run folder DIR that did not succeed.

    Uses the run's own input, mapping and endpoint (recorded in DIR) unless an option
    overrides them. Rows that already succeeded are never sent again; invalid rows are
    not sent (fix them in failures.csv and import that file). Updates DIR's
    results.csv, failures.csv and summary.json in place; the journal keeps the history.
    """
    from importer import pipeline

    options = _send_options(**send_kw)
    if options.endpoint:
        _warn_endpoint(options.endpoint, quiet)
    summary = pipeline.rerun(run_dir, options, CliProgress(quiet))
    _print_summary(summary, quiet)
    sys.exit(summary.exit_code)


@main.command()
@click.option(
    "--rows",
    type=click.Path(path_type=Path),
    help="Spreadsheet to import (default: samples/leads.csv).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Run folder (default: output/<file>-<timestamp>/).",
)
@verbosity
@handle_errors
def demo(rows: Path | None, out: Path | None, verbose: bool, quiet: bool) -> None:
    """Import the bundled sample into a local sandbox: no configuration, no network.

    Starts the Trackdrive sandbox on a free 127.0.0.1 port (with a little latency and a
    few injected faults, so retries show), imports samples/leads.csv with
    mappings/example.yaml, assigns tracking numbers, and prints the summary.
    """
    from importer import pipeline
    from importer.sandbox import SandboxConfig, SandboxServer

    root = Path(__file__).resolve().parent.parent
    source = pipeline.Source(rows or root / "samples" / "leads.csv")
    mapping_path = root / "mappings" / "example.yaml"
    config = SandboxConfig(latency_ms=(5, 40), fail_rate=0.03, drop_rate=0.01, seed=7)
    with SandboxServer(config) as server:
        if not quiet:
            click.echo(
                f"sandbox listening on {server.url} (latency 5-40 ms, 3% 5xx, 1% dropped)", err=True
            )
        options = pipeline.SendOptions(
            endpoint=server.endpoint, lead_token="demo-token", rate=100, concurrency=8
        )
        summary = pipeline.run(
            source, mapping_path, options, out, pipeline.Window(), CliProgress(quiet)
        )
        stored = len(server.leads())
    _print_summary(summary, quiet)
    if not quiet:
        click.echo(f"  sandbox:  {stored} leads stored")
    sys.exit(summary.exit_code)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "-m",
    "--mapping",
    "mapping_path",
    type=click.Path(path_type=Path),
    help="A mapping file: its caller_id column, region, timezone, token and endpoint.",
)
@click.option("--at", "at_text", metavar="TIME", help='When, e.g. "2026-12-01 09:30".')
@click.option("--in", "in_text", metavar="DURATION", help="How long from now: 1s, 30m, 2h, 1d.")
@click.option(
    "--local-time",
    is_flag=True,
    help="Read --at in each lead's own time zone (from its phone number; for a number "
    "spanning zones, the westernmost), else the mapping's timezone.",
)
@click.option(
    "--calling-hours",
    metavar="START-END",
    help="Move times outside these local hours (e.g. 08:00-21:00) to the next START.",
)
@click.option(
    "--update-all-matching",
    is_flag=True,
    help="Send update_all_matching_leads: every lead of the offer/schedule with that number.",
)
@click.option("--caller-id-column", metavar="NAME", help="The phone column (default: detected).")
@click.option("--region", help="Region for phone numbers (default: the mapping's, or US).")
@click.option(
    "--timezone", help="Time zone for --at (default: the mapping's, or America/New_York)."
)
@click.option("--dry-run", is_flag=True, help="Show the time each row would get; send nothing.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder.")
@window_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask before a large non-local send.")
@send_options
@click.option("--log-file", type=click.Path(path_type=Path), help="Also log here.")
@click.option("--notify", "notify_url", metavar="URL", help="POST the summary here afterwards.")
@input_options
@verbosity
@handle_errors
def reschedule(
    file: Path,
    mapping_path: Path | None,
    at_text: str | None,
    in_text: str | None,
    local_time: bool,
    calling_hours: str | None,
    update_all_matching: bool,
    caller_id_column: str | None,
    region: str | None,
    timezone: str | None,
    dry_run: bool,
    out: Path | None,
    limit: int | None,
    start_row: int | None,
    yes: bool,
    log_file: Path | None,
    notify_url: str | None,
    fmt: str | None,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    verbose: bool,
    quiet: bool,
    **send_kw: Any,
) -> None:
    """Bulk-change when Trackdrive runs each lead's next action (next_action_at).

    FILE is any spreadsheet with a phone column (the mapping's caller_id, the
    --caller-id-column, or detected), including the results.csv of an earlier run. Each
    request carries only caller_id, next_action_at and, if asked,
    update_all_matching_leads. Same rate limiting, retries, results and rerun as `run`.
    """
    from datetime import UTC, datetime

    from importer import pipeline
    from importer.config import load_mapping, parse_mapping
    from importer.schedule import RescheduleSpec, parse_calling_hours, parse_duration

    if (at_text is None) == (in_text is None):
        raise click.UsageError("give exactly one of --at TIME or --in DURATION")
    if local_time and at_text is None:
        raise click.UsageError("--local-time goes with --at")
    source = _source(file, fmt, sheet, encoding, delimiter)
    base = load_mapping(mapping_path) if mapping_path else None
    column = pipeline.phone_column(source, base, caller_id_column)
    raw: dict[str, Any] = dict(base.raw) if base else {"version": 1}
    raw.pop("data", None)
    raw.pop("include_unmapped_columns", None)
    raw["fields"] = {"caller_id": column}
    raw["region"] = region or raw.get("region", "US")
    raw["timezone"] = timezone or raw.get("timezone", "America/New_York")
    mapping = parse_mapping(raw, mapping_path or Path("(reschedule options)"))
    hours = parse_calling_hours(calling_hours) if calling_hours else None
    if in_text is not None:
        instant = datetime.now(UTC) + parse_duration(in_text)
        spec = RescheduleSpec(column, instant=instant, calling_hours=hours)
    elif local_time:
        spec = RescheduleSpec(column, wall_time=at_text, local_time=True, calling_hours=hours)
    else:
        from importer.normalize import parse_time

        try:
            instant = parse_time(at_text or "", mapping.timezone, mapping.date_order)
        except ValueError as exc:
            raise ConfigError(f"--at: {exc}") from None
        spec = RescheduleSpec(column, instant=instant, calling_hours=hours)
    spec = replace(spec, update_all_matching=update_all_matching)
    options = _send_options(**send_kw)
    window = pipeline.Window(start_row, limit)
    if not dry_run:
        endpoint = options.endpoint or mapping.endpoint
        _warn_endpoint(endpoint, quiet)
        _confirm_large_send(source, endpoint, yes)
    with _log_file(log_file):
        summary = pipeline.reschedule(
            source, mapping, spec, options, out, window, CliProgress(quiet), dry_run=dry_run
        )
    if dry_run and not quiet:
        _print_schedule(Path(summary.run_dir) / "results.csv")
    _print_summary(summary, quiet)
    if not dry_run:
        _notify(notify_url, [summary])
    sys.exit(summary.exit_code)


def _print_schedule(results: Path, most: int = 40) -> None:
    import csv

    with results.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        click.echo(f"{'row':>6}  {'caller_id':<16} {'next_action_at':<26} note / error")
        for n, rec in enumerate(reader):
            if n == most:
                click.echo("   …    (every row is in results.csv)")
                break
            when = ""
            if rec["payload"]:
                when = json.loads(rec["payload"]).get("next_action_at", "")
            click.echo(
                f"{rec['row']:>6}  {rec['caller_id']:<16} {when:<26} {rec['note'] or rec['error']}"
            )


@main.group()
def mapping() -> None:
    """Create and check mapping files."""


@mapping.command("init")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Where to write the mapping (default: print it).",
)
@click.option("--region", default="US", show_default=True, help="Default region for phone numbers.")
@click.option(
    "--timezone",
    default="America/New_York",
    show_default=True,
    help="Time zone for times without an offset.",
)
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@input_options
@verbosity
@handle_errors
def mapping_init(
    file: Path,
    output: Path | None,
    region: str,
    timezone: str,
    force: bool,
    fmt: str | None,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    verbose: bool,
    quiet: bool,
) -> None:
    """Suggest a commented mapping for FILE from its headers and a sample of its values."""
    from importer.suggest import render_mapping, suggest_mapping

    table = _source(file, fmt, sheet, encoding, delimiter).open()
    text = render_mapping(
        suggest_mapping(table, region.upper(), timezone), file.name, region.upper(), timezone
    )
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        _fail(f"{output} exists; pass --force to overwrite it", 2)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    if not quiet:
        click.echo(
            f"wrote {output}; check it, then: leadimport validate {file} -m {output}", err=True
        )


# --- sandbox command (owned by the sandbox work) ---
def _sandbox_latency(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, int] | None:
    """Parse ``A`` or ``A-B`` milliseconds."""
    if value is None:
        return None
    low, sep, high = value.partition("-")
    try:
        bounds = (int(low), int(high) if sep else int(low))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not A or A-B in milliseconds, e.g. 50 or 20-200"
        ) from None
    if bounds[0] < 0 or bounds[1] < bounds[0]:
        raise click.BadParameter(f"{value!r}: need 0 <= A <= B, e.g. 20-200")
    return bounds


def _sandbox_tokens(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    if any(not token.strip() for token in value):
        raise click.BadParameter("a lead token cannot be empty")
    return value


_SANDBOX_RATE = click.FloatRange(0.0, 1.0)


@main.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 = any free port; the URL is printed).",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    callback=_sandbox_tokens,
    help="An accepted lead token (repeatable). Without any, every non-empty token is accepted.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(0.0, min_open=True),
    metavar="N",
    help="Answer 429 with Retry-After above N requests per second per token.",
)
@click.option(
    "--latency-ms",
    callback=_sandbox_latency,
    metavar="A[-B]",
    help="Delay every answer by A ms, or by a random time between A and B ms.",
)
@click.option(
    "--fail-rate",
    type=_SANDBOX_RATE,
    default=0.0,
    metavar="P",
    help="Fraction of requests (0-1) answered 500/502/503 without storing the lead.",
)
@click.option(
    "--drop-rate",
    type=_SANDBOX_RATE,
    default=0.0,
    metavar="P",
    help="Fraction of requests (0-1) whose connection is closed without an answer.",
)
@click.option(
    "--commit-then-fail-rate",
    type=_SANDBOX_RATE,
    default=0.0,
    metavar="P",
    help="Fraction of requests (0-1) whose lead IS stored, then answered 503 or dropped.",
)
@click.option("--seed", type=int, help="Seed for the injected faults and latencies (reproducible).")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep leads in this SQLite file, so a restart keeps them (default: in memory).",
)
@click.option("--quiet", "-q", is_flag=True, help="No log line per request on stderr.")
@handle_errors
def sandbox_command(
    host: str,
    port: int,
    tokens: tuple[str, ...],
    rate_limit: float | None,
    latency_ms: tuple[int, int] | None,
    fail_rate: float,
    drop_rate: float,
    commit_then_fail_rate: float,
    seed: int | None,
    db: Path | None,
    quiet: bool,
) -> None:
    """Run a local fake of Trackdrive's leads/create_or_update endpoint.

    It judges requests like Trackdrive (401 bad token, 422 bad fields), upserts leads
    per token and caller_id, and can misbehave on purpose (rate limit, latency, 5xx,
    dropped connections) to test an import. Inspect what it received at
    /_sandbox/leads, /_sandbox/requests and /_sandbox/stats. Stop it with Ctrl-C.

    \b
    Example:
      leadimport sandbox --port 8765 --fail-rate 0.05 --seed 1
      curl -H "Content-Type: application/json" -X POST \\
        -d '{"caller_id":"+18004506787","data":{"loan_amount":"501"}}' \\
        "http://127.0.0.1:8765/api/v1/leads/create_or_update?lead_token=yourtoken"
    """
    from importer.sandbox import SandboxConfig, serve

    if fail_rate + drop_rate + commit_then_fail_rate > 1.0:
        raise click.BadParameter(
            "together they must not exceed 1",
            param_hint="--fail-rate + --drop-rate + --commit-then-fail-rate",
        )
    if db is not None and not db.parent.is_dir():
        raise click.BadParameter(f"folder {db.parent} does not exist", param_hint="--db")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"leadimport: warning: the sandbox on {host} accepts requests from other machines",
            err=True,
        )
    config = SandboxConfig(
        tokens=tokens,
        rate_limit=rate_limit,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        drop_rate=drop_rate,
        commit_then_fail_rate=commit_then_fail_rate,
        seed=seed,
        db=db,
        quiet=quiet,
    )
    serve(config, host, port)


# --- end sandbox command ---
