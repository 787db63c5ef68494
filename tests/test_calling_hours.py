"""Calling hours for every scheduled time (issue 13, item 4): ``calling_hours`` in the mapping
moves schedule_callback_at and next_action_at into the lead's own local hours, with a
warning; a date without a time gets the opening; ``strict: true`` refuses such rows.

Through the real CLI, and ``run`` against the sandbox for what Trackdrive receives.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from helpers import STRICT, invoke, read_results, write_csv, write_mapping

from importer.clean import number_zones, zones_by_number

TOKEN = "hours-TOKEN-0013"
GUARD = 'timezone: America/New_York\ncalling_hours: "08:00-21:00"\n'
FIELDS = "fields:\n  caller_id: Phone\n  schedule_callback_at: Callback\n"


def validate(
    tmp_path: Path, leads: Path, mapping: Path, out: str = "out"
) -> tuple[int, list[dict[str, str]], str]:
    """(exit status, results.csv's rows, the console summary)."""
    code, stdout, stderr = invoke("validate", leads, "-m", mapping, "--out", tmp_path / out)
    assert code in (0, 1), stderr
    return code, read_results(tmp_path / out), stdout


def sent(row: dict[str, str], key: str = "schedule_callback_at") -> str:
    return str(json.loads(row["payload"]).get(key, "")) if row["payload"] else ""


# (phone, cell read in New York, sent in UTC, the warning after "Callback: ")
MOVES = [
    # The Hawaii lead: 09:00 in New York is 04:00 in Honolulu.
    ("(808) 555-0100", "2026-12-13 09:00", "2026-12-13 18:00:00 +0000",
     "'2026-12-13 09:00' is 04:00 HST in Pacific/Honolulu, outside calling hours 08:00-21:00, "
     "moved to 2026-12-13 08:00 HST (18:00 UTC)"),
    # After closing: the next morning.
    ("(212) 555-0101", "2026-12-13 22:30", "2026-12-14 13:00:00 +0000",
     "'2026-12-13 22:30' is 22:30 EST in America/New_York, outside calling hours 08:00-21:00, "
     "moved to 2026-12-14 08:00 EST (13:00 UTC)"),
    # Inside the window in the lead's zone: as written, no word.
    ("(212) 555-0101", "2026-12-13 12:00", "2026-12-13 17:00:00 +0000", ""),
    ("(213) 555-0104", "2026-12-13 23:30", "2026-12-14 04:30:00 +0000", ""),  # 20:30 in LA
    # A date without a time: the opening of that day in the lead's zone, said.
    ("(808) 555-0100", "12/13/2026", "2026-12-13 18:00:00 +0000",
     "'12/13/2026' has no time of day, set to 2026-12-13 08:00 HST, the start of calling "
     "hours 08:00-21:00 in Pacific/Honolulu"),
    # An area code in two zones (208: Boise and Los Angeles): inside the window in both.
    ("(208) 555-0100", "2026-12-13 07:30", "2026-12-13 16:00:00 +0000",
     "'2026-12-13 07:30' is 05:30 MST in America/Boise (the number may be in any of "
     "America/Boise, America/Los_Angeles), outside calling hours 08:00-21:00, moved to "
     "2026-12-13 09:00 MST / 08:00 PST (16:00 UTC)"),
    # 20:30 in Los Angeles but 21:30 in Boise: the westernmost zone alone would keep it.
    ("(208) 555-0100", "2026-12-13 23:30", "2026-12-14 16:00:00 +0000",
     "'2026-12-13 23:30' is 21:30 MST in America/Boise (the number may be in any of "
     "America/Boise, America/Los_Angeles), outside calling hours 08:00-21:00, moved to "
     "2026-12-14 09:00 MST / 08:00 PST (16:00 UTC)"),
    # A toll-free number has no zone of its own: the mapping's.
    ("(800) 555-0199", "2026-12-13 06:00", "2026-12-13 13:00:00 +0000",
     "'2026-12-13 06:00' is 06:00 EST in America/New_York, outside calling hours 08:00-21:00, "
     "moved to 2026-12-13 08:00 EST (13:00 UTC)"),
    # The opening on the spring-forward morning of a window that opens at 02:30 is below.
]  # fmt: skip


@pytest.mark.parametrize(("phone", "cell", "utc", "warning"), MOVES, ids=lambda v: str(v)[:20])
def test_a_scheduled_time_is_moved_into_the_leads_own_calling_hours(
    tmp_path: Path, phone: str, cell: str, utc: str, warning: str
) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "Callback"], [phone, cell]])
    code, rows, _ = validate(tmp_path, leads, write_mapping(tmp_path, GUARD + FIELDS))
    assert code == 0
    assert (sent(rows[0]), rows[0]["warnings"]) == (utc, f"Callback: {warning}" if warning else "")
    strict = write_mapping(tmp_path, GUARD + "strict: true\n" + FIELDS, "s.yaml")
    code, rows, _ = validate(tmp_path, leads, strict, "strict")
    if warning:
        assert (code, rows[0]["status"], rows[0]["error"]) == (
            1,
            "invalid",
            f"Callback: {warning}{STRICT}",
        )
    else:
        assert (code, rows[0]["status"], sent(rows[0])) == (0, "valid", utc)


