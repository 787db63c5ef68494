"""`leadimport runs`: past runs newest first, `--json`, and `runs prune`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import EXAMPLE, invoke
from test_run import TOKEN, make_csv, run_args


def _age(run_dir: Path, finished_at: str) -> None:
    """Make a run look as if it finished at ``finished_at`` (as time passing would)."""
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text())
    summary["finished_at"] = finished_at
    path.write_text(json.dumps(summary))


def _two_runs(tmp_path: Path, sandbox_factory: Any) -> tuple[Path, Path, Path, Any]:
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.2, seed=2)
    src = make_csv(tmp_path / "leads.csv", 40)
    root = tmp_path / "output"
    sent, checked = root / "sent", root / "checked"
    code, _, err = invoke(*run_args(src, server, sent, "--max-attempts", "1", "--unlimited-rate"))
    assert code == 1, err
    code, _, err = invoke("validate", src, "-m", EXAMPLE, "--out", checked)
    assert code == 0, err
    _age(sent, "2026-01-02T10:00:00+00:00")
    _age(checked, "2026-01-03T10:00:00+00:00")
    return root, sent, checked, server


def test_runs_lists_past_runs_newest_first(tmp_path: Path, sandbox_factory: Any) -> None:
    root, sent, checked, server = _two_runs(tmp_path, sandbox_factory)
    code, out, err = invoke("runs", "--output", root)
    assert code == 0, err
    lines = out.splitlines()
    host = server.endpoint.split("/")[2]
    assert lines[0].endswith("validate: leads.csv, checked for trackdrive.com, exit 0")
    assert lines[1] == "    valid 40"
    assert lines[2] == f"    {checked}"
    assert lines[3].endswith(f"run: leads.csv, sent to {host}, exit 1")
    failed = json.loads((sent / "summary.json").read_text())["counts"]["failed"]
    assert lines[4] == f"    success {40 - failed} · failed {failed}"
    assert lines[5] == f"    rerun pending: {failed} rows: leadimport rerun {sent}"

    code, out, _ = invoke("runs", "--output", root, "--json")
    listed = json.loads(out)
    assert [r["run_dir"] for r in listed] == [str(checked), str(sent)]
    assert listed[1] | {"started_at": ""} == {
        "run_dir": str(sent),
        "finished_at": "2026-01-02T10:00:00+00:00",
        "started_at": "",
        "kind": "run",
        "command": "run",
        "input": str(tmp_path / "leads.csv"),
        "endpoint_host": host,
        "sent": True,
        "rows": 40,
        "counts": {"success": 40 - failed, "failed": failed},
        "exit_code": 1,
        "rerun_pending": failed,
        "status": "done",
    }
    assert listed[0]["sent"] is False and listed[0]["rerun_pending"] == 0


def test_runs_lists_a_send_killed_before_its_summary_as_interrupted(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    root, sent, _, server = _two_runs(tmp_path, sandbox_factory)
    counts = json.loads((sent / "summary.json").read_text())["counts"]
    (sent / "summary.json").unlink()  # what a kill -9 in the middle of the send leaves
    (sent / "results.csv").unlink()

    code, out, err = invoke("runs", "--output", root)

    assert code == 0, err
    lines = out.splitlines()  # newest first: its journal was written last
    host = server.endpoint.split("/")[2]
    assert lines[0].endswith(f"run: leads.csv, sent to {host}, exit 130, interrupted")
    assert lines[1] == f"    success {counts['success']} · failed {counts['failed']}"
    assert lines[2] == f"    the rest not sent: leadimport rerun {sent}"
    assert lines[4].endswith("validate: leads.csv, checked for trackdrive.com, exit 0")
    listed = json.loads(invoke("runs", "--output", root, "--json")[1])
    assert [r["status"] for r in listed] == ["interrupted", "done"]
    # The advice works: the rerun finishes that run.
    code, _, err = invoke("rerun", sent, "--lead-token", TOKEN, "--max-attempts", "5")
    assert code == 0, err
    assert json.loads(invoke("runs", "--output", root, "--json")[1])[0]["status"] == "done"


def test_prune_keeps_the_ledger_and_runs_with_rows_to_send(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    root, sent, checked, _ = _two_runs(tmp_path, sandbox_factory)
    ledger = root / "ledger.sqlite"
    ledger.write_bytes(b"x")
    recent = root / "recent"
    recent.mkdir()
    (recent / "summary.json").write_text((checked / "summary.json").read_text())
    _age(recent, "2099-01-01T00:00:00+00:00")
    code, out, err = invoke("runs", "prune", "--output", root, "--older-than", "30d")
    assert code == 0, err
    assert out.splitlines()[0].startswith("removed 1 run folder, freed ")
    assert out.splitlines()[1].startswith(f"kept {sent}: ")
    assert not checked.exists() and sent.is_dir() and recent.is_dir() and ledger.is_file()

    code, _, err = invoke("runs", "prune", "--output", root, "--older-than", "soon")
    assert code == 2
    assert "'soon' is not an age such as 30d, 12h, 2w or 90m" in err


def _with_bad_phones(path: Path) -> Path:
    make_csv(path, 10)
    lines = path.read_text().splitlines()
    for n in (3, 7):  # spreadsheet rows 3 and 7: data rows 1 and 5
        cells = lines[n - 1].split(",")
        cells[2] = "12"
        lines[n - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rerun_with_nothing_to_send_needs_no_token_and_sees_fixed_rows(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    import csv

    server = sandbox_factory(tokens=(TOKEN,))
    first = tmp_path / "output" / "first"
    src = _with_bad_phones(tmp_path / "leads.csv")
    code, _, err = invoke(*run_args(src, server, first))
    assert code == 1, err
    no_token = {"TRACKDRIVE_LEAD_TOKEN": ""}

    code, out, err = invoke("rerun", first, env=no_token)
    assert (code, err) == (1, "")
    assert out == (
        f"rerun: nothing left to send in {first}\n"
        f"  invalid:  2 rows (3, 7): fix them in {first}/failures.csv (or failures.xlsx) and "
        "import that file with the same mapping; a rerun does not send invalid rows\n"
    )

    with (first / "failures.csv").open(newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    for i, row in enumerate(rows):  # fixed in place, as the README says
        row[header.index("Phone")] = f"(312) 555-01{i:02d}"
    with (first / "failures.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    second = tmp_path / "output" / "second"
    code, _, err = invoke(*run_args(first / "failures.csv", server, second))
    assert code == 0, err

    code, out, err = invoke("rerun", first, env=no_token)
    assert (code, err) == (0, "")
    assert out == (
        f"rerun: nothing left to send in {first}\n"
        f"  fixed:    2 invalid rows sent since by {second}\n"
    )
    code, out, _ = invoke("runs", "rows", first)
    assert (code, out) == (
        0,
        f"row 3: success in {second} (row 2)\nrow 7: success in {second} (row 3)\n",
    )
    code, out, _ = invoke("runs", "rows", first, "--json")
    assert json.loads(out)[1] == {
        "row": 7, "status": "success", "run_dir": str(second), "row_there": 3,
    }  # fmt: skip
