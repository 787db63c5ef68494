"""The demo: the packaged sample imported into an in-process sandbox, and checked.

The sample ships inside the package (``demo/``), so the demo works from any folder after a
plain ``pip install``. It has rows broken on purpose (``demo/expected.json`` lists them); the
demo succeeds when those, and only those, are invalid and every other row is stored in the
sandbox despite the faults the sandbox injects.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from importer.clean import RowStatus
from importer.pipeline._flows import SendOptions, run
from importer.pipeline._jobs import NoProgress, Progress, Source, Window
from importer.record import RESULTS_FILE, Summary

if TYPE_CHECKING:
    from importer.sandbox import SandboxServer

DEMO_TOKEN = "demo-token"


def _demo_sandbox() -> SandboxServer:
    """The demo's sandbox, with a few faults. Imported here: the sandbox is an aiohttp
    app, and importing aiohttp costs every other flow (validate) ~20 MB and ~0.2 s."""
    from importer.sandbox import SandboxConfig, SandboxServer

    return SandboxServer(SandboxConfig(latency_ms=(5, 40), fail_rate=0.03, drop_rate=0.01, seed=7))


@dataclass(frozen=True, slots=True)
class DemoResult:
    """How the demo went: the run's summary, what the sandbox stored, what went wrong."""

    summary: Summary
    sandbox_url: str
    stored: int
    problems: tuple[str, ...]  # rows that did not end as the demo means them to

    @property
    def ok(self) -> bool:
        """Did every row end as the demo means it to?"""
        return not self.problems


def run_demo(
    rows: Path | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
    on_ready: Callable[[SandboxServer], None] | None = None,
    out_root: Path = Path("output"),
) -> DemoResult:
    """Import the packaged sample (or ``rows``) into a fresh sandbox and check the outcome.

    ``on_ready`` is called once the sandbox listens, before anything is sent.
    """
    demo = resources.files("importer.pipeline") / "demo"
    with (
        resources.as_file(demo / "leads.csv") as sample,
        resources.as_file(demo / "mapping.yaml") as mapping,
        _demo_sandbox() as server,
    ):
        if on_ready is not None:
            on_ready(server)
        options = SendOptions(
            endpoint=server.endpoint, lead_token=DEMO_TOKEN, rate=100, concurrency=8
        )
        source = Source(rows or sample)
        summary = run(
            source, mapping, options, out, Window(), progress or NoProgress(), out_root=out_root
        )
        expected = None
        if rows is None:
            expected = json.loads((demo / "expected.json").read_text(encoding="utf-8"))
        problems = _check(Path(summary.run_dir) / RESULTS_FILE, server, expected)
        return DemoResult(summary, server.url, len(server.leads()), problems)


def _check(
    results: Path, server: SandboxServer, expected: dict[str, list[int]] | None
) -> tuple[str, ...]:
    problems = []
    invalid = []
    with results.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            status = row["status"]
            if status == RowStatus.INVALID.value:
                invalid.append(int(row["row"]))
            elif status == RowStatus.SUCCESS.value:
                if server.lead(row["caller_id"] or row["email"]) is None:
                    problems.append(f"row {row['row']}: success, but not stored in the sandbox")
            elif status != RowStatus.SKIPPED.value:
                problems.append(f"row {row['row']}: {status}: {row['error']}")
    if expected is not None and invalid != expected["invalid_rows"]:
        surprise = sorted(set(invalid) - set(expected["invalid_rows"]))
        missing = sorted(set(expected["invalid_rows"]) - set(invalid))
        if surprise:
            problems.append(f"rows {surprise}: invalid, but the sample means them to be valid")
        if missing:
            problems.append(f"rows {missing}: valid, but the sample breaks them on purpose")
    return tuple(problems)
