"""Send requests to the endpoint: one aiohttp session, a worker pool, a rate limiter, retries.

``send_rows`` takes ``Request``s lazily from an iterable (the pipeline streams them from the
spreadsheet), sends each as one ``POST`` of its JSON body with the lead token in the query
string, retries what can be retried, and reports each row's outcome exactly once to an
``Observer``. Nothing here logs per request, prints, or exits: the caller watches through the
observer and turns the ``SendReport`` into words.

What each answer means (see ``docs/trackdrive-api.md``):
    2xx                          success; lead id and numbers read defensively
    429, 500, 502, 503, 504,     retried with backoff (full jitter), honouring Retry-After
    timeouts, connection errors  up to ``max_retry_wait_s`` per row in all; a 429 also slows
                                 the whole pool down
    401, 403                     the token is wrong: sending stops, the rest is ``not_sent``
    any other status             permanent: ``failed`` with the server's message
    an answer over 1 MiB         permanent: ``failed``, not read, whatever its status

Each attempt has one deadline, ``timeout_s``, from connecting to the answer's last byte: an
endpoint that drips its answer cannot hold a worker longer. The deadlines are kept by one
watchdog for the whole pool (``_Deadlines``), not by a timer per request.

The rate limiter is in ``_limiter.py``; reading answers and putting failures into words
(without the token) in ``_responses.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from ipaddress import IPv6Address, ip_address
from typing import Any

import aiohttp
from yarl import URL

from importer import __version__
from importer.config import (
    MAX_ANSWER_BYTES,
)
from importer.send._limiter import Limiter
from importer.send._model import (
    RETRYABLE_STATUSES,
    TOKEN_REJECTED_STATUSES,
    Observer,
    Request,
    Result,
    SendReport,
    SendSettings,
    SendStatus,
)
from importer.send._network import open_session
from importer.send._responses import (
    clip_error,
    describe_failure,
    describe_gave_up,
    describe_too_large,
    parse_response,
    parse_retry_after,
    scrub,
    unresolved,
    without_query,
)

log = logging.getLogger(__name__)

DNS_ATTEMPTS = 2  # a host name that did not resolve gets one short retry, then sending stops

# Rows waiting for an earlier row with the same key; beyond this, stop reading the input
# until some are sent (a file where every row has one caller_id must not fill memory).
MAX_PARKED = 4096
_MAX_URL_CACHE = 256


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop to send on: uvloop's where it is installed, else asyncio's own.

    uvloop (libuv underneath) takes about a fifth off the client's CPU per request, which is
    what bounds sending to a fast endpoint; asyncio's loop behaves the same, only slower.
    """
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows)
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def send_rows(
    requests: Iterable[Request],
    settings: SendSettings,
    observer: Observer,
    *,
    stop: asyncio.Event | None = None,
) -> SendReport:
    """Send every request through a rate-limited worker pool; report each outcome to ``observer``.

    ``requests`` is read lazily, only when a worker is free. Setting ``stop`` stops taking
    new rows and retrying; requests in flight finish and every row left is reported. If the
    iterable or the observer raises, the workers are stopped and the exception propagates.
    """
    # Through the environment's proxy (HTTPS_PROXY, NO_PROXY…), trusting SSL_CERT_FILE too.
    async with open_session(
        settings.endpoint,
        "sending to",
        limit=settings.concurrency,
        # No timeout of aiohttp's: each attempt's deadline is kept by _Deadlines.
        timeout=aiohttp.ClientTimeout(),
        # No cookies: the endpoint is an API called with a token, and a cookie jar is work on
        # every request and answer (matching it to the URL, storing what comes back).
        cookie_jar=aiohttp.DummyCookieJar(),
        # Content-Type too: every request is a JSON POST, and a per-request header had
        # aiohttp merge two header sets on each one.
        headers={
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"leadimport/{__version__}",
        },
    ) as session:
        return await _Sender(requests, settings, observer, session).run(stop)


