"""Shared test helpers: paths, the sample header, the CLI in-process, results files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from importer.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "mappings" / "example.yaml"
HEADER = [
    "First Name",
    "Last Name",
    "Phone",
    "E-mail",
    "Callback Time",
    "Amount",
    "State",
    "ZIP",
    "Source",
]


def invoke(*args: Any, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``leadimport ARGS`` through the real click entry point: (exit, stdout, stderr)."""
    result = CliRunner(env=env).invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def read_results(run_dir: Path, name: str = "results.csv") -> list[dict[str, str]]:
    """The rows of a run folder's results.csv (or another CSV in it)."""
    with (run_dir / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
