"""A local stand-in for Trackdrive's ``leads/create_or_update``: an aiohttp.web app and runners.

Like stripe-mock for Stripe, it is a real HTTP peer for tests, the demo and benchmarks. It
judges every request on its own (it shares no code with the importer's normalizer or
sender, so a bug in one is not agreed with by the other) and answers as
``docs/trackdrive-api.md`` (section "The sandbox") says the sandbox does:

- ``POST /api/v1/leads/create_or_update`` and ``POST /api/v1/leads`` (both upsert): JSON or
  form-encoded body, ``lead_token`` in the query string or the body.
- 401 for a missing or unknown token, 422 with every field error at once, 429 with
  ``Retry-After`` above the rate limit, and on request injected faults (500/502/503,
  dropped connections, commit-then-fail, latency), reproducible with a seed.
- Inspection: ``GET /_sandbox/leads``, ``GET /_sandbox/leads/{caller_id}``,
  ``GET /_sandbox/requests``, ``GET /_sandbox/stats``, ``POST /_sandbox/reset``.

Stored values are normalized the way a server would keep them: ``caller_id`` in E.164,
times in ISO 8601 UTC (``2021-07-23T14:26:43+00:00``), integers and booleans as JSON
numbers and booleans; ``data`` tokens are kept exactly as sent. Leads are keyed by
(token, caller_id), or (token, email) without a caller_id, and the token itself is never
stored: only its fingerprint.

This module is the front: the request handlers, ``create_app`` and the runners. Requests are
judged in ``importer.sandbox._rules``; leads, the request log and the counters live in
``importer.sandbox._state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from importer.errors import ConfigError, Setting, mention
from importer.sandbox._rules import Invalid, judge_request, nest, parse_phone, read_params
from importer.sandbox._state import (
    STATE_KEY,
    SandboxConfig,
    State,
    mask_token,
    now_iso,
    public_lead,
    short_fingerprint,
)

LEAD_PATHS = ("/api/v1/leads/create_or_update", "/api/v1/leads")


# --- handlers -------------------------------------------------------------------------


def _error(status: int, errors: dict[str, list[str]], **extra: Any) -> web.Response:
    body: dict[str, Any] = {"status": status, "errors": errors}
    if status == 422:
        body["metadata"] = {}
    return web.json_response(body, status=status, **extra)


async def _lead_request(request: web.Request) -> web.StreamResponse:
    """Judge one lead request, apply the configured faults, store, answer."""
    arrival, mono = time.time(), time.monotonic()
    state = request.app[STATE_KEY]
    config = state.config
    if (request.content_length or 0) > config.max_body_bytes:
        return _refuse(request, state, arrival, 413)  # said up front: not read at all
    try:
        # One deadline for the whole body: a client dripping a byte a second must not
        # hold a connection (and a file descriptor) for ever.
        async with asyncio.timeout(config.idle_timeout_s):
            if request.content_type == "multipart/form-data":
                size = request.content_length or 0
            else:
                size = len(await request.read())  # kept by aiohttp; read_params reuses it
            params, body_error = await read_params(request)
    except web.HTTPRequestEntityTooLarge:  # chunked, or a Content-Length that lied
        return _refuse(request, state, arrival, 413)
    except TimeoutError:
        return _refuse(request, state, arrival, 408)
    # Like Rails, query parameters count too, and the body's win.
    query = nest(request.query.items())
    token = query.pop("lead_token", None)
    merged = dict(query)
    body = None
    if params is not None:
        body_token = params.get("lead_token")
        if body_token is not None:
            token = body_token
        merged.update(params)
        body = {k: v for k, v in params.items() if k != "lead_token"}

    raw_caller = merged.get("caller_id")
    caller_key: str | None = None
    if isinstance(raw_caller, str | int) and not isinstance(raw_caller, bool) and raw_caller != "":
        try:
            caller_key = parse_phone(str(raw_caller))
        except Invalid:
            caller_key = str(raw_caller)
    entry: dict[str, Any] = {
        "t": arrival,
        "path": request.path,
        "caller_id": caller_key,
        "email": merged.get("email"),
        "status": None,
        "committed": False,
        # Small bodies only: the log is read back by tests, and must not hold megabytes each.
        "body": body if size <= config.log_body_bytes else None,
        "body_bytes": size,
        "query": query,
        "fault": None,
        "lead_id": None,
    }
    state.log.append(entry)
    state.total += 1
    if state.first_t is None:
        state.first_t = arrival
    state.last_t = arrival
    state.in_flight_total += 1
    state.peak_total = max(state.peak_total, state.in_flight_total)
    if caller_key is not None:
        state.in_flight[caller_key] += 1
        flying = state.in_flight[caller_key]
        if flying > state.peak_by_caller.get(caller_key, 0):
            state.peak_by_caller[caller_key] = flying
    try:
        response = await _answer(request, state, entry, token, merged, body_error, arrival, mono)
    except Exception:
        entry["status"] = 500
        raise
    finally:
        state.in_flight_total -= 1
        if caller_key is not None:
            state.in_flight[caller_key] -= 1
            if not state.in_flight[caller_key]:
                del state.in_flight[caller_key]
    status = entry["status"]
    state.by_status[str(status)] += 1
    if not state.config.quiet:
        took = (time.time() - arrival) * 1000
        sys.stderr.write(
            f"{now_iso(arrival)} {request.method} {request.path} {status} "
            f"caller_id={mask_token(caller_key)} {took:.1f}ms\n"
        )
    return response


_REFUSALS = {
    408: "took too long to arrive",
    413: "is too large",
}


def _refuse(request: web.Request, state: State, arrival: float, status: int) -> web.Response:
    """Answer a request whose body could not be read (too large, too slow), and log it."""
    state.log.append(
        {
            "t": arrival,
            "path": request.path,
            "caller_id": None,
            "email": None,
            "status": status,
            "committed": False,
            "body": None,
            "body_bytes": request.content_length,
            "query": {},
            "fault": None,
            "lead_id": None,
        }
    )
    state.total += 1
    state.by_status[str(status)] += 1
    message = _REFUSALS[status]
    if status == 413:
        message += f" (at most {state.config.max_body_bytes} bytes)"
    response = _error(status, {"body": [message]})
    response.force_close()  # the rest of the body is unread: the connection is done
    return response


async def _answer(
    request: web.Request,
    state: State,
    entry: dict[str, Any],
    token: object,
    params: dict[str, Any],
    body_error: str | None,
    arrival: float,
    mono: float,
) -> web.StreamResponse:
    """Decide the answer to one lead request; ``entry`` records what happened."""
    fault, fault_status, delay = state.draw()
    if delay:
        await asyncio.sleep(delay)
    if token is None or token == "":
        entry["status"] = 401
        return _error(401, {"lead_token": ["can't be blank"]})
    if not isinstance(token, str) or (state.allowed and token not in state.allowed):
        entry["status"] = 401
        return _error(401, {"lead_token": ["is invalid"]})
    fingerprint = short_fingerprint(token)
    wait = state.retry_after(fingerprint, mono)
    if wait is not None:
        entry["status"] = 429
        return _error(429, {"base": ["rate limit exceeded"]}, headers={"Retry-After": str(wait)})
    if fault in ("fail", "drop"):
        entry["fault"] = fault
        state.faults[fault] += 1
        if fault == "drop":
            entry["status"] = "dropped"
            return _drop(request)
        entry["status"] = fault_status
        if fault_status == 502:  # what a proxy in front of the app would send
            return web.Response(
                status=502,
                text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        return _error(fault_status, {"base": ["injected fault"]})
    if body_error is not None:
        entry["status"] = 422
        return _error(422, {"body": [body_error]})
    values, errors = judge_request(params)
    if errors:
        entry["status"] = 422
        return _error(422, errors)
    lead = state.upsert(fingerprint, values, arrival)
    entry["committed"] = True
    entry["lead_id"] = lead["id"]
    if fault == "commit_then_fail":
        entry["fault"] = fault
        state.faults[fault] += 1
        if fault_status == 0:
            entry["status"] = "dropped"
            return _drop(request)
        entry["status"] = 503
        return _error(503, {"base": ["injected fault after the lead was stored"]})
    entry["status"] = 200
    return web.json_response(
        {"status": 200, "errors": {}, "lead": public_lead(lead), "metadata": {"root": "lead"}}
    )


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer, as a crashed upstream would."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp cannot write this to the aborted transport and quietly drops it.
    return web.Response(status=503)


async def _list_leads(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[STATE_KEY].store.leads.values()))


async def _one_lead(request: web.Request) -> web.Response:
    lead = request.app[STATE_KEY].find_lead(request.match_info["caller_id"])
    if lead is None:
        return web.json_response(
            {"status": 404, "errors": {"caller_id": ["not found"]}}, status=404
        )
    return web.json_response(lead)


async def _requests(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[STATE_KEY].log))


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"status": 200, "reset": True})


def create_app(config: SandboxConfig) -> web.Application:
    """Build the sandbox application; its SQLite file (if any) closes on app cleanup."""
    app = web.Application(client_max_size=config.max_body_bytes)
    state = State(config)
    app[STATE_KEY] = state
    for path in LEAD_PATHS:
        app.router.add_post(path, _lead_request)
    app.router.add_get("/_sandbox/leads", _list_leads)
    app.router.add_get("/_sandbox/leads/{caller_id}", _one_lead)
    app.router.add_get("/_sandbox/requests", _requests)
    app.router.add_get("/_sandbox/stats", _stats)
    app.router.add_post("/_sandbox/reset", _reset)

    async def close_store(_: web.Application) -> None:
        state.store.close()

    app.on_cleanup.append(close_store)
    return app


# --- runners --------------------------------------------------------------------------


_ACCEPT_FAILED = "socket.accept() out of system resource"


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Say "out of file descriptors" once in 10 s, not a traceback per failed accept.

    asyncio logs every failed accept with its traceback; with more connections than file
    descriptors that is megabytes a minute, while the connections' idle timeout is what
    frees them. Other errors still go to the default handler.
    """
    last = [-math.inf]

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != _ACCEPT_FAILED:
            loop.default_exception_handler(context)
            return
        if time.monotonic() - last[0] >= 10.0:
            last[0] = time.monotonic()
            sys.stderr.write(
                "sandbox: out of file descriptors, new connections wait; "
                "idle ones are closed after idle_timeout_s\n"
            )

    loop.set_exception_handler(handle)


