"""Tests for importer.send: real HTTP against small scripted aiohttp.web endpoints on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email.utils
import html
import json
import logging
import math
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest
from aiohttp import web
from yarl import URL

import importer.send._pool as pool
from importer.errors import ConfigError
from importer.send import (
    Request,
    Result,
    SendReport,
    SendSettings,
    SendStatus,
    is_loopback,
    parse_response,
    send_rows,
)
from importer.send._limiter import Limiter
from importer.send._responses import parse_retry_after

TOKEN = "sEcReT-tok/en+1 &x=y"  # special characters: must survive the query string intact
TOKEN_FORMS = (TOKEN, quote(TOKEN, safe=""), quote(TOKEN), quote(TOKEN).replace("%20", "+"))


# -- a scripted endpoint ---------------------------------------------------------------------


@dataclass
class Hit:
    """One request as the endpoint saw it."""

    t: float  # time.monotonic() on arrival
    row: int
    key: str
    attempt: int  # 1 for the row's first request, 2 for its second, …
    query: dict[str, str]
    body: dict[str, Any]


Script = Callable[[Hit, web.Request], Awaitable[web.StreamResponse]]


class Endpoint:
    """A stand-in for Trackdrive that records every request and answers with ``script``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.hits: list[Hit] = []
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.last_body: dict[str, dict[str, Any]] = {}
        self._attempts: Counter[int] = Counter()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        t = time.monotonic()
        body = await request.json()
        row = body["row"]
        self._attempts[row] += 1
        hit = Hit(t, row, body["key"], self._attempts[row], dict(request.query), body)
        self.hits.append(hit)
        self.in_flight[hit.key] += 1
        self.peak[hit.key] = max(self.peak[hit.key], self.in_flight[hit.key])
        try:
            response = await self.script(hit, request)
        finally:
            self.in_flight[hit.key] -= 1
        if response.status == 200:
            self.last_body[hit.key] = body
        return response

    def times(self, row: int | None = None) -> list[float]:
        return [h.t for h in self.hits if row is None or h.row == row]


@pytest.fixture
async def serve(aiohttp_server: Any) -> Callable[[Script], Awaitable[tuple[Endpoint, str]]]:
    """Start an Endpoint on 127.0.0.1 and return it with its URL."""

    async def start(script: Script) -> tuple[Endpoint, str]:
        endpoint = Endpoint(script)
        app = web.Application()
        app.router.add_post("/api/v1/leads/create_or_update", endpoint.handle)
        server = await aiohttp_server(app, host="127.0.0.1")
        return endpoint, str(server.make_url("/api/v1/leads/create_or_update"))

    return start


async def ok(hit: Hit, request: web.Request) -> web.Response:
    lead = {"id": 1000 + hit.row, "trackdrive_number_plain": "18005550100"}
    return web.json_response(
        {"status": 200, "errors": {}, "lead": lead, "metadata": {"root": "lead"}}
    )


async def drop(request: web.Request) -> web.Response:
    """Close the connection without answering."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


def first_then_ok(answer: Script) -> Script:
    """``answer`` to a row's first request, ``ok`` afterwards."""

    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        return await (answer if hit.attempt == 1 else ok)(hit, request)

    return script


# -- the sending side ------------------------------------------------------------------------


@dataclass
class Recorder:
    """An Observer that keeps everything it is told."""

    started: list[tuple[int, int]] = field(default_factory=list)
    retries: list[tuple[int, int, str, float]] = field(default_factory=list)
    finished_rows: Counter[int] = field(default_factory=Counter)
    results: dict[int, Result] = field(default_factory=dict)
    on_retry: Callable[[], None] | None = None
    on_finish: Callable[[], None] | None = None

    def attempt_started(self, row: int, attempt: int) -> None:
        self.started.append((row, attempt))

    def retry_scheduled(self, row: int, attempt: int, reason: str, delay_s: float) -> None:
        self.retries.append((row, attempt, reason, delay_s))
        if self.on_retry is not None:
            self.on_retry()

    def finished(self, result: Result) -> None:
        self.finished_rows[result.row] += 1
        self.results[result.row] = result
        if self.on_finish is not None:
            self.on_finish()

    def statuses(self) -> dict[int, SendStatus]:
        return {row: r.status for row, r in sorted(self.results.items())}

    def assert_each_once(self, rows: range | list[int]) -> None:
        assert sorted(self.finished_rows) == sorted(rows)
        assert set(self.finished_rows.values()) == {1}


def make_requests(n: int, key: Callable[[int], str] = lambda i: f"k{i}") -> list[Request]:
    return [
        Request(
            row=i,
            key=key(i),
            body={"caller_id": f"+1555000{i:04d}", "row": i, "key": key(i)},
            token=TOKEN,
        )
        for i in range(1, n + 1)
    ]


def settings(url: str, **overrides: Any) -> SendSettings:
    values: dict[str, Any] = dict(
        endpoint=url,
        rate=None,
        concurrency=4,
        max_attempts=3,
        timeout_s=2.0,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
    values.update(overrides)
    return SendSettings(**values)


def assert_no_token(recorder: Recorder, report: SendReport, *texts: str) -> None:
    everything = [repr(r) for r in recorder.results.values()]
    everything += [reason for _, _, reason, _ in recorder.retries]
    everything += [repr(report), *texts]
    for text in everything:
        for form in TOKEN_FORMS:
            assert form not in text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- status paths ----------------------------------------------------------------------------


def lead_envelope(**lead: Any) -> dict[str, Any]:
    return {"status": 200, "errors": {}, "lead": lead, "metadata": {"root": "lead"}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, lead_envelope(id=7, trackdrive_number_plain="18005550100"), ("7", "18005550100", "")),
        (
            201,
            {"metadata": {"root": "record"}, "record": {"uuid": "u-1", "sms_number_plain": 1888}},
            ("u-1", "", "1888"),
        ),
        (200, {"id": 9, "trackdrive_number_plain": "18005550111"}, ("9", "18005550111", "")),
        (
            200,
            {"lead": {"id": 3}, "trackdrive_number_plain": "18005550122"},
            ("3", "18005550122", ""),
        ),
        (200, b"OK, stored", ("", "", "")),
        (202, b"", ("", "", "")),
    ],
    ids=["envelope", "other-root", "bare-lead", "top-level-number", "not-json", "empty-202"],
)
async def test_a_2xx_is_success_and_the_lead_is_read_wherever_it_is(
    serve: Any, status: int, body: Any, expected: tuple[str, str, str]
) -> None:
    async def script(hit: Hit, request: web.Request) -> web.Response:
        if isinstance(body, bytes):
            return web.Response(status=status, body=body, content_type="text/plain")
        return web.json_response(body, status=status)

    endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(2), settings(url), recorder)
    recorder.assert_each_once([1, 2])
    result = recorder.results[1]
    assert result.status is SendStatus.SUCCESS
    assert (result.http_status, result.attempts, result.error) == (status, 1, "")
    assert (result.lead_id, result.trackdrive_number_plain, result.sms_number_plain) == expected
    assert (report.requests, report.retries, report.aborted, report.interrupted) == (
        2,
        0,
        None,
        False,
    )
    assert len(endpoint.hits) == 2


