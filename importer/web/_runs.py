"""One send at a time, in a background thread: the page is a window on it, never its owner."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.errors import ImporterError
from importer.pipeline import SendOptions, Source, StopSwitch, rerun, run
from importer.record import Summary

THROTTLED = 429  # the endpoint's "too many requests": the run slows down and retries


@dataclass
class WebProgress:
    """A pipeline Progress that keeps counts for the polling endpoint."""

    phase: str = ""
    total: int | None = None
    done: int = 0
    retries: int = 0
    throttled: int = 0  # retries of a 429 answer; the summary also counts a last one
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float | None = None  # time.monotonic() when sending began
    answered: int = 0  # rows the endpoint answered in this send (not earlier runs' rows)

    def start(self, phase: str, total: int | None) -> None:
        """Begin a phase of ``total`` rows (None = unknown)."""
        with self.lock:
            self.phase, self.total = phase, total
            self.started = time.monotonic()

    def speed(self) -> tuple[float | None, float | None]:
        """(rows answered per second, seconds left at that pace), once there is a pace."""
        with self.lock:
            if self.started is None or not self.answered:
                return None, None
            elapsed = max(time.monotonic() - self.started, 1e-3)
            rate = self.answered / elapsed
            left = None if self.total is None else max(self.total - self.done, 0) / rate
            return rate, left

    def advance(self, status: str, earlier: bool = False) -> None:
        """Count one row that ended with ``status``."""
        with self.lock:
            self.done += 1
            self.counts[status] = self.counts.get(status, 0) + 1
            if not earlier and status in ("success", "failed"):
                self.answered += 1

    def retry(self, status: int | None = None) -> None:
        """Count one retried request; a 429 one as throttled too."""
        with self.lock:
            self.retries += 1
            if status == THROTTLED:
                self.throttled += 1

    def note(self, message: str) -> None:
        """Ignore: the run's own log keeps notes."""

    def end(self) -> None:
        """Ignore: the run's end is known when its thread ends."""


@dataclass
class SendJob:
    """A send running (or finished) in this server."""

    run_id: str
    progress: WebProgress
    thread: threading.Thread | None = None
    error: str | None = None
    exit_code: int | None = None
    stop: StopSwitch = field(default_factory=StopSwitch)

    @property
    def running(self) -> bool:
        """Whether the thread still works."""
        return self.thread is not None and self.thread.is_alive()

    def status(self) -> dict[str, Any]:
        """What the watch page polls: rows done of total and the counts so far."""
        p = self.progress
        with p.lock:
            counts = dict(p.counts)
            done, total, retries, throttled = p.done, p.total, p.retries, p.throttled
        state = "running" if self.running else ("error" if self.error else "done")
        rate, left = p.speed()
        return {
            "state": state,
            "stopping": self.running and self.stop.requested,
            "done": done,
            "total": total,
            "success": counts.get("success", 0),
            "failed": counts.get("failed", 0),
            "invalid": counts.get("invalid", 0),
            "retries": retries,
            "throttled": throttled,
            "rate": None if rate is None else round(rate, 1),
            "eta_s": None if left is None else round(left),
            "error": self.error,
            "exit_code": self.exit_code,
        }


class Sender:
    """Starts sends, one at a time; remembers the last one per run id."""

    def __init__(self) -> None:
        self.jobs: dict[str, SendJob] = {}
        self.lock = threading.Lock()
        self.current: SendJob | None = None

    def busy(self) -> SendJob | None:
        """The send still running, if any."""
        current = self.current
        return current if current is not None and current.running else None

    def start(
        self, source: Source, mapping: Path, run_dir: Path, out_root: Path, options: SendOptions
    ) -> SendJob | None:
        """Start sending in a thread; None when another send is still running."""
        return self._launch(
            run_dir.name,
            lambda job: run(
                source,
                mapping,
                options,
                out=run_dir,
                progress=job.progress,
                handle_signals=False,
                out_root=out_root,
                stop=job.stop,
            ),
        )

    def resume(self, run_dir: Path, options: SendOptions) -> SendJob | None:
        """Send the rest of a stopped or interrupted run (the core's rerun), in a thread."""
        return self._launch(
            run_dir.name,
            lambda job: rerun(run_dir, options, job.progress, handle_signals=False, stop=job.stop),
        )

    def stop_all(self) -> list[threading.Thread]:
        """Ask the send running to stop as Ctrl-C does; the threads to wait for."""
        job = self.busy()
        if job is None or job.thread is None:
            return []
        job.stop.stop()
        return [job.thread]

    def _launch(self, run_id: str, send: Callable[[SendJob], Summary]) -> SendJob | None:
        with self.lock:
            if self.busy() is not None:
                return None
            job = SendJob(run_id, WebProgress())

            def work() -> None:
                try:
                    summary = send(job)
                    job.exit_code = summary.exit_code
                except ImporterError as exc:
                    job.error = str(exc).splitlines()[0]
                except Exception as exc:  # the thread must end with a state the page shows
                    job.error = f"the run stopped: {type(exc).__name__}"

            # Not a daemon: closing the tab or the page does not stop a send half way.
            job.thread = threading.Thread(target=work, name=f"send {run_id}")
            self.jobs[job.run_id] = job
            self.current = job
            job.thread.start()
            return job
