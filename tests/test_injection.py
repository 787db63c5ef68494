"""Terminal and log injection (issue 11, item 3): ESC sequences in cells, in a file's name and
in the endpoint's error text never reach a terminal, a log, summary.json, report.html or the
webhook raw; and no cell value reaches summary.json, the logs, the webhook or the report.

The console may show one offending value per top problem, cut and escaped. The endpoint is a
small hostile aiohttp server of this file's own on 127.0.0.1 that answers every lead with a
422 whose error text holds ESC sequences and a bare CR before a fake "ALL DONE".
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiohttp import web
from helpers import invoke, on_terminal

from importer.clean import normalize_phones
from importer.record import Tally

# Every C0 and C1 control character but the line feed.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
LONG = "\x1b[2J" + "FLOOD" * 30 + "\x1b]0;pwned-title\x07"
CELLS = {
    2: LONG,  # clears the screen, sets the window title; cut in messages
    3: "O'Brien 1-800-FLOWERS",  # a quote inside the value
    4: "212-555-0147\rALL ROWS OK",  # a bare CR: the line is written over
}
NAME = "Zelda\x1b[2J\rALL ROWS OK"  # the name of row 5, a valid row the endpoint refuses
# Text that is in the cells only: none of it may be in summary.json, logs, webhook, report.
CELL_WORDS = ["FLOOD", "pwned-title", "Brien", "FLOWERS", "ALL ROWS OK", "Zelda", "0147"]
ENDPOINT_TEXT = "\x1b[2J\x1b]0;endpoint-title\x07server says no\rALL DONE"
# How the endpoint's words read, escaped (the CR may be escaped or read as a space).
ENDPOINT_SHOWN = "HTTP 422: \\x1b[2J\\x1b]0;endpoint-title\\x07server says no"
LETTERS = "Phone: '…' contains letters; write the phone number in digits"
MAPPING = "version: 1\nfields:\n  caller_id: Phone\ndata:\n  name: Name\n"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "leads\x1b]0;file-title\x07.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Phone", "Name"])
        writer.writerows([[cell, "Ann"] for cell in CELLS.values()])
        writer.writerow(["212-555-0148", NAME])
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return src, mapping


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A hostile endpoint on 127.0.0.1: 422, its error text full of ESC sequences."""

    async def refuse(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"error": ENDPOINT_TEXT}, status=422)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/{tail:.*}", refuse)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/api/v1/leads/create_or_update"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


class _Webhook(BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[bytes]]]:
    """A listener on 127.0.0.1 that keeps the raw bodies POSTed to it."""
    bodies: list[bytes] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Webhook,), {"bodies": bodies}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    server.shutdown()
    server.server_close()


def _run_args(src: Path, mapping: Path, endpoint: str, out: Path, *extra: Any) -> list[str]:
    args = ["run", src, "-m", mapping, "--endpoint", endpoint, "--lead-token", "tok-inject"]
    return [str(a) for a in [*args, "--out", out, "--yes", *extra]]


def _no_cell_value(where: str, text: str) -> None:
    found = [w for w in CELL_WORDS if w in text]
    assert found == [], f"{where} holds cell text {found}"


def test_nothing_raw_reaches_the_console_logs_summary_report_or_webhook(
    tmp_path: Path, endpoint: str, webhook: tuple[str, list[bytes]]
) -> None:
    src, mapping = _files(tmp_path)
    out, log_file = tmp_path / "out", tmp_path / "nightly.log"
    url, bodies = webhook
    code, stdout, stderr = invoke(
        *_run_args(src, mapping, endpoint, out, "--log-file", log_file, "--notify", url)
    )
    assert code == 1, stderr
    assert CONTROL.search(stdout + stderr) is None, repr(stdout + stderr)
    # The console: the file name escaped, one offending value cut and escaped, the reasons.
    assert "run: " + str(src).replace("\x1b", "\\x1b").replace("\x07", "\\x07") in stdout
    shown = "'\\x1b[2J" + ("FLOOD" * 30)[:76] + "…'"
    assert f"3 × {LETTERS}  (rows 2, 3, 4, e.g. {shown})" in stdout, stdout
    assert f"1 × {ENDPOINT_SHOWN}" in stdout and "ALL DONE  (rows 5)" in stdout, stdout
    assert f"  failures: {out / 'failures.csv'}\n" in stdout
    assert f"  report:   {out / 'report.html'}\n" in stdout
    # Files and the webhook: no control character, no cell value.
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [(r["reason"][: len(ENDPOINT_SHOWN)], r["rows"]) for r in summary["top_reasons"]] == [
        (LETTERS[: len(ENDPOINT_SHOWN)], [2, 3, 4]),
        (ENDPOINT_SHOWN, [5]),
    ]
    (body,) = bodies
    text = json.loads(body)["text"]
    assert f"Report: {out.absolute() / 'report.html'}" in text
    assert CONTROL.search(text) is None, text
    for name, data in [
        ("run.log", (out / "run.log").read_bytes()),
        ("--log-file", log_file.read_bytes()),
        ("summary.json", (out / "summary.json").read_bytes()),
        ("report.html", (out / "report.html").read_bytes()),
        ("webhook", body),
    ]:
        decoded = data.decode("utf-8")
        assert CONTROL.search(decoded) is None, (name, CONTROL.search(decoded))
        _no_cell_value(name, decoded)
    logged = (out / "run.log").read_text(encoding="utf-8")
    assert f"row 5: failed: {ENDPOINT_SHOWN}" in logged and LETTERS in logged


def test_quiet_prints_the_results_and_failures_and_nothing_raw(
    tmp_path: Path, endpoint: str
) -> None:
    src, mapping = _files(tmp_path)
    out = tmp_path / "out"
    code, stdout, stderr = invoke(*_run_args(src, mapping, endpoint, out, "-q"))
    assert code == 1, stderr
    assert stdout == f"{out / 'results.csv'}\n{out / 'failures.csv'}\n"
    assert CONTROL.search(stderr) is None, repr(stderr)


def test_a_real_terminal_gets_no_escape_sequence(tmp_path: Path) -> None:
    src, mapping = _files(tmp_path)
    code, screen = on_terminal(["validate", src, "-m", mapping, "--out", tmp_path / "out"])
    assert code == 1, screen
    text = screen.replace("\r\n", "\n")  # the terminal's own line endings
    assert CONTROL.search(text) is None, repr(text)
    assert "validate: " in text and "\\x1b]0;file-title\\x07.csv" in text
    assert f"3 × {LETTERS}  (rows 2, 3, 4, e.g. '\\x1b[2JFLOOD" in text


@pytest.mark.parametrize(
    "cell",
    [
        "O'Brien 1-800-FLOWERS",
        "1-800-FLOWERS' or 'x",
        "O'Brien ends in a backslash\\",
        "a | b FLOWERS",  # the separator of a row's problems inside the value
        "\x1b[2JO'Brien\x1b]0;x\x07",
    ],
)
def test_a_quote_in_a_cell_does_not_defeat_the_hiding(cell: str) -> None:
    errors = normalize_phones(pd.Series([cell], dtype="str"), "US").errors
    tally = Tally()
    tally.add(pd.DataFrame({"row": [2], "status": ["invalid"], "error": ["Phone: " + errors[0]]}))
    assert [r["reason"] for r in tally.top_reasons()] == [LETTERS]
