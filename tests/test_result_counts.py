"""The summary's tally and the report's facts, now worked out once per block
(``count_block``), add up what a row-by-row count does: the same counts, the same first
rows, the same order of keys (most_common breaks ties by it), the same example values.

The references are plain loops over rows, written here only.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from importer.clean import WARNING_KINDS, first_value
from importer.record import (
    ERROR_SEPARATOR,
    RESULT_COLUMNS,
    RESULTS_FILE,
    ResultsWriter,
    Tally,
    error_reason,
)
from importer.record._report import ResultFacts, read_results
from importer.record._results import any_control_byte

PHRASES = [phrase for phrase, _ in WARNING_KINDS.values()]
PROBLEMS = [
    "Phone: '{v}' is not a valid phone number for region US",
    "E-mail: '{v}' is not a valid email address",
    "no caller_id ('Phone') or email ('E-mail'): a lead needs a phone number or an email",
    "duplicate of row {n}",
    "unchanged since 2026-11-29 10:{n}",
    "HTTP 500",
    "HTTP 422: caller_id: '{v}' is invalid",
    "Téléphone: '{v}' is empty",
    "Phone\x1b[31m: '{v}' contains letters",
    "Line\nbreak: '{v}' is empty",
    "{long}: '{v}' is too long",
    "it's: '{v}' odd",
    ": '{v}' no head",
    "(the row as a whole): '{v}' a head like a key",
]
VALUES = ["", "x", "O\\'Brien", "a | b", "=1+1", "é", "12", "\\x1b"]


def chunk(rng: random.Random, first: int, size: int) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for n in range(first, first + size):
        status = rng.choice(["valid", "invalid", "invalid", "skipped", "failed", "success"])
        problems = [
            rng.choice(PROBLEMS).format(v=rng.choice(VALUES), n=rng.randint(2, 99), long="L" * 81)
            for _ in range(rng.randint(1, 3))
        ]
        error = "" if status in ("valid", "success") else ERROR_SEPARATOR.join(problems)
        warnings = [f"Phone: '{rng.choice(VALUES)}' {rng.choice(PHRASES)}"] * rng.randint(0, 2)
        rows.append(
            {c: "" for c in RESULT_COLUMNS}
            | {
                "row": n,
                "status": status,
                "error": error,
                "http_status": rng.choice(["", "200", "500"]) if status != "invalid" else "",
                "warnings": ERROR_SEPARATOR.join(warnings),
                "trackdrive_number_plain": rng.choice(["", "+18005550100"]),
                "sms_number_plain": rng.choice(["", "", "+18005550101"]),
            }
        )
    index = pd.Index(range(first, first + size), dtype="int64", name="row")
    frame = pd.DataFrame(rows, index=index, columns=RESULT_COLUMNS)
    frame = frame.astype({c: "str" for c in RESULT_COLUMNS[1:]})
    frame["row"] = frame["row"].astype("int64")
    return frame


def problem_column(problem: str, status: str) -> str:
    """The report's rule: the column a problem names ("Phone: '…' …"), or who raised it."""
    if status != "invalid":
        return "(the endpoint or the run)"
    head, sep, _ = problem.partition(": ")
    return head if sep and "'" not in head and len(head) <= 80 else "(the row as a whole)"


def add_one(counts: Counter[str], rows: dict[str, list[int]], key: str, row: int) -> None:
    counts[key] += 1
    listed = rows.setdefault(key, [])
    if len(listed) < 5:
        listed.append(row)


