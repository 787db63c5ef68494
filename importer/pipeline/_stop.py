"""A stop another thread can ask for: the flow's own Ctrl-C, for a face that runs it in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class StopSwitch:
    """Ask a run in another thread to stop as Ctrl-C does.

    The requests in flight finish and are journaled; the rows not yet sent are recorded
    ``not_sent`` and the summary says the run was interrupted, so a rerun sends the rest.
    Thread-safe; asking before the run has started stops it before its first request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = False
        self._events: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self._requested

    def stop(self) -> None:
        """Ask the run to stop (idempotent)."""
        with self._lock:
            self._requested = True
            events = list(self._events)
        for loop, event in events:
            # The event belongs to the run's loop: it is set there, never from this thread.
            with contextlib.suppress(RuntimeError):  # that loop has ended: its run is over
                loop.call_soon_threadsafe(event.set)

    def attach(self, event: asyncio.Event) -> None:
        """Set ``event`` (of the running loop) when a stop is asked for, or now if it was."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._requested:
                event.set()
            else:
                self._events.append((loop, event))

    def detach(self, event: asyncio.Event) -> None:
        """Forget ``event``: its send has ended."""
        with self._lock:
            self._events = [(lp, ev) for lp, ev in self._events if ev is not event]
