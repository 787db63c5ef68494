"""The column-wise builders agree with the obvious one-value-at-a-time code.

Bodies, messages and quoted values are built a column at a time with pyarrow and skip the
work a chunk does not need (all-empty members, messages for cells that are fine). These
tests pin them to ``json.dumps`` and to ``quote_text`` on values chosen to hit each shortcut.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from importer.clean import normalize_booleans, normalize_emails, normalize_integers, normalize_times
from importer.clean._columns import Memo, quote_text, quoted_text
from tests.helpers import invoke, read_results, write_csv, write_mapping

TRICKY = [
    "",
    "plain",
    "O'Brien",
    "back\\slash",
    "tab\there",
    "esc\x1b[31m",
    "nbsp\u00a0and\u0085nel",
    "x" * 80,
    "x" * 81,
    "é" * 80,  # 160 bytes, 80 characters: not cut
    "é" * 81,
    "x" * 79 + "'" + "tail",  # the quote falls after the cut
    "x" * 79 + "\x07" + "tail",  # a control character just inside the cut
    "\U0001f600" * 90,
    "line\nbreak",
]


def test_quoted_text_matches_quote_text_value_by_value() -> None:
    got = quoted_text(pa.array(TRICKY, pa.large_string())).to_pylist()
    assert got == [quote_text(v) for v in TRICKY]


def test_quoted_text_of_a_slice_and_of_nothing() -> None:
    values = pa.array(TRICKY, pa.large_string())
    assert quoted_text(values.slice(3, 9)).to_pylist() == [quote_text(v) for v in TRICKY[3:12]]
    assert quoted_text(pa.array([], pa.large_string())).to_pylist() == []


@pytest.mark.parametrize(
    ("normalize", "good", "said"),
    [
        (normalize_integers, ["3", " 1,000 ", "-0"], "is not a whole number"),
        (normalize_booleans, ["yes", "0", " TRUE "], "is not a yes/no value"),
        (normalize_emails, ["a@example.com", " b@Example.COM "], "is not a valid email address"),
    ],
)
def test_messages_only_for_bad_cells_and_exactly_as_before(normalize, good, said) -> None:
    bad = [v for v in TRICKY if v and v != "x" * 80]
    cells = pd.Series([*good, "", *bad, *good], dtype="str")
    out = normalize(cells)
    errors = out.errors.tolist()
    assert errors[: len(good) + 1] == [""] * (len(good) + 1)
    assert errors[-len(good) :] == [""] * len(good)
    for value, error in zip(bad, errors[len(good) + 1 : -len(good)], strict=True):
        assert error.startswith(f"{quote_text(value.strip())} {said}"), (value, error)


def test_time_messages_and_warnings_land_on_their_own_rows() -> None:
    cells = pd.Series(
        ["2026-03-08 02:30", "12/13/26 9:00", "", "tomorrow", "2026-11-01 01:30", "x" * 90],
        dtype="str",
    )
    out = normalize_times(cells, "America/New_York")
    errors, warnings = out.errors.tolist(), out.warnings.tolist()
    assert errors[:3] == ["", "", ""] and errors[4] == ""
    assert errors[3].startswith("'tomorrow' is not a date")
    assert errors[5].startswith(f"{quote_text('x' * 90)} is not a date")
    assert warnings[0].startswith("'2026-03-08 02:30' does not exist in America/New_York")
    assert warnings[1].startswith("'12/13/26 9:00' ")
    assert warnings[2:4] == ["", ""] and warnings[5] == ""
    assert warnings[4].startswith("'2026-11-01 01:30' happens twice in America/New_York")


def _body(fields: dict[str, object], data: dict[str, str]) -> str:
    kept = {k: v for k, v in fields.items() if v != ""}
    if any(data.values()):
        kept["data"] = {k: v for k, v in data.items() if v != ""}
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


def test_bodies_equal_json_dumps_whatever_is_empty(tmp_path: Path) -> None:
    """Rows where the first member, the last, every data token or all but one are empty,
    and values JSON must escape, give exactly json.dumps' body."""
    rows = [
        ["Phone", "Email", "Priority", "First", "Note"],
        ["(212) 555-0100", "a@example.com", "2", "Ann", "hi"],
        ["", "b@example.com", "", "", ""],  # first member empty, no data
        ["212-555-0101", "", "", "", 'say "hi"\\ now'],  # only the last data token
        ["212-555-0102", "", "7", "Zoë\u2028line", ""],
        ["212 555 0103", "c@example.com", "", "tab\tin", "new\nline"],
    ]
    source = write_csv(tmp_path / "leads.csv", rows)
    mapping = write_mapping(
        tmp_path,
        "lead_token: t\nregion: US\nfields:\n  caller_id: Phone\n  email: Email\n"
        "  lead_priority: Priority\n"
        "data:\n  first_name: First\n  note: Note\n",
    )
    code, _, err = invoke("validate", source, "-m", mapping, "--out", tmp_path / "run", "-q")
    assert code == 0, err
    got = [r["payload"] for r in read_results(tmp_path / "run")]
    expected = [
        _body(
            {"caller_id": "+12125550100", "email": "a@example.com", "lead_priority": 2},
            {"first_name": "Ann", "note": "hi"},
        ),
        _body({"caller_id": "", "email": "b@example.com"}, {}),
        _body({"caller_id": "+12125550101"}, {"first_name": "", "note": 'say "hi"\\ now'}),
        _body({"caller_id": "+12125550102", "lead_priority": 7}, {"first_name": "Zoë\u2028line"}),
        _body(
            {"caller_id": "+12125550103", "email": "c@example.com"},
            {"first_name": "tab\tin", "note": "new\nline"},
        ),
    ]
    assert got == expected
    assert [json.loads(b) for b in got]  # each one JSON


def _times_chunks(seed: int) -> list[pd.Series]:
    """Chunks of times where values repeat across chunks, with DST nights, two-digit
    years, bad cells and blanks among them."""
    rng = np.random.default_rng(seed)
    pool = [
        f"{m}/{d}/2026 {h}:{q:02d}"
        for m, d, h, q in zip(
            rng.integers(1, 13, 400), rng.integers(1, 29, 400), rng.integers(0, 24, 400),
            rng.choice([0, 15, 30, 45], 400), strict=True,
        )
    ]  # fmt: skip
    pool += ["2026-03-08 02:30", "2026-11-01 01:30", "12/13/26 9:00", "soon", "", " 13/45/2026 "]
    return [pd.Series(rng.choice(pool, 300), dtype="str") for _ in range(8)]


@pytest.mark.parametrize("limit", [50_000, 300, 10])
def test_a_memo_across_chunks_reads_exactly_as_without(limit: int) -> None:
    memo = Memo(limit=limit)
    for chunk in _times_chunks(7):
        plain = normalize_times(chunk, "America/New_York")
        kept = normalize_times(chunk, "America/New_York", "MDY", memo)
        assert kept.values.tolist() == plain.values.tolist()
        assert kept.errors.tolist() == plain.errors.tolist()
        assert kept.warnings is not None and plain.warnings is not None
        assert kept.warnings.tolist() == plain.warnings.tolist()
