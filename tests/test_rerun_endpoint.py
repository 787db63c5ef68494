"""``rerun`` sends the token only where the run did: run.json is checked against the journal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from helpers import invoke
from test_run import TOKEN, make_csv, run_args

from importer.record import Journal

LEGACY = Path(__file__).parent / "data" / "legacy-run"


def failed_run(tmp_path: Path, server: Any) -> Path:
    """A run into ``server`` whose 3 rows all failed (so a rerun has rows to send)."""
    out = tmp_path / "run"
    src = make_csv(tmp_path / "leads.csv", 3)
    code, _, stderr = invoke(*run_args(src, server, out, "--max-attempts", "1"))
    assert code == 1, stderr
    return out


def edit_endpoint(run_dir: Path, endpoint: str) -> None:
    info = json.loads((run_dir / "run.json").read_text())
    info["endpoint"] = endpoint
    (run_dir / "run.json").write_text(json.dumps(info))


def test_the_journal_records_the_endpoint_with_the_run(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    home = sandbox_factory(fail_rate=1.0, seed=1)
    run_dir = failed_run(tmp_path, home)
    assert Journal(run_dir).endpoints() == [home.endpoint]
    first = next(Journal(run_dir).events())
    assert first["e"] == "run" and first["endpoint"] == home.endpoint


def test_rerun_refuses_a_host_edited_into_run_json(tmp_path: Path, sandbox_factory: Any) -> None:
    home = sandbox_factory(fail_rate=1.0, seed=1)
    thief = sandbox_factory()
    run_dir = failed_run(tmp_path, home)
    sent = len(home.requests())
    edit_endpoint(run_dir, thief.endpoint)

    code, stdout, stderr = invoke("rerun", run_dir, "--lead-token", TOKEN)

    assert code == 2, stderr
    assert stderr == (
        f"leadimport: error: {run_dir}: run.json names the host {thief.url}, but this run "
        f"sent to {home.url} (run.json was edited?); nothing sent. To send to {home.url} "
        f"again pass --endpoint {home.endpoint}; to send to {thief.url}, pass "
        f"--endpoint {thief.endpoint}\n"
    )
    assert stdout == ""
    assert thief.requests() == [] and len(home.requests()) == sent


def test_rerun_goes_where_the_endpoint_option_says(tmp_path: Path, sandbox_factory: Any) -> None:
    home = sandbox_factory(fail_rate=1.0, seed=1)
    moved = sandbox_factory()
    run_dir = failed_run(tmp_path, home)
    edit_endpoint(run_dir, moved.endpoint)

    code, _, stderr = invoke("rerun", run_dir, "--lead-token", TOKEN, "--endpoint", moved.endpoint)

    assert code == 0, stderr
    assert stderr.startswith(f"rerun: sending to {moved.url}\n"), stderr
    assert len(moved.requests()) == 3
    # The journal now knows the new host too: the next rerun may follow run.json there.
    assert Journal(run_dir).endpoints() == [home.endpoint, moved.endpoint]
    assert invoke("rerun", run_dir, "--lead-token", TOKEN, "--quiet")[0] == 0


def test_rerun_says_where_it_sends(tmp_path: Path, sandbox_factory: Any) -> None:
    home = sandbox_factory(fail_rate=1.0, seed=1)
    run_dir = failed_run(tmp_path, home)
    sent = len(home.requests())

    code, _, stderr = invoke("rerun", run_dir, "--lead-token", TOKEN)

    assert code == 1, stderr  # the sandbox still fails every request
    assert stderr.startswith(f"rerun: sending to {home.url}\n"), stderr
    assert len(home.requests()) == sent + 3


def test_a_journal_from_before_endpoints_were_recorded_still_reruns(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    work = tmp_path / "legacy"
    shutil.copytree(LEGACY, work)
    run_dir = work / "run"
    assert Journal(run_dir).endpoints() == []
    info = json.loads((run_dir / "run.json").read_text())
    info.update(
        input=str(work / "leads.csv"),
        mapping=str(work / "mapping.yaml"),
        ledger=str(work / "ledger.sqlite"),
        endpoint=server.endpoint,  # nothing in the journal to check it against
    )
    (run_dir / "run.json").write_text(json.dumps(info))

    code, _, stderr = invoke("rerun", run_dir, env={"TRACKDRIVE_LEAD_TOKEN": "legacy-token"})

    assert code == 1, stderr  # the invalid row stays invalid
    assert stderr.startswith(f"rerun: sending to {server.url}\n"), stderr
    assert len(server.requests()) == 4
    assert Journal(run_dir).endpoints() == [server.endpoint]
