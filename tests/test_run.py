"""`leadimport run` / `rerun` / `demo` end to end: the real CLI, real HTTP to the sandbox."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import EXAMPLE, HEADER, invoke, on_terminal
from helpers import read_results as results

from importer.clean import normalize_phones

TOKEN = "tok-SECRET-4f9a2c77e1"


def phone(i: int) -> str:
    """A valid, distinct US number for row i."""
    return f"(212) 5{i // 10000 % 10}{i // 1000 % 10}-{i % 1000:04d}"


def make_csv(path: Path, n: int, dup_every: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            p = phone(i - 1 if dup_every and i % dup_every == 0 and i else i)
            w.writerow(
                [
                    f"First{i}",
                    f"Last{i}",
                    p,
                    f"p{i}@example.com",
                    "",
                    str(100 + i),
                    "NY",
                    "02134",
                    "t",
                ]
            )
    return path


def expected_leads(src: Path) -> dict[str, dict[str, str]]:
    """What the file says each lead's data must end as: the last row per phone wins."""
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df["e164"] = normalize_phones(df["Phone"], "US").values
    out: dict[str, dict[str, str]] = {}
    for _, r in df.iterrows():
        out[r["e164"]] = {
            "first_name": r["First Name"],
            "loan_amount": r["Amount"],
            "email": r["E-mail"],
        }
    return out


def assert_sandbox_matches_file(server: Any, src: Path) -> None:
    stored = {lead["caller_id"]: lead for lead in server.leads()}
    want = expected_leads(src)
    assert set(stored) == set(want)
    for caller, fields in want.items():
        lead = stored[caller]
        assert lead["data"]["first_name"] == fields["first_name"], caller
        assert lead["data"]["loan_amount"] == fields["loan_amount"], caller
        assert lead["data"]["campaign"] == "fall-promo"
        assert lead["email"] == fields["email"]


def run_args(src: Path, server: Any, out: Path, *extra: Any) -> list[Any]:
    return [
        "run",
        src,
        "-m",
        EXAMPLE,
        "--endpoint",
        server.endpoint,
        "--out",
        out,
        "--lead-token",
        TOKEN,
        *extra,
    ]


def test_run_sends_every_row_and_records_numbers(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    src = make_csv(tmp_path / "leads.csv", 40)
    out = tmp_path / "run"
    code, stdout, stderr = invoke(*run_args(src, server, out, "--rate", "200"))
    assert code == 0, stderr
    rows = results(out)
    assert len(rows) == 40 and {r["status"] for r in rows} == {"success"}
    assert all(r["http_status"] == "200" and r["attempts"] == "1" for r in rows)
    stored = {lead["caller_id"]: lead for lead in server.leads()}
    for r in rows:
        lead = stored[r["caller_id"]]
        assert r["lead_id"] == str(lead["id"])
        assert r["trackdrive_number_plain"] == lead["trackdrive_number_plain"] != ""
    assert_sandbox_matches_file(server, src)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"success": 40} and summary["exit_code"] == 0
    assert "success 40" in stdout


