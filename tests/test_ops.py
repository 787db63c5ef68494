"""Issue 12, what an operations user hit: recovery hints, cron alerts, honest counts.

Each test drives the real CLI against the sandbox on 127.0.0.1; cron paths run with no
stdin and no terminal, and alerts go to a webhook listener of the test's own.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE, HEADER, invoke
from helpers import read_results as results

TOKEN = "ops-TOKEN-5a1e90"


def leads(path: Path, n: int, first: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(first, first + n):
            w.writerow(
                [f"N{i}", "L", f"(303) 555-{i:04d}", "", "", str(100 + i), "CO", "80202", "crm"]
            )
    return path


def mapping_with_token(path: Path, token: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("lead_token:")]
    path.write_text("\n".join(lines) + f"\nlead_token: {token}\n", encoding="utf-8")
    return path


# --- item 1: a rejected token can be replaced on rerun -----------------------------------


def test_rerun_after_a_rejected_token_takes_the_corrected_one(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    src = leads(tmp_path / "crm.csv", 6)
    out = tmp_path / "run"
    code, stdout, _ = invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--out", out,
        "--lead-token", "wrong-token", "--concurrency", "1",
    )  # fmt: skip
    assert code == 3
    assert f"retry:    leadimport rerun {out} --lead-token TOKEN" in stdout
    code, stdout, stderr = invoke("rerun", out, "--lead-token", TOKEN)
    assert code == 0, stderr
    assert {r["status"] for r in results(out)} == {"success"}
    assert len(server.leads()) == 6
    # The corrected token is now the run's: another rerun with it is not refused.
    assert invoke("rerun", out, "--lead-token", TOKEN)[0] == 0
    code, _, stderr = invoke("rerun", out, "--lead-token", "a-third-token")
    assert code == 2 and "lead token differs" in stderr


def test_rerun_after_a_rejected_token_from_the_environment(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    src = leads(tmp_path / "crm.csv", 3)
    out = tmp_path / "run"
    env = {"TRACKDRIVE_LEAD_TOKEN": "wrong-token"}
    code, _, _ = invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--out", out, env=env
    )
    assert code == 3
    code, _, stderr = invoke("rerun", out, env={"TRACKDRIVE_LEAD_TOKEN": TOKEN})
    assert code == 0, stderr
    assert len(server.leads()) == 3


def test_a_rejected_literal_token_is_fixed_in_the_mapping_and_a_new_run(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    src = leads(tmp_path / "crm.csv", 3)
    mapping = mapping_with_token(tmp_path / "crm.yaml", "wrong-token")
    out = tmp_path / "runs"
    code, stdout, _ = invoke(
        "run", src, "-m", mapping, "--endpoint", server.endpoint, "--out", out / "first"
    )
    assert code == 3
    assert f"fix:      correct lead_token in {mapping}, then start a new run: " in stdout
    assert f"leadimport run {src} -m {mapping}" in stdout
    assert "wrong-token" not in stdout
    mapping_with_token(mapping, TOKEN)  # the advice, followed
    code, _, stderr = invoke("rerun", out / "first")
    assert code == 2 and "correct lead_token there and start a new run" in stderr
    code, _, stderr = invoke(
        "run", src, "-m", mapping, "--endpoint", server.endpoint, "--out", out / "second"
    )
    assert code == 0, stderr
    assert len(server.leads()) == 3


# --- item 9: a key written twice ---------------------------------------------------------


def test_a_key_written_twice_in_the_mapping_is_refused(tmp_path: Path) -> None:
    mapping = tmp_path / "twice.yaml"
    mapping.write_text(
        "version: 1\nfields:\n  caller_id: Phone\n  email: E-mail\n  email: Other\n",
        encoding="utf-8",
    )
    code, _, stderr = invoke("validate", leads(tmp_path / "crm.csv", 2), "-m", mapping)
    assert code == 2
    assert stderr.strip() == (
        f"leadimport: error: {mapping}: line 5, column 3: the key 'email' is written twice "
        "(lines 4 and 5); keep one"
    )


# --- item 10: reschedule a run's own results.csv with its mapping -------------------------


def test_reschedule_of_a_runs_results_with_its_mapping(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    src = leads(tmp_path / "crm.csv", 4)
    out = tmp_path / "run"
    code, _, stderr = invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--out", out,
        "--lead-token", TOKEN,
    )  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = invoke(
        "reschedule", out / "results.csv", "-m", EXAMPLE, "--endpoint", server.endpoint,
        "--lead-token", TOKEN, "--out", tmp_path / "resched", "--in", "1h",
    )  # fmt: skip
    assert code == 0, stderr
    sent = server.requests()[4:]
    assert sorted(r["caller_id"] for r in sent) == [f"+1303555000{i}" for i in range(4)]
    assert all(set(r["body"]) == {"caller_id", "next_action_at"} for r in sent)


# --- item 6: rows skipped by design are not problems -------------------------------------


def test_a_clean_night_reports_skipped_rows_apart_from_problems(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    src = leads(tmp_path / "crm.csv", 5)
    ledger = tmp_path / "ledger.sqlite"
    night = ["run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--lead-token", TOKEN,
             "--skip-unchanged", "--ledger", ledger, "--unlimited-rate"]  # fmt: skip
    assert invoke(*night, "--out", tmp_path / "n1")[0] == 0
    log_file = tmp_path / "nightly.log"
    code, stdout, stderr = invoke(*night, "--out", tmp_path / "n2", "--log-file", log_file)
    assert code == 0, stderr
    assert "top problems" not in stdout
    assert "  skipped:  5 × unchanged since the last run" in stdout
    summary = json.loads((tmp_path / "n2" / "summary.json").read_text())
    assert summary["counts"] == {"skipped": 5}  # existing keys kept
    assert summary["top_reasons"] == []
    assert summary["skipped_reasons"] == [
        {"reason": "unchanged since the last run", "count": 5, "rows": [2, 3, 4, 5, 6]}
    ]
    for log in (log_file, tmp_path / "n2" / "run.log"):
        text = log.read_text()
        assert "skipped by design: 5 x unchanged since the last run" in text
        assert " 5 x unchanged" not in text.replace("design: 5 x", "")
    page = (tmp_path / "n2" / "report.html").read_text()
    assert 'class="problem"' not in page
    assert "Nothing to fix: no row has a problem." in page
    assert "Skipped by design, not a problem: 5 × unchanged since the last run" in page


# --- item 5: cron alerts ----------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        self.server.received.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook listener on 127.0.0.1: its URL and the bodies it received."""
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_a_locked_ledger_alerts_and_is_logged(
    tmp_path: Path, sandbox_factory: Any, webhook: Any
) -> None:
    from importer.record import LedgerLock

    url, received = webhook
    server = sandbox_factory()
    ledger = tmp_path / "ledger.sqlite"
    log_file = tmp_path / "nightly.log"
    src = leads(tmp_path / "crm.csv", 2)
    lock = LedgerLock(ledger)
    lock.acquire()
    try:
        code, _, stderr = invoke(
            "run", src, "-m", EXAMPLE, "--endpoint", server.endpoint, "--lead-token", TOKEN,
            "--skip-unchanged", "--ledger", ledger, "--yes", "--log-file", log_file,
            "--notify", url,
        )  # fmt: skip
    finally:
        lock.release()
    assert code == 2
    assert "another leadimport run holds the ledger lock (PID " in stderr
    assert server.requests() == []
    assert len(received) == 1
    text = received[0]["text"]
    assert text.startswith(f"leadimport: {src} NOT IMPORTED: {ledger}")
    assert "another leadimport run holds the ledger lock (PID " in text
    logged = log_file.read_text()
    assert f"{src} not imported: {ledger}" in logged
    assert "another leadimport run holds the ledger lock (PID " in logged


