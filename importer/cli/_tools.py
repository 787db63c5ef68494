"""The commands around an import: reschedule, mapping init, and the sandbox server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from importer.cli._commands import main
from importer.cli._console import (
    CliProgress,
    confirm_large_send,
    print_schedule,
    print_summary,
    warn_endpoint,
)
from importer.cli._options import (
    ReadOptions,
    fail_with,
    handle_errors,
    input_options,
    make_send_options,
    send_options,
    verbosity,
    window_options,
)


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
    "spanning zones, the westernmost); numbers with no zone use --timezone or the mapping's.",
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
    "--timezone",
    help="Time zone for an --at written without an offset, and for numbers with no zone of "
    "their own (default: the mapping's timezone; one of them is needed).",
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
    reading: ReadOptions,
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
    from importer import pipeline

    source = reading.source(file)
    request = pipeline.RescheduleRequest(
        at=at_text,
        delay=in_text,
        local_time=local_time,
        calling_hours=calling_hours,
        update_all_matching=update_all_matching,
        caller_id_column=caller_id_column,
        region=region,
        timezone=timezone,
    )
    mapping, spec = pipeline.plan_reschedule(source, mapping_path, request)
    options = make_send_options(**send_kw)
    window = pipeline.Window(start_row, limit)
    if not dry_run:
        endpoint = options.endpoint or mapping.endpoint
        warn_endpoint(endpoint, quiet)
        confirm_large_send(source, endpoint, yes)
    with pipeline.log_to_file(log_file):
        summary = pipeline.reschedule(
            source, mapping, spec, options, out, window, CliProgress(quiet), dry_run=dry_run
        )
    if dry_run and not quiet:
        print_schedule(Path(summary.run_dir) / "results.csv")
    print_summary(summary, quiet)
    if not dry_run:
        problem = pipeline.tell_webhook(notify_url, [summary]) if notify_url else None
        if problem:
            click.echo(f"leadimport: warning: could not notify {notify_url}: {problem}", err=True)
    sys.exit(summary.exit_code)


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
    reading: ReadOptions,
    verbose: bool,
    quiet: bool,
) -> None:
    """Suggest a commented mapping for FILE from its headers and a sample of its values."""
    from importer.suggest import render_mapping, suggest_mapping

    table = reading.source(file).open()
    text = render_mapping(
        suggest_mapping(table, region.upper(), timezone), file.name, region.upper(), timezone
    )
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        fail_with(f"{output} exists; pass --force to overwrite it", 2)
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
    "--throttle-first",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="Answer the first N requests of each token 429 with Retry-After: 1, whatever the rate.",
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
    throttle_first: int,
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
        throttle_first=throttle_first,
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


# --- report command (owned by the report work) ---
@main.command("report")
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path))
@verbosity
@handle_errors
def report_command(run_dir: Path, verbose: bool, quiet: bool) -> None:
    """Rebuild DIR/report.html from the run folder's own files and print its path.

    The page shows the outcome, what to fix, what the endpoint did over time (requests/s,
    latency, retries, 429s and 5xx), the HTTP statuses and the numbers assigned. It is one
    self-contained file: it loads nothing from the network and prints.
    """
    from importer.record import write_report

    path = write_report(run_dir)
    if not quiet:
        click.echo(str(path))


# --- end report command ---


# --- runs command (owned by the history work) ---
_AGE_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _age(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    """Parse ``30d``, ``12h``, ``2w`` or ``90m`` into a timedelta."""
    from datetime import timedelta

    text = value.strip().lower()
    unit = _AGE_UNITS.get(text[-1:])
    if unit is None or not text[:-1].isdigit():
        raise click.BadParameter(f"{value!r} is not an age such as 30d, 12h, 2w or 90m")
    return timedelta(seconds=int(text[:-1]) * unit)


def _output_root(function: Any) -> Any:
    return click.option(
        "--output",
        "root",
        type=click.Path(path_type=Path, file_okay=False),
        help="The output folder the run folders are in (default: output).",
    )(function)


def _when(stamp: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp or "?"


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.0f} kB"


@main.group("runs", invoke_without_command=True)
@_output_root
@click.option("--json", "as_json", is_flag=True, help="One JSON array, newest first.")
@click.pass_context
@handle_errors
def runs_command(ctx: click.Context, root: Path | None, as_json: bool) -> None:
    """List past runs in the output folder, newest first.

    Each: when it finished, what ran (the run, and the command that last wrote it, e.g.
    rerun), the file, the endpoint's host, whether rows were sent or only checked, the
    counts, the exit status, and the rows a `leadimport rerun` would still send. A send
    that was stopped or killed before it wrote its summary is listed as interrupted (its
    counts are its journal's), and one another process is sending now as running.
    """
    import json

    from importer.errors import printable
    from importer.pipeline import DEFAULT_OUTPUT, past_runs

    if ctx.invoked_subcommand is not None:
        return
    root = root or DEFAULT_OUTPUT
    found = past_runs(root, unfinished=True)
    if as_json:
        click.echo(json.dumps([run.to_dict() for run in found], indent=2))
        return
    if not found:
        click.echo(f"no runs in {printable(str(root))}")
        return
    for run in found:
        by = f" (last by {run.command})" if run.command != run.kind else ""
        what = "sent to" if run.sent else "checked for"
        counts = " · ".join(f"{s} {n}" for s, n in run.counts.items() if n) or "no rows"
        click.echo(
            printable(
                f"{_when(run.finished_at)}  {run.kind}{by}: {Path(run.input).name}, "
                f"{what} {run.host}, exit {run.exit_code}"
                + ("" if run.status == "done" else f", {run.status}")
            )
        )
        click.echo(f"    {counts}")
        if run.status == "interrupted":
            click.echo(printable(f"    the rest not sent: leadimport rerun {run.run_dir}"))
        elif run.pending:
            click.echo(
                printable(f"    rerun pending: {run.pending} rows: leadimport rerun {run.run_dir}")
            )
        click.echo(printable(f"    {run.run_dir}"))


@runs_command.command("prune")
@_output_root
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE",
    callback=_age,
    help="Delete run folders that finished longer ago than this: 30d, 12h, 2w, 90m.",
)
@handle_errors
def runs_prune(root: Path | None, older_than: Any) -> None:
    """Delete old run folders; keep the ledger and every run with rows still to send."""
    from importer.errors import printable
    from importer.pipeline import DEFAULT_OUTPUT, prune_runs

    pruned = prune_runs(root or DEFAULT_OUTPUT, older_than)
    click.echo(
        f"removed {len(pruned.removed)} run folder{'' if len(pruned.removed) == 1 else 's'}, "
        f"freed {_size(pruned.freed_bytes)}"
    )
    for run in pruned.kept_pending:
        click.echo(
            printable(
                f"kept {run.run_dir}: {run.pending} rows still to send "
                f"(leadimport rerun {run.run_dir})"
            )
        )


@runs_command.command("rows")
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--output",
    "root",
    type=click.Path(path_type=Path, file_okay=False),
    help="The output folder to look for re-imports in (default: DIR's own).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array, in row order.")
@handle_errors
def runs_rows(run_dir: Path, root: Path | None, as_json: bool) -> None:
    """Where each row that did not succeed in DIR finally ended.

    Follows the imports of DIR's fixed failures file (failures.csv or failures.xlsx), and
    of theirs in turn: each row of DIR's spreadsheet with its last status and the run
    folder (and that file's row) that gave it. Exits 1 while any row has not succeeded.
    """
    import json

    from importer.errors import printable
    from importer.pipeline import row_fates

    fates = row_fates(run_dir, root)
    if as_json:
        click.echo(json.dumps([fate.to_dict() for fate in fates], indent=2))
    elif not fates:
        click.echo(printable(f"{run_dir}: every row succeeded"))
    for fate in [] if as_json else fates:
        where = "here" if fate.run_dir == run_dir else f"in {fate.run_dir} (row {fate.row_there})"
        click.echo(printable(f"row {fate.row}: {fate.status} {where}"))
    sys.exit(1 if any(f.status != "success" for f in fates) else 0)


# --- end runs command ---


# --- mapping check (owned by the history work) ---
@mapping.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "-m",
    "--mapping",
    "mapping_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The mapping file to check against FILE.",
)
@input_options
@verbosity
@handle_errors
def mapping_check(
    file: Path, mapping_path: Path, reading: ReadOptions, verbose: bool, quiet: bool
) -> None:
    """Report which columns of FILE the mapping matched, which it misses, which it leaves unused.

    Reads the file's headers and the mapping; validates no row and sends nothing. Exits
    2 when a mapped column is missing (a run would stop there), else 0.
    """
    from importer.errors import printable
    from importer.pipeline import check_mapping

    found = check_mapping(reading.source(file), mapping_path)
    for match in found.matched:
        if not quiet:
            click.echo(printable(f"matched:  {match.key} <- '{match.header}'"))
    for match in found.missing:
        click.echo(printable(f"missing:  {match.key}: no column '{match.column}'{match.hint}"))
    if found.unused and not quiet:
        fate = "sent as data (include_unmapped_columns)" if found.include_unmapped else "not sent"
        shown = ", ".join(f"'{h}'" for h in found.unused)
        click.echo(printable(f"unused:   {shown} ({fate})"))
    sys.exit(2 if found.missing else 0)


# --- end mapping check ---


@main.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output"),
    show_default=True,
    help="Where uploads and run folders go.",
)
@click.option(
    "--mappings",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("mappings"),
    show_default=True,
    help="Saved mappings: one whose columns match an upload is picked.",
)
@click.option(
    "--sandbox", is_flag=True, help="Also start the local sandbox and send to it (no token)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDRESS",
    help="The address to listen on: 0.0.0.0 for every address of this machine. Any address "
    "but loopback (127.0.0.1, ::1) needs an access token (see --access-token).",
)
@click.option(
    "--access-token",
    envvar="LEADIMPORT_ACCESS_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="The token every request must bring (once in the URL as ?access=TOKEN, then in a "
    "cookie). Without it, a server on a non-loopback --host makes one and prints the URL to "
    "open; one on loopback asks for none.",
)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(min=1),
    default=None,
    metavar="MB",
    help="The largest spreadsheet the page takes, in MB; a larger upload is refused with a "
    "message (default: the page's own limit, which its upload form names).",
)
@handle_errors
def serve_command(
    port: int,
    out: Path,
    mappings: Path,
    sandbox: bool,
    host: str,
    access_token: str | None,
    max_upload_mb: int | None,
) -> None:
    """Open the import in a browser: upload, map, check, send, watch, results, past runs.

    Serves on 127.0.0.1 unless --host says otherwise. Ctrl-C stops the server; a send in
    progress stops as `leadimport run` does on Ctrl-C (requests in flight finish), and its
    page offers to send the rest once the server is back.
    """
    import socket

    from aiohttp import web

    from importer.errors import ExitStatus, printable
    from importer.web import ACCESS_PARAM, access_token_for, create_app, is_wildcard

    token = access_token_for(host, access_token)
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:  # bound here, so that the URL printed names the port really bound (--port 0)
        sock = socket.create_server((address, port), family=family)
    except (OSError, OverflowError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        fail_with(
            printable(
                f"cannot listen on {host} port {port} ({why}); choose another --port or --host"
            ),
            ExitStatus.UNUSABLE,
        )
    bound = sock.getsockname()[1]
    names = [socket.gethostname(), "127.0.0.1"] if is_wildcard(address) else [address]
    urls = [f"http://{f'[{n}]' if ':' in n else n}:{bound}/" for n in names]
    limits = {} if max_upload_mb is None else {"max_upload_bytes": max_upload_mb * 1024 * 1024}
    app = create_app(out=out, mappings=mappings, sandbox=sandbox, access_token=token, **limits)
    if token is None:
        click.echo(f"leadimport: open {urls[0]} (Ctrl-C stops)", err=True)
    elif access_token:  # the person's own token: not repeated into a log
        shown = " or ".join(f"{u}?{ACCESS_PARAM}=TOKEN" for u in urls)
        click.echo(f"leadimport: open {shown} with your access token (Ctrl-C stops)", err=True)
    else:
        click.echo("leadimport: open this address (it holds the access token):", err=True)
        for url in urls:
            click.echo(f"    {url}?{ACCESS_PARAM}={token}", err=True)
        click.echo("(Ctrl-C stops)", err=True)
    web.run_app(app, sock=sock, print=None)