@pytest.mark.parametrize(
    ("said", "errors", "error"),
    [
        (422, {"caller_id": ["is invalid"]}, "HTTP 200, body status 422: caller_id: is invalid"),
        (401, {"lead_token": ["is invalid"]}, "HTTP 200, body status 401: lead_token: is invalid"),
        (503, {}, "HTTP 200, body status 503 Service Unavailable"),
    ],
    ids=["422", "401-no-abort", "503-not-retried"],
)
async def test_a_200_whose_envelope_says_otherwise_fails_at_once(
    serve: Any, said: int, errors: dict[str, Any], error: str
) -> None:
    # The sender goes by the HTTP status: no retry, no abort, whatever the body says.
    async def script(hit: Hit, request: web.Request) -> web.Response:
        return web.json_response({"status": said, "errors": errors, "metadata": {}})

    endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(2), settings(url), recorder)
    recorder.assert_each_once([1, 2])
    for result in recorder.results.values():
        assert (result.status, result.http_status, result.attempts) == (SendStatus.FAILED, 200, 1)
        assert result.error == error
        assert (result.lead_id, result.trackdrive_number_plain) == ("", "")
    assert len(endpoint.hits) == 2
    assert (report.retries, report.aborted) == (0, None)


async def test_the_token_goes_in_the_query_only_and_the_endpoint_query_is_kept(serve: Any) -> None:
    endpoint, url = await serve(ok)
    recorder = Recorder()
    await send_rows(make_requests(1), settings(url + "?source=sheet"), recorder)
    (hit,) = endpoint.hits
    assert hit.query == {"source": "sheet", "lead_token": TOKEN}
    # One endpoint rule for the mapping, the option and the sender: no token in the URL.
    with pytest.raises(ConfigError, match="the URL must not carry lead_token"):
        settings(url + "?source=sheet&lead_token=old")
    assert hit.body == {"caller_id": "+15550000001", "row": 1, "key": "k1"}
    assert recorder.results[1].status is SendStatus.SUCCESS


async def test_a_prebuilt_json_body_is_sent_as_it_is(serve: Any) -> None:
    endpoint, url = await serve(ok)
    recorder = Recorder()
    body = '{"caller_id":"+15550000001","row":1,"key":"k1","data":{"név":"Ödön"}}'
    await send_rows([Request(1, "k1", body, TOKEN)], settings(url), recorder)
    assert endpoint.hits[0].body["data"] == {"név": "Ödön"}
    assert recorder.results[1].status is SendStatus.SUCCESS


async def test_every_request_says_once_that_it_is_json(serve: Any) -> None:
    # Content-Type comes from the session's headers (one set, not merged per request).
    seen: list[tuple[list[str], list[str], str]] = []

    async def record(hit: Hit, request: web.Request) -> web.Response:
        headers = request.headers
        seen.append(
            (headers.getall("Content-Type"), headers.getall("Accept"), headers["User-Agent"])
        )
        return web.json_response(lead_envelope(id=hit.row))

    _, url = await serve(record)
    recorder = Recorder()
    bodies: list[Any] = ['{"row":1,"key":"k1"}', b'{"row":2,"key":"k2"}', {"row": 3, "key": "k3"}]
    requests = [Request(i, f"k{i}", body, TOKEN) for i, body in enumerate(bodies, 1)]
    await send_rows(requests, settings(url), recorder)
    recorder.assert_each_once([1, 2, 3])
    assert set(recorder.statuses().values()) == {SendStatus.SUCCESS}
    assert len(seen) == 3
    for content_type, accept, agent in seen:
        assert content_type == ["application/json"]
        assert accept == ["application/json"]
        assert agent.startswith("leadimport/")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            422,
            {"status": 422, "errors": {"caller_id": ["is invalid"]}, "metadata": {}},
            "HTTP 422: caller_id: is invalid",
        ),
        (
            422,
            {"errors": {"caller_id": ["is invalid", "is too short"], "data": {"zip": "bad"}}},
            "HTTP 422: caller_id: is invalid; caller_id: is too short; data.zip: bad",
        ),
        (400, {"errors": {}, "error": "body is not JSON"}, "HTTP 400: body is not JSON"),
        (404, b"<html>nothing here</html>", "HTTP 404 Not Found"),
        (409, {"message": "lead is locked"}, "HTTP 409: lead is locked"),
        (501, None, "HTTP 501 Not Implemented"),
    ],
    ids=["422", "422-many", "400-error", "404-html", "409-message", "501-not-retried"],
)
async def test_other_statuses_fail_at_once_with_the_servers_message(
    serve: Any, status: int, body: Any, error: str
) -> None:
    async def script(hit: Hit, request: web.Request) -> web.Response:
        if isinstance(body, bytes):
            return web.Response(status=status, body=body, content_type="text/html")
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(3), settings(url), recorder)
    recorder.assert_each_once([1, 2, 3])
    for result in recorder.results.values():
        assert (result.status, result.http_status, result.attempts) == (
            SendStatus.FAILED,
            status,
            1,
        )
        assert result.error == error
    assert len(endpoint.hits) == 3
    assert (report.retries, report.aborted) == (0, None)


