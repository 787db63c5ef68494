"""Past runs as the core lists them (for `runs`, the page, and the repeat-import question)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import EXAMPLE, invoke
from test_run import TOKEN, make_csv, run_args

from importer.pipeline import earlier_imports, past_runs


def test_past_runs_newest_first_with_what_each_folder_is(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.5, seed=5)
    steady = sandbox_factory(tokens=(TOKEN,))
    src = make_csv(tmp_path / "leads.csv", 20)
    root = tmp_path / "output"
    once = ("--unlimited-rate", "--concurrency", "1", "--max-attempts", "1")
    assert invoke(*run_args(src, server, root / "a", *once))[0] == 1
    assert invoke("validate", src, "-m", EXAMPLE, "--out", root / "b")[0] == 0
    other = make_csv(tmp_path / "other.csv", 3)
    batch = invoke(
        "run", src, other, "-m", EXAMPLE, "--endpoint", steady.endpoint, "--lead-token", TOKEN,
        "--out", root / "night", "--unlimited-rate", "--yes",
    )  # fmt: skip
    assert batch[0] == 0, batch[2]

    runs = past_runs(root)

    assert len(runs) == 4  # a, b, and the batch's two folders one level deeper
    assert [r.finished_at for r in runs] == sorted((r.finished_at for r in runs), reverse=True)
    by_dir = {r.run_dir.relative_to(root).parts[0]: r for r in runs if r.run_dir.parent == root}
    first, checked = by_dir["a"], by_dir["b"]
    assert (first.kind, first.sent, checked.kind, checked.sent) == ("run", True, "validate", False)
    assert first.succeeded + first.pending == 20 and first.pending > 0
    assert sum(1 for r in runs if r.run_dir.parent == root / "night") == 2

    # A rerun finishes the first run: it is still that file's run, now with every row sent.
    rerun = invoke("rerun", root / "a", "--lead-token", TOKEN, "--endpoint", steady.endpoint)
    assert rerun[0] == 0, rerun[2]
    (again,) = [r for r in past_runs(root) if r.run_dir == root / "a"]
    assert (again.kind, again.command, again.succeeded, again.pending) == ("run", "rerun", 20, 0)
    # ...and the repeat-import question sees it (it used to skip folders finished by rerun).
    earlier = earlier_imports(root, src, steady.endpoint)
    assert root / "a" in [e.run_dir for e in earlier]
    assert earlier_imports(root, src, "http://127.0.0.1:9/elsewhere") == []


def test_unreadable_folders_are_passed_over(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text("{not json")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "summary.json").write_text('{"command": "run"}')
    assert past_runs(tmp_path) == [] and past_runs(tmp_path / "missing") == []
