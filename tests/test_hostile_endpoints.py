"""Hostile endpoints and webhooks: bounded memory and time, one line, no success not earned.

The endpoints are benchmarks/hostile_endpoints.py's raw server on 127.0.0.1: answers that
never end (chunked, Content-Length 2 GiB, HTTP/1.0, a gzip bomb), an answer dripped a
byte at a time, Retry-After: 999999999, and webhooks that drip or never end. Each run is
the real `leadimport run` in a child process under a 1 GiB address-space limit and a
timeout: the old code read every answer whole (4.2 GB for 2 GB) and waited 300 s per
Retry-After, so it fails these by construction.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from helpers import invoke, load_benchmark, read_results

from importer.config import DEFAULT_MAX_RETRY_WAIT_S, MAX_ANSWER_BYTES
from importer.errors import ConfigError
from importer.send import Request, Result, SendSettings, SendStatus, send_rows

LIMIT = 1 << 30  # bytes of address space for each child (a run against /ok peaks ~190 MB RSS)
TIMEOUT_S = 40
TOO_LARGE = "HTTP 200: the answer is larger than 1 MiB; not read"


hostile = load_benchmark("hostile_endpoints")


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with hostile.hostile_server() as running:
        yield running


def run(server: Any, name: str, tmp_path: Path) -> tuple[int, list[str], list[dict[str, str]]]:
    """`leadimport run` of four leads against case ``name`` under the limit."""
    leads = hostile.write_leads(tmp_path / "leads.csv")
    out = tmp_path / "out"
    cmd = hostile.command(server, hostile.CASES[name], leads, out)
    got = hostile.run_limited(cmd, limit_bytes=LIMIT, timeout_s=TIMEOUT_S)
    assert got.status.startswith("exit "), got  # not killed, not aborted by a signal
    assert "Traceback" not in got.stderr and "unexpected" not in got.stderr, got.stderr
    return int(got.status.split()[1]), got.stderr.splitlines(), read_results(out)


def summary_counts(tmp_path: Path) -> dict[str, int]:
    counts: dict[str, int] = json.loads((tmp_path / "out" / "summary.json").read_text())["counts"]
    return counts


@pytest.mark.parametrize("name", ["chunked", "content-length", "http-1.0", "gzip-bomb"])
def test_an_endless_answer_fails_its_row_unread_and_unretried(
    server: Any, tmp_path: Path, name: str
) -> None:
    code, stderr, rows = run(server, name, tmp_path)
    assert code == 1 and stderr == []
    assert [(r["status"], r["http_status"], r["attempts"], r["error"]) for r in rows] == [
        ("failed", "200", "1", TOO_LARGE)
    ] * hostile.ROWS
    assert summary_counts(tmp_path) == {"failed": hostile.ROWS}


def test_an_answer_dripped_a_byte_at_a_time_meets_one_deadline(server: Any, tmp_path: Path) -> None:
    began = time.monotonic()
    code, stderr, rows = run(server, "slow-drip", tmp_path)  # --timeout 2 --max-attempts 2
    assert time.monotonic() - began < 20
    assert code == 1 and stderr == []
    assert {(r["status"], r["error"]) for r in rows} == {
        ("failed", "timed out after 2 s after 2 attempts")
    }


def test_a_retry_after_of_decades_fails_the_row_at_once(server: Any, tmp_path: Path) -> None:
    began = time.monotonic()
    code, stderr, rows = run(server, "retry-after", tmp_path)
    assert time.monotonic() - began < 20  # the old code waited 300 s per attempt
    assert code == 1 and stderr == []
    error = (
        "rate limited: gave up after 0 s (Retry-After asked for 999999999 s more; "
        f"a row waits at most {DEFAULT_MAX_RETRY_WAIT_S:g} s in all)"
    )
    assert [(r["status"], r["http_status"], r["attempts"], r["error"]) for r in rows] == [
        ("failed", "429", "1", error)
    ] * hostile.ROWS


def test_a_webhook_that_drips_its_headers_is_given_up_on_time(server: Any, tmp_path: Path) -> None:
    began = time.monotonic()
    code, stderr, rows = run(server, "webhook-drip", tmp_path)
    assert time.monotonic() - began < 25  # the old code's timeout was per read: never
    assert code == 0  # the rows were sent; only telling the webhook failed
    assert stderr == [
        f"leadimport: warning: could not notify {server.url('hook-drip')}: "
        "the webhook did not answer within 10 s"
    ]
    assert {r["status"] for r in rows} == {"success"}


def test_a_webhook_answer_that_never_ends_is_not_read(server: Any, tmp_path: Path) -> None:
    code, stderr, rows = run(server, "webhook-big", tmp_path)
    assert code == 0 and stderr == []
    assert {r["status"] for r in rows} == {"success"}


def test_the_retry_wait_option_reaches_the_sender(server: Any, tmp_path: Path) -> None:
    leads = hostile.write_leads(tmp_path / "leads.csv", rows=1)
    code, _, stderr = invoke(
        "run", leads, "-m", hostile.EXAMPLE, "--endpoint", server.url("retry-after"),
        "--lead-token", hostile.TOKEN, "--out", tmp_path / "out", "--max-retry-wait", "7.5",
    )  # fmt: skip
    assert code == 1, stderr
    [row] = read_results(tmp_path / "out")
    assert row["error"].endswith("(Retry-After asked for 999999999 s more; "
                                 "a row waits at most 7.5 s in all)")  # fmt: skip


# -- the sender alone, against endpoints of this test's own -----------------------------------


async def start(aiohttp_server: Any, handler: Any) -> str:
    app = web.Application()
    app.router.add_post("/leads", handler)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("/leads"))


class Kept:
    """An Observer that keeps each result."""

    def __init__(self) -> None:
        self.results: dict[int, Result] = {}

    def attempt_started(self, row: int, attempt: int) -> None:
        pass

    def retry_scheduled(self, row: int, attempt: int, reason: str, delay_s: float) -> None:
        pass

    def finished(self, result: Result) -> None:
        self.results[result.row] = result


def one_row() -> list[Request]:
    return [Request(row=2, key="k", body={"caller_id": "+13035550100"}, token="t")]


@pytest.mark.parametrize(
    ("size", "status", "error"),
    [
        (MAX_ANSWER_BYTES, SendStatus.SUCCESS, ""),
        (MAX_ANSWER_BYTES + 1, SendStatus.FAILED, TOO_LARGE),
    ],
    ids=["at-the-limit", "one-byte-over"],
)
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
async def test_the_answer_limit_is_on_the_bytes_after_decompression(
    aiohttp_server: Any, size: int, status: SendStatus, error: str, gzip: bool
) -> None:
    async def answer(request: web.Request) -> web.Response:
        response = web.Response(body=b" " * size, content_type="application/json")
        if gzip:
            response.enable_compression(web.ContentCoding.gzip)
        return response

    url = await start(aiohttp_server, answer)
    kept = Kept()
    await send_rows(one_row(), SendSettings(url, rate=None, max_attempts=3), kept)
    assert kept.results[2] == Result(2, status, 200, 1, error, "", "", "")


@pytest.mark.parametrize(
    ("status", "why"), [(429, "rate limited"), (503, "HTTP 503 Service Unavailable")]
)
async def test_retry_after_waits_count_towards_one_limit_per_row(
    aiohttp_server: Any, status: int, why: str
) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Retry-After": "1"})

    url = await start(aiohttp_server, busy)
    kept = Kept()
    began = asyncio.get_running_loop().time()
    settings = SendSettings(url, rate=None, max_attempts=5, max_retry_wait_s=1.5)
    await send_rows(one_row(), settings, kept)
    took = asyncio.get_running_loop().time() - began
    assert 1.0 <= took < 1.8  # the first wait, not the second
    error = f"{why}: gave up after 1 s (Retry-After asked for 1 s more; a row waits at most "
    error += "1.5 s in all)"
    assert kept.results[2] == Result(2, SendStatus.FAILED, status, 2, error, "", "", "")


def test_a_negative_retry_wait_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        SendSettings("http://127.0.0.1:9/leads", max_retry_wait_s=-1.0)
    assert str(info.value) == "max_retry_wait: must be 0 seconds or more, not -1.0"