async def test_a_redirect_is_not_followed_and_says_where_it_points(aiohttp_server: Any) -> None:
    moved: list[str] = []

    async def old(request: web.Request) -> web.Response:
        target = request.url.with_path("/moved").update_query(lead_token=TOKEN)
        raise web.HTTPMovedPermanently(location=str(target))

    async def new(request: web.Request) -> web.Response:
        moved.append(request.method)
        return web.json_response({"lead": {"id": 1}})

    app = web.Application()
    app.router.add_post("/old", old)
    app.router.add_route("*", "/moved", new)
    server = await aiohttp_server(app, host="127.0.0.1")
    recorder = Recorder()
    report = await send_rows(make_requests(1), settings(str(server.make_url("/old"))), recorder)
    error = f"HTTP 301 Moved Permanently: the endpoint redirects to {server.make_url('/moved')}"
    assert recorder.results[1] == Result(1, SendStatus.FAILED, 301, 1, error, "", "", "")
    assert moved == []  # the token is never carried to another address
    assert_no_token(recorder, report)


@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_token_stops_everything(serve: Any, status: int) -> None:
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        if hit.row == 3:
            return web.json_response(
                {"status": status, "errors": {"lead_token": ["is invalid"]}}, status=status
            )
        return await ok(hit, request)

    endpoint, url = await serve(script)
    recorder = Recorder()
    pulled: list[int] = []

    def source() -> Iterator[Request]:
        for request in make_requests(10):
            pulled.append(request.row)
            yield request

    report = await send_rows(source(), settings(url, concurrency=1), recorder)
    reason = f"the endpoint rejected the lead token (HTTP {status})"
    assert (report.aborted, report.abort_status, report.interrupted) == (reason, status, False)
    recorder.assert_each_once(range(1, 11))
    assert pulled == list(range(1, 11))  # the rest of the input was read to report it
    assert [h.row for h in endpoint.hits] == [1, 2, 3]
    assert recorder.results[3] == Result(
        3, SendStatus.NOT_SENT, status, 1, f"not sent: {reason}", "", "", ""
    )
    for row in range(4, 11):
        assert recorder.results[row] == Result(
            row, SendStatus.NOT_SENT, None, 0, f"not sent: {reason}", "", "", ""
        )
    assert recorder.statuses()[1] is SendStatus.SUCCESS


async def test_a_rejected_token_lets_the_requests_in_flight_finish(serve: Any) -> None:
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        if hit.row == 1:
            return web.json_response({"errors": {"lead_token": ["is invalid"]}}, status=401)
        await asyncio.sleep(0.2)
        return await ok(hit, request)

    endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(12), settings(url, concurrency=4), recorder)
    assert report.abort_status == 401
    recorder.assert_each_once(range(1, 13))
    assert sorted(h.row for h in endpoint.hits) == [1, 2, 3, 4]
    statuses = recorder.statuses()
    assert [statuses[r] for r in (2, 3, 4)] == [SendStatus.SUCCESS] * 3
    assert {statuses[r] for r in range(5, 13)} == {SendStatus.NOT_SENT}
    assert statuses[1] is SendStatus.NOT_SENT


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_certificates_are_verified(aiohttp_server: Any, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    endpoint = Endpoint(ok)
    app = web.Application()
    app.router.add_post("/leads", endpoint.handle)
    server = await aiohttp_server(app, host="127.0.0.1", ssl=context)
    url = str(server.make_url("/leads"))
    assert url.startswith("https://127.0.0.1:")
    recorder = Recorder()
    await send_rows(make_requests(1), settings(url), recorder)
    error = "the endpoint's TLS certificate could not be verified"
    assert recorder.results[1] == Result(1, SendStatus.FAILED, None, 1, error, "", "", "")
    assert not endpoint.hits


# -- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (429, "HTTP 429 Too Many Requests"),
        (500, "HTTP 500 Internal Server Error"),
        (502, "HTTP 502 Bad Gateway"),
        (503, "HTTP 503 Service Unavailable"),
        (504, "HTTP 504 Gateway Timeout"),
    ],
)
async def test_retryable_statuses_are_retried_until_success(
    serve: Any, status: int, reason: str
) -> None:
    async def fail(hit: Hit, request: web.Request) -> web.Response:
        return web.Response(status=status)

    endpoint, url = await serve(first_then_ok(fail))
    recorder = Recorder()
    report = await send_rows(make_requests(3), settings(url), recorder)
    recorder.assert_each_once([1, 2, 3])
    for row, result in recorder.results.items():
        assert (result.status, result.http_status, result.attempts) == (SendStatus.SUCCESS, 200, 2)
        assert result.lead_id == str(1000 + row)
    assert sorted((row, attempt, why) for row, attempt, why, _ in recorder.retries) == [
        (row, 1, reason) for row in (1, 2, 3)
    ]
    assert (report.requests, report.retries, report.throttled) == (6, 3, 3 if status == 429 else 0)
    assert len(endpoint.hits) == 6


async def test_a_dropped_connection_is_retried(serve: Any) -> None:
    async def script(hit: Hit, request: web.Request) -> web.Response:
        return await drop(request)

    endpoint, url = await serve(first_then_ok(script))
    recorder = Recorder()
    await send_rows(make_requests(2), settings(url), recorder)
    assert {r.status for r in recorder.results.values()} == {SendStatus.SUCCESS}
    assert {r.attempts for r in recorder.results.values()} == {2}
    assert {why for _, _, why, _ in recorder.retries} == {"connection dropped"}


