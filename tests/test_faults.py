"""Faults: every sandbox fault at once, kill -9, a sandbox restart, a full or unwritable disk.

Each test drives the real command line against the sandbox over real HTTP on 127.0.0.1 and
ends by comparing what the sandbox stored with what the generated file says, row for row
and field for field. The generator and the comparisons live in ``benchmarks/soak.py``,
which runs the same check at 100,000 rows by hand.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from importer.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", ROOT / "benchmarks" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


soak = _load_soak()
TOKEN = soak.TOKEN


def invoke(*args: Any) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def cli(*args: Any) -> list[str]:
    return [sys.executable, "-m", "importer", *[str(a) for a in args]]


def run_cmd(src: Path, mapping: Path, endpoint: str, out: Path, *extra: Any) -> list[str]:
    """``leadimport run`` of ``src`` to ``endpoint`` with the test token, as a command line."""
    return cli(
        "run", src, "-m", mapping, "--endpoint", endpoint, "--out", out, "--lead-token", TOKEN,
        *extra,
    )  # fmt: skip


def summary(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "summary.json").read_text(encoding="utf-8")))


def successes(run_dir: Path) -> set[int]:
    """Rows the journal records as succeeded (what a rerun must never send again)."""
    path = run_dir / "journal.jsonl"
    rows: set[int] = set()
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line
        if event.get("e") == "done" and event.get("status") == "success":
            rows.add(event["row"])
    return rows


def reached(run_dir: Path, count: int) -> bool:
    """True once the journal records ``count`` successes."""
    return len(successes(run_dir)) >= count


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def sent_rows(requests: list[dict[str, Any]], truth: Any) -> list[int]:
    """The spreadsheet row each request carried (its data.ref names it)."""
    rows = []
    for request in requests:
        body = request["body"] or {}
        rows.append(truth.ref_row[body["data"]["ref"]])
    return rows


def assert_stored_equals_file(stored: list[dict[str, Any]], run_dir: Path, truth: Any) -> None:
    problems = soak.compare_leads(stored, truth)
    assert not problems, problems[:10]
    problems = soak.compare_results(soak.read_results(run_dir), stored, truth)
    assert not problems, problems[:10]


def test_every_fault_at_once_then_rerun_stores_exactly_the_file(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    truth = soak.write_leads(tmp_path / "leads.csv", 2000, seed=4)
    mapping = soak.write_mapping(tmp_path / "mapping.yaml")
    assert truth.repeated > 100 and len(truth.invalid) > 20  # the file has what we test
    server = sandbox_factory(
        fail_rate=0.08,
        drop_rate=0.04,
        commit_then_fail_rate=0.04,
        rate_limit=400,
        throttle_first=3,  # 429s whatever the client's speed on a loaded machine
        latency_ms=(0, 3),
        seed=6,
    )
    out = tmp_path / "run"
    code, _, stderr = invoke(
        "run", truth.path, "-m", mapping, "--endpoint", server.endpoint, "--out", out,
        "--lead-token", TOKEN, "--rate", "600", "--concurrency", "32",
        "--max-attempts", "2", "--max-consecutive-failures", "100000", "--quiet",
    )  # fmt: skip
    assert code == 1, stderr  # two attempts are not enough for every row: reruns finish
    first = summary(out)
    assert first["retries"] > 0 and first["throttled"] >= 3
    reruns = 0
    while not soak.done(soak.read_results(out)):
        reruns += 1
        assert reruns <= 5, summary(out)["counts"]
        code, _, stderr = invoke(
            "rerun", out, "--lead-token", TOKEN, "--max-attempts", "3", "--quiet"
        )
        assert code in (0, 1), stderr
    stats = server.stats()
    assert min(stats["faults_injected"].values()) > 10, stats["faults_injected"]
    assert stats["rate_limited"] > 0
    assert stats["peak_concurrency_per_caller_id"] == 1
    results = soak.read_results(out)
    assert len(results) == len(truth.rows)
    assert_stored_equals_file(server.leads(), out, truth)
    # Every row that reached the sandbox and was stored there came from a valid row.
    assert not set(sent_rows(server.requests(), truth)) & truth.invalid


def _kill_points(seed: int, valid: int) -> list[int]:
    """Three cumulative success counts at which to kill: early, middle and late in the run."""
    rng = random.Random(seed)
    return [
        rng.randint(valid * lo // 100, valid * hi // 100)
        for lo, hi in ((5, 30), (40, 60), (70, 90))
    ]


def test_kill_9_at_random_points_then_rerun_loses_nothing_and_resends_no_success(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    truth = soak.write_leads(tmp_path / "leads.csv", 1200, seed=8)
    mapping = soak.write_mapping(tmp_path / "mapping.yaml")
    server = sandbox_factory(latency_ms=(2, 10), fail_rate=0.03, seed=8)
    out = tmp_path / "run"
    env = {**os.environ, "TRACKDRIVE_LEAD_TOKEN": TOKEN}
    valid = len(truth.rows) - len(truth.invalid)
    points = _kill_points(8, valid)
    cmd = cli(
        "run", truth.path, "-m", mapping, "--endpoint", server.endpoint, "--out", out,
        "--rate", "400", "--concurrency", "8", "--max-attempts", "6", "--quiet",
    )  # fmt: skip
    rerun = cli("rerun", out, "--rate", "400", "--max-attempts", "6", "--quiet")
    kills: list[tuple[int, set[int]]] = []  # (requests seen by the sandbox, rows succeeded)
    for point in points:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(partial(reached, out, point), what=f"{point} successes")
        finally:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL, err
        time.sleep(0.2)  # requests the dead process had on the wire are answered and logged
        kills.append((len(server.requests()), successes(out)))
        assert len(kills[-1][1]) < valid, "killed too late: the run had finished"
        cmd = rerun
    for _ in range(4):
        proc = subprocess.run(rerun, env=env, capture_output=True, text=True, check=False)
        assert proc.returncode in (0, 1), proc.stderr
        if soak.done(soak.read_results(out)):
            break
    assert soak.done(soak.read_results(out)), summary(out)["counts"]
    requests = server.requests()
    rows = sent_rows(requests, truth)
    for boundary, succeeded in kills:
        again = sorted(set(rows[boundary:]) & succeeded)
        assert again == [], f"rows {again[:10]} had succeeded, yet were sent again"
    runs = (out / "journal.jsonl").read_text().count('{"e":"run"')
    assert runs >= 1 + len(points)  # the run, each killed rerun, the last one(s)
    assert_stored_equals_file(server.leads(), out, truth)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_sandbox(port: int, db: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            cli("sandbox", "--port", port, "--db", db, "--quiet"),
            stdout=fh,
            stderr=fh,
        )
    url = f"http://127.0.0.1:{port}/_sandbox/stats"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    wait_for(up, 20, "the sandbox to listen")
    return proc


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return json.loads(answer.read())


def test_sandbox_restart_mid_run_is_retried_through(tmp_path: Path) -> None:
    truth = soak.write_leads(tmp_path / "leads.csv", 300, seed=9)
    mapping = soak.write_mapping(tmp_path / "mapping.yaml")
    port, db, log = _free_port(), tmp_path / "sandbox.sqlite", tmp_path / "sandbox.log"
    sandbox = _start_sandbox(port, db, log)
    out = tmp_path / "run"
    importer = subprocess.Popen(
        cli(
            "run",
            truth.path,
            "-m",
            mapping,
            "--out",
            out,
            "--endpoint",
            f"http://127.0.0.1:{port}/api/v1/leads/create_or_update",
            "--rate",
            "60",
            "--concurrency",
            "4",
            "--max-attempts",
            "12",
            "--timeout",
            "5",
        ),  # fmt: skip
        env={**os.environ, "TRACKDRIVE_LEAD_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(successes(out)) >= 60, what="60 rows sent")
        sandbox.send_signal(signal.SIGTERM)
        assert sandbox.wait(timeout=10) == 0
        before = len(successes(out))
        time.sleep(1.0)
        during = len(successes(out))
        sandbox = _start_sandbox(port, db, log)
        stdout, stderr = importer.communicate(timeout=60)
        assert importer.returncode == 1, stderr  # 1: the file's invalid rows
        stored = _get(port, "/_sandbox/leads")
    finally:
        for proc in (importer, sandbox):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert during - before <= 4  # nothing succeeds while the sandbox is down
    assert summary(out)["retries"] > 0
    assert "connection refused; attempt" in (out / "run.log").read_text()  # seen, retried
    assert {r["status"] for r in soak.read_results(out)} == {"success", "invalid"}
    assert_stored_equals_file(stored, out, truth)


def _full_disk(limit: int) -> Callable[[], None]:
    """A preexec_fn: files of the child cannot grow past ``limit`` bytes (EFBIG), as on a
    full disk; the only way to fill a 'disk' when the tests run as root, where chmod does
    not stop writes and no tmpfs can be mounted."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _one_clean_line(stderr: str) -> None:
    assert stderr.startswith("leadimport: error: "), stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr and "unexpected" not in stderr


