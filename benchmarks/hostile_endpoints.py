"""Hostile endpoints and webhooks, and what `leadimport run` does with each: time, peak memory.

A raw asyncio server on 127.0.0.1 plays every behaviour by path: answers that never end
(chunked, a Content-Length of 2 GiB, HTTP/1.0 closed-delimited, a gzip bomb), an answer
that drips a byte at a time, a Retry-After of 31 years, and the same for the webhook. Each
run is a child process under an address-space limit and a timeout, so the machine
survives the old code (which read every answer whole and waited 300 s per Retry-After):

    python benchmarks/hostile_endpoints.py                       # this tree
    python benchmarks/hostile_endpoints.py --only gzip-bomb --limit-gb 2
    git archive HEAD | tar -x -C /tmp/before                      # an older tree …
    python benchmarks/hostile_endpoints.py --tree /tmp/before --limit-gb 1 --timeout 30

tests/test_hostile_endpoints.py runs the same cases with the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Outcome
from common import run_limited as limited  # noqa: E402
from gen_leads import COLUMNS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "mappings" / "example.yaml"
HEADER = COLUMNS  # the columns of every sample and of mappings/example.yaml
TOKEN = "hostile-TOKEN-5c1d"
ROWS = 4  # sent at once: the old code held four endless answers together

_MB = 1 << 20
_ENDLESS = 8 << 30  # what an endless answer sends at most, if the client never hangs up
_PIECE = b"x" * (64 << 10)
_OK = json.dumps(
    {"status": 200, "errors": {}, "lead": {"id": 7}, "metadata": {"root": "lead"}}
).encode()


def _gzip_bomb() -> tuple[bytes, bytes]:
    """A gzip header and first block, then a block that can repeat: each inflates to 1 MiB
    of zeros from a window of zeros (a sync flush ends every block on a byte)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(_MB)
    head = packer.compress(zeros) + packer.flush(zlib.Z_SYNC_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_SYNC_FLUSH)
    return head, block