async def test_a_timeout_is_retried(serve: Any) -> None:
    async def slow(hit: Hit, request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return await ok(hit, request)

    endpoint, url = await serve(first_then_ok(slow))
    recorder = Recorder()
    began = time.monotonic()
    await send_rows(make_requests(2), settings(url, timeout_s=0.2), recorder)
    assert time.monotonic() - began < 0.9
    assert {r.status for r in recorder.results.values()} == {SendStatus.SUCCESS}
    assert {r.attempts for r in recorder.results.values()} == {2}
    assert {why for _, _, why, _ in recorder.retries} == {"timed out after 0.2 s"}


async def test_each_attempt_has_its_own_deadline_among_many_in_flight(serve: Any) -> None:
    async def script(hit: Hit, request: web.Request) -> web.Response:
        if hit.row % 2:
            await asyncio.sleep(5)  # far past the deadline
        else:
            await asyncio.sleep(0.1)  # well within it
        return await ok(hit, request)

    endpoint, url = await serve(script)
    recorder = Recorder()
    began = time.monotonic()
    report = await send_rows(
        make_requests(8), settings(url, timeout_s=0.4, max_attempts=1, concurrency=8), recorder
    )
    took = time.monotonic() - began
    assert 0.4 <= took < 2.0  # not before the deadline, and not the slow answers' 5 s
    recorder.assert_each_once(range(1, 9))
    for row, result in recorder.results.items():
        if row % 2:
            assert (result.status, result.error) == (
                SendStatus.FAILED,
                "timed out after 0.4 s after 1 attempt",
            )
        else:
            assert result.status is SendStatus.SUCCESS
    assert report.requests == 8


async def test_a_deadline_ends_only_its_own_attempt_and_never_a_cancellation() -> None:
    """The watchdog's cancellation is a timeout; a cancellation from elsewhere (the pool
    stopping), even in the same turn as the deadline, still cancels."""
    deadlines = pool._Deadlines(0.0)  # every attempt is past its deadline at once

    async def attempt() -> str:
        task = asyncio.current_task()
        assert task is not None
        deadlines.start(task)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if deadlines.expired(task):
                return "timed out"
            raise
        finally:
            deadlines.end(task)
        return "answered"

    timed_out = asyncio.create_task(attempt())
    await asyncio.sleep(0)  # waiting for its answer
    deadlines.check()
    assert await timed_out == "timed out"
    assert timed_out.cancelling() == 0  # the watchdog's cancellation is taken back

    both = asyncio.create_task(attempt())
    await asyncio.sleep(0)
    deadlines.check()
    both.cancel()  # the pool stops in the same turn
    with pytest.raises(asyncio.CancelledError):
        await both

    untouched = asyncio.create_task(attempt())
    await asyncio.sleep(0)
    untouched.cancel()  # no deadline passed: an ordinary cancellation
    with pytest.raises(asyncio.CancelledError):
        await untouched


async def test_cancelling_the_sender_cancels_its_attempts_rather_than_timing_them_out(
    serve: Any,
) -> None:
    async def slow(hit: Hit, request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return await ok(hit, request)

    endpoint, url = await serve(slow)
    recorder = Recorder()
    sending = asyncio.create_task(send_rows(make_requests(4), settings(url), recorder))
    while len(endpoint.hits) < 4:
        await asyncio.sleep(0.01)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert recorder.results == {}  # nothing reported as timed out or failed
    assert recorder.retries == []


async def always_503(hit: Hit, request: web.Request) -> web.Response:
    return web.Response(status=503)


async def always_drop(hit: Hit, request: web.Request) -> web.Response:
    return await drop(request)


@pytest.mark.parametrize(
    ("script", "error", "http_status"),
    [
        (always_503, "HTTP 503 Service Unavailable after 3 attempts", 503),
        (always_drop, "connection dropped after 3 attempts", None),
        (None, "connection refused after 3 attempts", None),
    ],
    ids=["503", "dropped", "refused"],
)
async def test_max_attempts_then_failed_with_the_last_error(
    serve: Any, script: Script | None, error: str, http_status: int | None
) -> None:
    if script is None:
        endpoint, url = None, f"http://127.0.0.1:{free_port()}/api/v1/leads/create_or_update"
    else:
        endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(2), settings(url, max_attempts=3), recorder)
    recorder.assert_each_once([1, 2])
    for result in recorder.results.values():
        assert result == Result(result.row, SendStatus.FAILED, http_status, 3, error, "", "", "")
    assert (report.requests, report.retries) == (6, 4)
    assert recorder.started.count((1, 3)) == 1 and (1, 4) not in recorder.started
    if endpoint is not None:
        assert len(endpoint.hits) == 6
    assert_no_token(recorder, report)


@pytest.mark.parametrize(
    ("form", "status"), [("seconds", 503), ("http-date", 429), ("seconds", 429)]
)
async def test_retry_after_pauses_the_row_and_holds_every_start(
    serve: Any, form: str, status: int
) -> None:
    expected: list[float] = []

    async def script(hit: Hit, request: web.Request) -> web.Response:
        if hit.row == 1 and hit.attempt == 1:
            if form == "seconds":
                header, wait = "1", 1.0
            else:
                # An HTTP date has whole seconds: aim 1-2 s ahead and measure what that is.
                when = math.floor(time.time()) + 2
                header, wait = email.utils.formatdate(when, usegmt=True), when - time.time()
            expected.append(wait)
            # 503 as well as 429: the hold must not depend on the slowdown a 429 causes.
            return web.Response(status=status, headers={"Retry-After": header})
        return await ok(hit, request)

    endpoint, url = await serve(script)
    recorder = Recorder()
    # rate 20: row 2's slot is 50 ms after row 1's, long after row 1's 429 has arrived.
    await send_rows(make_requests(4), settings(url, rate=20.0, concurrency=4), recorder)
    assert {r.status for r in recorder.results.values()} == {SendStatus.SUCCESS}
    first, second = endpoint.times(row=1)
    (wait,) = expected
    assert second - first >= wait - 0.02
    assert recorder.retries[0][3] == pytest.approx(wait, abs=0.05)
    others = [h.t for h in endpoint.hits if h.row != 1]
    assert min(others) >= first + wait - 0.02  # nothing started during the hold


# -- the rate --------------------------------------------------------------------------------


async def test_the_rate_holds_over_any_one_second_window_without_an_initial_burst(
    serve: Any,
) -> None:
    endpoint, url = await serve(ok)
    recorder = Recorder()
    rate = 25.0
    await send_rows(make_requests(32), settings(url, rate=rate, concurrency=8), recorder)
    assert len(recorder.results) == 32
    times = sorted(endpoint.times())
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 1.0 - 0.02)
        assert in_window <= rate + 1
    for k in range(1, 6):  # the first starts are spaced 1/rate apart: no burst
        assert times[k] - times[0] >= k / rate - 0.02
    assert times[-1] - times[0] >= 31 / rate - 0.03


