"""How fast does `leadimport run` send? Compared, in the same run, with:

  * a bare aiohttp client loop (one session, 64 workers, pre-built bodies): the ceiling
  * csv2http (a CSV-to-HTTP tool from PyPI, ``-c 64``), installed on demand into a venv of
    its own under benchmarks/.venvs/ (it pins an old httpx)
  * a sequential ``requests.Session`` loop
  * ``xargs -P 16 curl``

all against the same minimal local responder (a bare aiohttp.web handler in another
process, not the sandbox). Goals (issues 4 and 14): leadimport (the whole process, 50k
rows) reaches >= 80 % of the bare loop's requests/s, and is >= 8x csv2http, >= 5x the
requests loop and >= 20x xargs curl.

    python benchmarks/bench_run.py [--rows 50000] [--rounds 3]

The clients run in rounds (each once a round, one after the other) and every ratio is the
median of its rounds': the machine's speed drifts within minutes, more than the ratios'
margins.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PY, ROOT, free_port, timed, wait_port  # noqa: E402
from gen_leads import write_leads_csv  # noqa: E402

EXAMPLE = ROOT / "mappings" / "example.yaml"
VENVS = ROOT / "benchmarks" / ".venvs"
PATH = "/api/v1/leads/create_or_update"
ANSWER = json.dumps(
    {"status": 200, "errors": {}, "lead": {"id": 1}, "metadata": {"root": "lead"}}
).encode()


def responder(port: int) -> None:
    """The minimal endpoint: read the body, answer a fixed 200 JSON."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def bare_loop(url: str, n: int) -> None:
    """The ceiling: one session, 64 workers, bodies built before the clock starts."""
    import aiohttp

    bodies = [json.dumps({"caller_id": f"+1212555{i % 10000:04d}"}).encode() for i in range(n)]

    async def go() -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for b in bodies:
            queue.put_nowait(b)
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    async with session.post(
                        url, data=body, headers={"Content-Type": "application/json"}
                    ) as resp:
                        await resp.read()

            await asyncio.gather(*(worker() for _ in range(64)))

    asyncio.run(go())


def requests_loop(url: str, n: int) -> None:
    """A sequential requests.Session loop."""
    import requests

    with requests.Session() as s:
        for i in range(n):
            s.post(
                url, json={"caller_id": f"+1212555{i % 10000:04d}"}, timeout=10
            ).raise_for_status()


