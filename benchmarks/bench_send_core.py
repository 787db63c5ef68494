"""How much the sender costs: ``send_rows`` against a bare aiohttp loop, same responder.

Both send N requests to a minimal aiohttp.web responder running in another process on
127.0.0.1: the bare loop with one session, 64 workers and pre-built bodies (the ceiling),
``send_rows`` with no rate limit and concurrency 64 (bodies as dicts, and as pre-encoded
JSON as the pipeline builds them). Each is run three times, interleaved, and the best
kept. Besides requests/s, the client's CPU time per request is shown: on a shared machine it
is steadier than wall time, and it is what the sender itself costs.

    .venv/bin/python benchmarks/bench_send_core.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from importer.send import Request, Result, SendSettings, send_rows

WORKERS = 64
ANSWER = json.dumps(
    {
        "status": 200,
        "errors": {},
        "lead": {"id": 1, "uuid": "u-1", "status": "scheduled", "trackdrive_number_plain": ""},
        "metadata": {"root": "lead"},
    }
).encode()


def serve() -> None:
    """The responder: read the body, answer a fixed lead envelope; print the port."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ANSWER, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/leads", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def bodies(n: int) -> list[dict[str, Any]]:
    return [
        {"caller_id": f"+1555{i:07d}", "email": f"lead{i}@example.com", "data": {"zip": "10001"}}
        for i in range(n)
    ]


Timing = tuple[float, float]  # (wall seconds, client CPU seconds)


async def bare_loop(url: str, n: int) -> Timing:
    """The ceiling: one session, 64 workers, pre-built bodies, nothing else."""
    prebuilt = [json.dumps(b).encode() for b in bodies(n)]
    target = f"{url}?lead_token=bench-token"
    headers = {"Content-Type": "application/json"}
    source = iter(prebuilt)
    connector = aiohttp.TCPConnector(limit=WORKERS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for body in source:
                async with session.post(target, data=body, headers=headers) as response:
                    await response.read()

        began, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        return time.perf_counter() - began, time.process_time() - cpu


class Counting:
    """An observer that only counts (the pipeline's does more; that is its own cost)."""

    def __init__(self) -> None:
        self.success = 0

    def attempt_started(self, row: int, attempt: int) -> None:
        pass

    def retry_scheduled(self, row: int, attempt: int, reason: str, delay_s: float) -> None:
        pass

    def finished(self, result: Result) -> None:
        self.success += result.lead_id == "1"


async def sender(url: str, n: int, *, encoded: bool) -> Timing:
    """``send_rows`` over requests built beforehand, like the bare loop's bodies."""
    requests = [
        Request(
            row=i + 2,
            key=f"t:{body['caller_id']}",
            body=json.dumps(body) if encoded else body,
            token="bench-token",
        )
        for i, body in enumerate(bodies(n))
    ]
    observer = Counting()
    settings = SendSettings(endpoint=url, rate=None, concurrency=WORKERS, timeout_s=30)
    began, cpu = time.perf_counter(), time.process_time()
    report = await send_rows(iter(requests), settings, observer)
    timing = time.perf_counter() - began, time.process_time() - cpu
    assert observer.success == n and report.requests == n, (observer.success, report)
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    responder = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert responder.stdout is not None
        url = f"http://127.0.0.1:{responder.stdout.readline().strip()}/leads"
        n = args.rows
        runs: dict[str, Callable[[], Coroutine[Any, Any, Timing]]] = {
            "bare aiohttp loop (64 workers)": lambda: bare_loop(url, n),
            "send_rows, dict bodies": lambda: sender(url, n, encoded=False),
            "send_rows, pre-encoded bodies": lambda: sender(url, n, encoded=True),
        }
        asyncio.run(bare_loop(url, 2000))  # warm up both processes
        wall: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for _ in range(3):
            for name, run in runs.items():
                elapsed, used = asyncio.run(run())
                wall[name] = min(wall.get(name, float("inf")), elapsed)
                cpu[name] = min(cpu.get(name, float("inf")), used)
        bare = "bare aiohttp loop (64 workers)"
        print(f"{n} requests to a local responder in another process; best of 3")
        print(f"{'':32} {'req/s':>7} {'of bare':>8} {'client CPU/req':>15} {'of bare':>8}")
        for name in runs:
            rate, per = n / wall[name], cpu[name] / n
            print(
                f"{name:32} {rate:7.0f} {wall[bare] / wall[name]:8.0%} "
                f"{per * 1e6:12.0f} µs {cpu[bare] / cpu[name]:8.0%}"
            )
    finally:
        responder.terminate()
        responder.wait()


if __name__ == "__main__":
    main()