async def test_429s_slow_the_whole_pool_down_and_it_recovers(serve: Any) -> None:
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        if hit.row == 6 and hit.attempt == 1:
            return web.Response(status=429)
        return await ok(hit, request)

    endpoint, url = await serve(script)
    recorder = Recorder()
    rate = 40.0
    report = await send_rows(make_requests(66), settings(url, rate=rate, concurrency=8), recorder)
    assert report.throttled == 1
    assert {r.status for r in recorder.results.values()} == {SendStatus.SUCCESS}
    times = sorted(endpoint.times())
    throttled_at = endpoint.times(row=6)[0]
    before = [b - a for a, b in zip(times, times[1:], strict=False) if b <= throttled_at]
    after = [t for t in times if t >= throttled_at]
    gaps = [b - a for a, b in zip(after, after[1:], strict=False)]
    assert max(before) < 1.5 / rate
    assert min(gaps[:6]) >= 1.6 / rate  # about half the rate at once, for every worker
    # ~2 s later the rate has climbed back part of the way (a tenth of 40/s per second),
    # never past the configured rate.
    late = gaps[-10:]
    assert sum(late) / len(late) < 0.85 * sum(gaps[:6]) / 6
    assert sum(late) / len(late) >= 1 / rate - 0.003


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_halves_once_per_round_and_recovers() -> None:
    clock = FakeClock()
    limiter = Limiter(40.0, clock)
    limiter.throttled(started_at=999.0, observed_rate=0.0)
    assert limiter.rate == 20.0 and limiter.recovering
    limiter.throttled(started_at=999.5, observed_rate=0.0)  # started before the cut: same round
    assert limiter.rate == 20.0
    clock.now += 0.5
    limiter.throttled(started_at=1000.2, observed_rate=0.0)
    assert limiter.rate == 10.0
    for _ in range(3):
        clock.now += 0.5
        limiter.succeeded()
    assert limiter.rate == pytest.approx(16.0)  # 4/s (a tenth of 40) per second of success
    for _ in range(20):
        clock.now += 1.0
        limiter.succeeded()
    assert (limiter.rate, limiter.recovering) == (40.0, False)
    for _ in range(10):
        limiter.throttled(started_at=clock.now, observed_rate=0.0)
        clock.now += 1.0
    assert limiter.rate == 1.0  # the floor


def test_unlimited_sending_starts_limiting_from_the_observed_rate() -> None:
    clock = FakeClock()
    limiter = Limiter(None, clock)
    assert (limiter.rate, limiter.active) == (None, False)
    limiter.throttled(started_at=clock.now, observed_rate=300.0)
    assert (limiter.rate, limiter.active) == (150.0, True)
    for _ in range(4):
        clock.now += 1.0
        limiter.succeeded()
    assert limiter.rate == pytest.approx(270.0)
    clock.now += 1.0
    limiter.succeeded()
    assert (limiter.rate, limiter.active, limiter.recovering) == (None, False, False)


async def test_the_limiter_keeps_its_pace_when_the_event_loop_stalls() -> None:
    loop = asyncio.get_running_loop()
    limiter = Limiter(50.0, loop.time)
    starts: list[float] = []

    async def worker() -> None:
        for _ in range(5):
            assert await limiter.acquire()
            starts.append(loop.time())

    async def stall() -> None:
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # the loop is blocked, e.g. while the next chunk of rows is read

    await asyncio.gather(*(worker() for _ in range(4)), stall())
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) == 20 and min(gaps) >= 1 / 50 - 0.001  # no catch-up burst


async def test_closing_the_limiter_releases_every_waiting_start() -> None:
    loop = asyncio.get_running_loop()
    limiter = Limiter(1.0, loop.time)
    assert await limiter.acquire()  # the first start goes at once
    waiting = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in waiting)
    limiter.close()
    assert await asyncio.gather(*waiting) == [False, False, False]
    assert await limiter.acquire() is False


async def test_a_429_while_unlimited_is_retried_and_sending_goes_on(serve: Any) -> None:
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        if hit.row == 20 and hit.attempt == 1:
            return web.Response(status=429)
        return await ok(hit, request)

    endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(60), settings(url, concurrency=8), recorder)
    assert report.throttled == 1 and report.requests == 61
    assert {r.status for r in recorder.results.values()} == {SendStatus.SUCCESS}


# -- ordering and streaming ------------------------------------------------------------------


async def test_rows_with_the_same_key_go_one_at_a_time_in_order_and_others_do_not_wait(
    serve: Any,
) -> None:
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        if hit.key == "A":
            if hit.row == 1 and hit.attempt == 1:
                return web.Response(status=503)
            await asyncio.sleep(0.08)
        return await ok(hit, request)

    keys = ["A", "B", "A", "c3", "B", "A", "c6", "c7", "B", "c9", "A", "c11", "c12", "c13", "c14"]
    requests = make_requests(len(keys), key=lambda i: keys[i - 1])
    endpoint, url = await serve(script)
    recorder = Recorder()
    await send_rows(requests, settings(url, concurrency=4), recorder)
    recorder.assert_each_once(range(1, len(keys) + 1))
    assert {r.status for r in recorder.results.values()} == {SendStatus.SUCCESS}
    assert max(endpoint.peak.values()) == 1
    by_key: dict[str, list[int]] = defaultdict(list)
    for hit in endpoint.hits:
        by_key[hit.key].append(hit.row)
    assert by_key["A"] == [1, 1, 3, 6, 11]  # the retry kept the key busy
    assert by_key["B"] == [2, 5, 9]
    assert endpoint.last_body["A"]["row"] == 11 and endpoint.last_body["B"]["row"] == 9
    a_times = endpoint.times(row=6)
    others = [h.t for h in endpoint.hits if h.key != "A"]
    assert max(others) < a_times[0]  # the other rows were all sent while A's waited


