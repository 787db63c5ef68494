"""Security: the lead token is never written, cells cannot run as formulas, safe defaults.

Every command runs with a recognisable token (one plain, one that needs percent-encoding in
a URL) and every byte it writes (stdout, stderr, every file of the run folders, the ledger,
the journal, ``--log-file``, the sandbox's own log) is searched for the token in each form
a server or a logger could write it.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import psutil
import pytest
from aiohttp import web
from helpers import EXAMPLE, HEADER, ROOT, invoke, read_results
from yarl import URL

TOKEN = "SeCrEt-lead-TOKEN-4b7e"
ODD_TOKEN = "SeCrEt/tok+en=&?#% 9é"  # every character a URL must encode


def forms(token: str) -> set[bytes]:
    """The token as raw text, percent- or form-encoded, JSON-escaped, or as yarl sends it."""
    texts = {
        token,
        quote(token, safe=""),
        quote(token),
        quote_plus(token),
        json.dumps(token)[1:-1],
        json.dumps(token, ensure_ascii=False)[1:-1],
        URL("http://h/").with_query(lead_token=token).raw_query_string.split("=", 1)[1],
    }
    return {t.encode() for t in texts} | {token.encode("utf-16-le")}


def assert_never_written(token: str, root: Path, *outputs: str) -> int:
    """No form of ``token`` in ``outputs`` or any file under ``root``; returns files read."""
    needles = forms(token)
    for text in outputs:
        for needle in needles:
            assert needle not in text.encode(), f"token in output: {text[-500:]}"
    files = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            files += 1
            for needle in needles:
                assert needle not in data, f"token ({needle!r}) written to {path}"
    return files


def leads_csv(path: Path, rows: int, token_column: str | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*HEADER, *(["Token"] if token_column else [])])
        for i in range(rows):
            phone = f"(303) 555-{i:04d}" if i % 10 != 9 else "12345"  # some invalid rows
            cells = [f"F{i}", "L", phone, f"p{i}@example.com", "", str(i), "CO", "80202", "x"]
            w.writerow([*cells, *([token_column] if token_column else [])])
    return path


# --- the token ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", [TOKEN, ODD_TOKEN])
def test_no_command_writes_the_token(tmp_path: Path, sandbox_factory: Any, token: str) -> None:
    env = {"TRACKDRIVE_LEAD_TOKEN": token}
    work = tmp_path / "work"
    work.mkdir()
    src = leads_csv(work / "leads.csv", 60)
    log_file = work / "nightly.log"
    faulty = sandbox_factory(
        fail_rate=0.2, drop_rate=0.1, commit_then_fail_rate=0.1, latency_ms=(0, 5), seed=4
    )
    outputs: list[str] = []

    def run(*args: Any, codes: tuple[int, ...] = (0, 1)) -> None:
        code, stdout, stderr = invoke(*args, env=env)
        assert code in codes, (args, stderr)
        outputs.extend([stdout, stderr])

    run("validate", src, "-m", EXAMPLE, "--out", work / "validate")
    # A demo-like run through every fault, verbose, one attempt: failures carry messages.
    run(
        "run", src, "-m", EXAMPLE, "--endpoint", faulty.endpoint, "--out", work / "run",
        "--max-attempts", "1", "--unlimited-rate", "--verbose",
    )  # fmt: skip
    run("rerun", work / "run", "--verbose", "--max-attempts", "10", "--unlimited-rate")
    for night in ("n1", "n2"):  # the second night skips unchanged rows through the ledger
        run(
            "run", src, "-m", EXAMPLE, "--endpoint", faulty.endpoint, "--out", work / night,
            "--skip-unchanged", "--ledger", work / "ledger.sqlite", "--log-file", log_file,
            "--unlimited-rate", "--max-attempts", "10",
        )  # fmt: skip
    run(
        "reschedule", src, "-m", EXAMPLE, "--in", "2h", "--endpoint", faulty.endpoint,
        "--out", work / "resched", "--log-file", log_file, "--unlimited-rate",
    )  # fmt: skip
    # A rejected token: exit 3, with --verbose.
    strict = sandbox_factory(tokens=("another-token",))
    run(
        "run", src, "-m", EXAMPLE, "--endpoint", strict.endpoint, "--out", work / "401",
        "--verbose", codes=(3,),
    )  # fmt: skip
    # Nobody listening: connection errors, verbose, aborted after two rows.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/api/v1/leads/create_or_update"
    run(
        "run", src, "-m", EXAMPLE, "--endpoint", closed, "--out", work / "refused",
        "--max-attempts", "1", "--max-consecutive-failures", "2", "--verbose", codes=(3,),
    )  # fmt: skip
    # A verbose error with a traceback: rerun with another token is refused.
    other = {"TRACKDRIVE_LEAD_TOKEN": token + "-other"}
    code, stdout, stderr = invoke("rerun", work / "run", "--verbose", env=other)
    assert code == 2 and "Traceback" in stderr and "lead token differs" in stderr
    outputs.extend([stdout, stderr])
    assert (work / "ledger.sqlite").exists() and log_file.stat().st_size > 0
    assert any((work / "run").glob("journal.jsonl"))
    files = assert_never_written(token, work, *outputs)
    assert files >= 40  # every run folder was searched


@pytest.fixture
def echo_endpoint() -> Iterator[str]:
    """An endpoint that echoes the request URL (with the token) in every kind of error."""
    loop = asyncio.new_event_loop()
    seen: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        url = str(request.url)
        token = request.query.get("lead_token", "")
        seen.append(1)
        kind = len(seen) % 4
        if kind == 0:
            return web.json_response(
                {"status": 422, "errors": {"lead_token": [f"{token} is odd"], "url": [url]}},
                status=422,
            )
        if kind == 1:
            return web.Response(status=500, text=f"<h1>boom at {url} ({token})</h1>")
        if kind == 2:
            return web.Response(status=302, headers={"Location": url})
        return web.json_response({"status": 400, "message": f"bad {url}"}, status=400)

    app = web.Application()
    app.router.add_post("/api/v1/leads/create_or_update", handle)
    runner = web.AppRunner(app, access_log=None)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/api/v1/leads/create_or_update"

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize(
    "token",
    [TOKEN, ODD_TOKEN],
)
def test_a_server_that_echoes_the_token_does_not_make_us_write_it(
    tmp_path: Path, echo_endpoint: str, token: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    src = leads_csv(work / "leads.csv", 20)
    code, stdout, stderr = invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", echo_endpoint, "--out", work / "run",
        "--lead-token", token, "--max-attempts", "2", "--unlimited-rate", "--verbose",
        "--max-consecutive-failures", "100",
    )  # fmt: skip
    assert code == 1, stderr
    errors = {r["error"] for r in read_results(work / "run") if r["status"] == "failed"}
    assert len(errors) >= 3 and any("[lead token]" in e for e in errors), errors
    assert_never_written(token, work, stdout, stderr)


def test_a_token_column_is_never_written(tmp_path: Path, sandbox: Any) -> None:
    work = tmp_path / "work"
    work.mkdir()
    src = leads_csv(tmp_path / "tokens.csv", 30, token_column=TOKEN)  # the user's own file
    mapping = ROOT / "mappings" / "per-row-token.yaml"
    code, stdout, stderr = invoke(
        "run", src, "-m", mapping, "--endpoint", sandbox.endpoint, "--out", work / "run",
        "--unlimited-rate", "--skip-unchanged", "--ledger", work / "ledger.sqlite",
    )  # fmt: skip
    assert code == 1, stderr
    failures = read_results(work / "run", "failures.csv")
    assert failures and {f["Token"] for f in failures} == {"(hidden: lead token)"}
    assert len(sandbox.leads()) == 27  # it was sent, with the column's token
    assert_never_written(TOKEN, work, stdout, stderr)


def test_a_literal_token_in_the_mapping_is_not_copied_to_run_folders(
    tmp_path: Path, sandbox: Any
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    src = leads_csv(work / "leads.csv", 20)
    mapping = tmp_path / "literal.yaml"  # outside the searched folder: the user's own file
    mapping.write_text(
        EXAMPLE.read_text().replace("${TRACKDRIVE_LEAD_TOKEN}", TOKEN), encoding="utf-8"
    )
    down = f"{sandbox.url}/nothing-here"  # 404: every row fails, so rerun has work
    code, stdout, stderr = invoke(
        "run", src, "-m", mapping, "--endpoint", down, "--out", work / "run", "--unlimited-rate"
    )
    assert code == 1, stderr
    outputs = [stdout, stderr]
    for command in (
        ["rerun", work / "run", "--endpoint", sandbox.endpoint],
        ["reschedule", src, "-m", mapping, "--in", "1h", "--endpoint", sandbox.endpoint,
         "--out", work / "resched", "--unlimited-rate"],
    ):  # fmt: skip
        code, stdout, stderr = invoke(*command)
        assert code == 1, stderr
        outputs += [stdout, stderr]
    assert {r["status"] for r in read_results(work / "run")} == {"success", "invalid"}
    assert len(sandbox.leads()) == 18
    assert_never_written(TOKEN, work, *outputs)


def test_the_sandbox_logs_no_token(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "sandbox.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "importer", "sandbox", "--port", str(port)],
            stdout=fh,
            stderr=fh,
        )
    try:
        _wait_listening(port, proc)
        src = leads_csv(tmp_path / "leads.csv", 10)
        endpoint = f"http://127.0.0.1:{port}/api/v1/leads/create_or_update"
        code, stdout, stderr = invoke(
            "run", src, "-m", EXAMPLE, "--endpoint", endpoint, "--out", tmp_path / "run",
            "--lead-token", ODD_TOKEN, "--unlimited-rate",
        )  # fmt: skip
        assert code == 1, stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/requests") as answer:
            requests = answer.read().decode()
        assert len(json.loads(requests)) == 9
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    text = log.read_text()
    assert text.count("POST /api/v1/leads/create_or_update 200") == 9  # it does log requests
    assert_never_written(ODD_TOKEN, tmp_path, stdout, stderr, requests)


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sandbox exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the sandbox did not start listening")


# --- formula injection -------------------------------------------------------------------

# What Excel and LibreOffice evaluate when a CSV cell starts with it (OWASP's list).
_FORMULA = re.compile(r"^[=+\-@\t\r]")
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
INJECTIONS = [
    '=HYPERLINK("http://x","y")',
    "@SUM(1)",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "=1+1",
    '=cmd|"/C calc"!A0',
    "\t=1+1",
    "-@SUM(A1)",
]


def _cells_as_a_spreadsheet_reads_them(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _would_run(cell: str) -> bool:
    return bool(_FORMULA.match(cell)) and not _NUMBER.match(cell)


def test_formula_cells_are_text_in_every_output_csv(tmp_path: Path, sandbox: Any) -> None:
    header = [*HEADER, '=HYPERLINK("http://x","h")']
    rows = []
    for i, cell in enumerate(INJECTIONS):
        # As a phone (invalid, so in failures.csv and in the error), an email, a data token.
        rows.append([cell, "x", cell, cell, "", cell, "CO", "80202", "web", cell])
        rows.append([cell, cell, f"(303) 555-{i:04d}", "", "", cell, "CO", "80202", cell, cell])
    # Controls: a valid row whose phone is written with a +, an invalid one with numbers.
    rows.append(["Ann", "Lee", "+1 303 555 0998", "", "", "10", "CO", "80202", "web", "3"])
    # (invalid for its time: an unusable email alone on a row with a good phone is a warning)
    rows.append(["-5", "+7", "303 555 0997", "bad-email", "soon", "-1.5", "CO", "80202", "w", "3"])
    src = tmp_path / "f.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        EXAMPLE.read_text().replace(
            "include_unmapped_columns: false", "include_unmapped_columns: true"
        )
    )
    for command, out in (("validate", tmp_path / "v"), ("run", tmp_path / "r")):
        extra = ["--endpoint", sandbox.endpoint, "--lead-token", TOKEN] if command == "run" else []
        code, _, stderr = invoke(command, src, "-m", mapping, "--out", out, *extra)
        assert code == 1, stderr
        seen = set()
        for name in ("results.csv", "failures.csv"):
            table = _cells_as_a_spreadsheet_reads_them(out / name)
            for line in table:
                for cell in line:
                    assert not _would_run(cell), (name, cell)
                    seen.add(cell)
        # Shown as text, not lost: each injection is in failures.csv behind one apostrophe.
        for cell in INJECTIONS:
            assert "'" + cell in seen, cell
        assert {"+13035550998", "-5", "+7", "-1.5"} <= seen  # numbers stay readable
        assert "'+1 303 555 0997" not in seen and "'+1 303 555 0998" not in seen
    sent = [r["body"] for r in sandbox.requests()]
    assert any(b["data"].get("first_name") == "=1+1" for b in sent)  # sent as the user wrote


# --- safe defaults -----------------------------------------------------------------------


def test_the_sandbox_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    code, stdout, _ = invoke("sandbox", "--help")
    assert code == 0 and re.search(
        r"--host TEXT\s+Address to listen on.\s+\[default: 127\.0\.0\.1\]", stdout
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, proc)
        listening = [
            c.laddr
            for c in psutil.Process(proc.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert listening and {addr.ip for addr in listening} == {"127.0.0.1"}, listening
    assert b"other machines" not in err  # the warning is for another --host only


UNSAFE = [
    "!!python/object/apply:os.system ['touch {marker}']\n",
    "version: 1\nfields: !!python/object/apply:os.system ['touch {marker}']\n",
    "version: 1\nfields:\n  caller_id: !!python/object/new:os.system ['touch {marker}']\n",
    "version: 1\nlead_token: !!python/name:os.system\nfields:\n  caller_id: Phone\n",
]


@pytest.mark.parametrize("text", UNSAFE)
def test_yaml_tags_that_run_code_are_refused(tmp_path: Path, text: str, sandbox: Any) -> None:
    marker = tmp_path / "pwned"
    mapping = tmp_path / "evil.yaml"
    mapping.write_text(text.format(marker=marker))
    src = leads_csv(tmp_path / "leads.csv", 3)
    for command in (
        ["validate", src, "-m", mapping, "--out", tmp_path / "v"],
        ["run", src, "-m", mapping, "--endpoint", sandbox.endpoint, "--lead-token", TOKEN],
        ["mapping", "init", src],  # (no mapping read; control that the CLI runs)
    ):
        code, stdout, stderr = invoke(*command)
        if command[0] == "mapping":
            assert code == 0 and "caller_id: Phone" in stdout
            continue
        assert code == 2 and "not valid YAML" in stderr and stderr.count("\n") == 1, stderr
    assert not marker.exists() and sandbox.requests() == []


def test_a_tampered_run_folder_mapping_is_refused_by_rerun(tmp_path: Path, sandbox: Any) -> None:
    src = leads_csv(tmp_path / "leads.csv", 5)
    out = tmp_path / "run"
    code, _, stderr = invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", f"{sandbox.url}/gone", "--out", out,
        "--lead-token", TOKEN,
    )  # fmt: skip
    assert code == 1, stderr
    marker = tmp_path / "pwned"
    (out / "mapping.yaml").write_text(UNSAFE[0].format(marker=marker))
    code, _, stderr = invoke("rerun", out, "--endpoint", sandbox.endpoint, "--lead-token", TOKEN)
    assert code == 2 and "not valid YAML" in stderr
    assert not marker.exists() and sandbox.requests() == []