def test_an_opening_in_the_spring_forward_gap_is_the_first_time_after_it(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "Callback"], ["(212) 555-0101", "3/8/2026"]])
    m = write_mapping(
        tmp_path, 'timezone: America/New_York\ncalling_hours: "02:30-21:00"\n' + FIELDS
    )
    _, rows, _ = validate(tmp_path, leads, m)
    assert (sent(rows[0]), rows[0]["warnings"]) == (
        "2026-03-08 07:00:00 +0000",  # 03:00 EDT: 02:30 does not exist that morning
        "Callback: '3/8/2026' has no time of day, set to 2026-03-08 03:00 EDT, the start of "
        "calling hours 02:30-21:00 in America/New_York",
    )


def test_next_action_at_is_guarded_too_and_data_times_are_not(tmp_path: Path) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Next", "Created"], ["(808) 555-0100", "2026-12-13 09:00", "2026-12-13 09:00"]],
    )
    m = write_mapping(
        tmp_path,
        GUARD + "fields:\n  caller_id: Phone\n  next_action_at: Next\n"
        "data:\n  created: {column: Created, type: time}\n",
    )
    _, rows, _ = validate(tmp_path, leads, m)
    body = json.loads(rows[0]["payload"])
    assert (body["next_action_at"], body["data"]["created"]) == (
        "2026-12-13 18:00:00 +0000",
        "2026-12-13 14:00:00 +0000",  # when the lead came in: a fact, not a call
    )
    assert rows[0]["warnings"].startswith("Next: '2026-12-13 09:00' is 04:00 HST")


def test_without_calling_hours_a_date_is_midnight_and_validate_says_there_is_no_guard(
    tmp_path: Path,
) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Callback"], ["(808) 555-0100", "2026-12-13 09:00"],
         ["(808) 555-0101", "2026-12-13"]],
    )  # fmt: skip
    m = write_mapping(tmp_path, "timezone: America/New_York\n" + FIELDS)
    code, rows, console = validate(tmp_path, leads, m)
    assert code == 0
    assert [(sent(r), r["warnings"]) for r in rows] == [
        ("2026-12-13 14:00:00 +0000", ""),  # as written: 04:00 in Honolulu, no guard asked for
        ("2026-12-13 05:00:00 +0000",
         "Callback: '2026-12-13' has no time of day, sent as midnight in America/New_York "
         "(calling_hours in the mapping would send the start of calling hours instead)"),
    ]  # fmt: skip
    line = (
        "  no guard: schedule_callback_at sent as written, at any hour of the lead's day (no "
        'calling_hours in the mapping; add e.g. calling_hours: "08:00-21:00")\n'
    )
    assert line in console
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["unguarded"] == ["schedule_callback_at"]
    # no such line when the mapping maps no scheduled time, or guards it, or with --quiet
    plain = write_mapping(tmp_path, "fields:\n  caller_id: Phone\n", "plain.yaml")
    assert "no guard" not in validate(tmp_path, leads, plain, "plain")[2]
    guarded = write_mapping(tmp_path, GUARD + FIELDS, "guarded.yaml")
    assert "no guard" not in validate(tmp_path, leads, guarded, "guarded")[2]
    code, stdout, stderr = invoke("validate", leads, "-m", m, "-q", "--out", tmp_path / "quiet")
    assert (code, stderr, "no guard" in stdout) == (0, "", False)


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        ("9-5", "'9-5' is not a window; write e.g. 08:00-21:00"),
        ("21:00-08:00", "'21:00-08:00': the end must be after the start (same day)"),
        ("08:00-25:00", "'08:00-25:00' has an impossible time of day"),
    ],
)
def test_calling_hours_that_are_no_window_are_refused(
    tmp_path: Path, hours: str, problem: str
) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "Callback"], ["(212) 555-0101", "2026-12-13"]])
    m = write_mapping(tmp_path, f'timezone: America/New_York\ncalling_hours: "{hours}"\n' + FIELDS)
    code, _, stderr = invoke("validate", leads, "-m", m, "--out", tmp_path / "out")
    assert (code, stderr) == (
        2,
        f"leadimport: error: {m}: calling_hours: {problem} (local time in each lead's own zone)\n",
    )
    assert not (tmp_path / "out").exists()