async def _start_site(
    config: SandboxConfig, host: str, port: int
) -> tuple[web.AppRunner, str, State]:
    _quiet_accept_errors(asyncio.get_running_loop())
    app = create_app(config)
    # access_log=None: the sandbox writes its own lines, which mask caller_ids and never
    # include the query string (it carries the lead token).
    # keepalive_timeout: aiohttp closes a connection idle that long, counting from its
    # opening or its last answer, also when it has sent half a request's headers.
    # lingering_time: how long the unread rest of a refused body (413, 408) is drained so
    # the client sees the answer, before the connection is closed.
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=2.0,
        keepalive_timeout=config.idle_timeout_s,
        lingering_time=min(1.0, config.idle_timeout_s),
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"the sandbox cannot listen on {host}:{port}: {exc.strerror or exc}; "
            f"is another sandbox running? Pick another {mention(Setting.PORT)} (0 = any free port)"
        ) from None
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}", app[STATE_KEY]


class SandboxServer:
    """Runs the sandbox in a background thread with its own event loop (port 0 = a free port)."""

    def __init__(
        self, config: SandboxConfig = SandboxConfig(), host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.url = ""
        self.endpoint = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._state: State | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> SandboxServer:
        """Start serving and return self once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="sandbox", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            runner, url, state = loop.run_until_complete(
                _start_site(self.config, self.host, self.port)
            )
        except BaseException as exc:
            self._error = exc
            loop.close()
            self._ready.set()
            return
        self._loop, self._state = loop, state
        self.url, self.endpoint = url, url + LEAD_PATHS[0]
        self.port = int(url.rsplit(":", 1)[1])
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Stop serving, close the SQLite file, and join the thread (idempotent)."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread, self._loop, self._state = None, None, None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[State], Any]) -> Any:
        """Run ``fn(state)`` on the server's loop; return a deep copy of its result."""
        if self._loop is None or self._state is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        state = self._state

        async def call() -> Any:
            return copy.deepcopy(fn(state))

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)

    def leads(self) -> list[dict[str, Any]]:
        """Every stored lead with every field, in creation order."""
        return list(self._call(lambda state: list(state.store.leads.values())))

    def lead(self, caller_id: str) -> dict[str, Any] | None:
        """The most recently updated lead with this caller_id (any phone format) or email."""
        result: dict[str, Any] | None = self._call(lambda state: state.find_lead(caller_id))
        return result

    def requests(self) -> list[dict[str, Any]]:
        """The log of every lead request, in arrival order.

        Each entry: ``t`` (time.time() at arrival), ``path``, ``caller_id`` (E.164 when it
        parses, else as sent), ``email``, ``status`` (the HTTP status, ``"dropped"``, or
        None while in flight), ``committed`` (the lead was stored), ``body`` (parsed,
        without lead_token; None when unusable), ``query`` (other query parameters),
        ``fault`` and ``lead_id``.
        """
        return list(self._call(lambda state: list(state.log)))

    def stats(self) -> dict[str, Any]:
        """Counters: requests by status, peak concurrency per caller_id, requests/s, ...

        A request is in flight from the moment its body is read until it is answered, so
        overlapping requests for one caller_id show best with ``latency_ms`` set.
        """
        result: dict[str, Any] = self._call(lambda state: state.stats())
        return result

    def reset(self) -> None:
        """Forget every lead, request and counter, and restart the seeded randomness."""
        self._call(lambda state: state.reset())


