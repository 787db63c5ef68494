"""Several files in one go, as a nightly job runs them: one lock, one log, one webhook.

Each file gets its own run folder. With one file its error is raised as it is; with several,
a file that cannot be run at all is recorded and the others go on, and the log and the
webhook name it, so a night's batch never fails silently.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from importer.errors import ConfigError, ExitStatus, ImporterError, OutputError
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
    error: ImporterError | None = None  # the batch could not run at all (nothing sent)

    @property
    def exit_code(self) -> int:
        """The worst exit status of the files."""
        codes = [s.exit_code for s in self.summaries] + [e.exit_code for _, e in self.unusable]
        if self.error is not None:
            codes.append(self.error.exit_code)
        return max(codes, default=ExitStatus.OK)


def expand_patterns(patterns: Sequence[str | Path]) -> list[Path]:
    """The files named, each quoted glob ('incoming/*.csv') expanded; ConfigError if none."""
    files: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise ConfigError(f"no file matches '{text}'", value=text)
            files += [Path(m) for m in matches]
        else:
            files.append(Path(text))
    return files


def run_files(
    patterns: Sequence[str | Path],
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

    ``patterns`` are file names or quoted globs. With a ledger in ``options``, its lock is
    held for the whole batch. ``say`` words an error for the log and the webhook the way
    the face words it. A batch that cannot run at all (no file matches, the ledger is
    locked, a lone file is unusable) is logged and told to the webhook too, and comes back
    as ``error`` for the face to report: those are the likeliest nightly failures.
    """
    out_root = DEFAULT_OUTPUT
    summaries: list[Summary] = []
    unusable: list[tuple[Path, ImporterError]] = []
    error: ImporterError | None = None
    several = False
    with log_to_file(log_file):
        try:
            paths = expand_patterns(patterns)
            several = len(paths) > 1
            if several and out is not None:
                out_root, out = out, None
            with _ledger_lock(None if dry_run else options.ledger):
                for path in paths:
                    source = sources(path)
                    try:
                        if dry_run:
                            summary = validate(
                                source, mapping_path, out, window, watcher.progress()
                            )
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
        except ImporterError as exc:
            error = exc
            log.error("%s not imported: %s", _named(patterns), say(exc))
        folders = {Path(s.run_dir).parent for s in summaries}
        if several and len(folders) == 1:  # a page linking each file's report
            try:
                write_index(folders.pop(), [Path(s.run_dir) for s in summaries])
            except ImporterError as exc:
                log.warning("no index.html: %s", say(exc))
        result = BatchResult(tuple(summaries), tuple(unusable), error=error)
        if notify_url and not dry_run:
            failed = [(str(p.absolute()), say(e)) for p, e in unusable]
            if error is not None:
                failed.append((_named(patterns), say(error)))
            result = replace(result, notify_error=tell_webhook(notify_url, summaries, failed))
            if result.notify_error:
                log.warning("could not notify the webhook: %s", result.notify_error)
    return result


def _named(patterns: Sequence[str | Path]) -> str:
    """The files or patterns of a batch, as absolute paths, for a log line or an alert."""
    return ", ".join(os.path.abspath(str(p)) for p in patterns)


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