class _Deadlines:
    """Each worker's attempt deadline, kept by one watchdog instead of a timer per request.

    aiohttp's own total timeout arms and cancels a timer (and a timer context) on every
    request: about 6 µs of the ~75 µs the client spends on a request to a fast endpoint,
    8 % of sending (measured with uvloop, 30,000 requests). Here an attempt only notes when
    it must end; a watchdog that wakes every ``tick`` seconds cancels the task of an attempt
    past its deadline, the way aiohttp's timeout does (cancelling the task), so an attempt
    ends at most a tick after ``timeout_s``. ``expired`` turns that cancellation into a
    timeout, and leaves any other cancellation alone.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.tick = min(max(timeout_s / 10, 0.01), 0.1)
        self._loop = asyncio.get_running_loop()
        self._due: dict[asyncio.Task[Any], float] = {}  # task -> its attempt's deadline
        self._cancelled: set[asyncio.Task[Any]] = set()  # cancelled by the watchdog

    def start(self, task: asyncio.Task[Any]) -> None:
        """``task`` begins an attempt now."""
        self._due[task] = self._loop.time() + self.timeout_s

    def end(self, task: asyncio.Task[Any]) -> None:
        """``task``'s attempt is over (answered, failed or cancelled)."""
        del self._due[task]
        if task in self._cancelled:  # cancelled, yet it ended otherwise (as another error)
            self._cancelled.discard(task)
            task.uncancel()

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether the CancelledError ``task`` caught is its deadline (and only that)."""
        if task not in self._cancelled:
            return False
        self._cancelled.discard(task)
        # As asyncio.timeout does: a cancellation from elsewhere as well is not swallowed.
        return task.uncancel() == 0

    async def watch(self) -> None:
        """Cancel attempts past their deadline every tick, until cancelled itself."""
        while True:
            await asyncio.sleep(self.tick)
            self.check()

    def check(self) -> None:
        """Cancel the attempts past their deadline now."""
        now = self._loop.time()
        for task, due in self._due.items():
            if due <= now and task not in self._cancelled:
                self._cancelled.add(task)
                task.cancel()


class _Sender:
    """The state of one ``send_rows`` call, shared by its workers."""

    def __init__(
        self,
        requests: Iterable[Request],
        settings: SendSettings,
        observer: Observer,
        session: aiohttp.ClientSession,
    ) -> None:
        self._source: Iterator[Request] = iter(requests)
        self._settings = settings
        self._observer = observer
        self._session = session
        self._endpoint = URL(settings.endpoint)
        self._urls: dict[str, URL] = {}
        self._limiter = Limiter(settings.rate, asyncio.get_running_loop().time)
        self._deadlines = _Deadlines(settings.timeout_s)
        # key -> rows waiting for the row in flight with that key (None: none waiting yet).
        # A key is present exactly while a worker holds it.
        self._busy: dict[str, deque[Request] | None] = {}
        self._parked = 0
        self._unparked = asyncio.Event()
        self._exhausted = False
        self._source_error: BaseException | None = None
        self._halted = False
        self._halt = asyncio.Event()
        self._interrupted = False
        self._aborted: str | None = None
        self._abort_status: int | None = None
        self._failed_in_row = 0
        self._requests = 0
        self._retries = 0
        self._throttled = 0
        self._t0 = self._limiter.now()

    async def run(self, stop: asyncio.Event | None) -> SendReport:
        watcher = None
        if stop is not None:
            if stop.is_set():
                self._interrupt()
            watcher = asyncio.create_task(self._watch(stop))
        watchdog = asyncio.create_task(self._deadlines.watch())
        workers = [asyncio.create_task(self._work()) for _ in range(self._settings.concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            self._limiter.close()  # no timer left behind, whatever happened
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        self._report_leftovers()
        if self._source_error is not None:
            raise self._source_error
        return SendReport(
            aborted=self._aborted,
            abort_status=self._abort_status,
            interrupted=self._interrupted,
            requests=self._requests,
            retries=self._retries,
            throttled=self._throttled,
        )

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._interrupt()

    # -- stopping -------------------------------------------------------------------------

    def _stop_all(self) -> None:
        self._halted = True
        self._halt.set()
        self._unparked.set()
        self._limiter.close()

    def _interrupt(self) -> None:
        if not self._halted:
            self._interrupted = True
            log.info("interrupted: waiting for the requests in flight")
            self._stop_all()

    def _abort(self, reason: str, status: int | None) -> None:
        # Recorded even after an interruption: a rejected token is worth knowing.
        if self._aborted is None:
            self._aborted, self._abort_status = reason, status
            log.warning("sending aborted: %s", reason)
        self._stop_all()

    async def _pause(self, delay: float) -> None:
        """Sleep ``delay`` s, or less if sending stops meanwhile."""
        if not self._halted and delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._halt.wait()

    def _not_sent_reason(self) -> str:
        if self._source_error is not None:
            return "not sent: reading the input failed"
        if self._interrupted:
            return "interrupted before sending"
        return f"not sent: {self._aborted}"

    def _report_leftovers(self) -> None:
        """Report the rows taken but never started, then (after a stop) the rest of the input."""
        parked = sorted((r for q in self._busy.values() if q for r in q), key=lambda r: r.row)
        self._busy.clear()
        reason = self._not_sent_reason()
        for request in parked:
            self._finish(_not_sent(request.row, reason))
        if self._halted and not self._exhausted and self._source_error is None:
            for request in self._source:
                self._finish(_not_sent(request.row, reason))

    # -- the pool -------------------------------------------------------------------------

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while True:
            request = await self._take()
            if request is None:
                return
            # Keep the key until its waiting rows are sent: that is what orders them.
            while request is not None:
                self._finish(await self._send(request, task))
                request = self._successor(request.key)

    async def _take(self) -> Request | None:
        """The next request whose key is free (parking the others); None when there is none."""
        while not self._halted and not self._exhausted:
            if self._parked >= MAX_PARKED:
                self._unparked.clear()
                await self._unparked.wait()
                continue
            try:
                request = next(self._source)
            except StopIteration:
                self._exhausted = True
                return None
            except Exception as exc:
                self._source_error = exc
                self._stop_all()
                return None
            if request.key not in self._busy:
                self._busy[request.key] = None
                return request
            waiting = self._busy[request.key]
            if waiting is None:
                waiting = self._busy[request.key] = deque()
            waiting.append(request)
            self._parked += 1
        return None

    def _successor(self, key: str) -> Request | None:
        """The next row waiting for ``key``, or None (and the key is released)."""
        waiting = self._busy[key]
        if not waiting:
            del self._busy[key]
            return None
        if self._halted:
            return None  # left for _report_leftovers
        self._parked -= 1
        self._unparked.set()
        return waiting.popleft()

    def _finish(self, result: Result) -> None:
        self._observer.finished(result)
        if result.status is SendStatus.SUCCESS:
            self._failed_in_row = 0
        elif result.status is SendStatus.FAILED and not self._halted:
            self._failed_in_row += 1
            limit = self._settings.max_consecutive_failures
            if limit and self._failed_in_row > limit:
                self._abort(
                    f"more than {limit} rows failed in a row; last error: {result.error}", None
                )

    def _url(self, token: str) -> URL:
        url = self._urls.get(token)
        if url is None:
            if len(self._urls) >= _MAX_URL_CACHE:
                self._urls.clear()
            # update_query keeps the endpoint's own query and percent-encodes the token.
            url = self._urls[token] = self._endpoint.update_query(lead_token=token)
        return url

    # -- one row --------------------------------------------------------------------------

    async def _send(self, request: Request, task: asyncio.Task[Any]) -> Result:
        """Send one row, retrying as needed; never raises for anything the network does.

        ``task``: the worker's own, which the watchdog cancels at the attempt's deadline.
        """
        settings = self._settings
        limiter = self._limiter
        deadlines = self._deadlines
        row = request.row
        data = _encode(request.body)
        url = self._url(request.token)
        attempt = 0
        status: int | None = None
        error = ""
        waited = 0.0  # on Retry-After, in all
        while True:
            if self._halted or (limiter.active and not await limiter.acquire()):
                return self._stopped(row, attempt, status, error)
            attempt += 1
            self._observer.attempt_started(row, attempt)
            self._requests += 1
            started = limiter.now()
            retry_after: float | None = None
            # One deadline for the attempt, from connecting until the body is read
            # (tests/test_hostile_endpoints.py), whichever await it ends in.
            deadlines.start(task)
            try:
                async with self._session.post(url, data=data, allow_redirects=False) as response:
                    status = code = response.status
                    reason = response.reason or ""
                    if 200 <= status < 300:  # the usual answer needs no header
                        header, location = None, ""
                    else:
                        header = response.headers.get("Retry-After")
                        location = response.headers.get("Location", "")
                    body = await read_answer(response)
            except (TimeoutError, aiohttp.ClientError) as exc:
                failure: BaseException | None = exc
            except asyncio.CancelledError:
                if not deadlines.expired(task):
                    raise  # the pool is stopping: not this attempt's deadline
                failure = TimeoutError()
            else:
                failure = None
            finally:
                deadlines.end(task)
            if failure is not None:
                status = None
                error, retryable = describe_failure(failure, settings.timeout_s)
                if unresolved(failure) and attempt >= DNS_ATTEMPTS:
                    # A name that does not resolve is no outage: every row would wait out
                    # its retries for nothing. Stop, and keep the rows for a rerun.
                    error = f"cannot resolve {self._endpoint.host}"
                    self._abort(error, None)
                    return _not_sent(row, f"not sent: {error}")
            else:
                if body is None:
                    # Not retried: the endpoint took the request and gave an answer no lead
                    # has; sending the lead again would get the same, and a 2xx we cannot
                    # read is no proof the lead was taken.
                    error = describe_too_large(code, MAX_ANSWER_BYTES)
                    return Result(row, SendStatus.FAILED, status, attempt, error, "", "", "")
                ok, error, lead_id, number, sms = parse_response(code, reason, body)
                if ok:
                    if limiter.recovering:
                        limiter.succeeded()
                    return Result(
                        row, SendStatus.SUCCESS, status, attempt, "", lead_id, number, sms
                    )
                if status in TOKEN_REJECTED_STATUSES:
                    self._abort(f"the endpoint rejected the lead token (HTTP {status})", status)
                    return Result(
                        row,
                        SendStatus.NOT_SENT,
                        status,
                        attempt,
                        f"not sent: the endpoint rejected the lead token (HTTP {status})",
                        "",
                        "",
                        "",
                    )
                retryable = status in RETRYABLE_STATUSES
                if status == 429:
                    self._throttled += 1
                    elapsed = max(started - self._t0, 1e-3)
                    limiter.throttled(started, self._requests / elapsed)
                if retryable:
                    retry_after = parse_retry_after(header)
                elif 300 <= code < 400 and location:
                    error += f": the endpoint redirects to {without_query(location)}"
            error = clip_error(scrub(error, request.token))  # scrubbed whole, then cut
            if not retryable:
                return Result(row, SendStatus.FAILED, status, attempt, error, "", "", "")
            if attempt >= settings.max_attempts:
                error = f"{error} after {_attempts(attempt)}"
                return Result(row, SendStatus.FAILED, status, attempt, error, "", "", "")
            if self._halted:
                return self._stopped(row, attempt, status, error)
            if retry_after is None:
                ceiling = settings.backoff_base_s * 2 ** (attempt - 1)
                delay = random.uniform(0, min(settings.backoff_max_s, ceiling))
            elif waited + retry_after > settings.max_retry_wait_s:
                error = describe_gave_up(status, waited, retry_after, settings.max_retry_wait_s)
                return Result(row, SendStatus.FAILED, status, attempt, error, "", "", "")
            else:
                # The endpoint said when: this row waits that long, and so does everyone.
                delay = retry_after
                waited += retry_after
                limiter.hold(limiter.now() + retry_after)
            self._retries += 1
            self._observer.retry_scheduled(row, attempt, error, delay)
            await self._pause(delay)

    def _stopped(self, row: int, attempt: int, status: int | None, error: str) -> Result:
        """The result of a row that sending stopped before it was done."""
        if attempt == 0:
            return _not_sent(row, self._not_sent_reason())
        how = "interrupted" if self._interrupted else "aborted"
        error = f"{how} after {_attempts(attempt)}: {error}"
        return Result(row, SendStatus.FAILED, status, attempt, error, "", "", "")


async def read_answer(
    response: aiohttp.ClientResponse, limit: int = MAX_ANSWER_BYTES
) -> bytes | None:
    """The answer's body (decompressed), or None when it is larger than ``limit`` bytes.

    Read piece by piece, never more than ``limit`` and one piece: a declared length over the
    limit is not read at all, and the connection is dropped rather than drained.
    """
    length = response.content_length
    if length is not None and length > limit:
        response.close()
        return None
    content = response.content
    if content.is_eof():
        # The whole answer came with its headers (a small one does): take it as it is,
        # without the two waits of the loop below. Already received, it is no risk to read.
        body = content.read_nowait()
        if len(body) > limit:
            response.close()
            return None
        return body
    parts: list[bytes] = []
    size = 0
    while piece := await content.readany():
        size += len(piece)
        if size > limit:
            response.close()
            return None
        parts.append(piece)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _not_sent(row: int, reason: str) -> Result:
    return Result(row, SendStatus.NOT_SENT, None, 0, reason, "", "", "")


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"


def _encode(body: Mapping[str, Any] | str | bytes) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    try:
        host = URL(url).host
    except (ValueError, TypeError):
        return False
    if not host:
        return False
    host = host.rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