def test_a_pattern_matching_no_file_alerts(tmp_path: Path, webhook: Any) -> None:
    url, received = webhook
    log_file = tmp_path / "nightly.log"
    pattern = str(tmp_path / "incoming" / "*.csv")
    code, _, stderr = invoke(
        "run", pattern, "-m", EXAMPLE, "--lead-token", TOKEN, "--skip-unchanged",
        "--ledger", tmp_path / "ledger.sqlite", "--log-file", log_file, "--notify", url,
    )  # fmt: skip
    assert code == 2
    assert stderr == f"leadimport: error: no file matches '{pattern}'\n"
    assert [b["text"] for b in received] == [
        f"leadimport: {pattern} NOT IMPORTED: no file matches '{pattern}'"
    ]
    assert f"not imported: no file matches '{pattern}'" in log_file.read_text()


def test_a_bad_nights_alert_says_why_with_absolute_paths(
    tmp_path: Path, sandbox_factory: Any, webhook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = webhook
    server = sandbox_factory()
    monkeypatch.chdir(tmp_path)
    src = leads(tmp_path / "crm.csv", 4)
    with src.open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(
            [["B", "L", "1-800-FLOWERS", "", "", "1", "CO", "80202", "crm"]] * 2
        )
    code, _, stderr = invoke(
        "run", "crm.csv", "-m", EXAMPLE, "--endpoint", server.endpoint, "--lead-token", TOKEN,
        "--out", "night", "--notify", url,
    )  # fmt: skip
    assert code == 1, stderr
    text = received[0]["text"]
    assert f"leadimport run {tmp_path / 'crm.csv'}: " in text
    assert "Top problems: 2 × Phone: '…' contains letters" in text
    assert f"Results: {tmp_path / 'night' / 'results.csv'}" in text
    assert "FLOWERS" not in json.dumps(received[0])


# --- item 4: no terminal, no --yes: a warning; a host that does not resolve stops the run -


def test_a_large_send_from_cron_warns_and_an_unknown_host_stops_the_run(tmp_path: Path) -> None:
    src = leads(tmp_path / "crm.csv", 1500)
    # .invalid never resolves (RFC 2606): an account subdomain typed wrong.
    endpoint = "https://leads.invalid/api/v1/leads/create_or_update"
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "importer", "run", str(src), "-m", str(EXAMPLE),
         "--endpoint", endpoint, "--lead-token", TOKEN, "--out", str(out)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert time.monotonic() - started < 20  # not five tries per row
    assert (
        "leadimport: warning: sending about 1500 rows to leads.invalid without asking "
        "(no terminal; --yes silences this)"
    ) in proc.stderr
    assert "ABORTED:  cannot resolve leads.invalid" in proc.stdout
    rows = results(out)
    assert len(rows) == 1500
    assert {r["status"] for r in rows} <= {"not_sent", "failed"}
    assert sum(r["error"] == "not sent: cannot resolve leads.invalid" for r in rows) > 1400
    assert all(int(r["attempts"] or 0) <= 2 for r in rows)
    assert f"retry:    leadimport rerun {out}" in proc.stdout
