"""The sandbox under hostile clients of the tests' own, over real HTTP on 127.0.0.1.

Slow and idle connections are closed, bodies are capped and not all kept, deep JSON is a
422; after each, an ordinary request is still answered. Where memory or file descriptors
are the point, the sandbox runs in a child process under ``resource.setrlimit`` and a
timeout, so exceeding the bound fails the test by construction.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox import SandboxConfig, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
LEAD = b'{"caller_id":"+18004506787","data":{"loan_amount":"501"}}'
MiB = 1024 * 1024


def post(url: str, body: bytes, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON to the lead endpoint at ``url``: (status, answer)."""
    request = urllib.request.Request(
        url + "/api/v1/leads/create_or_update?lead_token=t0ken",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bytes | None:
    """What the server sent before closing ``sock`` within ``within`` s; None if still open."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


# --- slow and idle connections ----------------------------------------------------------


def test_idle_and_slow_header_connections_are_closed_and_others_still_answered(
    sandbox_factory: Any,
) -> None:
    server = sandbox_factory(idle_timeout_s=0.5)
    idle = [connect(server.url) for _ in range(25)]
    slow = [connect(server.url) for _ in range(25)]
    for sock in slow:  # half a request's headers, and then nothing
        sock.sendall(b"POST /api/v1/leads HTTP/1.1\r\nHost: sandbox\r\nContent-Le")

    started = time.monotonic()
    assert post(server.url, LEAD)[0] == 200
    assert time.monotonic() - started < 1.0

    deadline = time.monotonic() + 3.0  # 0.5 s of idle timeout, and a margin for a slow CI
    for sock in idle + slow:
        assert closed_by_server(sock, max(deadline - time.monotonic(), 0.01)) is not None
        sock.close()
    assert time.monotonic() - started < 3.0
    assert post(server.url, LEAD)[0] == 200


def test_a_body_that_trickles_in_gets_408_and_the_connection_is_closed(
    sandbox_factory: Any,
) -> None:
    server = sandbox_factory(idle_timeout_s=0.5)
    sock = connect(server.url)
    sock.sendall(
        b"POST /api/v1/leads?lead_token=t0ken HTTP/1.1\r\nHost: sandbox\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"caller_id"'
    )
    answer = closed_by_server(sock, 3.0)
    sock.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'{"status": 408, "errors": {"body": ["took too long to arrive"]}}' in answer
    assert [r["status"] for r in server.requests()] == [408]
    assert post(server.url, LEAD)[0] == 200


def test_malformed_http_gets_400_and_the_sandbox_carries_on(sandbox: SandboxServer) -> None:
    sock = connect(sandbox.url)
    sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
    answer = closed_by_server(sock, 3.0)
    sock.close()
    assert answer is not None and answer.split(b"\r\n")[0].endswith(b" 400 Bad Request"), answer
    assert post(sandbox.url, LEAD)[0] == 200


# --- bodies: capped, and not all kept ---------------------------------------------------


def test_a_body_over_the_cap_gets_413_whether_announced_or_chunked(sandbox_factory: Any) -> None:
    server = sandbox_factory(max_body_bytes=MiB)
    big = b'{"caller_id":"+18004506787","data":{"x":"' + b"a" * MiB + b'"}}'
    status, answer = post(server.url, big)
    assert (status, answer) == (
        413,
        {"status": 413, "errors": {"body": [f"is too large (at most {MiB} bytes)"]}},
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must hold while reading
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    request = urllib.request.Request(
        server.url + "/api/v1/leads?lead_token=t0ken",
        data=chunks(),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    refused.value.close()
    assert refused.value.code == 413
    assert [r["status"] for r in server.requests()] == [413, 413]
    assert server.leads() == []
    assert post(server.url, LEAD)[0] == 200


def test_the_request_log_keeps_small_bodies_and_a_bounded_number_of_entries(
    sandbox_factory: Any,
) -> None:
    assert 1_000 <= SandboxConfig().request_log_limit <= 100_000  # bounded, roomy for tests
    server = sandbox_factory(request_log_limit=5)
    bulky = json.dumps({"caller_id": "not a phone", "data": {"x": "a" * 500_000}}).encode()
    for _ in range(8):
        assert post(server.url, bulky)[0] == 422
    assert post(server.url, LEAD)[0] == 200

    log = server.requests()
    assert len(log) == 5
    assert [(r["body"], r["body_bytes"]) for r in log[:4]] == [(None, len(bulky))] * 4
    assert log[-1]["body"] == json.loads(LEAD) and log[-1]["body_bytes"] == len(LEAD)
    with urllib.request.urlopen(server.url + "/_sandbox/requests", timeout=5) as answer:
        assert len(answer.read()) < 5_000
    assert server.stats()["total_requests"] == 9


# --- deeply nested JSON -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000,
        b'{"data":' * 50_000 + b"1" + b"}" * 50_000,
        json.dumps(
            {"caller_id": "+18004506787", "data": {"x": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}}
        ).encode(),
    ],
    ids=["200,000 brackets", "50,000 objects", "a token nested past the limit"],
)
def test_deeply_nested_json_gets_422_not_500(sandbox: SandboxServer, body: bytes) -> None:
    nested = b'{"caller_id":"+18004506787","data":' + b'{"a":' * 40 + b"1" + b"}" * 41
    for sent in (body, nested):
        status, answer = post(sandbox.url, sent)
        assert status == 422, answer
    assert answer["errors"] == {"body": ["is nested too deeply (at most 32 levels)"]}
    with urllib.request.urlopen(sandbox.url + "/_sandbox/requests", timeout=5) as listing:
        assert listing.status == 200
    assert post(sandbox.url, LEAD)[0] == 200


# --- in a child process, under limits ---------------------------------------------------

CHILD = """
import json, resource, sys
from importer.sandbox import SandboxConfig, SandboxServer

config, nofile, headroom = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
if nofile:
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
server = SandboxServer(SandboxConfig(**config)).start()
with open("/proc/self/status") as status:
    vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
# From here on the sandbox may map at most ``headroom`` more bytes, or it fails.
resource.setrlimit(resource.RLIMIT_AS, (vm + headroom, resource.RLIM_INFINITY))
print(server.url, flush=True)
sys.stdin.read()
"""


def child_sandbox(config: dict[str, Any], nofile: int, headroom: int) -> tuple[Any, str]:
    # stderr into a file: a pipe nobody reads would fill and block the child.
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop_child)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(config), str(nofile), str(headroom)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=ROOT,
    )
    child.log = log  # type: ignore[attr-defined]
    assert child.stdout is not None
    url = child.stdout.readline().decode().strip()
    assert url.startswith("http://127.0.0.1:"), child.communicate(timeout=10)
    return child, url


def stop_child(child: Any) -> bytes:
    child.communicate(input=b"", timeout=10)
    child.log.seek(0)
    stderr = bytes(child.log.read())
    child.log.close()
    assert child.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stderr


def test_more_slow_connections_than_file_descriptors_do_not_stop_the_sandbox() -> None:
    child, url = child_sandbox({"idle_timeout_s": 0.5}, nofile=64, headroom=512 * MiB)
    try:
        socks = []
        for _ in range(120):  # more than the child can hold open
            try:
                socks.append(connect(url))
            except OSError:
                break
        started = time.monotonic()
        status = None
        while time.monotonic() - started < 5.0 and status != 200:
            try:
                status = post(url, LEAD, timeout=2.0)[0]
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        assert status == 200, "the sandbox stopped answering"
        assert time.monotonic() - started < 3.0
        for sock in socks:
            sock.close()
    finally:
        stderr = stop_child(child)
    assert len(stderr) < 50_000, stderr[-2000:]  # a few lines, not a traceback per accept


def test_many_one_mib_bodies_stay_within_a_memory_bound() -> None:
    child, url = child_sandbox({}, nofile=0, headroom=256 * MiB)
    try:
        bulky = json.dumps({"caller_id": "not a phone", "data": {"x": "a" * (MiB - 100)}})
        started = time.monotonic()
        for _ in range(400):  # 400 MB if every body were kept
            assert post(url, bulky.encode(), timeout=10)[0] == 422
        assert time.monotonic() - started < 60
        assert post(url, LEAD)[0] == 200
    finally:
        stop_child(child)
