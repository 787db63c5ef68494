"""A run folder belongs to one run: the same `--out` twice never mixes two files' rows."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from helpers import EXAMPLE, invoke
from helpers import read_results as results
from test_run import TOKEN, make_csv, run_args


def _sent_callers(server: Any) -> list[str]:
    return [r["body"]["caller_id"] for r in server.requests() if r.get("body")]


def test_a_second_night_into_the_same_out_is_refused_and_loses_nothing(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    monday = make_csv(tmp_path / "monday.csv", 2)
    tuesday = tmp_path / "tuesday.csv"
    make_csv(tuesday, 3)
    tuesday.write_text(tuesday.read_text().replace(",First", ",Tue"), encoding="utf-8")
    out = tmp_path / "nightly"
    code, _, stderr = invoke(*run_args(monday, server, out, "--yes", "--unlimited-rate"))
    assert code == 0, stderr
    before = (out / "results.csv").read_bytes()
    sent = len(server.requests())

    code, stdout, stderr = invoke(*run_args(tuesday, server, out, "--yes", "--unlimited-rate"))

    assert code == 2
    assert stderr.splitlines() == [
        f"leadimport: error: {out}: already holds a run of monday.csv, with another file "
        f"(monday.csv, not tuesday.csv); finish that run with `leadimport rerun {out}`, or "
        "choose another --out (a new folder for each run)"
    ]
    assert len(server.requests()) == sent  # nothing sent, nothing taken from Monday's journal
    assert (out / "results.csv").read_bytes() == before
    # The advice works: a folder of its own imports every row of Tuesday.
    code, _, stderr = invoke(*run_args(tuesday, server, tmp_path / "tue", "--unlimited-rate"))
    assert code == 0, stderr
    assert [r["status"] for r in results(tmp_path / "tue")] == ["success"] * 3


def test_the_same_file_into_its_own_folder_finishes_that_run(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.5, seed=3)
    src = make_csv(tmp_path / "leads.csv", 30)
    out = tmp_path / "nightly"
    once = ("--yes", "--unlimited-rate", "--concurrency", "1", "--max-attempts", "1")
    code, _, stderr = invoke(*run_args(src, server, out, *once))
    assert code == 1, stderr
    first = {r["row"]: r for r in results(out)}
    succeeded = {r["caller_id"] for r in first.values() if r["status"] == "success"}
    assert 0 < len(succeeded) < 30
    sent_before = len(_sent_callers(server))

    # The same command again, with retries enough to get through the faults (seeded).
    code, _, stderr = invoke(*run_args(src, server, out, *once[:-1], "12"))

    assert code == 0, stderr
    assert "already imported" not in stderr  # going on with its own run is not a repeat
    rows = results(out)
    assert len(rows) == 30 and {r["status"] for r in rows} == {"success"}
    resent = _sent_callers(server)[sent_before:]
    assert set(resent) == {r["caller_id"] for r in rows} - succeeded
    for r in rows:  # what had succeeded keeps its first answer
        if r["caller_id"] in succeeded:
            assert r["lead_id"] == first[r["row"]]["lead_id"]


def test_another_mapping_or_endpoint_is_named(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    other = sandbox_factory(tokens=(TOKEN,))
    src = make_csv(tmp_path / "leads.csv", 3)
    out = tmp_path / "run"
    code, _, stderr = invoke(*run_args(src, server, out, "--unlimited-rate"))
    assert code == 0, stderr
    mapping = tmp_path / "m.yaml"
    mapping.write_text(EXAMPLE.read_text().replace("duplicates: all", "duplicates: first"))
    assert mapping.read_text() != EXAMPLE.read_text()
    args = run_args(src, server, out, "--unlimited-rate")
    args[args.index(EXAMPLE)] = mapping
    code, _, stderr = invoke(*args)
    assert code == 2 and f"with another mapping ({EXAMPLE})" in stderr, stderr
    code, _, stderr = invoke(*run_args(src, other, out, "--unlimited-rate"))
    host = server.endpoint.split("/")[2]
    assert code == 2 and f"with another endpoint ({host})" in stderr, stderr
    code, _, stderr = invoke(*run_args(src, server, out, "--unlimited-rate", "--limit", "2"))
    assert code == 2 and "another range of rows" in stderr, stderr
    assert len(server.requests()) == 3 and not other.requests()


def test_validate_never_writes_over_a_run(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    src = make_csv(tmp_path / "leads.csv", 3)
    out = tmp_path / "run"
    assert invoke(*run_args(src, server, out, "--unlimited-rate"))[0] == 0
    before = (out / "results.csv").read_bytes()
    code, _, stderr = invoke("validate", src, "-m", EXAMPLE, "--out", out)
    assert code == 2 and "validating into it would replace its results" in stderr, stderr
    assert (out / "results.csv").read_bytes() == before
    # A validation of the same file may be redone in place; of another file it is refused.
    checked = tmp_path / "checked"
    assert invoke("validate", src, "-m", EXAMPLE, "--out", checked)[0] == 0
    assert invoke("validate", src, "-m", EXAMPLE, "--out", checked)[0] == 0
    other = make_csv(tmp_path / "other.csv", 4)
    code, _, stderr = invoke("validate", other, "-m", EXAMPLE, "--out", checked)
    assert code == 2 and "choose another --out, or delete that folder" in stderr, stderr
    assert json.loads((checked / "summary.json").read_text())["rows"] == 3


LEGACY = Path(__file__).parent / "data" / "legacy-run"


def test_a_run_folder_and_ledger_from_before_the_split_still_rerun_and_skip(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    work = tmp_path / "legacy"
    shutil.copytree(LEGACY, work)
    run_dir = work / "run"
    info = json.loads((run_dir / "run.json").read_text())
    old_endpoint = info["endpoint"]
    info.update(  # the folder was moved here: its recorded paths follow it
        input=str(work / "leads.csv"),
        mapping=str(work / "mapping.yaml"),
        ledger=str(work / "ledger.sqlite"),
    )
    (run_dir / "run.json").write_text(json.dumps(info))
    before = {r["row"]: r for r in results(run_dir)}
    assert [r["status"] for r in before.values()].count("success") == 2
    env = {"TRACKDRIVE_LEAD_TOKEN": "legacy-token"}

    code, _, stderr = invoke("rerun", run_dir, "--endpoint", server.endpoint, env=env)

    assert code == 1, stderr  # the invalid row stays invalid
    after = {r["row"]: r for r in results(run_dir)}
    assert [after[row]["status"] for row in sorted(after)] == ["success"] * 6 + ["invalid"]
    sent = [r["body"]["caller_id"] for r in server.requests()]
    succeeded = {r["caller_id"] for r in before.values() if r["status"] == "success"}
    assert len(sent) == 4 and not set(sent) & succeeded  # what had succeeded is not resent
    # Times without a zone were read as UTC in that run; the rerun reads them the same.
    stored = server.lead("+12125550101")
    assert stored is not None and stored["schedule_callback_at"].startswith("2026-12-01T09:30")

    # The old ledger still says what was sent: the same file again sends only what changed.
    with sqlite3.connect(work / "ledger.sqlite") as db:  # the account moved to the sandbox
        db.execute("UPDATE sent SET endpoint = ?", (server.endpoint,))
    assert old_endpoint != server.endpoint
    mapping = work / "mapping.yaml"
    mapping.write_text(mapping.read_text() + "timezone: UTC\n")
    code, _, stderr = invoke(
        "run", work / "leads.csv", "-m", mapping, "--endpoint", server.endpoint,
        "--out", tmp_path / "again", "--skip-unchanged", "--ledger", work / "ledger.sqlite",
        env=env,
    )  # fmt: skip
    assert code == 1, stderr
    again = [r["status"] for r in results(tmp_path / "again")]
    # 2 rows from the old ledger's own entries, 4 from what the rerun recorded in it.
    assert again.count("skipped") == 6 and len(server.requests()) == 4


def test_a_run_folder_is_sent_by_one_process_at_a_time(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    """A `rerun` (or a page's "finish it") of a run another process is still sending is
    refused: both would read the journal before the other wrote to it."""
    import subprocess
    import sys
    import time

    from importer.pipeline import past_run

    server = sandbox_factory(tokens=(TOKEN,), latency_ms=(150, 150))
    src = make_csv(tmp_path / "leads.csv", 20)
    out = tmp_path / "nightly"
    args = [str(a) for a in run_args(src, server, out, "--yes", "--concurrency", "1")]
    child = subprocess.Popen(
        [sys.executable, "-m", "importer", *args, "--unlimited-rate"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while len(server.requests()) < 2:  # sending, well before its end (20 × 150 ms)
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        run = past_run(out)
        assert run is not None and run.status == "running"

        code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN)

        assert code == 2
        assert stderr.splitlines() == [
            f"leadimport: error: {out}: another leadimport process is sending this run right "
            "now; wait for it to end (its rows would be sent twice), then run it again"
        ]
    finally:
        _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    callers = _sent_callers(server)
    assert len(callers) == len(set(callers)) == 20  # each row sent once
    assert {r["status"] for r in results(out)} == {"success"}
    run = past_run(out)
    assert run is not None and run.status == "done"
    # Once it has ended, the folder is free again: a rerun has nothing left to send.
    code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN)
    assert code == 0, stderr
    assert len(_sent_callers(server)) == 20