async def test_the_input_is_read_only_when_a_worker_is_free(serve: Any) -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        if len(endpoint.hits) == 3:
            arrived.set()
        await release.wait()
        return await ok(hit, request)

    endpoint, url = await serve(script)
    pulled = 0

    def source() -> Iterator[Request]:
        nonlocal pulled
        for request in make_requests(20):
            pulled += 1
            yield request

    recorder = Recorder()
    task = asyncio.create_task(send_rows(source(), settings(url, concurrency=3), recorder))
    await asyncio.wait_for(arrived.wait(), 5)
    await asyncio.sleep(0.05)
    assert pulled == 3 and not recorder.results
    release.set()
    report = await task
    assert pulled == 20 and report.requests == 20
    recorder.assert_each_once(range(1, 21))


async def test_rows_waiting_for_a_busy_key_are_bounded(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool, "MAX_PARKED", 2)
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        arrived.set()
        await release.wait()
        return await ok(hit, request)

    endpoint, url = await serve(script)
    pulled = 0

    def source() -> Iterator[Request]:
        nonlocal pulled
        for request in make_requests(10, key=lambda i: "same"):
            pulled += 1
            yield request

    recorder = Recorder()
    task = asyncio.create_task(send_rows(source(), settings(url, concurrency=3), recorder))
    await asyncio.wait_for(arrived.wait(), 5)
    await asyncio.sleep(0.05)
    assert pulled == 3  # one in flight, two waiting: the third worker waits too
    release.set()
    await task
    assert [h.row for h in endpoint.hits] == list(range(1, 11))
    recorder.assert_each_once(range(1, 11))


# -- stopping --------------------------------------------------------------------------------


async def test_the_stop_event_finishes_what_is_in_flight_and_reports_the_rest(serve: Any) -> None:
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        if hit.row == 1:
            return web.Response(status=503, headers={"Retry-After": "10"})
        await asyncio.sleep(0.3)
        return await ok(hit, request)

    endpoint, url = await serve(script)
    stop = asyncio.Event()
    recorder = Recorder(on_retry=stop.set)
    pulled: list[int] = []

    def source() -> Iterator[Request]:
        for request in make_requests(8):
            pulled.append(request.row)
            yield request

    began = time.monotonic()
    report = await send_rows(source(), settings(url, concurrency=2), recorder, stop=stop)
    assert time.monotonic() - began < 2.0  # neither the Retry-After nor the rest waited for
    assert report.interrupted and report.aborted is None
    recorder.assert_each_once(range(1, 9))
    assert pulled == list(range(1, 9))
    assert recorder.results[1] == Result(
        1,
        SendStatus.FAILED,
        503,
        1,
        "interrupted after 1 attempt: HTTP 503 Service Unavailable",
        "",
        "",
        "",
    )
    assert recorder.results[2].status is SendStatus.SUCCESS  # was in flight
    for row in range(3, 9):
        assert recorder.results[row] == Result(
            row, SendStatus.NOT_SENT, None, 0, "interrupted before sending", "", "", ""
        )
    assert sorted(h.row for h in endpoint.hits) == [1, 2]


async def test_the_stop_event_wakes_the_rows_waiting_for_the_limiter(serve: Any) -> None:
    endpoint, url = await serve(ok)
    stop = asyncio.Event()
    recorder = Recorder(on_finish=stop.set)
    began = time.monotonic()
    report = await send_rows(
        make_requests(6), settings(url, rate=2.0, concurrency=3), recorder, stop=stop
    )
    assert time.monotonic() - began < 0.3  # the next start was 0.5 s away
    assert report.interrupted and [h.row for h in endpoint.hits] == [1]
    recorder.assert_each_once(range(1, 7))
    assert recorder.results[1].status is SendStatus.SUCCESS
    assert {recorder.results[r].error for r in range(2, 7)} == {"interrupted before sending"}


async def test_a_stop_set_before_starting_sends_nothing(serve: Any) -> None:
    endpoint, url = await serve(ok)
    stop = asyncio.Event()
    stop.set()
    recorder = Recorder()
    report = await send_rows(make_requests(5), settings(url), recorder, stop=stop)
    assert report.interrupted and report.requests == 0 and not endpoint.hits
    recorder.assert_each_once(range(1, 6))
    assert {r.error for r in recorder.results.values()} == {"interrupted before sending"}


async def test_too_many_failures_in_a_row_abort(serve: Any) -> None:
    async def script(hit: Hit, request: web.Request) -> web.Response:
        return web.json_response({"errors": {"caller_id": ["is invalid"]}}, status=422)

    endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(
        make_requests(10), settings(url, concurrency=1, max_consecutive_failures=4), recorder
    )
    reason = "more than 4 rows failed in a row; last error: HTTP 422: caller_id: is invalid"
    assert (report.aborted, report.abort_status, report.interrupted) == (reason, None, False)
    recorder.assert_each_once(range(1, 11))
    assert [h.row for h in endpoint.hits] == [1, 2, 3, 4, 5]
    assert {recorder.results[r].status for r in range(1, 6)} == {SendStatus.FAILED}
    for row in range(6, 11):
        assert recorder.results[row].status is SendStatus.NOT_SENT
        assert recorder.results[row].error == f"not sent: {reason}"


async def test_a_success_resets_the_failures_in_a_row(serve: Any) -> None:
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        if hit.row % 4 == 0:
            return await ok(hit, request)
        return web.json_response({"errors": {"caller_id": ["is invalid"]}}, status=422)

    endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(
        make_requests(12), settings(url, concurrency=1, max_consecutive_failures=3), recorder
    )
    # Three failures in a row (rows 1-3, 5-7, 9-11) is not more than the limit of 3.
    assert report.aborted is None and len(endpoint.hits) == 12


async def test_an_error_from_the_input_propagates_after_the_rows_taken_are_reported(
    serve: Any,
) -> None:
    endpoint, url = await serve(ok)

    def source() -> Iterator[Request]:
        yield from make_requests(3)
        raise RuntimeError("chunk 2 is unreadable")

    recorder = Recorder()
    with pytest.raises(RuntimeError, match="chunk 2 is unreadable"):
        await send_rows(source(), settings(url, concurrency=2), recorder)
    recorder.assert_each_once([1, 2, 3])


async def test_an_error_from_the_observer_propagates(serve: Any) -> None:
    endpoint, url = await serve(ok)

    class Broken(Recorder):
        def finished(self, result: Result) -> None:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await send_rows(make_requests(5), settings(url), Broken())