def serve(config: SandboxConfig, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly; the URL is printed on stderr."""
    asyncio.run(_serve(config, host, port))


async def _serve(config: SandboxConfig, host: str, port: int) -> None:
    runner, url, _ = await _start_site(config, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    faults = [
        f"{name}={value}"
        for name, value in (
            ("rate-limit", config.rate_limit),
            ("throttle-first", config.throttle_first or None),
            ("latency-ms", config.latency_ms),
            ("fail-rate", config.fail_rate or None),
            ("drop-rate", config.drop_rate or None),
            ("commit-then-fail-rate", config.commit_then_fail_rate or None),
            ("seed", config.seed),
        )
        if value is not None
    ]
    sys.stderr.write(
        f"Trackdrive sandbox listening on {url}\n"
        f"  POST {url}{LEAD_PATHS[0]}?lead_token=...\n"
        f"  inspect: GET {url}/_sandbox/leads, /_sandbox/requests, /_sandbox/stats\n"
        f"  tokens: {len(config.tokens) or 'any'}; storage: {config.db or 'memory'}; "
        f"faults: {', '.join(faults) or 'none'}\n"
        "  Ctrl-C to stop\n"
    )
    sys.stderr.flush()
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
        await runner.cleanup()
    sys.stderr.write("Trackdrive sandbox stopped\n")
    sys.stderr.flush()
