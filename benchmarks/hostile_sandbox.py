"""Time and peak memory of the sandbox under each hostile client of tests/test_hostile_sandbox.

Each case starts the sandbox in a child process (as the tests do, with the same limits),
runs the hostile client, checks that an ordinary request is still answered, and prints the
wall time and the child's peak resident memory (VmHWM).

    .venv/bin/python benchmarks/hostile_sandbox.py
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_hostile_sandbox import (  # noqa: E402
    LEAD,
    MiB,
    child_sandbox,
    closed_by_server,
    connect,
    post,
    stop_child,
)


def peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def slow_connections(url: str) -> str:
    socks = []
    for _ in range(1500):
        try:
            socks.append(connect(url))
        except OSError:
            break
    for sock in socks[::2]:
        sock.sendall(b"POST /api/v1/leads HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    assert post(url, LEAD, timeout=10)[0] == 200
    answered = time.monotonic() - started
    for sock in socks:
        sock.close()
    return f"{len(socks)} slow connections; a lead answered after {answered:.2f} s"


def big_bodies(url: str) -> str:
    body = json.dumps({"caller_id": "not a phone", "data": {"x": "a" * (MiB - 100)}}).encode()
    for _ in range(1600):
        assert post(url, body, timeout=10)[0] == 422
    return "1,600 POSTs of 1 MB"


def too_large(url: str) -> str:
    body = b"a" * (8 * MiB)
    for _ in range(100):
        assert post(url, body, timeout=10)[0] == 413
    return "100 POSTs of 8 MiB (413)"


def trickle(url: str) -> str:
    socks = [connect(url) for _ in range(50)]
    for sock in socks:
        sock.sendall(b"POST /api/v1/leads HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    answers = [closed_by_server(sock, 5.0) or b"" for sock in socks]
    for sock in socks:
        sock.close()
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
    return "50 bodies trickling (408)"


def deep_json(url: str) -> str:
    for _ in range(200):
        assert post(url, b"[" * 200_000)[0] == 422
    return "200 bodies of 200,000 brackets (422)"


CASES: list[tuple[Callable[[str], str], dict[str, float], int]] = [
    (slow_connections, {"idle_timeout_s": 1.0}, 1024),
    (big_bodies, {}, 0),
    (too_large, {}, 0),
    (trickle, {"idle_timeout_s": 0.5}, 0),
    (deep_json, {}, 0),
]


def main() -> None:
    for case, config, nofile in CASES:
        child, url = child_sandbox(config, nofile=nofile, headroom=1024 * MiB)
        try:
            started = time.monotonic()
            what = case(url)
            took = time.monotonic() - started
            assert post(url, LEAD)[0] == 200
            peak = peak_kib(child.pid) / 1024
        finally:
            stderr = stop_child(child)
        print(
            f"{case.__name__:17} {what}: {took:.1f} s, sandbox peak RSS {peak:.0f} MB, "
            f"stderr {len(stderr):,} bytes"
        )


if __name__ == "__main__":
    main()
