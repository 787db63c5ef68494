"""Nightly imports: --skip-unchanged and its ledger, the lock, several files, logs, webhook."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from helpers import EXAMPLE, HEADER, invoke
from helpers import read_results as results

from importer.record import LedgerLock

TOKEN = "nightly-TOKEN-77aa01"


def write(path: Path, amounts: list[str], first: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i, amount in enumerate(amounts, start=first):
            w.writerow([f"N{i}", "L", f"(303) 555-{i:04d}", "", "", amount, "CO", "80202", "crm"])
    return path


def nightly(src: Path, server: Any, out: Path, ledger: Path, *extra: Any) -> tuple[int, str, str]:
    return invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--lead-token", TOKEN,
        "--out", out, "--skip-unchanged", "--ledger", ledger, "--unlimited-rate", *extra,
    )  # fmt: skip


def test_unchanged_rows_are_not_sent_again_and_changed_ones_are(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    ledger = tmp_path / "ledger.sqlite"
    src = write(tmp_path / "crm.csv", [str(100 + i) for i in range(20)])
    code, _, stderr = nightly(src, server, tmp_path / "n1", ledger)
    assert code == 0, stderr
    assert len(server.requests()) == 20

    code, stdout, stderr = nightly(src, server, tmp_path / "n2", ledger)
    assert code == 0, stderr
    assert len(server.requests()) == 20  # nothing sent the second night
    rows = results(tmp_path / "n2")
    assert {r["status"] for r in rows} == {"skipped"}
    assert (
        rows[0]["error"].startswith("unchanged since ") and str(tmp_path / "n1") in rows[0]["error"]
    )

    write(src, [str(100 + i) if i != 5 else "999" for i in range(20)])
    code, _, stderr = nightly(src, server, tmp_path / "n3", ledger)
    assert code == 0, stderr
    sent = server.requests()[20:]
    assert [r["caller_id"] for r in sent] == ["+13035550005"]
    assert server.lead("+13035550005")["data"]["loan_amount"] == "999"
    assert [r["status"] for r in results(tmp_path / "n3")].count("success") == 1
    ledger_bytes = ledger.read_bytes()
    assert TOKEN.encode() not in ledger_bytes


def test_a_failed_row_is_sent_again_the_next_night(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(fail_rate=0.4, seed=4)
    ledger = tmp_path / "ledger.sqlite"
    src = write(tmp_path / "crm.csv", [str(i) for i in range(30)])
    nightly(src, server, tmp_path / "n1", ledger, "--max-attempts", "1")
    night1 = results(tmp_path / "n1")
    failed = {r["caller_id"] for r in night1 if r["status"] == "failed"}
    assert failed and len(failed) < 30
    before = len(server.requests())
    nightly(src, server, tmp_path / "n2", ledger, "--max-attempts", "1")
    resent = {r["caller_id"] for r in server.requests()[before:]}
    assert resent == failed


def test_second_run_is_refused_while_the_lock_is_held(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    ledger = tmp_path / "ledger.sqlite"
    src = write(tmp_path / "crm.csv", ["1", "2"])
    lock = LedgerLock(ledger)
    lock.acquire()
    try:
        code, _, stderr = nightly(src, server, tmp_path / "n1", ledger)
    finally:
        lock.release()
    assert code == 2
    assert "another leadimport run holds the ledger lock (PID " in stderr
    assert server.requests() == []


def test_a_stale_lock_from_a_killed_run_is_taken_over(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    ledger = tmp_path / "ledger.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from importer.record import LedgerLock; "
            "LedgerLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(60)",
            str(ledger),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    holder.stdout.close()
    assert "pid" in (ledger.parent / "ledger.sqlite.lock").read_text()  # left behind
    src = write(tmp_path / "crm.csv", ["1", "2"])
    code, _, stderr = nightly(src, server, tmp_path / "n1", ledger)
    assert code == 0, stderr


def test_several_files_each_get_a_folder_and_the_worst_status(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    write(incoming / "a.csv", ["1", "2"], first=0)
    write(incoming / "b.csv", ["3"], first=10)
    bad = incoming / "c.csv"
    bad.write_text(",".join(HEADER) + "\nX,Y,12,,,,,,\n")
    code, stdout, stderr = invoke(
        "run", str(incoming / "*.csv"), "-m", EXAMPLE, "--endpoint", server.endpoint,
        "--lead-token", TOKEN, "--out", tmp_path / "runs",
    )  # fmt: skip
    assert code == 1, stderr
    folders = sorted(p.name.split("-")[0] for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert folders == ["a", "b", "c"]
    assert (tmp_path / "runs" / "index.html").is_file()  # links each file's report.html
    assert len(server.leads()) == 3
    assert stdout.count("results:") == 3


def test_no_file_matches_the_pattern(tmp_path: Path) -> None:
    code, _, stderr = invoke("run", str(tmp_path / "*.csv"), "-m", EXAMPLE, "--lead-token", "t")
    assert code == 2 and f"no file matches '{tmp_path}/*.csv'" in stderr


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_log_file_and_run_log(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        src = write(tmp_path / "crm.csv", ["1", "2", "3"])
        log_file = tmp_path / "nightly.log"
        url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
        code, _, stderr = invoke(
            "run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--lead-token", TOKEN,
            "--out", tmp_path / "n1", "--log-file", log_file, "--notify", url,
        )  # fmt: skip
        assert code == 0, stderr
    finally:
        hook.shutdown()
        hook.server_close()
    assert len(_Hook.received) == 1
    body = _Hook.received[0]
    assert body["summary"]["counts"] == {"success": 3}
    assert "success 3" in body["text"] and "crm.csv" in body["text"]
    for log in (log_file, tmp_path / "n1" / "run.log"):
        text = log.read_text()
        assert "run finished" in text and "exit 0" in text
        assert "\r" not in text and "\x1b" not in text and TOKEN not in text
        first = text.splitlines()[0]
        time.strptime(first[:19], "%Y-%m-%d %H:%M:%S")


def test_unreachable_webhook_warns_but_keeps_the_exit_status(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    src = write(tmp_path / "crm.csv", ["1"])
    code, _, stderr = invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--lead-token", TOKEN,
        "--out", tmp_path / "n1", "--notify", "http://127.0.0.1:9/hook",
    )  # fmt: skip
    assert code == 0
    assert "warning: could not notify http://127.0.0.1:9/hook" in stderr
