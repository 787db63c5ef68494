"""What a run reads and how its rows become requests: ``Source``, ``Window`` and ``Job``.

A ``Job`` names the input, the rows taken from it and the builder that turns each chunk of
spreadsheet rows into validated rows with their bodies: ``import_job`` maps columns with the
mapping file, ``reschedule_job`` builds reschedule bodies. ``built_chunks`` streams every chunk
with the duplicates rule applied; the pipeline sends from it and the report reads it again.
A front end watches a job through a ``Progress``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa

from importer.clean import DuplicateTracker, RescheduleBuilder, RescheduleSpec, bind, build_rows
from importer.config import Duplicates, MappingConfig, closest_header
from importer.errors import ConfigError, Setting, mention
from importer.pipeline._ahead import ahead
from importer.read import Chunk, Table, find_column, last_row, open_table
from importer.suggest import suggest_mapping

CHUNK_ROWS = 16_000  # a chunk is read, one built and one written at once: peak RSS under 300 MB
# The first chunk `run` sends is smaller: nothing is sent before it is built, and the next
# ones are built while it is sent.
FIRST_CHUNK_ROWS = 2_000


class Progress(Protocol):
    """What a front end implements to watch a run."""

    def start(self, phase: str, total: int | None) -> None: ...
    def advance(self, status: str, earlier: bool = False) -> None: ...
    # status: the HTTP status of the answer retried (429: throttled); None: no answer
    def retry(self, status: int | None = None) -> None: ...
    def note(self, message: str) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    """A Progress that shows nothing."""

    def start(self, phase: str, total: int | None) -> None:
        """Ignore."""

    def advance(self, status: str, earlier: bool = False) -> None:
        """Ignore."""

    def retry(self, status: int | None = None) -> None:
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


def estimate_rows(source: Source, window: Window | None = None) -> int | None:
    """A quick estimate of the data rows a run takes, for progress bars and questions.

    Text files: their line count; workbooks: the sheet's recorded size. The window's start
    row and limit are applied, so a limit of 50 rows of a 20,000-row file is 50.
    """
    rows = _count_rows(source)
    if window is not None:
        if rows is not None and window.start_row is not None:
            rows = max(rows - max(window.start_row - 2, 0), 0)  # data starts on row 2
        if window.limit is not None:
            rows = window.limit if rows is None else min(rows, window.limit)
    return rows


def _count_rows(source: Source) -> int | None:
    suffix = source.path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        last = last_row(source.path, source.sheet)  # an estimate only: None if unreadable
        return max(last - 1, 0) if last is not None else None
    if suffix not in (".csv", ".tsv", ".txt"):
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
    # What a pass that needs only each row's status and key builds (no bodies); None: the
    # same as make_builder.
    make_key_builder: Callable[[Table], Builder] | None = None
    # The table check_job opened, left for the first pass to read (a Table is read once):
    # opening samples the file to decide its encoding and layout, ~25 ms not spent twice.
    opened: list[Table] = field(default_factory=list, init=False, compare=False, repr=False)

    def open(self) -> Table:
        """The source, opened: the table check_job opened if it is still unread."""
        return self.opened.pop() if self.opened else self.source.open()


def import_job(
    command: str, source: Source, mapping: MappingConfig, token: str | None, window: Window
) -> Job:
    """A job that maps columns to a Trackdrive body with the mapping file."""

    def make_builder(table: Table, bodies: bool = True) -> Builder:
        plan = bind(mapping, table, token)
        return lambda chunk: build_rows(chunk, plan, bodies=bodies)

    # Which fallback column gave a value is said in a trailing results column, "note".
    fallbacks = any(s.fallbacks for s in (*mapping.fields, *mapping.data))
    extra = ("note",) if fallbacks else ()
    keys_only = functools.partial(make_builder, bodies=False)
    return Job(
        command, source, mapping, token, window, make_builder, mapping.duplicates, extra, keys_only
    )


def _windowed(table: Table, window: Window, first: int = CHUNK_ROWS) -> Iterator[Chunk]:
    taken = 0
    for chunk in table.chunks(CHUNK_ROWS, first=first):
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


def built_chunks(job: Job, first: int = CHUNK_ROWS) -> Iterator[tuple[Table, Chunk, pd.DataFrame]]:
    """Every chunk of the input with its validated rows, duplicates rule applied.

    ``first``: the first chunk's size (``FIRST_CHUNK_ROWS`` for the rows `run` sends).
    """
    tracker = DuplicateTracker(job.duplicates)
    if job.duplicates is Duplicates.LAST:
        table = job.open()
        build = (job.make_key_builder or job.make_builder)(table)  # no bodies: only keys
        for chunk in ahead(_windowed(table, job.window), "leadimport-read"):
            tracker.note_last(build(chunk))
        tracker.number_keys()
        pa.default_memory_pool().release_unused()  # the pre-pass's buffers, before pass 2
    table = job.open()
    build = job.make_builder(table)
    pool = pa.default_memory_pool()
    # The file is read (and split into chunks) a chunk ahead, in a thread of its own.
    for chunk in ahead(_windowed(table, job.window, first), "leadimport-read"):
        yield table, chunk, tracker.apply(build(chunk))
        # Hand the chunk's freed buffers back to the system before the next one is built:
        # without it the allocator keeps them, and peak RSS grows by about 20-40 MB.
        pool.release_unused()


def check_job(job: Job) -> None:
    """Open the input and bind the job to it: config and input errors surface here."""
    table = job.source.open()
    job.make_builder(table)
    job.opened[:] = [table]


class FirstPass:
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
    table = source.open()
    # A results.csv of an earlier run names its phones caller_id, whatever the mapping's
    # column was called in the original spreadsheet.
    is_results = (
        find_column(table, "caller_id") is not None and find_column(table, "status") is not None
    )
    if mapping is not None:
        spec = mapping.field("caller_id")
        if spec is not None and spec.column is not None:
            if is_results and find_column(table, spec.column) is None:
                return "caller_id"
            return spec.column
    if is_results:
        return "caller_id"
    guess = suggest_mapping(table, mapping.region if mapping else "US").caller_id
    if guess is None:
        raise ConfigError(
            f"{source.path}: no column looks like phone numbers; "
            f"name it with {mention(Setting.CALLER_ID_COLUMN)}"
        )
    return guess
