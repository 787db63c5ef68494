"""The ``leadimport`` command group and its import commands: validate, run, rerun, demo."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from importer.cli._console import (
    CliProgress,
    confirm_large_send,
    confirm_repeat,
    print_settled,
    print_sheets,
    print_summary,
    warn_endpoint,
)
from importer.cli._options import (
    ReadOptions,
    batch_options,
    handle_errors,
    input_options,
    make_send_options,
    mapping_option,
    say,
    send_options,
    verbosity,
    window_options,
)
from importer.errors import ExitStatus, ImporterError

EXIT_MEANINGS = {
    ExitStatus.OK: "every row succeeded (or was valid/skipped)",
    ExitStatus.ROWS_FAILED: "some rows failed or were invalid",
    ExitStatus.UNUSABLE: "the file, mapping or an option is unusable (nothing sent)",
    ExitStatus.ABORTED: "the run was aborted (rejected lead token, or too many rows failed "
    "in a row: see run --help)",
    ExitStatus.INTERRUPTED: "interrupted (Ctrl-C)",
}
EXIT_HELP = "Exit status: " + "; ".join(f"{s.value} {m}" for s, m in EXIT_MEANINGS.items()) + "."


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_HELP,
)
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
    reading: ReadOptions,
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
        print_sheets(file, reading.fmt)
        return
    source = reading.source(file)
    summary = pipeline.validate(
        source, mapping_path, out, pipeline.Window(start_row, limit), CliProgress(quiet)
    )
    print_summary(summary, quiet)
    sys.exit(summary.exit_code)


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
    help="Do not ask before sending over 1,000 rows to a non-local endpoint, or a file "
    "already imported to this endpoint (a warning is printed instead).",
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
    reading: ReadOptions,
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

    options = make_send_options(**send_kw)
    if skip_unchanged:
        options = replace(options, ledger=ledger)
    endpoint = options.endpoint or load_mapping(mapping_path).endpoint
    if not dry_run:
        warn_endpoint(endpoint, quiet)
    watcher = CliWatcher(endpoint, yes, quiet, ask_repeat=not skip_unchanged)
    result = pipeline.run_files(
        files,
        mapping_path,
        options,
        reading.source,
        watcher,
        out=out,
        window=pipeline.Window(start_row, limit),
        dry_run=dry_run,
        log_file=log_file,
        notify_url=notify_url,
        say=say,
    )
    if result.notify_error:
        click.echo(
            f"leadimport: warning: could not notify {notify_url}: {result.notify_error}", err=True
        )
    if result.error is not None:
        raise result.error
    sys.exit(result.exit_code)


class CliWatcher:
    """The command line's side of a batch: questions before each file, a summary after."""

    def __init__(self, endpoint: str, yes: bool, quiet: bool, ask_repeat: bool) -> None:
        self.endpoint, self.yes, self.quiet, self.ask_repeat = endpoint, yes, quiet, ask_repeat

    def progress(self) -> CliProgress:
        """A progress bar (or log lines) for the next file."""
        return CliProgress(self.quiet)

    def before(self, source: Any, out: Path | None, out_root: Path) -> None:
        """Ask before a repeat import or a large send to another machine."""
        if self.ask_repeat:
            root = out.parent if out is not None else out_root
            confirm_repeat(source.path, self.endpoint, root, self.yes, out)
        confirm_large_send(source, self.endpoint, self.yes)

    def finished(self, summary: Any) -> None:
        """Print the file's summary."""
        print_summary(summary, self.quiet)

    def failed(self, source: Any, error: ImporterError) -> None:
        """Say which file of the batch could not be run, and why."""
        click.echo(f"leadimport: error: {say(error)}", err=True)


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

    settled = pipeline.settled_run(run_dir, token=send_kw.get("lead_token"))
    if settled is not None:  # nothing to send: no token needed, no request
        sys.exit(print_settled(run_dir, settled, quiet))
    options = make_send_options(**send_kw)
    endpoint = pipeline.rerun_endpoint(run_dir, options)  # refuses a host run.json gained
    warn_endpoint(endpoint, quiet)
    progress = _SendingTo(pipeline.endpoint_origin(endpoint), quiet)
    summary = pipeline.rerun(run_dir, options, progress)
    print_summary(summary, quiet)
    sys.exit(summary.exit_code)


class _SendingTo(CliProgress):
    """Progress that first says where the rows go: run.json is a file anyone may edit."""

    def __init__(self, origin: str, quiet: bool) -> None:
        super().__init__(quiet)
        self.origin = origin

    def start(self, phase: str, total: int | None) -> None:
        if phase == "send" and not self.quiet:
            click.echo(f"rerun: sending to {self.origin}", err=True)
        super().start(phase, total)


@main.command()
@click.option(
    "--rows",
    type=click.Path(path_type=Path),
    help="Spreadsheet to import instead of the bundled sample (the exit status is then the "
    "run's, as for `run`).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Run folder (default: output/leads-<timestamp>/).",
)
@verbosity
@handle_errors
def demo(rows: Path | None, out: Path | None, verbose: bool, quiet: bool) -> None:
    """Import the bundled sample into a local sandbox: no configuration, no network.

    Starts the Trackdrive sandbox on a free 127.0.0.1 port (with a little latency and a
    few injected faults, so retries show), imports the bundled sample (300 leads, 11 of
    them broken on purpose) with its mapping, assigns tracking numbers, and prints the
    summary. Exits 0 when every row ended as the demo means it to: the broken rows
    invalid (see failures.csv), every other row stored in the sandbox.
    """
    from importer import pipeline

    def ready(server: Any) -> None:
        if not quiet:
            click.echo(
                f"sandbox listening on {server.url} (latency 5-40 ms, 3% 5xx, 1% dropped)", err=True
            )

    result = pipeline.run_demo(rows, out, CliProgress(quiet), ready)
    print_summary(result.summary, quiet)
    if not quiet:
        click.echo(f"  sandbox:  {result.stored} leads stored")
    for problem in result.problems:
        click.echo(f"leadimport: demo: {problem}", err=True)
    if rows is not None:
        sys.exit(result.summary.exit_code)
    sys.exit(0 if result.ok else 1)