def test_rejected_token_aborts_with_exit_3(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(tokens=("the-right-one",))
    src = make_csv(tmp_path / "leads.csv", 30)
    out = tmp_path / "run"
    code, stdout, stderr = invoke(
        *run_args(src, server, out, "--rate", "100", "--concurrency", "2")
    )
    assert code == 3, stderr
    rows = results(out)
    assert len(rows) == 30
    assert {r["status"] for r in rows} == {"not_sent"}
    assert all("rejected the lead token" in r["error"] for r in rows)
    assert "ABORTED" in stdout
    assert len(server.requests()) <= 3  # stopped at once: only what was in flight


def test_faults_then_rerun_store_every_row_exactly(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(
        fail_rate=0.15, drop_rate=0.05, commit_then_fail_rate=0.05, latency_ms=(0, 5), seed=3
    )
    src = make_csv(tmp_path / "leads.csv", 120, dup_every=7)
    out = tmp_path / "run"
    code, _, stderr = invoke(
        *run_args(src, server, out, "--unlimited-rate", "--concurrency", "8", "--max-attempts", "2")
    )
    assert code in (0, 1), stderr
    for _ in range(6):
        if {r["status"] for r in results(out)} <= {"success", "skipped"}:
            break
        code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN, "--max-attempts", "3")
        assert code in (0, 1), stderr
    rows = results(out)
    assert len(rows) == 120 and {r["status"] for r in rows} <= {"success", "skipped"}
    # A row whose later duplicate already succeeded is not sent again: it would overwrite
    # the newer data with the older.
    for r in rows:
        if r["status"] == "skipped":
            assert r["error"].startswith("superseded by row "), r
    assert_sandbox_matches_file(server, src)
    assert server.stats()["peak_concurrency_per_caller_id"] == 1


def test_rate_limit_holds_over_every_second(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    src = make_csv(tmp_path / "leads.csv", 45)
    code, _, stderr = invoke(
        *run_args(src, server, tmp_path / "run", "--rate", "20", "--concurrency", "16")
    )
    assert code == 0, stderr
    times = sorted(r["t"] for r in server.requests())
    assert len(times) == 45
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u - t < 1.0)
        assert in_window <= 21 + 1, (
            f"{in_window} requests in one second from {t}"
        )  # rate + 1, +1 jitter
    assert times[-1] - times[0] >= 44 / 20 * 0.9


def test_429_with_retry_after_slows_down_and_finishes(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(rate_limit=15, throttle_first=1)  # a 429 even on a slow machine
    src = make_csv(tmp_path / "leads.csv", 40)
    out = tmp_path / "run"
    code, stdout, stderr = invoke(
        *run_args(src, server, out, "--rate", "60", "--max-attempts", "8")
    )
    assert code == 0, stderr
    assert {r["status"] for r in results(out)} == {"success"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["throttled"] >= 1
    assert len(server.leads()) == 40


def test_rerun_never_resends_successes(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(fail_rate=0.3, seed=11)
    src = make_csv(tmp_path / "leads.csv", 30)
    out = tmp_path / "run"
    invoke(*run_args(src, server, out, "--unlimited-rate", "--max-attempts", "1"))
    first = results(out)
    succeeded = {r["caller_id"] for r in first if r["status"] == "success"}
    assert 0 < len(succeeded) < 30
    before = len(server.requests())
    code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN, "--max-attempts", "10")
    assert code == 0, stderr
    again = [r for r in server.requests()[before:] if r["caller_id"] in succeeded]
    assert again == []
    assert len(results(out)) == 30
    journal = (out / "journal.jsonl").read_text().splitlines()
    assert sum(1 for line in journal if json.loads(line).get("e") == "run") == 2


def test_rerun_refuses_a_changed_input_or_token(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    src = make_csv(tmp_path / "leads.csv", 3)
    out = tmp_path / "run"
    assert invoke(*run_args(src, server, out))[0] == 0
    code, _, stderr = invoke("rerun", out, "--lead-token", "another-token")
    assert code == 2 and "lead token differs" in stderr and "another-token" not in stderr
    src.write_text(src.read_text() + "X,Y,800-450-6787,,,,,,\n")
    code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN)
    assert code == 2 and "changed since this run" in stderr


def _cli(*args: Any) -> list[str]:
    return [sys.executable, "-m", "importer", *[str(a) for a in args]]


def _wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _successes(out: Path) -> set[int]:
    path = out / "journal.jsonl"
    if not path.exists():
        return set()
    rows = set()
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if e.get("e") == "done" and e.get("status") == "success":
            rows.add(e["row"])
    return rows


def test_kill_9_then_rerun_loses_nothing(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(latency_ms=(5, 20), seed=5)
    src = make_csv(tmp_path / "leads.csv", 150, dup_every=9)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cli(*run_args(src, server, out, "--rate", "60", "--concurrency", "6")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(lambda: len(_successes(out)) >= 40)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _successes(out)
    phones = {r["caller_id"]: r for r in server.requests()}
    assert 40 <= len(done_before) < 140
    before = len(server.requests())
    code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN, "--rate", "200")
    assert code == 0, stderr
    rows = results(out)
    assert [int(r["row"]) for r in rows] == list(range(2, 152))
    assert {r["status"] for r in rows} == {"success"}
    assert_sandbox_matches_file(server, src)
    by_row = {int(r["row"]): r["caller_id"] for r in rows}
    resent = {r["caller_id"] for r in server.requests()[before:]}
    dup_callers = {c for c in by_row.values() if list(by_row.values()).count(c) > 1}
    for row in done_before:
        assert by_row[row] not in resent or by_row[row] in dup_callers
    assert phones  # the sandbox saw the first run


def test_ctrl_c_finishes_in_flight_and_exits_130(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(latency_ms=(20, 40))
    src = make_csv(tmp_path / "leads.csv", 200)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cli(*run_args(src, server, out, "--rate", "40")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: len(_successes(out)) >= 10)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    rows = results(out)
    assert len(rows) == 200
    statuses = {r["status"] for r in rows}
    assert statuses <= {"success", "not_sent", "failed"} and "not_sent" in statuses
    sent = {lead["caller_id"] for lead in server.leads()}
    assert {r["caller_id"] for r in rows if r["status"] == "success"} == sent
    assert "INTERRUPTED" in stdout
    code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN, "--rate", "400")
    assert code == 0, stderr
    assert len(server.leads()) == 200


def test_token_never_written_anywhere(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(fail_rate=0.2, seed=2)
    src = make_csv(tmp_path / "leads.csv", 20)
    out = tmp_path / "run"
    env = {"TRACKDRIVE_LEAD_TOKEN": TOKEN}
    outputs = []
    for args in (
        [
            "run",
            src,
            "-m",
            EXAMPLE,
            "--endpoint",
            server.endpoint,
            "--out",
            out,
            "--max-attempts",
            "1",
            "--verbose",
        ],
        ["rerun", out, "--verbose"],
        ["validate", src, "-m", EXAMPLE, "--out", tmp_path / "v"],
    ):
        code, stdout, stderr = invoke(*args, env=env)
        assert code in (0, 1), stderr
        outputs += [stdout, stderr]
    bad_server = sandbox_factory(tokens=("x",))
    code, stdout, stderr = invoke(
        "run",
        src,
        "-m",
        EXAMPLE,
        "--endpoint",
        bad_server.endpoint,
        "--out",
        tmp_path / "b",
        env=env,
    )
    assert code == 3
    outputs += [stdout, stderr]
    assert all(TOKEN not in text for text in outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_demo_runs_on_the_bundled_sample(tmp_path: Path) -> None:
    proc = subprocess.run(
        _cli("demo", "--out", tmp_path / "demo"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TRACKDRIVE_LEAD_TOKEN": ""},
    )
    # 0: the sample's broken rows are invalid, every other row got through the faults.
    assert proc.returncode == 0, proc.stderr
    rows = results(tmp_path / "demo")
    statuses = {r["status"] for r in rows}
    assert statuses == {"success", "invalid"}
    invalid = [int(r["row"]) for r in rows if r["status"] == "invalid"]
    assert invalid == [3, 65, 68, 85, 145, 158, 188, 191, 194, 236, 260]
    assert all(r["trackdrive_number_plain"] for r in rows if r["status"] == "success")
    assert "leads stored" in proc.stdout


@pytest.mark.parametrize("endpoint", ["ftp://example", "not a url"])
def test_bad_endpoint_is_a_config_error(tmp_path: Path, endpoint: str) -> None:
    src = make_csv(tmp_path / "leads.csv", 2)
    code, _, stderr = invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", endpoint, "--lead-token", TOKEN
    )
    assert code == 2 and "is not an http(s) URL" in stderr


# --- the same file twice -------------------------------------------------------------------


def test_sending_the_same_file_again_warns_when_nobody_can_be_asked(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    src = make_csv(tmp_path / "leads.csv", 5)
    code, _, stderr = invoke(*run_args(src, server, tmp_path / "first", "--unlimited-rate"))
    assert code == 0 and "already imported" not in stderr, stderr
    code, _, stderr = invoke(*run_args(src, server, tmp_path / "again", "--unlimited-rate"))
    assert code == 0, stderr
    host = server.endpoint.split("/")[2]
    assert stderr.splitlines()[0] == (
        f"leadimport: warning: {src} was already imported to {host} once, last by "
        f"{tmp_path / 'first'} (5 rows succeeded, finished "
        f"{json.loads((tmp_path / 'first' / 'summary.json').read_text())['finished_at']}); "
        "sending it again (--skip-unchanged sends only the rows that changed)"
    )
    assert len(server.requests()) == 10  # a warning, not a refusal: cron must not hang

    # Not for another endpoint, not for a changed file, not with --skip-unchanged.
    other = sandbox_factory(tokens=(TOKEN,))
    code, _, stderr = invoke(*run_args(src, other, tmp_path / "other", "--unlimited-rate"))
    assert code == 0 and "already imported" not in stderr, stderr
    ledger = ["--skip-unchanged", "--ledger", tmp_path / "ledger.sqlite", "--unlimited-rate"]
    code, _, stderr = invoke(*run_args(src, server, tmp_path / "nightly", *ledger))
    assert code == 0 and "already imported" not in stderr, stderr
    make_csv(src, 6)
    code, _, stderr = invoke(*run_args(src, server, tmp_path / "changed", "--unlimited-rate"))
    assert code == 0 and "already imported" not in stderr, stderr


@pytest.mark.parametrize(("answer", "code", "sent"), [("n", 2, 0), ("y", 0, 3)])
def test_sending_the_same_file_again_is_asked_on_a_terminal(
    tmp_path: Path, sandbox_factory: Any, answer: str, code: int, sent: int
) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    src = make_csv(tmp_path / "leads.csv", 3)
    assert invoke(*run_args(src, server, tmp_path / "first"))[0] == 0
    before = len(server.requests())
    controller, terminal = os.openpty()  # a real terminal on stdin, as a person has
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "importer", *map(str, run_args(src, server, tmp_path / "two"))],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, f"{answer}\n".encode())
        _, stderr = proc.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    assert proc.returncode == code, stderr
    assert "was already imported to" in stderr and "Send it again? [y/N]" in stderr
    if answer == "n":
        assert stderr.rstrip().endswith(
            "leadimport: error: not confirmed; nothing was sent (--skip-unchanged sends only "
            "the rows that changed; --yes sends without asking)"
        )
    assert len(server.requests()) - before == sent


def test_a_large_send_to_another_machine_is_asked_on_a_terminal(tmp_path: Path) -> None:
    src = make_csv(tmp_path / "leads.csv", 1001)
    # .invalid never resolves (RFC 2606): answering "n" must stop before any connection.
    endpoint = "https://leads.invalid/api/v1/leads/create_or_update"
    controller, terminal = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "importer", "run", str(src), "-m", str(EXAMPLE),
             "--endpoint", endpoint, "--lead-token", TOKEN, "--out", str(tmp_path / "run")],
            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        os.write(controller, b"n\n")
        _, stderr = proc.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    assert proc.returncode == 2, stderr
    assert "Send about 1001 rows to leads.invalid? [y/N]" in stderr
    assert stderr.rstrip().endswith(
        "leadimport: error: not confirmed; nothing was sent (pass --yes to skip this question)"
    )


@pytest.mark.parametrize("columns", [0, 120], ids=["size-unknown", "120-columns"])
def test_a_terminal_gets_a_progress_bar_with_the_live_counts(
    tmp_path: Path, sandbox_factory: Any, columns: int
) -> None:
    server = sandbox_factory(tokens=(TOKEN,), latency_ms=(1, 3))
    src = make_csv(tmp_path / "leads.csv", 400)
    args = run_args(src, server, tmp_path / "run", "--rate", "400")
    code, screen = on_terminal(args, rows=40 if columns else 0, columns=columns)
    assert code == 0, screen[-2000:]
    frames = screen.replace("\r\n", "\n").split("\r")
    bars = [f for f in frames if " rows, success " in f]
    assert len(bars) >= 2, frames[-5:]  # drawn, then redrawn as rows are answered
    final = bars[-1].splitlines()[0]
    assert final.startswith("400/400 rows, success 400 · failed 0 · retries 0, "), final
    assert "row/s, ETA 00:00 |" in final and final.endswith("|")
    assert len(final) <= (columns or 80)
