"""What the check and results pages say of a run's warnings and of an unguarded time."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.clean import WARNING_KINDS
from importer.record import RESULTS_FILE

WARNED_SHOWN = 100  # warned rows shown on a page (all are in results.csv's warnings column)
# The scheduled times, as the page names them (the parameter in brackets, as the YAML has it).
TIME_WORDS = {
    "schedule_callback_at": "the callback time",
    "next_action_at": "the next action time",
}


@dataclass(frozen=True, slots=True)
class WarningCount:
    """How many warnings of one kind a run has, and what they mean in plain words."""

    kind: str
    count: int
    words: str


@dataclass(frozen=True, slots=True)
class WarnedRow:
    """A row whose values the tool changed: its row number, status and the warnings."""

    row: str
    status: str
    warnings: str


@dataclass(frozen=True, slots=True)
class Warned:
    """Everything a page shows of a run's warnings."""

    total: int = 0
    rows: int = 0  # rows with any warning
    counts: list[WarningCount] = field(default_factory=list)
    shown: list[WarnedRow] = field(default_factory=list)  # the first WARNED_SHOWN of them
    unguarded: str = ""  # one sentence, or "" when every scheduled time is guarded


def _fact(summary: Any, name: str, default: Any) -> Any:
    """A field of a Summary (the check) or of summary.json's mapping (a past run)."""
    if isinstance(summary, Mapping):
        return summary.get(name, default)
    return getattr(summary, name, default)


def warned_rows(run_dir: Path, limit: int = WARNED_SHOWN) -> list[WarnedRow]:
    """The first ``limit`` rows of results.csv with a warning, read by column name."""
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        return []
    shown: list[WarnedRow] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for record in csv.DictReader(fh):
            text = record.get("warnings") or ""
            if text:
                shown.append(WarnedRow(record.get("row", ""), record.get("status", ""), text))
                if len(shown) >= limit:
                    break
    return shown


def unguarded_sentence(times: Sequence[str]) -> str:
    """What a mapping without calling hours means for its scheduled times, and what to do."""
    if not times:
        return ""
    named = " and ".join(f"{TIME_WORDS.get(t, t)} ({t})" for t in times)
    verb = "is" if len(times) == 1 else "are"
    return (
        f"No calling hours are set, so {named} {verb} sent as written, at any hour of the "
        "lead's day: set Calling hours on the mapping screen (e.g. 08:00-21:00) to move "
        "times outside them to the next opening."
    )


def warnings_of(summary: Any, run_dir: Path) -> Warned:
    """The counts per kind, the first warned rows and the unguarded sentence of a run."""
    kinds: Mapping[str, int] = _fact(summary, "warnings", {}) or {}
    counts = [
        WarningCount(kind, int(n), WARNING_KINDS.get(kind, ("", kind.replace("_", " ")))[1])
        for kind, n in kinds.items()
    ]
    rows = int(_fact(summary, "warned_rows", 0) or 0)
    return Warned(
        total=int(_fact(summary, "warnings_total", 0) or 0),
        rows=rows,
        counts=counts,
        shown=warned_rows(run_dir) if rows else [],  # no pass over a file without any
        unguarded=unguarded_sentence(list(_fact(summary, "unguarded", []) or [])),
    )
