"""Shared helpers for the benchmark scripts: timed child processes with their peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
PY = sys.executable


@dataclass(frozen=True)
class Timed:
    """Wall time, exit status and peak resident memory of one child process."""

    seconds: float
    returncode: int
    peak_rss_mb: float


def timed(cmd: list[str], *, env: dict[str, str] | None = None, quiet: bool = True) -> Timed:
    """Run ``cmd`` and measure it; ``os.wait4`` gives this child's own peak RSS."""
    start = time.perf_counter()
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(cmd, stdout=out, stderr=out, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Timed(seconds, proc.returncode, usage.ru_maxrss / 1024)


def leadimport(*args: str | Path) -> list[str]:
    """The command line of ``leadimport`` run by this interpreter."""
    return [PY, "-m", "importer", *[str(a) for a in args]]
