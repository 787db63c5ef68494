"""The options the commands share, and how their values become the core's inputs.

Also the error wall: ``handle_errors`` turns an ``ImporterError`` into one line on stderr
and its exit status.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from importer.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_RATE,
    DEFAULT_TIMEOUT_S,
)
from importer.errors import ExitStatus, ImporterError, Setting, printable

# How the command line names each setting an error can point to.
FLAGS = {
    Setting.SHEET: "--sheet",
    Setting.LIST_SHEETS: "--list-sheets",
    Setting.FORMAT: "--format",
    Setting.ENCODING: "--encoding",
    Setting.OUT: "--out",
    Setting.LEAD_TOKEN: "--lead-token",
    Setting.ENDPOINT: "--endpoint",
    Setting.CALLER_ID_COLUMN: "--caller-id-column",
    Setting.LEDGER: "--ledger",
    Setting.PORT: "--port",
    Setting.RESCHEDULE_IN: "--in",
    Setting.RESCHEDULE_AT: "--at",
    Setting.CALLING_HOURS: "--calling-hours",
    Setting.LOCAL_TIME: "--local-time",
    Setting.TIMEZONE: "--timezone",
}


def flag(setting: Setting, value: str) -> str:
    """A setting as the command line's flag, with its value: ``--sheet 'Leads'``."""
    return f"{FLAGS[setting]} {value}".rstrip()


def say(exc: ImporterError) -> str:
    """An error in the command line's words."""
    return exc.render(flag)


F = TypeVar("F", bound=Callable[..., Any])


def fail_with(message: str, code: int) -> None:
    click.echo(f"leadimport: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn ImporterError into one line on stderr and its exit status (traceback with --verbose)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = bool(kwargs.get("verbose"))
        try:
            with _log_on_stderr(verbose):
                return func(*args, **kwargs)
        except ImporterError as exc:
            if verbose:
                traceback.print_exc()
            fail_with(say(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("leadimport: interrupted", err=True)
            sys.exit(ExitStatus.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # never a bare traceback for a person
            if verbose:
                traceback.print_exc()
            first = str(exc).splitlines()[0] if str(exc) else ""
            fail_with(
                f"unexpected {type(exc).__name__}: {first} "
                "(run again with --verbose for the details, and please report it)",
                ExitStatus.UNUSABLE,
            )

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _log_on_stderr(verbose: bool) -> Iterator[None]:
    """With --verbose, the run's log lines (the route requests take, retries…) on stderr too."""
    if not verbose:
        yield
        return
    from importer.pipeline import log

    handler = logging.StreamHandler(sys.stderr)  # the stream of this call (tests swap it)
    handler.setFormatter(_PrintableFormatter("leadimport: %(message)s"))
    level = log.level
    if level == logging.NOTSET or level > logging.INFO:
        log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


class _PrintableFormatter(logging.Formatter):
    """One line per event, and nothing a terminal would obey (an ESC from a cell or a host)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def verbosity(func: F) -> F:
    """Add --verbose and --quiet."""
    func = click.option(
        "--quiet", "-q", is_flag=True, help="Print only errors and the result paths."
    )(func)
    func = click.option(
        "--verbose",
        "-v",
        is_flag=True,
        help="Show the run's log lines (which proxy is used, retries, failures) and full "
        "tracebacks on errors.",
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


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read the spreadsheet: --format, --sheet, --encoding, --delimiter."""

    fmt: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    def source(self, path: Path) -> Any:
        """The input ``path`` read this way (a pipeline Source)."""
        from importer.pipeline import Source

        delimiter = self.delimiter
        if delimiter is not None:
            delimiter = "\t" if delimiter.lower() in ("tab", "\\t") else delimiter
            if len(delimiter) != 1:
                raise click.BadParameter(
                    "must be one character, or 'tab'", param_hint="--delimiter"
                )
        return Source(
            path, fmt=self.fmt, sheet=self.sheet, encoding=self.encoding, delimiter=delimiter
        )


def input_options(func: F) -> F:
    """Options that say how to read the spreadsheet, passed on as ``reading: ReadOptions``."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        fmt: str | None,
        sheet: str | None,
        encoding: str | None,
        delimiter: str | None,
        **kwargs: Any,
    ) -> Any:
        return func(*args, reading=ReadOptions(fmt, sheet, encoding, delimiter), **kwargs)

    command: Any = wrapper
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
        command = opt(command)
    return cast(F, command)


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
                # No envvar=: click would pass the environment's token as if it were given
                # here, beating the mapping's own lead_token. The core reads
                # $TRACKDRIVE_LEAD_TOKEN only when the mapping sets no token.
                help="Lead token; overrides the mapping's. Without it, the mapping's "
                "lead_token, else $TRACKDRIVE_LEAD_TOKEN. Prefer the environment variable: "
                "command lines are visible to other users.",
            ),
            click.option(
                "--rate",
                type=click.FloatRange(min=0, min_open=True),
                help=f"Requests per second (default: the mapping's send.rate, {DEFAULT_RATE:g}).",
            ),
            click.option(
                "--unlimited-rate",
                is_flag=True,
                help="Send as fast as the concurrency allows (slows down by itself on 429).",
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(min=1, max=512),
                help=f"Requests in flight at once (default: the mapping's, {DEFAULT_CONCURRENCY}).",
            ),
            click.option(
                "--max-attempts",
                type=click.IntRange(min=1, max=100),
                help="Attempts per row for retryable errors (default: the mapping's, "
                f"{DEFAULT_MAX_ATTEMPTS}).",
            ),
            click.option(
                "--max-retry-wait",
                "max_retry_wait_s",
                type=click.FloatRange(min=0),
                default=DEFAULT_MAX_RETRY_WAIT_S,
                show_default=True,
                help="Seconds one row may wait in all when the endpoint asks to with "
                "Retry-After (every request waits with it); asked for more, the row fails.",
            ),
            click.option(
                "--timeout",
                "timeout_s",
                type=click.FloatRange(min=0, min_open=True),
                help="Seconds to wait for one answer (default: the mapping's, "
                f"{DEFAULT_TIMEOUT_S:g}).",
            ),
            click.option(
                "--max-consecutive-failures",
                type=click.IntRange(min=1),
                default=DEFAULT_MAX_CONSECUTIVE_FAILURES,
                show_default=True,
                help="Abort (exit 3) when more than this many rows fail in a row (a wrong "
                "endpoint, a server that is down); the rows not sent are kept for rerun.",
            ),
        ]
    ):
        func = opt(func)
    return func


def make_send_options(**kw: Any) -> Any:
    from importer.pipeline import SendOptions

    return SendOptions(
        endpoint=kw["endpoint"],
        lead_token=kw["lead_token"],
        rate=kw["rate"],
        unlimited_rate=kw["unlimited_rate"],
        concurrency=kw["concurrency"],
        max_attempts=kw["max_attempts"],
        max_retry_wait_s=kw["max_retry_wait_s"],
        timeout_s=kw["timeout_s"],
        max_consecutive_failures=kw["max_consecutive_failures"],
    )


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