# -- the token stays secret ------------------------------------------------------------------


async def test_the_token_never_appears_in_results_reasons_or_logs(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        echoed = {"errors": {"lead_token": [f"{hit.query['lead_token']} is not valid"]}}
        if hit.row == 2:
            return web.json_response(echoed, status=422)
        if hit.row == 3:
            return web.json_response({"error": f"bad token {quote(TOKEN, safe='')}"}, status=400)
        if hit.row == 4 and hit.attempt == 1:
            return web.json_response({"message": f"busy, {TOKEN}"}, status=503)
        if hit.row == 5 and hit.attempt == 1:
            return await drop(request)
        if hit.row == 6:
            return web.json_response(echoed, status=401)
        return await ok(hit, request)

    endpoint, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(8), settings(url, concurrency=1), recorder)
    assert [h.query["lead_token"] for h in endpoint.hits] == [TOKEN] * 8
    assert recorder.results[2].error == "HTTP 422: lead_token: [lead token] is not valid"
    assert recorder.results[3].error == "HTTP 400: bad token [lead token]"
    assert recorder.retries[0][2] == "HTTP 503: busy, [lead token]"
    assert report.abort_status == 401
    # The client's logs only: the test endpoint's own access log holds the query string.
    client_logs = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]
    assert client_logs  # the abort was logged
    assert_no_token(recorder, report, *client_logs)


def _json_escaped(token: str) -> str:
    """As Rails' to_json writes it: ``&``, ``<``, ``>`` as \\u escapes (and PHP's ``\\/``)."""
    text = json.dumps(token)[1:-1]
    return text.replace("&", "\\u0026").replace("/", "\\/").replace("+", "\\u002B")


# Every form a server might echo the token in (TOKEN holds ``/ + space & =``).
ECHOES = {
    "as sent": lambda t: t,
    "upper case": str.upper,
    "percent, every character": lambda t: quote(t, safe=""),
    "percent, lower-case hex": lambda t: quote(t, safe="").lower(),
    "percent, slashes kept": quote,
    "percent twice": lambda t: quote(quote(t, safe=""), safe=""),
    "plus for space": quote_plus,
    "form body": lambda t: urlencode({"lead_token": t}).partition("=")[2],
    "as yarl encodes it": lambda t: URL("http://h/").with_query(lead_token=t).raw_query_string[11:],
    "plus decoded as space": lambda t: t.replace("+", " "),
    "JSON-escaped": _json_escaped,
    "JSON, every character": lambda t: "".join(f"\\u{ord(c):04x}" for c in t),
    "HTML-escaped": html.escape,
    "HTML, decimal references": lambda t: "".join(f"&#{ord(c)};" for c in t),
    "HTML, hex references": lambda t: "".join(f"&#X{ord(c):X};" for c in t),
    "HTML, named": lambda t: (
        t.replace("&", "&AMP;").replace("+", "&plus;").replace("=", "&equals;")
    ),
}


@pytest.mark.parametrize("encode", ECHOES.values(), ids=list(ECHOES))
async def test_the_token_is_scrubbed_in_every_encoding_a_server_echoes(
    serve: Any, encode: Callable[[str], str]
) -> None:
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        echo = encode(hit.query["lead_token"])
        return web.json_response({"errors": {"lead_token": [f"<{echo}> is not valid"]}}, status=422)

    _, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(1), settings(url), recorder)
    assert recorder.results[1].error == "HTTP 422: lead_token: <[lead token]> is not valid"
    assert_no_token(recorder, report)


# -- pure functions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"", (True, "", "", "", "")),
        (200, b'{"status":200,"errors":{},"lead":{"id":5}}', (True, "", "5", "", "")),
        (
            200,
            b'{"status":422,"errors":{"caller_id":["is invalid"]},"lead":{"id":5}}',
            (False, "HTTP 200, body status 422: caller_id: is invalid", "", "", ""),
        ),
        (
            200,
            b'{"status":422,"errors":{},"metadata":{}}',
            (False, "HTTP 200, body status 422 Unprocessable Entity", "", "", ""),
        ),
        (
            200,
            b'{"status":500,"errors":{"base":["oops"]}}',
            (False, "HTTP 200, body status 500: base: oops", "", "", ""),
        ),
        (201, b'{"status":201,"errors":{},"lead":{"id":6}}', (True, "", "6", "", "")),
        (201, b'{"lead":{"id":6}}', (True, "", "6", "", "")),
        (200, b"<html>stored</html>", (True, "", "", "", "")),
        # Not an HTTP status: a bare lead's word, a boolean, a string, 0, a float.
        (200, b'{"id":8,"status":"scheduled"}', (True, "", "8", "", "")),
        (200, b'{"id":8,"status":true}', (True, "", "8", "", "")),
        (200, b'{"id":8,"status":"422"}', (True, "", "8", "", "")),
        (200, b'{"id":8,"status":0}', (True, "", "8", "", "")),
        (200, b'{"id":8,"status":422.0}', (True, "", "8", "", "")),
        # A real 4xx goes by its HTTP status, whatever the envelope says.
        (
            422,
            b'{"status":200,"errors":{"caller_id":["is invalid"]}}',
            (False, "HTTP 422: caller_id: is invalid", "", "", ""),
        ),
    ],
    ids=[
        "200-no-body",
        "200-envelope-200",
        "200-envelope-422-errors",
        "200-envelope-422-no-message",
        "200-envelope-500",
        "201-envelope-201",
        "201-no-envelope",
        "200-not-json",
        "lead-status-word",
        "status-boolean",
        "status-string",
        "status-out-of-range",
        "status-float",
        "422-envelope-200",
    ],
)
def test_a_2xx_is_success_unless_its_envelope_says_otherwise(
    status: int, body: bytes, expected: tuple[bool, str, str, str, str]
) -> None:
    assert parse_response(status, "OK", body) == expected