def test_reschedule_words_its_calling_hours_as_before(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone"], ["(212) 555-0101"]])
    code, _, stderr = invoke(
        "reschedule", leads, "--at", "2026-12-13 09:00", "--timezone", "America/New_York",
        "--calling-hours", "9-5", "--dry-run", "--out", tmp_path / "out",
    )  # fmt: skip
    assert code == 2
    assert "'9-5' is not a window; write e.g. 08:00-21:00" in stderr


def test_mapping_init_writes_calling_hours_and_its_mapping_validates(tmp_path: Path) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Callback Time"], ["(808) 555-0100", "2026-12-13 09:00"]],
    )
    out = tmp_path / "m.yaml"
    code, _, stderr = invoke("mapping", "init", leads, "-o", out)
    assert code == 0, stderr
    assert '\ncalling_hours: "08:00-21:00"  # ' in out.read_text(encoding="utf-8")
    code, rows, console = validate(tmp_path, leads, out)
    assert (code, "no guard" in console) == (0, False)
    assert sent(rows[0]) == "2026-12-13 18:00:00 +0000"


def test_the_moved_times_reach_trackdrive(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    leads = write_csv(
        tmp_path / "l.csv",
        [
            ["Phone", "Callback"],
            ["(808) 555-0100", "2026-12-13 09:00"],
            ["(212) 555-0101", "2026-12-13"],
            ["(208) 555-0100", "2026-12-13 23:30"],
        ],
    )
    out = tmp_path / "run"
    code, stdout, stderr = invoke(
        "run", leads, "-m", write_mapping(tmp_path, GUARD + FIELDS), "--endpoint",
        server.endpoint, "--lead-token", TOKEN, "--out", out,
    )  # fmt: skip
    assert code == 0, stderr
    assert sorted((r["body"] for r in server.requests()), key=lambda b: b["caller_id"]) == [
        {"caller_id": "+12085550100", "schedule_callback_at": "2026-12-14 16:00:00 +0000"},
        {"caller_id": "+12125550101", "schedule_callback_at": "2026-12-13 13:00:00 +0000"},
        {"caller_id": "+18085550100", "schedule_callback_at": "2026-12-13 18:00:00 +0000"},
    ]
    assert "  warnings: 3 on 3 rows (2 moved into calling hours, 1 date only opening)" in stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["warnings"] == {"moved_into_calling_hours": 2, "date_only_opening": 1}
    assert [r["status"] for r in read_results(out)] == ["success"] * 3


AREAS = ["201", "208", "212", "808", "907", "520", "270", "352"]  # 208, 270, 352: split areas


def test_the_zones_of_a_column_of_numbers_are_phonenumbers_own() -> None:
    rng = random.Random(13)
    numbers = [
        "+12085550100",  # Idaho: Boise and Los Angeles
        "+12082010000",  # an Idaho exchange phonenumbers puts in Denver alone
        "+18005550199",  # toll-free: no zone of its own
        "+442079460018",
        "+16135550100",
        "",
    ] + [f"+1{rng.choice(AREAS)}{rng.randint(2000000, 9999999)}" for _ in range(300)]
    got = zones_by_number(pa.array(numbers, pa.large_string())).to_pylist()
    assert got == [",".join(number_zones(n)) if n else "" for n in numbers]
    assert got[:3] == ["America/Boise,America/Los_Angeles", "America/Denver", ""]


def test_hours_no_zone_of_the_number_shares_make_the_row_invalid(tmp_path: Path) -> None:
    # 09:00-09:30 in Boise is 16:00-16:30 UTC, in Los Angeles 17:00-17:30: never both.
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Callback"], ["(208) 555-0100", "2026-12-13 12:00"],
         ["(212) 555-0101", "2026-12-13 12:00"]],
    )  # fmt: skip
    m = write_mapping(
        tmp_path, 'timezone: America/New_York\ncalling_hours: "09:00-09:30"\n' + FIELDS
    )
    code, rows, _ = validate(tmp_path, leads, m)
    assert code == 1
    assert (rows[0]["status"], rows[0]["error"], rows[0]["payload"]) == (
        "invalid",
        "Callback: '2026-12-13 12:00' cannot be called: no time is inside calling hours "
        "09:00-09:30 in every zone of the number (America/Boise, America/Los_Angeles); widen "
        "calling_hours",
        "",
    )
    assert (rows[1]["status"], sent(rows[1])) == ("valid", "2026-12-14 14:00:00 +0000")
