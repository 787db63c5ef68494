"""One send at a time, in a background thread: the page is a window on it, never its owner."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.errors import ImporterError
from importer.pipeline import SendOptions, Source, run


@dataclass
class WebProgress:
    """A pipeline Progress that keeps counts for the polling endpoint."""

    phase: str = ""
    total: int | None = None
    done: int = 0
    retries: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, phase: str, total: int | None) -> None:
        """Begin a phase of ``total`` rows (None = unknown)."""
        with self.lock:
            self.phase, self.total = phase, total

    def advance(self, status: str, earlier: bool = False) -> None:
        """Count one row that ended with ``status``."""
        with self.lock:
            self.done += 1
            self.counts[status] = self.counts.get(status, 0) + 1

    def retry(self) -> None:
        """Count one retried request."""
        with self.lock:
            self.retries += 1

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

    @property
    def running(self) -> bool:
        """Whether the thread still works."""
        return self.thread is not None and self.thread.is_alive()

    def status(self) -> dict[str, Any]:
        """What the watch page polls: rows done of total and the counts so far."""
        p = self.progress
        with p.lock:
            counts = dict(p.counts)
            done, total, retries = p.done, p.total, p.retries
        state = "running" if self.running else ("error" if self.error else "done")
        return {
            "state": state,
            "done": done,
            "total": total,
            "success": counts.get("success", 0),
            "failed": counts.get("failed", 0),
            "invalid": counts.get("invalid", 0),
            "retries": retries,
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
        with self.lock:
            if self.busy() is not None:
                return None
            job = SendJob(run_dir.name, WebProgress())

            def work() -> None:
                try:
                    summary = run(
                        source,
                        mapping,
                        options,
                        out=run_dir,
                        progress=job.progress,
                        handle_signals=False,
                        out_root=out_root,
                    )
                    job.exit_code = summary.exit_code
                except ImporterError as exc:
                    job.error = str(exc).splitlines()[0]
                except Exception as exc:  # the thread must end with a state the page shows
                    job.error = f"the run stopped: {type(exc).__name__}"

            # Not a daemon: closing the tab or the page does not stop a send half way.
            job.thread = threading.Thread(target=work, name=f"send {run_dir.name}")
            self.jobs[job.run_id] = job
            self.current = job
            job.thread.start()
            return job