@pytest.mark.parametrize(
    ("status", "reason", "body", "expected"),
    [
        (
            200,
            "OK",
            b'{"status":200,"errors":{},"lead":{"id":12,"uuid":"u","trackdrive_number_plain":"18005550100","sms_number_plain":"18005550101"},"metadata":{"root":"lead"}}',
            (True, "", "12", "18005550100", "18005550101"),
        ),
        (
            200,
            "OK",
            b'{"metadata":{"root":"data"},"data":{"uuid":"abc"},"lead":{"id":1}}',
            (True, "", "abc", "", ""),
        ),
        (200, "OK", b'{"metadata":{"root":"missing"},"lead":{"id":"5"}}', (True, "", "5", "", "")),
        (
            200,
            "OK",
            b'{"id":null,"uuid":"u-9","trackdrive_number_plain":18005550100}',
            (True, "", "u-9", "18005550100", ""),
        ),
        (
            201,
            "Created",
            b'{"lead":{"id":4},"sms_number_plain":"18885550100"}',
            (True, "", "4", "", "18885550100"),
        ),
        (
            200,
            "OK",
            b'{"lead":{"id":true,"trackdrive_number_plain":["x"]}}',
            (True, "", "", "", ""),
        ),
        (200, "OK", b'{"lead":{"id":7.0}}', (True, "", "7", "", "")),
        (200, "OK", b"[1, 2]", (True, "", "", "", "")),
        (200, "OK", b"\xff\xfe not json", (True, "", "", "", "")),
        (204, "No Content", b"", (True, "", "", "", "")),
        (
            422,
            "Unprocessable Entity",
            b'{"errors":{"caller_id":["is invalid"]}}',
            (False, "HTTP 422: caller_id: is invalid", "", "", ""),
        ),
        (
            422,
            "Unprocessable Entity",
            b'{"errors":{"base":"Lead\\n  is locked"}}',
            (False, "HTTP 422: base: Lead is locked", "", "", ""),
        ),
        (
            422,
            "Unprocessable Entity",
            b'{"errors":["Caller id is invalid","Email is invalid"]}',
            (False, "HTTP 422: Caller id is invalid; Email is invalid", "", "", ""),
        ),
        (
            422,
            "Unprocessable Entity",
            b'{"errors":{},"error":{"code":7,"message":"nope"}}',
            (False, "HTTP 422: nope", "", "", ""),
        ),
        (
            400,
            "Bad Request",
            b'{"errors":null,"error":"","message":"bad json"}',
            (False, "HTTP 400: bad json", "", "", ""),
        ),
        (400, "Bad Request", b'{"errors":{}}', (False, "HTTP 400 Bad Request", "", "", "")),
        (404, "", b"<h1>Not Found</h1>", (False, "HTTP 404 Not Found", "", "", "")),
        (503, "Service Unavailable", b"", (False, "HTTP 503 Service Unavailable", "", "", "")),
        (599, "", b"", (False, "HTTP 599", "", "", "")),
        (
            422,
            "Unprocessable Entity",
            b'"just a string"',
            (False, "HTTP 422: just a string", "", "", ""),
        ),
        (
            422,
            "Unprocessable Entity",
            b"[" * 100_000 + b"]" * 100_000,
            (False, "HTTP 422 Unprocessable Entity", "", "", ""),
        ),
    ],
)
def test_parse_response(
    status: int, reason: str, body: bytes, expected: tuple[bool, str, str, str, str]
) -> None:
    assert parse_response(status, reason, body) == expected


async def test_long_messages_are_cut_after_the_token_is_scrubbed(serve: Any) -> None:
    # The token straddles the 300th character: cut first, its first half would survive.
    async def script(hit: Hit, request: web.Request) -> web.StreamResponse:
        filler = "y" * (300 - len("HTTP 422: x: ") - 5)
        return web.json_response({"errors": {"x": filler + hit.query["lead_token"]}}, status=422)

    _, url = await serve(script)
    recorder = Recorder()
    report = await send_rows(make_requests(1), settings(url), recorder)
    error = recorder.results[1].error
    assert len(error) == 300 and error.startswith("HTTP 422: x: yyy") and error.endswith("…")
    assert TOKEN[:5] not in error
    assert error.endswith("y[lea…")  # the placeholder is what the cut shortens
    assert_no_token(recorder, report)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/api", True),
        ("http://127.8.9.10/", True),
        ("http://localhost:5000/x", True),
        ("http://LOCALHOST./x", True),
        ("http://[::1]:8000/", True),
        ("http://[::ffff:127.0.0.1]/", True),
        ("https://trackdrive.com/api/v1/leads/create_or_update", False),
        ("https://acme.trackdrive.com/api", False),
        ("http://10.0.0.1/", False),
        ("http://localhost.example.com/", False),
        ("http://0.0.0.0/", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_is_loopback(url: str, expected: bool) -> None:
    assert is_loopback(url) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 0.5 ", 0.5),
        ("-4", 0.0),
        ("99999", 99999.0),  # not cut: the sender weighs it against max_retry_wait_s
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_header(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_http_date_in_the_future() -> None:
    header = email.utils.formatdate(time.time() + 60, usegmt=True)
    wait = parse_retry_after(header)
    assert wait is not None and 58 <= wait <= 60


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"endpoint": "trackdrive.com/api"},
            "endpoint: 'trackdrive.com/api' is not an http(s) URL; write e.g. https://ACCOUNT",
        ),
        (
            {"endpoint": "ftp://host/x"},
            "endpoint: 'ftp://host/x' is not an http(s) URL; write e.g. https://ACCOUNT",
        ),
        ({"rate": -1.0}, "rate: must be a number of requests per second, not -1.0"),
        ({"concurrency": 0}, "concurrency and max_attempts: must be at least 1"),
        ({"timeout_s": 0.0}, "timeout: must be more than 0 seconds, not 0.0"),
    ],
)
def test_unusable_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"endpoint": "https://trackdrive.com/api/v1/leads/create_or_update"}
    values.update(overrides)
    with pytest.raises(ConfigError) as info:
        SendSettings(**values)
    assert str(info.value).startswith(message)


# -- the event loop ----------------------------------------------------------------------------


def test_sending_runs_on_uvloop_where_it_is_installed_else_on_asyncios_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uvloop = pytest.importorskip("uvloop")  # a dependency everywhere but Windows
    loop = pool.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on a platform without it
    loop = pool.new_event_loop()
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()