def csv2http() -> Path:
    """The csv2http command, installed into benchmarks/.venvs/csv2http on first use."""
    home = VENVS / "csv2http"
    command = home / "bin" / "csv2http"
    if not command.exists():
        print(f"installing csv2http into {home} …", flush=True)
        VENVS.mkdir(parents=True, exist_ok=True)
        (VENVS / ".gitignore").write_text("*\n")  # a tool cache, never committed
        venv.create(home, with_pip=True)
        subprocess.run(
            [str(home / "bin" / "python"), "-m", "pip", "install", "-q", "csv2http"], check=True
        )
    return command


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in ("responder", "bare", "requests"):
        mode = sys.argv[1]
        if mode == "responder":
            responder(int(sys.argv[2]))
        elif mode == "bare":
            bare_loop(sys.argv[2], int(sys.argv[3]))
        else:
            requests_loop(sys.argv[2], int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--csv2http-rows", type=int, default=10_000)
    parser.add_argument("--requests-rows", type=int, default=3_000)
    parser.add_argument("--curl-rows", type=int, default=1_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="each client runs once a round, one after the other; a goal's ratio is the "
        "median of its rounds' (default: 3)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}{PATH}"
    server = subprocess.Popen([PY, __file__, "responder", str(port)])
    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    rounds: list[dict[str, float]] = []
    try:
        wait_port(port)
        csv_path = work / "leads.csv"
        write_leads_csv(csv_path, args.rows, seed=7)
        c2h_csv = work / "c2h.csv"
        write_leads_csv(c2h_csv, args.csv2http_rows, seed=7)
        c2h_command = str(csv2http())
        bodies = work / "bodies.txt"
        bodies.write_text(
            "".join(f'{{"caller_id":"+1212555{i:04d}"}}\n' for i in range(args.curl_rows))
        )
        for n in range(args.rounds):
            figures = one_round(args, url, csv_path, c2h_csv, c2h_command, bodies, work / f"r{n}")
            if figures is None:
                return 2
            rounds.append(figures)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    # The machine's speed drifts by 10-30 % within minutes: the clients of one round ran
    # within a minute of each other, so each round gives its own ratios, and the median of
    # those is the figure (a slow minute spoils one round, not the result).
    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def ratio(key: str) -> float:
        return statistics.median(r["leadimport_rps"] / r[key] for r in rounds)

    sent = int(rounds[0]["leadimport_requests"])
    print(f"{'client':<28}{'requests/s':>12}{'vs leadimport':>16}   (medians of {len(rounds)})")
    for name, key in (
        ("bare aiohttp loop (64)", "bare_aiohttp_rps"),
        ("leadimport run (whole)", "leadimport_rps"),
        ("csv2http -c 64", "csv2http_rps"),
        ("requests.Session loop", "requests_loop_rps"),
        ("xargs -P 16 curl", "xargs_curl_rps"),
    ):
        print(f"{name:<28}{median(key):>12.0f}{ratio(key):>15.2f}x")
    goals = [
        (">= 0.8 of the bare loop", "bare_aiohttp_rps", 0.8),
        (">= 8x csv2http", "csv2http_rps", 8),
        (">= 5x requests loop", "requests_loop_rps", 5),
        (">= 20x xargs curl", "xargs_curl_rps", 20),
    ]
    # On a shared machine wall time follows what else runs; CPU time is what each one costs.
    print(
        f"CPU (median): bare loop {median('bare_aiohttp_cpu_s'):.2f} s ({args.rows} requests), "
        f"leadimport {median('leadimport_cpu_s'):.2f} s ({sent} requests, whole process)"
    )
    for goal, key, limit in goals:
        each = ", ".join(f"{r['leadimport_rps'] / r[key]:.2f}" for r in rounds)
        value = ratio(key)
        print(f"  {'PASS' if value >= limit else 'MISS'}  {goal}: {value:.2f}  (rounds: {each})")
    if args.json:
        summary = {k: round(median(k), 1) for k in rounds[0]}
        args.json.write_text(json.dumps({**summary, "rounds": rounds}, indent=2))
    return 0


def one_round(
    args: argparse.Namespace,
    url: str,
    csv_path: Path,
    c2h_csv: Path,
    c2h_command: str,
    bodies: Path,
    out: Path,
) -> dict[str, float] | None:
    """Each client once, one after the other; their requests/s (None: csv2http failed)."""
    figures: dict[str, float] = {}
    bare = timed([PY, __file__, "bare", url, str(args.rows)])
    figures["bare_aiohttp_rps"] = args.rows / bare.seconds
    figures["bare_aiohttp_cpu_s"] = bare.cpu_seconds

    run = timed(
        [
            PY, "-m", "importer", "run", str(csv_path), "-m", str(EXAMPLE),
            "--endpoint", url, "--lead-token", "bench", "--unlimited-rate",
            "--concurrency", "64", "--out", str(out), "-q", "--yes",
        ]
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    sent = summary["requests"] or args.rows  # the rate is of the requests actually sent
    figures["leadimport_rows"] = summary["rows"]
    figures["leadimport_requests"] = sent
    figures["leadimport_rps"] = sent / run.seconds
    figures["leadimport_cpu_s"] = run.cpu_seconds
    shutil.rmtree(out, ignore_errors=True)

    c2h = timed([c2h_command, "-c", "64", "-n", str(c2h_csv), url], cwd=c2h_csv.parent)
    if c2h.returncode != 0:
        print(f"csv2http failed with exit {c2h.returncode}", file=sys.stderr)
        return None
    figures["csv2http_rps"] = args.csv2http_rows / c2h.seconds

    req = timed([PY, __file__, "requests", url, str(args.requests_rows)])
    figures["requests_loop_rps"] = args.requests_rows / req.seconds

    curl = (
        f"xargs -P 16 -I BODY curl -s -o /dev/null -H 'Content-Type: application/json' "
        f"-d BODY {url} < {bodies}"
    )
    xc = timed(["sh", "-c", curl])
    figures["xargs_curl_rps"] = args.curl_rows / xc.seconds
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
