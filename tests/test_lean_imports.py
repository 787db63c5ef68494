"""A validate does not load what only sending needs: aiohttp (~20 MB, ~0.2 s) and the
sandbox come in with the first request; openpyxl with the first spreadsheet copy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_VALIDATE = """
import sys
from importer.cli import main
try:
    main(["validate", sys.argv[1], "-m", sys.argv[2], "--out", sys.argv[3], "-q"])
except SystemExit as exc:
    print("exit", exc.code)
print(sorted(m for m in ("aiohttp", "openpyxl", "importer.sandbox") if m in sys.modules))
"""


def _run(code: str, *args: object) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    return done.stdout.splitlines()


def test_importing_the_flows_loads_no_aiohttp_and_no_openpyxl() -> None:
    code = (
        "import sys, importer.pipeline, importer.record, importer.send\n"
        "print(sorted(m for m in ('aiohttp', 'openpyxl') if m in sys.modules))"
    )
    assert _run(code) == ["[]"]


def test_a_validate_sends_nothing_and_loads_no_aiohttp(tmp_path: Path) -> None:
    lines = _run(
        _VALIDATE,
        ROOT / "samples" / "leads.csv",
        ROOT / "mappings" / "example.yaml",
        tmp_path / "v",
    )
    assert lines[-2] == "exit 1"  # the sample has invalid rows on purpose
    assert "aiohttp" not in lines[-1] and "importer.sandbox" not in lines[-1], lines
    assert (tmp_path / "v" / "results.csv").exists()


def test_sending_still_finds_its_names() -> None:
    code = "import importer.send as s; print(s.send_rows.__name__, s.open_session.__name__)"
    assert _run(code) == ["send_rows open_session"]


def test_pyarrow_commits_memory_on_demand_unless_told_otherwise() -> None:
    code = "import os, importer; print(os.environ['MIMALLOC_ARENA_EAGER_COMMIT'])"
    assert _run(code) == ["0"]
    told = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "MIMALLOC_ARENA_EAGER_COMMIT": "1"},
    )  # fmt: skip
    assert told.stdout.split() == ["1"]
