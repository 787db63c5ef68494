"""Shared helpers for the benchmark scripts: timed child processes with their peak RSS."""

from __future__ import annotations

import compileall
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
PY = sys.executable

# The package's bytecode, as `pip install` leaves it: where PYTHONDONTWRITEBYTECODE is set
# (CI images often do), every timed command would otherwise compile the package from source.
compileall.compile_dir(ROOT / "importer", quiet=1)


@dataclass(frozen=True)
class Timed:
    """Wall time, exit status, peak resident memory and CPU time of one child process."""

    seconds: float
    returncode: int
    peak_rss_mb: float
    cpu_seconds: float = 0.0  # user + system: steadier than wall time on a shared machine


def timed(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    quiet: bool = True,
    cwd: Path | None = None,
) -> Timed:
    """Run ``cmd`` and measure it; ``os.wait4`` gives this child's own peak RSS."""
    start = time.perf_counter()
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(cmd, stdout=out, stderr=out, env={**os.environ, **(env or {})}, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(seconds, proc.returncode, usage.ru_maxrss / 1024, cpu)


def leadimport(*args: str | Path) -> list[str]:
    """The command line of ``leadimport`` run by this interpreter."""
    return [PY, "-m", "importer", *[str(a) for a in args]]


@dataclass(frozen=True)
class Outcome:
    """One child run: wall time, peak RSS, exit status, the last line on stderr and all of it."""

    seconds: float
    peak_mb: float
    status: str
    message: str
    stderr: str


def run_limited(
    cmd: list[str],
    *,
    limit_bytes: int,
    timeout_s: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Outcome:
    """Run ``cmd`` under RLIMIT_AS; kill it after ``timeout_s``; peak RSS from wait4."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=limit,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout_s and not killed:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        lines = stderr.strip().splitlines()
    if killed:
        outcome = f"killed after {timeout_s:.0f} s"
    elif code < 0:
        outcome = f"{signal.Signals(-code).name} (exit {128 - code})"
    else:
        outcome = f"exit {code}"
    last = lines[-1] if lines else ""
    if any("MemoryError" in line for line in lines):
        last = "MemoryError: " + last
    return Outcome(seconds, usage.ru_maxrss / 1024, outcome, last, stderr)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    """Wait (up to 15 s) until something listens on 127.0.0.1:``port``."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("responder did not start")