class HostileServer:
    """Every hostile behaviour on one port, by path; runs on its own thread and loop."""

    def __init__(self) -> None:
        self.port = 0
        self.hits: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._bomb = _gzip_bomb()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split()[1].partition("?")[0].strip("/")
            length = next(
                (int(v) for k, _, v in (h.partition(":") for h in lines[1:])
                 if k.lower() == "content-length"),
                0,
            )  # fmt: skip
            await reader.readexactly(length)
            self.hits.append(path)
            await getattr(self, "_" + path.replace("-", "_"))(writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _stream(writer: asyncio.StreamWriter, piece: bytes, chunked: bool = False) -> None:
        """Write ``piece`` again and again until the client hangs up (or ``_ENDLESS``)."""
        framed = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        sent = 0
        while sent < _ENDLESS:
            writer.write(framed)
            await writer.drain()
            sent += len(piece)

    @staticmethod
    def _status(code: str, *headers: str) -> bytes:
        lines = [f"HTTP/1.1 {code}", "Connection: close", *headers, "", ""]
        return "\r\n".join(lines).encode()

    async def _ok(self, writer: asyncio.StreamWriter) -> None:
        writer.write(
            self._status("200 OK", "Content-Type: application/json", f"Content-Length: {len(_OK)}")
            + _OK
        )
        await writer.drain()

    async def _chunked(self, writer: asyncio.StreamWriter) -> None:
        writer.write(self._status("200 OK", "Transfer-Encoding: chunked"))
        await self._stream(writer, _PIECE, chunked=True)

    async def _length(self, writer: asyncio.StreamWriter) -> None:
        writer.write(self._status("200 OK", f"Content-Length: {2 << 30}"))
        await self._stream(writer, _PIECE)

    async def _http10(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
        await self._stream(writer, _PIECE)

    async def _gzip_bomb(self, writer: asyncio.StreamWriter) -> None:
        head, block = self._bomb
        writer.write(
            self._status("200 OK", "Content-Encoding: gzip", "Transfer-Encoding: chunked")
            + b"%x\r\n%s\r\n" % (len(head), head)
        )
        await self._stream(writer, block, chunked=True)

    async def _drip(self, writer: asyncio.StreamWriter) -> None:
        writer.write(self._status("200 OK", f"Content-Length: {1 << 20}"))
        for _ in range(1 << 20):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.25)

    async def _retry_after(self, writer: asyncio.StreamWriter) -> None:
        writer.write(self._status("429 Too Many Requests", "Retry-After: 999999999"))
        await writer.drain()

    async def _hook_drip(self, writer: asyncio.StreamWriter) -> None:
        """Headers that never end, a byte at a time: each read is quick, the answer never."""
        writer.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        for _ in range(1 << 20):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.25)

    _hook_big = _length


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile behaviour: the endpoint's path, the webhook's, and the extra options."""

    endpoint: str
    hook: str | None = None
    options: tuple[str, ...] = ()


CASES = {
    "chunked": Case("chunked"),
    "content-length": Case("length"),
    "http-1.0": Case("http10"),
    "gzip-bomb": Case("gzip-bomb"),
    "slow-drip": Case("drip", options=("--timeout", "2", "--max-attempts", "2")),
    "retry-after": Case("retry-after"),
    "webhook-drip": Case("ok", hook="hook-drip"),
    "webhook-big": Case("ok", hook="hook-big"),
}


def write_leads(path: Path, rows: int = ROWS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(
                [f"N{i}", "L", f"(303) 555-{i:04d}", "", "", "10", "CO", "80202", "crm"]
            )
    return path


def command(server: HostileServer, case: Case, leads: Path, out: Path) -> list[str]:
    """`leadimport run` of ``leads`` against ``case``, as a child runs it."""
    cmd = [sys.executable, "-m", "importer", "run", str(leads), "-m", str(EXAMPLE)]
    cmd += ["--endpoint", server.url(case.endpoint), "--lead-token", TOKEN, "--out", str(out)]
    cmd += ["--unlimited-rate", "-q", *case.options]
    if case.hook is not None:
        cmd += ["--notify", server.url(case.hook)]
    return cmd


def run_limited(
    cmd: list[str], *, limit_bytes: int, timeout_s: float, tree: Path = ROOT
) -> Outcome:
    """``common.run_limited`` in ``tree`` (``python -m`` puts the working folder first)."""
    env = {"PYTHONPATH": str(tree)}
    return limited(cmd, limit_bytes=limit_bytes, timeout_s=timeout_s, env=env, cwd=tree)


def read_results(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-gb", type=float, default=2, help="address-space limit")
    parser.add_argument("--timeout", type=float, default=60, help="seconds before a kill")
    parser.add_argument("--only", action="append", help="one case name (repeatable)")
    parser.add_argument("--tree", type=Path, help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    names = args.only or list(CASES)
    print(f"RLIMIT_AS {args.limit_gb:g} GiB, timeout {args.timeout:g} s, {ROWS} rows at once")
    print(f"| {'case':15} | {'time':>8} | {'peak RSS':>9} | outcome | first error in results.csv |")
    print(f"|{'-' * 17}|{'-' * 10}|{'-' * 11}|---------|---|")
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp, hostile_server() as server:
        folder = Path(tmp)
        leads = write_leads(folder / "leads.csv")
        for name in names:
            out = folder / f"out-{name}"
            got = run_limited(
                command(server, CASES[name], leads, out),
                limit_bytes=int(args.limit_gb * (1 << 30)),
                timeout_s=args.timeout,
                tree=(args.tree or ROOT).resolve(),
            )
            rows = read_results(out) if (out / "results.csv").exists() else []
            said = rows[0]["error"] or rows[0]["status"] if rows else got.stderr.strip()[-120:]
            warning = [line for line in got.stderr.splitlines() if "warning" in line]
            print(
                f"| {name:15} | {got.seconds:6.2f} s | {got.peak_mb:6.0f} MB | {got.status} | "
                f"{said} {' '.join(warning)} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
