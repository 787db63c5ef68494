"""What a person sees: progress, the summary, sheet and schedule listings, warnings, prompts."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from importer.cli._options import fail_with
from importer.errors import printable


def _fixed_size(stream: Any) -> os.terminal_size | None:
    """None when the terminal knows its size; else one to use.

    A terminal that reports 0 x 0 (``docker exec -t``, ``script``, some CI runners) makes
    tqdm draw nothing at all, so the bar gets the usual fallback size (80 x 24) instead.
    """
    try:
        size = os.get_terminal_size(stream.fileno())
        if size.columns > 0 and size.lines > 0:
            return None
    except (OSError, ValueError, AttributeError):
        pass
    return shutil.get_terminal_size()


_UNTIMED = frozenset({"invalid", "skipped"})  # judged here, no request: no part of the speed


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
        self.untimed = 0  # rows counted without a request answered in this run
        self.every_s = float(os.environ.get("LEADIMPORT_PROGRESS_EVERY", "10"))

    def start(self, phase: str, total: int | None) -> None:
        self.phase, self.total = phase, total
        self.counts, self.retries, self.untimed = {}, 0, 0
        self.t0 = self.last_log = time.monotonic()
        if self.quiet or phase != "send":
            return
        if self.tty:
            from tqdm import tqdm

            size = _fixed_size(self.stream)
            self.bar = tqdm(
                total=total,
                unit="row",
                file=self.stream,
                dynamic_ncols=size is None,
                ncols=size.columns if size else None,
                nrows=size.lines if size else None,
                # the figures first: on a narrow terminal the bar is what gets squeezed out
                bar_format="{n_fmt}/{total_fmt} rows{postfix}, {rate_fmt}, ETA {remaining} |{bar}|",
                postfix=self._live(),
            )

    def _live(self) -> str:
        """The counts the bar shows as they change (invalid rows are known beforehand)."""
        c = self.counts
        return (
            f"success {c.get('success', 0)} · failed {c.get('failed', 0)} · retries {self.retries}"
        )

    def _figures(self) -> str:
        c = self.counts
        return (
            f"success {c.get('success', 0)} · failed {c.get('failed', 0)} · "
            f"invalid {c.get('invalid', 0)} · retries {self.retries}"
        )

    def advance(self, status: str, earlier: bool = False) -> None:
        # Rows an earlier run settled, and rows judged without a request (invalid,
        # skipped), count toward the total but not toward the speed or the ETA.
        timed = not earlier and status not in _UNTIMED
        self.counts[status] = self.counts.get(status, 0) + 1
        if not timed:
            self.untimed += 1
        if self.bar is not None:
            if timed:
                self.bar.set_postfix_str(self._live(), refresh=False)
                self.bar.update(1)
            else:  # tqdm's `initial` is what a resumed bar does not time
                self.bar.n += 1
                self.bar.last_print_n += 1
                self.bar.initial += 1
                self.bar.set_postfix_str(self._live(), refresh=False)
        elif not self.quiet and self.phase == "send":
            now = time.monotonic()
            if now - self.last_log >= self.every_s:
                self.last_log = now
                click.echo(self._plain_line(now), err=True)

    def _plain_line(self, now: float) -> str:
        """One progress line for a log: done/total, speed of the answers, ETA, counts."""
        done = sum(self.counts.values())
        rate = (done - self.untimed) / max(now - self.t0, 1e-9)
        of, eta = "", ""
        if self.total:
            total = max(self.total, done)
            of = f"/{total}"
            if rate > 0:
                left = int((total - done) / rate)
                eta = f", ETA {left // 3600:d}:{left % 3600 // 60:02d}:{left % 60:02d}"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        return f"{stamp} progress: {done}{of} rows, {rate:.1f} rows/s{eta}, {self._figures()}"

    def retry(self, status: int | None = None) -> None:
        self.retries += 1

    def note(self, message: str) -> None:
        if not self.quiet:
            click.echo(f"leadimport: {message}", err=True)

    def end(self) -> None:
        if self.bar is not None:
            if self.bar.total and self.bar.n < self.bar.total:
                self.bar.total = self.bar.n  # the total was an estimate (blank rows, sizes)
            self.bar.set_postfix_str(self._live())
            self.bar.close()
            self.bar = None


def print_summary(summary: Any, quiet: bool) -> None:
    """The run's summary; with ``quiet`` only the paths of its results (and failures).

    Every text is escaped (``printable``): a file name or the endpoint's words may hold ESC
    sequences. A top problem may show one offending value, as clean quoted it (cut, escaped).
    """
    from importer.config import DEFAULT_CALLING_HOURS
    from importer.record import FAILURES_FILE, REPORT_FILE, RESULTS_FILE

    run_dir = Path(summary.run_dir)
    counts = summary.counts
    failures = any(counts.get(s) for s in ("failed", "invalid", "not_sent"))
    if quiet:
        click.echo(printable(str(run_dir / RESULTS_FILE)))
        if failures:
            click.echo(printable(str(run_dir / FAILURES_FILE)))
        return
    order = ["success", "valid", "skipped", "failed", "invalid", "not_sent"]
    parts = [f"{s} {counts[s]}" for s in order if counts.get(s)]
    parts += [f"{s} {n}" for s, n in counts.items() if s not in order and n]
    click.echo(printable(f"{summary.command}: {summary.input}"))
    n_blank = summary.blank_rows
    blank = f" ({n_blank} blank row{'' if n_blank == 1 else 's'} skipped)" if n_blank else ""
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
        click.echo(f"  ABORTED:  {printable(summary.aborted)}")
    if summary.interrupted:
        click.echo("  INTERRUPTED: rows not sent are marked not_sent; `leadimport rerun` finishes")
    if summary.top_reasons:
        examples = getattr(summary, "examples", {})
        click.echo("  top problems:")
        for item in summary.top_reasons:
            rows = ", ".join(str(r) for r in item["rows"])
            more = ", …" if item["count"] > len(item["rows"]) else ""
            example = examples.get(item["reason"])
            such = f", e.g. {printable(example)}" if example else ""
            click.echo(
                f"    {item['count']:>6} × {printable(item['reason'])}  (rows {rows}{more}{such})"
            )
    for item in getattr(summary, "skipped_reasons", []):  # by design: not a problem
        click.echo(f"  skipped:  {item['count']} × {printable(item['reason'])}")
    unguarded = getattr(summary, "unguarded", [])
    if unguarded:  # issue 13: calling a consumer at 4 a.m. their time must not go unsaid
        click.echo(
            f"  no guard: {' and '.join(unguarded)} sent as written, at any hour of the lead's "
            "day (no calling_hours in the mapping; add e.g. calling_hours: "
            f'"{DEFAULT_CALLING_HOURS}")'
        )
    warned = getattr(summary, "warnings", {})
    if warned:  # values changed in a way a person might not expect: said, never silent
        kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in warned.items())
        rows = summary.warned_rows
        click.echo(
            f"  warnings: {summary.warnings_total} on {rows} row{'' if rows == 1 else 's'} "
            f"({kinds}): see the warnings column of results.csv"
        )
    click.echo(f"  results:  {printable(str(run_dir / RESULTS_FILE))}")
    if failures:
        click.echo(f"  failures: {printable(str(run_dir / FAILURES_FILE))}")
    if (run_dir / REPORT_FILE).is_file():
        click.echo(f"  report:   {printable(str(run_dir / REPORT_FILE))}")
    if counts.get("failed") or counts.get("not_sent"):
        _print_retry(summary, run_dir)


def _print_retry(summary: Any, run_dir: Path) -> None:
    """The next step that works: after a rejected token, say where the right one goes."""
    from importer.pipeline import rejected_literal_mapping

    here = printable(str(run_dir))
    if summary.aborted and "rejected the lead token" in summary.aborted:
        literal_in = rejected_literal_mapping(run_dir)
        if literal_in is not None:
            click.echo(
                f"  fix:      correct lead_token in {printable(literal_in)}, then start a new "
                f"run: leadimport run {printable(summary.input)} -m {printable(literal_in)}"
            )
            return
        click.echo(
            f"  retry:    leadimport rerun {here} --lead-token TOKEN "
            "(or export TRACKDRIVE_LEAD_TOKEN) with the corrected token"
        )
        return
    click.echo(f"  retry:    leadimport rerun {here}")


def print_sheets(file: Path, fmt: str | None) -> None:
    from importer.read import list_sheets

    for name in list_sheets(file, fmt=fmt):
        click.echo(name)


def warn_endpoint(endpoint: str, quiet: bool) -> None:
    from urllib.parse import urlparse

    from importer.send import is_loopback

    if urlparse(endpoint).scheme == "http" and not is_loopback(endpoint):
        click.echo(
            f"leadimport: warning: {urlparse(endpoint).hostname} is reached over plain http: "
            "the lead token and the leads travel unencrypted; use https",
            err=True,
        )


def _host(endpoint: str) -> str:
    """The host part of an endpoint URL, to name it in a question."""
    return endpoint.split("/")[2] if "//" in endpoint else endpoint


def confirm_large_send(source: Any, endpoint: str, yes: bool) -> None:
    from importer.pipeline import estimate_rows
    from importer.send import is_loopback

    if yes or is_loopback(endpoint):
        return
    rows = estimate_rows(source)
    if rows is not None and rows <= 1000:
        return
    host = _host(endpoint)
    about = f"about {rows} rows" if rows is not None else "all rows of this workbook"
    if not sys.stdin.isatty():  # nobody to ask (cron): say it, and go on
        click.echo(
            f"leadimport: warning: sending {about} to {printable(host)} without asking "
            "(no terminal; --yes silences this)",
            err=True,
        )
        return
    if not click.confirm(f"Send {about} to {host}?", default=False, err=True):
        fail_with("not confirmed; nothing was sent (pass --yes to skip this question)", 2)


def confirm_repeat(
    path: Path, endpoint: str, root: Path, yes: bool, out: Path | None = None
) -> None:
    """Ask before sending a file that was already imported to this endpoint (warn if we can't).

    Sending it again updates the same leads with the same data: harmless for Trackdrive,
    but usually a mistake (the 4 p.m. upload done twice), and it spends the rate limit.
    """
    from importer.pipeline import earlier_imports

    earlier = earlier_imports(root, path, endpoint)
    if out is not None:  # the run's own folder: going on with it is not a repeat
        earlier = [e for e in earlier if e.run_dir.resolve() != out.resolve()]
    if not earlier:
        return
    last = earlier[0]
    host = _host(endpoint)
    times = f"{len(earlier)} times" if len(earlier) > 1 else "once"
    what = (
        f"{path} was already imported to {host} {times}, last by {last.run_dir} "
        f"({last.succeeded} rows succeeded, finished {last.finished_at})"
    )
    if yes or not sys.stdin.isatty():
        click.echo(
            f"leadimport: warning: {what}; sending it again "
            "(--skip-unchanged sends only the rows that changed)",
            err=True,
        )
        return
    if not click.confirm(f"{what}. Send it again?", default=False, err=True):
        fail_with(
            "not confirmed; nothing was sent (--skip-unchanged sends only the rows that "
            "changed; --yes sends without asking)",
            2,
        )


def print_schedule(results: Path, most: int = 40) -> None:
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
                printable(
                    f"{rec['row']:>6}  {rec['caller_id']:<16} {when:<26} "
                    f"{rec['note'] or rec['error']}"
                )
            )


def print_settled(run_dir: Path, settled: Any, quiet: bool) -> int:
    """Say that a rerun has nothing to send, and what became of the invalid rows; the exit.

    0 when every row succeeded, here or in an import of the fixed failures file; 1 while
    rows remain invalid (they need fixing, not a rerun).
    """
    from importer.record import FAILURES_FILE

    folder = printable(str(run_dir))
    if not quiet:
        click.echo(f"rerun: nothing left to send in {folder}")
        if settled.fixed:
            where = sorted({printable(str(f.run_dir)) for f in settled.fixed})
            click.echo(
                f"  fixed:    {len(settled.fixed)} invalid row"
                f"{'' if len(settled.fixed) == 1 else 's'} sent since by {', '.join(where)}"
            )
    if not settled.invalid:
        return 0
    rows = ", ".join(str(f.row) for f in settled.invalid[:10])
    more = ", …" if len(settled.invalid) > 10 else ""
    click.echo(
        f"  invalid:  {len(settled.invalid)} row{'' if len(settled.invalid) == 1 else 's'} "
        f"({rows}{more}): fix them in {folder}/{FAILURES_FILE} (or failures.xlsx) and "
        "import that file with the same mapping; a rerun does not send invalid rows",
        err=quiet,
    )
    return 1