def reference(frames: list[pd.DataFrame]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tally's and the facts' fields, counted row by row."""
    tally: dict[str, Any] = {
        "reasons": Counter(),
        "reason_rows": {},
        "skips": Counter(),
        "skip_rows": {},
        "examples": {},
        "warnings": Counter(),
        "warned_rows": 0,
    }
    facts: dict[str, Any] = {
        "statuses": Counter(),
        "http": Counter(),
        "numbers": 0,
        "sms_numbers": 0,
        "columns": Counter(),
        "column_rows": {},
        "changed": Counter(),
        "changed_rows": {},
    }
    for frame in frames:
        # Warnings are added up per block, kinds in WARNING_KINDS' order, as the writer gets them.
        for kind, (phrase, _) in WARNING_KINDS.items():
            found = [(r["row"], r["warnings"].count(phrase)) for r in frame.to_dict("records")]
            if total := sum(n for _, n in found):
                tally["warnings"][kind] += total
                facts["changed"][kind] += total
                listed = facts["changed_rows"].setdefault(kind, [])
                listed += [row for row, n in found if n][: max(5 - len(listed), 0)]
        for record in frame.to_dict("records"):
            row, status, error = record["row"], record["status"], record["error"]
            facts["statuses"][status] += 1
            if record["http_status"]:
                facts["http"][record["http_status"]] += 1
            facts["numbers"] += bool(record["trackdrive_number_plain"])
            facts["sms_numbers"] += bool(record["sms_number_plain"])
            tally["warned_rows"] += bool(record["warnings"])
            if not error:
                continue
            reason = error_reason(error)
            if status == "skipped":
                add_one(tally["skips"], tally["skip_rows"], reason, row)
                continue
            add_one(tally["reasons"], tally["reason_rows"], reason, row)
            if reason not in tally["examples"] and (value := first_value(error)):
                tally["examples"][reason] = value
            for problem in error.split(ERROR_SEPARATOR):
                column = problem_column(problem, status)
                add_one(facts["columns"], facts["column_rows"], column, row)
    return tally, facts


def ordered(value: Any) -> Any:
    return list(value.items()) if isinstance(value, dict) else value


def tally_fields(tally: Tally) -> dict[str, Any]:
    return {
        "reasons": tally.reasons,
        "reason_rows": tally.reason_rows,
        "skips": tally.skips,
        "skip_rows": tally.skip_rows,
        "examples": tally.examples,
        "warnings": tally.warnings,
        "warned_rows": tally.warned_rows,
    }


def facts_fields(facts: ResultFacts) -> dict[str, Any]:
    return {
        "statuses": facts.statuses,
        "http": facts.http,
        "numbers": facts.numbers,
        "sms_numbers": facts.sms_numbers,
        "columns": facts.columns.counts,
        "column_rows": facts.columns.rows,
        "changed": facts.changed.counts,
        "changed_rows": facts.changed.rows,
    }


def assert_same(got: dict[str, Any], want: dict[str, Any], order: bool = True) -> None:
    for name in want:
        if order:
            assert ordered(got[name]) == ordered(want[name]), name
        else:
            assert got[name] == want[name], name


@pytest.mark.parametrize("seed", range(4))
def test_tally_and_facts_add_up_as_a_row_by_row_count(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    frames, first = [], 2
    for size in (1, 0, 300, 57, 1000):
        frames.append(chunk(rng, first, size))
        first += size + rng.randint(0, 2)
    want_tally, want_facts = reference(frames)

    writer = ResultsWriter(tmp_path, ["Name"], set())
    alone = Tally()
    for frame in frames:
        original = pd.DataFrame({"Name": ["n"] * len(frame)}, index=frame.index, dtype="str")
        writer.write(frame, original, frame["status"] == "invalid")
        alone.add(frame)  # the tally on its own works out the block itself
    writer.finish()

    for tally in (writer.tally, alone):
        assert_same(tally_fields(tally), want_tally)
        assert tally.rows == sum(len(f) for f in frames)
    # The facts gathered while writing, and read back from results.csv at the end (in
    # blocks of its own: keys that first appear in one same block may come in another order).
    for facts, order in ((writer.facts, True), (read_results(tmp_path / RESULTS_FILE), False)):
        assert_same(facts_fields(facts), want_facts, order)
        assert (facts.reasons.counts, facts.reasons.rows) == (alone.reasons, alone.reason_rows)
        assert (facts.skips.counts, facts.skips.rows) == (alone.skips, alone.skip_rows)
    assert len(want_tally["reasons"]) > 5 and want_tally["examples"] and want_facts["changed"]


@pytest.mark.parametrize(
    ("texts", "found"),
    [
        (["plain", "é ü 日本", "\x80\x9f C1 controls"], False),
        (["a", "tab\there"], True),
        (["a", "del\x7f"], True),
        (["nul\x00"], True),
        ([], False),
        (["", ""], False),
    ],
)
def test_any_control_byte(texts: list[str], found: bool) -> None:
    values = pa.array(["\n", *texts, "\x1b"], pa.large_string())
    assert any_control_byte(values.slice(1, len(texts))) is found  # not the cells around
    assert any_control_byte(pa.array(texts, pa.string())) is found
