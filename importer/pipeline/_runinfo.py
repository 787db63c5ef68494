"""``run.json``: what a run folder records so that ``rerun`` can repeat the run exactly.

The file's keys are a format users' folders already hold: a folder written by any earlier
version still reruns, so keys are only ever added, and a missing one reads as its default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from importer.config import token_fingerprint
from importer.errors import ConfigError
from importer.pipeline._jobs import Job, Source, Window
from importer.record import RUN_FILE, read_run_info, write_run_info
from importer.send import SendSettings


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run's identity (input, mapping, endpoint, token) and how it was read and sent."""

    command: str
    input: str  # absolute path of the input file
    input_sha256: str
    endpoint: str
    mapping: str | None = None  # the source mapping's absolute path
    format: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    token_fingerprint: str | None = None
    start_row: int | None = None
    limit: int | None = None
    rate: float | None = None  # None: unlimited
    concurrency: int | None = None
    max_attempts: int | None = None
    timeout_s: float | None = None
    ledger: str | None = None
    created_at: str = ""
    reschedule: dict[str, Any] | None = None  # RescheduleSpec.to_json() of a reschedule

    @classmethod
    def of(
        cls,
        job: Job,
        endpoint: str,
        settings: SendSettings,
        ledger: Path | None,
        sha: str,
        created_at: str,
    ) -> RunInfo:
        """The record of a run about to start."""
        src = job.source
        return cls(
            command=job.command,
            input=str(src.path.resolve()),
            input_sha256=sha,
            endpoint=endpoint,
            mapping=str(job.mapping.path.resolve()),
            format=src.fmt,
            sheet=src.sheet,
            encoding=src.encoding,
            delimiter=src.delimiter,
            token_fingerprint=token_fingerprint(job.token) if job.token else None,
            start_row=job.window.start_row,
            limit=job.window.limit,
            rate=settings.rate,
            concurrency=settings.concurrency,
            max_attempts=settings.max_attempts,
            timeout_s=settings.timeout_s,
            ledger=str(ledger.resolve()) if ledger else None,
            created_at=created_at,
        )

    @property
    def source(self) -> Source:
        """The input, read the way the run read it."""
        return Source(Path(self.input), self.format, self.sheet, self.encoding, self.delimiter)

    @property
    def window(self) -> Window:
        """The rows the run took."""
        return Window(self.start_row, self.limit)

    def to_json(self) -> dict[str, Any]:
        """The ``run.json`` object (a reschedule's spec only when there is one)."""
        raw = asdict(self)
        if raw["reschedule"] is None:
            del raw["reschedule"]
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any], where: Path) -> RunInfo:
        """Read a ``run.json`` object; unknown keys (from a newer version) are passed over."""
        known = {f.name for f in fields(cls)}
        missing = [k for k in ("command", "input", "input_sha256", "endpoint") if not raw.get(k)]
        if missing:
            raise ConfigError(f"{where}: unreadable (no {', '.join(missing)})")
        return cls(**{k: v for k, v in raw.items() if k in known})


def read_info(run_dir: Path) -> RunInfo:
    """The run folder's ``run.json`` (ConfigError when it is missing or broken)."""
    return RunInfo.from_json(read_run_info(run_dir), run_dir / RUN_FILE)


def write_info(run_dir: Path, info: RunInfo) -> None:
    """Write the run folder's ``run.json`` atomically."""
    write_run_info(run_dir, info.to_json())
