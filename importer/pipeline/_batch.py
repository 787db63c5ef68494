"""Several files in one go, as a nightly job runs them: one lock, one log, one webhook.

Each file gets its own run folder. With one file its error is raised as it is; with several,
a file that cannot be run at all is recorded and the others go on, and the log and the
webhook name it, so a night's batch never fails silently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from importer.errors import ExitStatus, ImporterError, OutputError
from importer.pipeline._flows import SendOptions, run, validate
from importer.pipeline._jobs import Progress, Source, Window
from importer.pipeline._runfolder import log, log_file_handler, logging_to
from importer.record import LedgerLock, Summary, notify, write_index

DEFAULT_OUTPUT = Path("output")


class BatchWatcher(Protocol):
    """What a face implements to drive a batch and watch it, file by file."""

    def progress(self) -> Progress:
        """A progress display for the next file."""
        ...

    def before(self, source: Source, out: Path | None, out_root: Path) -> None:
        """Called before a file is sent; raise ImporterError to stop (not confirmed)."""
        ...

    def finished(self, summary: Summary) -> None:
        """A file's run ended (whatever its rows came to)."""
        ...

    def failed(self, source: Source, error: ImporterError) -> None:
        """A file of several could not be run at all; the others go on."""
        ...


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch came to: a summary per file run, and the files that could not be."""

    summaries: tuple[Summary, ...]
    unusable: tuple[tuple[Path, ImporterError], ...]
    notify_error: str | None = None  # the webhook could not be told (the batch stands)

    @property
    def exit_code(self) -> int:
        """The worst exit status of the files."""
        codes = [s.exit_code for s in self.summaries] + [e.exit_code for _, e in self.unusable]
        return max(codes, default=ExitStatus.OK)


def run_files(
    paths: Sequence[Path],
    mapping_path: Path,
    options: SendOptions,
    sources: Callable[[Path], Source],
    watcher: BatchWatcher,
    *,
    out: Path | None = None,
    window: Window = Window(),
    dry_run: bool = False,
    log_file: Path | None = None,
    notify_url: str | None = None,
    say: Callable[[ImporterError], str] = str,
) -> BatchResult:
    """Validate (``dry_run``) or run each file; ``out`` holds their folders when several.

    With a ledger in ``options``, its lock is held for the whole batch. ``say`` words an
    error for the log and the webhook the way the face words it.
    """
    out_root = DEFAULT_OUTPUT
    if len(paths) > 1 and out is not None:
        out_root, out = out, None
    summaries: list[Summary] = []
    unusable: list[tuple[Path, ImporterError]] = []
    with _ledger_lock(None if dry_run else options.ledger), log_to_file(log_file):
        for path in paths:
            source = sources(path)
            try:
                if dry_run:
                    summary = validate(source, mapping_path, out, window, watcher.progress())
                else:
                    watcher.before(source, out, out_root)
                    summary = run(
                        source,
                        mapping_path,
                        options,
                        out,
                        window,
                        watcher.progress(),
                        out_root=out_root,
                    )
            except ImporterError as exc:
                if len(paths) == 1:
                    raise
                log.error("%s not imported: %s", path, say(exc))
                unusable.append((path, exc))
                watcher.failed(source, exc)
                continue
            summaries.append(summary)
            watcher.finished(summary)
            if summary.interrupted:
                break
    folders = {Path(s.run_dir).parent for s in summaries}
    if len(paths) > 1 and len(folders) == 1:  # a page linking each file's report
        try:
            write_index(folders.pop(), [Path(s.run_dir) for s in summaries])
        except ImporterError as exc:
            log.warning("no index.html: %s", say(exc))
    result = BatchResult(tuple(summaries), tuple(unusable))
    if notify_url and not dry_run:
        failed = [(str(p), say(e)) for p, e in unusable]
        result = replace(result, notify_error=tell_webhook(notify_url, summaries, failed))
    return result


def tell_webhook(
    url: str, summaries: Sequence[Summary], unusable: Sequence[tuple[str, str]] = ()
) -> str | None:
    """POST what the runs came to; the reason when the webhook could not be told, else None."""
    if not (summaries or unusable):
        return None
    try:
        notify(url, list(summaries), unusable=list(unusable))
    except OSError as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def _ledger_lock(ledger: Path | None) -> Iterator[None]:
    if ledger is None:
        yield
        return
    lock = LedgerLock(ledger)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def log_to_file(path: Path | None) -> Iterator[None]:
    """Append the batch's log lines to ``path`` too."""
    if path is None:
        yield
        return
    try:
        handler = log_file_handler(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the log file ({exc.strerror})") from None
    with logging_to(handler):
        yield