@pytest.mark.parametrize("case", ["under-a-file", "full-disk"])
def test_unwritable_output_is_refused_before_anything_is_sent(
    tmp_path: Path, sandbox: Any, case: str
) -> None:
    truth = soak.write_leads(tmp_path / "leads.csv", 50, seed=1)
    mapping = soak.write_mapping(tmp_path / "mapping.yaml")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file\n")
    out = blocker / "run" if case == "under-a-file" else tmp_path / "run"
    proc = subprocess.run(
        run_cmd(truth.path, mapping, sandbox.endpoint, out),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_full_disk(32 * 1024) if case == "full-disk" else None,
    )
    assert proc.returncode == 2, proc.stderr
    _one_clean_line(proc.stderr)
    expected = "Not a directory" if case == "under-a-file" else "File too large"
    assert expected in proc.stderr and "choose another" in proc.stderr
    assert sandbox.requests() == []


def test_rerun_on_a_full_disk_is_refused_before_anything_is_sent(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    truth = soak.write_leads(tmp_path / "leads.csv", 30, seed=2, bad_share=0)
    mapping = soak.write_mapping(tmp_path / "mapping.yaml")
    down = sandbox_factory(fail_rate=1.0)
    out = tmp_path / "run"
    code, _, stderr = invoke(
        "run", truth.path, "-m", mapping, "--endpoint", down.endpoint, "--out", out,
        "--lead-token", TOKEN, "--max-attempts", "1", "--unlimited-rate",
    )  # fmt: skip
    assert code == 1, stderr
    assert {r["status"] for r in soak.read_results(out)} == {"failed"}
    up = sandbox_factory()
    proc = subprocess.run(
        cli("rerun", out, "--endpoint", up.endpoint, "--lead-token", TOKEN),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_full_disk(32 * 1024),
    )
    assert proc.returncode == 2, proc.stderr
    _one_clean_line(proc.stderr)
    assert "File too large" in proc.stderr
    assert up.requests() == []
    assert {r["status"] for r in soak.read_results(out)} == {"failed"}  # left as it was


def test_disk_filling_up_mid_run_stops_cleanly_and_rerun_finishes(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    truth = soak.write_leads(tmp_path / "leads.csv", 1500, seed=3)
    mapping = soak.write_mapping(tmp_path / "mapping.yaml")
    server = sandbox_factory()
    out = tmp_path / "run"
    proc = subprocess.run(
        run_cmd(truth.path, mapping, server.endpoint, out, "--unlimited-rate"),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_full_disk(128 * 1024),  # room for the probe, not for the whole journal
    )
    assert proc.returncode == 3, proc.stderr
    _one_clean_line(proc.stderr)
    assert f"{out / 'journal.jsonl'}: cannot record what was sent (File too large)" in proc.stderr
    assert f"leadimport rerun {out}" in proc.stderr
    recorded = successes(out)
    boundary = len(server.requests())
    assert 0 < len(recorded) < boundary < len(truth.rows)  # stopped soon after the disk filled
    code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN, "--unlimited-rate", "--quiet")
    assert code == 1, stderr  # 1: the file's invalid rows
    again = set(sent_rows(server.requests()[boundary:], truth)) & recorded
    assert again == set()
    runs = []
    for line in (out / "journal.jsonl").read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # the line the full disk tore
            runs += [event["n"] for event in [json.loads(line)] if event["e"] == "run"]
    assert runs == [1, 2]  # the rerun's first event was not glued to the torn line
    assert_stored_equals_file(server.leads(), out, truth)


def test_a_log_that_cannot_be_written_does_not_stop_or_garble_a_run(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    truth = soak.write_leads(tmp_path / "leads.csv", 100, seed=5)
    mapping = soak.write_mapping(tmp_path / "mapping.yaml")
    server = sandbox_factory(fail_rate=0.2, seed=1)
    out = tmp_path / "run"
    # /dev/full: every write fails with "No space left on device".
    proc = subprocess.run(
        run_cmd(
            truth.path,
            mapping,
            server.endpoint,
            out,
            "--unlimited-rate",
            "--max-attempts",
            "2",
            "--log-file",
            "/dev/full",
            "--quiet",
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "", proc.stderr
    (out / "run.log").unlink()
    (out / "run.log").symlink_to("/dev/full")
    proc = subprocess.run(
        cli("rerun", out, "--lead-token", TOKEN, "--max-attempts", "10", "--unlimited-rate", "-q"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert_stored_equals_file(server.leads(), out, truth)
