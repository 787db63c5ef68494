"""The run folder's durable memory: ``run.json`` (what was run) and ``journal.jsonl``.

The journal is an append-only file of JSON lines, one per event, flushed to the operating
system as each outcome is recorded, so a run killed with ``kill -9`` loses nothing it
recorded; an ``fsync`` at most every second bounds what a power loss can take. While the
sender's event loop runs (``flush_each_turn``), the events of one turn of the loop are
written together, first thing in its next turn, before any further answer is read: one
system call for the dozen answers a turn handles, not one each, and the lines formatted
in one go rather than between requests (the sender's hot path). A kill between the two
finds those rows' ``start`` on disk, as it does for every request still in flight: the
results say they may have reached Trackdrive, and rerun sends them again. The events of a
turn share one time stamp, taken when its first one is recorded (a turn lasts a few
milliseconds; reading the clock and writing its digits once per event cost more). A torn
last line (power loss mid-write) is ignored on reading. SQLite would also do, but a flushed
append costs a few microseconds where a commit costs tens, and the sender records two
events per request on its hot path.

Events:
    {"e": "run", "n": 1, "t": …, "command": "run", "rate": 10, "endpoint": "https://…"}
                                                              a run or rerun started
    {"e": "start", "row": 7, "attempt": 1, "t": …}            a request is about to be sent
    {"e": "retry", "row": 7, "attempt": 1, "http_status": 503, "ms": 12.5, …}
                                                              an attempt failed; retried
    {"e": "done", "row": 7, "status": "success", "ms": 8.1, …}  the row's outcome

``ms`` is the latency of the attempt that ends there (from its ``start``), ``http_status``
of a retry is absent when no answer came (timeout, dropped connection). Both were added
for the run report; a reader that does not know them ignores them (``state`` keeps only
the ``Outcome`` fields), and journals written before them simply lack them. So does the run
event's ``endpoint`` (where that run's requests went, recorded before its first request):
``rerun`` checks ``run.json`` against it, and a journal without it checks nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import orjson

from importer.errors import AbortError, ConfigError, LockError, OutputError
from importer.record._outcomes import (
    OUTCOME_FIELDS,
    Irregular,
    Outcome,
    Outcomes,
    load_line,
    outcomes_kept,
    outcomes_of,
    read_outcomes,
)

RUN_FILE = "run.json"
JOURNAL_FILE = "journal.jsonl"
_FSYNC_EVERY_S = 1.0


class Journal:
    """Append events to ``journal.jsonl`` in a run folder and read them back."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL_FILE
        self._file: BinaryIO | None = None
        self._last_sync = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        # Events of this turn of the loop, to write at the next: (_START, row, attempt),
        # (_DONE, done's arguments…) or (_EVENT, event) for any other, in their order.
        self._pending: list[tuple[Any, ...]] = []
        self._turn_t = 0.0  # when the first of them was recorded: the time stamp of them all
        self._failed_at_turn: AbortError | None = None  # raised by the next call
        # What this process recorded, when the journal held no outcome before it (a new
        # run): each row's latest ``done`` arguments and the rows started since. ``outcomes``
        # then needs no second read of the file; None once there is too much to keep.
        self._kept: dict[int, tuple[Any, ...]] | None = None
        self._kept_starts: set[int] = set()

    def open(self, command: str, **facts: Any) -> None:
        """Open for appending and record that a run (or rerun) starts, with ``facts``.

        ``facts`` (e.g. the rate limit in force) go into the run event for the report.
        """
        try:
            # Bytes: orjson gives bytes, and a text layer would decode and encode every line.
            self._file = self.path.open("ab")
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write the journal ({exc.strerror})") from None
        runs, fresh = 0, True
        for event in self.events():
            if event.get("e") == "run":
                runs += 1
            else:
                fresh = False
        self._kept = {} if fresh else None
        self._kept_starts = set()
        # A line torn by a crash or a full disk would swallow this run's first event.
        prefix = b"\n" if self._torn() else b""
        event = {"e": "run", "n": runs + 1, "command": command, **facts}
        self._write(event, prefix=prefix)
        self.sync()

    def _torn(self) -> bool:
        try:
            with self.path.open("rb") as fh:
                if fh.seek(0, os.SEEK_END) == 0:
                    return False
                fh.seek(-1, os.SEEK_END)
                return fh.read(1) != b"\n"
        except OSError:
            return False

    def close(self) -> None:
        """Flush, fsync and close."""
        self._loop = None
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None

    def flush_each_turn(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Write events once per turn of ``loop`` (None: each at once, as by default).

        Called from inside the running loop; undone (which writes what waits) before the
        loop closes.
        """
        if loop is None:
            self._write_pending()
        self._loop = loop

    def _queue(self, item: tuple[Any, ...]) -> None:
        """Keep an event for the next turn of the loop (its first one schedules the write)."""
        if self._failed_at_turn is not None:  # tested here: twice a row, a call costs
            self._raise_failed_turn()
        if self._file is None:
            raise AssertionError("journal not open")
        pending = self._pending
        pending.append(item)
        if len(pending) == 1:
            self._turn_t = time.time()
            assert self._loop is not None
            self._loop.call_soon(self._flush_turn)
        elif len(pending) >= _MAX_PENDING:  # a stop reports every row left in one turn
            self._write_pending()

    def _flush_turn(self) -> None:
        try:
            self._write_pending()
        except AbortError as error:  # a loop callback cannot stop the sender: the next
            self._failed_at_turn = error  # event recorded (or closing) raises it

    def _raise_failed_turn(self) -> None:
        error, self._failed_at_turn = self._failed_at_turn, None
        if error is not None:
            raise error

    def _write_pending(self) -> None:
        """Format and write the events waiting for this turn, then flush them."""
        pending, self._pending = self._pending, []
        file = self._file
        if not pending or file is None:
            return
        t = round(self._turn_t, 3)
        start_line = _START_LINE % (b"%a" % t)  # the turn's time written once, as orjson would
        lines = []
        for item in pending:
            kind = item[0]
            if kind is _START:
                lines.append(start_line % (item[1], item[2]))
                continue
            event = _done_event(*item[1]) if kind is _DONE else item[1]
            event["t"] = t
            lines.append(_dumps(event) + b"\n")
        try:
            file.write(b"".join(lines))
            file.flush()
        except OSError as exc:
            self._failed(exc)
        if time.monotonic() - self._last_sync >= _FSYNC_EVERY_S:
            self.sync()

    def _write(self, event: dict[str, Any], *, flush: bool = True, prefix: bytes = b"") -> None:
        if self._loop is not None and not prefix:
            self._queue((_EVENT, event))  # its time stamp is the turn's
            return
        file = self._file
        assert file is not None, "journal not open"
        event["t"] = _now()
        try:
            file.write(prefix + _dumps(event) + b"\n")
            if flush:
                file.flush()
        except OSError as exc:
            self._failed(exc)
        if time.monotonic() - self._last_sync >= _FSYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        """Force what was written to disk."""
        self._raise_failed_turn()
        if self._file is not None:
            if self._pending:
                self._write_pending()
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                self._failed(exc)
            self._last_sync = time.monotonic()

    def _failed(self, exc: OSError) -> NoReturn:
        """Stop the run: an outcome that cannot be recorded must not be followed by more."""
        file, self._file = self._file, None
        self._kept = None  # the file, not memory, says what was recorded
        if file is not None:
            with contextlib.suppress(OSError):  # closing retries the failed write; it fails
                file.close()
        raise AbortError(
            f"{self.path}: cannot record what was sent ({exc.strerror}); sending stopped. "
            f"Free some space, then `leadimport rerun {self.path.parent}` finishes the run"
        ) from None

    def started(self, row: int, attempt: int) -> None:
        """Record that an attempt for ``row`` is about to go out.

        Not flushed on its own (the next outcome flushes it): a start lost in a crash only
        turns "in flight" into "not sent", and both are sent again by rerun.
        """
        if self._kept is not None:
            self._kept_starts.add(row)
        if self._loop is not None:  # the sender's hot path: a tuple now, the line later
            self._queue((_START, row, attempt))
        else:
            self._write({"e": "start", "row": row, "attempt": attempt}, flush=False)

    def retried(
        self, row: int, attempt: int, http_status: int | None, ms: float | None, delay_s: float
    ) -> None:
        """Record that attempt ``attempt`` of ``row`` failed and will be retried.

        Not flushed on its own, like a start: it only feeds the report's charts.
        """
        event: dict[str, Any] = {"e": "retry", "row": row, "attempt": attempt}
        if http_status is not None:
            event["http_status"] = http_status
        if ms is not None:
            event["ms"] = ms
        event["delay"] = round(delay_s, 3)
        self._write(event, flush=False)

    def finished(self, outcome: Outcome, ms: float | None = None) -> None:
        """Record the final outcome of ``row``; ``ms``: the latency of its last attempt."""
        self.done(*(getattr(outcome, name) for name in OUTCOME_FIELDS), ms=ms)

    def done(
        self,
        row: int,
        status: str,
        key: str = "",
        http_status: int | None = None,
        attempts: int = 0,
        error: str = "",
        lead_id: str = "",
        trackdrive_number_plain: str = "",
        sms_number_plain: str = "",
        *,
        ms: float | None = None,
    ) -> None:
        """``finished`` without an ``Outcome`` first: the sender's hot path calls this once
        per row. The arguments are ``Outcome``'s fields, in its order; an empty one is left
        out of the line (``state`` reads a missing one as its default), as ``finished`` always did.
        """
        args = (
            row,
            status,
            key,
            http_status,
            attempts,
            error,
            lead_id,
            trackdrive_number_plain,
            sms_number_plain,
            ms,
        )
        kept = self._kept
        if kept is not None:  # the latest outcome wins, as state() reads the file
            kept[row] = args
            self._kept_starts.discard(row)
            if len(kept) > _KEEP_ROWS:
                self._kept, self._kept_starts = None, set()
        if self._loop is not None:  # the line is made at the next turn, with the others
            self._queue((_DONE, args))
        else:
            self._write(_done_event(*args))

    def events(self) -> Iterator[dict[str, Any]]:
        """Every well-formed event, oldest first."""
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for line in fh:
                event = load_line(line)
                if isinstance(event, dict):
                    yield event

    def endpoints(self) -> list[str]:
        """The endpoints the runs of this folder sent to, oldest first (none in old journals)."""
        if not self.path.exists():
            return []
        found = []
        with self.path.open("rb") as fh:
            for line in fh:
                if b'"run"' not in line:  # a cheap test first: a journal has a line per request
                    continue
                event = load_line(line)
                if isinstance(event, dict) and event.get("e") == "run":
                    endpoint = event.get("endpoint")
                    if isinstance(endpoint, str):
                        found.append(endpoint)
        return found

    def state(self) -> tuple[dict[int, Outcome], set[int]]:
        """The latest outcome of every row, and the rows in flight when events stop.

        A row is in flight when its last event is a ``start``: the process stopped while
        (or just after) sending it, so Trackdrive may or may not have stored it.
        """
        outcomes: dict[int, Outcome] = {}
        in_flight: set[int] = set()
        fields = set(Outcome.__dataclass_fields__)
        for event in self.events():
            kind = event.get("e")
            row = event.get("row")
            if kind == "start" and isinstance(row, int):
                in_flight.add(row)
            elif kind == "done" and isinstance(row, int):
                in_flight.discard(row)
                outcomes[row] = Outcome(**{k: v for k, v in event.items() if k in fields})
        return outcomes, in_flight

    def outcomes(self) -> Outcomes:
        """What ``state`` says, column-wise: the second pass of a 1M-row run reads 2M
        events, and a dict of an ``Outcome`` per row cost seconds and hundreds of MB."""
        if self._kept is not None:  # a new run's own, as the file holds them
            return outcomes_kept(self._kept, self._kept_starts)
        if not self.path.exists():
            return outcomes_of({}, set())
        try:
            return read_outcomes(self.path)
        except Irregular:
            return outcomes_of(*self.state())


_START, _DONE, _EVENT = "start", "done", "event"
_START_LINE = b'{"e":"start","row":%%d,"attempt":%%d,"t":%s}\n'  # the time first, then rows
_MAX_PENDING = 4096
# Outcomes a new run keeps in memory for its results (a few MB); a bigger run's are read
# back from the journal.
_KEEP_ROWS = 100_000


def _done_event(
    row: int,
    status: str,
    key: str,
    http_status: int | None,
    attempts: int,
    error: str,
    lead_id: str,
    trackdrive_number_plain: str,
    sms_number_plain: str,
    ms: float | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"e": "done", "row": row, "status": status}
    if key:
        event["key"] = key
    if http_status is not None:
        event["http_status"] = http_status
    event["attempts"] = attempts  # 0 too, as ever
    if error:
        event["error"] = error
    if lead_id:
        event["lead_id"] = lead_id
    if trackdrive_number_plain:
        event["trackdrive_number_plain"] = trackdrive_number_plain
    if sms_number_plain:
        event["sms_number_plain"] = sms_number_plain
    if ms is not None:
        event["ms"] = ms
    return event


def _now() -> float:
    """An event's time stamp: seconds since the epoch, to the millisecond."""
    return round(time.time(), 3)


def _dumps(event: dict[str, Any]) -> bytes:
    # orjson: the journal line is written twice per request, and json.dumps showed in the
    # send benchmark's profile. It refuses lone surrogates (aiohttp decodes a reason phrase
    # that is not UTF-8 with surrogateescape), which the json module writes as ASCII escapes
    # such as \ud800; ``load_line`` reads those back. The journal keeps the text exactly as it
    # came; results.csv, which must be UTF-8, is where they become U+FFFD.
    try:
        return orjson.dumps(event)
    except TypeError:
        return json.dumps(event, separators=(",", ":")).encode()  # ASCII: escapes only


def write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (what rerun needs to repeat this run)."""
    tmp = run_dir / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, run_dir / RUN_FILE)


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """Read ``run.json``; a missing or broken file is a ConfigError."""
    path = run_dir / RUN_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{run_dir}: not a run folder (no {RUN_FILE}); "
            "pass the folder that `leadimport run` printed"
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{path}: unreadable (not a JSON object)")
    return info


RUN_LOCK = ".sending.lock"


class RunLock:
    """Held by the one process sending a run folder's rows, for as long as it sends.

    Two senders in one folder would each read the journal before the other wrote to it and
    send the same rows twice (a `rerun` of a run still sending in another terminal, or a
    page's "finish it" of a run the CLI is sending). An flock, not a PID file: the kernel
    releases it when the process dies, so a killed run never leaves a stale lock behind.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / RUN_LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise LockError: another process is sending this run."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(
                f"{self.path}: cannot create the run's lock ({exc.strerror})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockError(
                f"{self.path.parent}: another leadimport process is sending this run right "
                "now; wait for it to end (its rows would be sent twice), then run it again"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_sending(run_dir: Path) -> bool:
    """Is a process (this one included) sending this run folder's rows right now?"""
    try:
        fd = os.open(run_dir / RUN_LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
