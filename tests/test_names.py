"""Names a dialer can use (issue 13, item 5): a full-name column split into first_name and
last_name data tokens with ``part: first`` / ``part: last``, by the rule the README states.

Through the real CLI: ``validate`` for the exact bodies.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import invoke, read_results

SPLIT = (
    "fields:\n  caller_id: Phone\ndata:\n"
    "  first_name: {column: Full Name, part: first}\n"
    "  last_name: {column: Full Name, part: last}\n"
)

# (full name as a form or CRM writes it, first, last)
NAMES = [
    ("Anna Smith", "Anna", "Smith"),
    ("  anna   SMITH ", "anna", "SMITH"),  # spaces tidied; case kept as written
    ("Anna Maria Smith", "Anna", "Smith"),  # a middle name is in neither
    ("Mary-Kate O'Brien", "Mary-Kate", "O'Brien"),
    ("Anna Smith Jr.", "Anna", "Smith Jr."),  # a suffix stays with the last name
    ("Anna Smith, Jr.", "Anna", "Smith Jr."),
    ("John Doe III", "John", "Doe III"),
    ("Ludwig van Beethoven", "Ludwig", "van Beethoven"),  # lower-case particles too
    ("María José de la Cruz", "María", "de la Cruz"),
    ("Smith, Anna", "Anna", "Smith"),  # the comma form is last, first
    ("Smith Jr., Anna Maria", "Anna", "Smith Jr."),
    ("Dr. Anna Smith", "Anna", "Smith"),  # a title before a name is dropped
    ("Dr. Smith", "Dr.", "Smith"),  # ... but not when it is all there is (a limit)
    ("Prince", "Prince", ""),  # a single word is a first name only
    ("", "", ""),
]


def test_a_full_name_is_split_into_first_and_last(tmp_path: Path) -> None:
    leads = tmp_path / "l.csv"
    with leads.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Phone", "Full Name"])
        for i, (name, _, _) in enumerate(NAMES):
            writer.writerow([f"(212) 555-01{i:02d}", name])
    mapping = tmp_path / "m.yaml"
    mapping.write_text("version: 1\n" + SPLIT, encoding="utf-8")
    code, _, stderr = invoke("validate", leads, "-m", mapping, "-q", "--out", tmp_path / "out")
    assert code == 0, stderr
    rows = read_results(tmp_path / "out")
    got = [json.loads(r["payload"]).get("data", {}) for r in rows]
    want = [
        {k: v for k, v in (("first_name", first), ("last_name", last)) if v}
        for _, first, last in NAMES
    ]
    assert got == want
    assert all(r["warnings"] == "" for r in rows)  # asked for: nothing to warn of


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("{column: Full Name, part: middle}",
         "data.first_name.part: 'middle' is not a part of a name; use first or last (of a "
         "full-name column)"),
        ("{value: Anna Smith, part: first}",
         "data.first_name.part: splits a full-name column: use it with column:, as text"),
        ("{column: Full Name, type: integer, part: first}",
         "data.first_name.part: splits a full-name column: use it with column:, as text"),
    ],
)  # fmt: skip
def test_a_part_that_cannot_be_taken_is_refused(tmp_path: Path, spec: str, problem: str) -> None:
    leads = tmp_path / "l.csv"
    leads.write_text("Phone,Full Name\n(212) 555-0101,Anna Smith\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        f"version: 1\nfields:\n  caller_id: Phone\ndata:\n  first_name: {spec}\n", encoding="utf-8"
    )
    code, _, stderr = invoke("validate", leads, "-m", mapping, "--out", tmp_path / "out")
    assert (code, stderr) == (2, f"leadimport: error: {mapping}: {problem}\n")


def test_part_is_a_data_token_setting_not_a_trackdrive_parameter(tmp_path: Path) -> None:
    leads = tmp_path / "l.csv"
    leads.write_text("Phone,Full Name\n(212) 555-0101,Anna Smith\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nfields:\n  caller_id: {column: Phone, part: first}\n", encoding="utf-8"
    )
    code, _, stderr = invoke("validate", leads, "-m", mapping, "--out", tmp_path / "out")
    assert code == 2
    assert stderr.startswith(f"leadimport: error: {mapping}: fields.caller_id.part: unknown key")
