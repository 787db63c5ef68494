"""Warnings, never silence (issue 13, item 6): every value the tool changed in a way a person
might not expect is said in results.csv's ``warnings`` column, counted in summary.json, the
console summary and the report; ``strict: true`` makes such a row invalid instead.

Through the real CLI (``validate``, and ``run`` against the sandbox for what is sent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import STRICT, invoke, read_results, write_csv, write_mapping

from importer.record import RESULT_COLUMNS

TOKEN = "warn-TOKEN-0013"


def validate(
    tmp_path: Path, leads: Path, mapping: Path, out: str = "out"
) -> tuple[int, list[dict[str, str]], str, str]:
    code, stdout, stderr = invoke("validate", leads, "-m", mapping, "--out", tmp_path / out)
    assert code in (0, 1), stderr
    return code, read_results(tmp_path / out), stdout, stderr


def callback(row: dict[str, str]) -> str:
    return str(json.loads(row["payload"]).get("schedule_callback_at", "")) if row["payload"] else ""


# ------------------------------------------------------------------ the nights clocks change

# (zone, cell, sent in UTC, the warning after "Callback: ")
DST = [
    ("America/New_York", "2026-03-08 02:30", "2026-03-08 07:00:00 +0000",
     "'2026-03-08 02:30' does not exist in America/New_York (the clocks skip that hour), "
     "read as 03:00 EDT, the first time after the gap"),
    ("America/New_York", "2026-11-01 01:30", "2026-11-01 05:30:00 +0000",
     "'2026-11-01 01:30' happens twice in America/New_York (the clocks go back that night), "
     "read as the earlier, 01:30 EDT (05:30 UTC)"),
    ("America/Chicago", "3/8/2026 2:15 AM", "2026-03-08 08:00:00 +0000",
     "'3/8/2026 2:15 AM' does not exist in America/Chicago (the clocks skip that hour), "
     "read as 03:00 CDT, the first time after the gap"),
    ("America/Chicago", "11/01/2026 01:59", "2026-11-01 06:59:00 +0000",
     "'11/01/2026 01:59' happens twice in America/Chicago (the clocks go back that night), "
     "read as the earlier, 01:59 CDT (06:59 UTC)"),
    ("Europe/London", "2026-03-29 01:30", "2026-03-29 01:00:00 +0000",
     "'2026-03-29 01:30' does not exist in Europe/London (the clocks skip that hour), "
     "read as 02:00 BST, the first time after the gap"),
    ("Europe/London", "2026-10-25 01:30", "2026-10-25 00:30:00 +0000",
     "'2026-10-25 01:30' happens twice in Europe/London (the clocks go back that night), "
     "read as the earlier, 01:30 BST (00:30 UTC)"),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "cell", "sent", "warning"), DST, ids=lambda v: str(v)[:16])
def test_a_wall_clock_time_that_is_not_one_instant_is_read_and_said(
    tmp_path: Path, zone: str, cell: str, sent: str, warning: str
) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Callback"], ["(212) 555-0101", cell], ["(212) 555-0102", "2026-07-01 10:00"]],
    )
    m = write_mapping(
        tmp_path,
        f"timezone: {zone}\nfields:\n  caller_id: Phone\n  schedule_callback_at: Callback\n",
    )
    code, rows, _, _ = validate(tmp_path, leads, m)
    assert code == 0
    assert [(r["status"], callback(r), r["warnings"]) for r in rows] == [
        ("valid", sent, f"Callback: {warning}"),
        ("valid", rows[1]["payload"] and callback(rows[1]), ""),  # an ordinary time: no word
    ]
    # strict: the same row is invalid, its error the warning; the other row is untouched
    strict = write_mapping(
        tmp_path, m.read_text()[len("version: 1\n") :] + "strict: true\n", "s.yaml"
    )
    code, rows, _, _ = validate(tmp_path, leads, strict, "strict")
    assert code == 1
    assert [(r["status"], r["error"], r["warnings"], r["payload"]) for r in rows[:1]] == [
        ("invalid", f"Callback: {warning}{STRICT}", "", "")
    ]
    assert rows[1]["status"] == "valid"


def test_a_time_with_its_offset_is_never_warned_about(tmp_path: Path) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Callback"], ["(212) 555-0101", "2026-03-08 02:30 -0500"],
         ["(212) 555-0102", "2026-11-01T01:30:00Z"]],
    )  # fmt: skip
    m = write_mapping(
        tmp_path, "timezone: America/New_York\nfields:\n  caller_id: Phone\n"
        "  schedule_callback_at: Callback\n",
    )  # fmt: skip
    _, rows, _, _ = validate(tmp_path, leads, m)
    assert [(callback(r), r["warnings"]) for r in rows] == [
        ("2026-03-08 07:30:00 +0000", ""),
        ("2026-11-01 01:30:00 +0000", ""),
    ]


# ------------------------------------------------------------------ phones, years, emails

READINGS = [
    # (column, cell, what is sent under that key, the warning)
    ("Phone", "0044 20 7946 0018", ("caller_id", "+442079460018"),
     "Phone: '0044 20 7946 0018' starts with 00, so it was read as an international number "
     "(+442079460018)"),
    ("Phone", "011 44 20 7946 0018", ("caller_id", "+442079460018"), ""),  # the US prefix
    ("Phone", "+44 20 7946 0018", ("caller_id", "+442079460018"), ""),
    ("Callback", "3/8/26 14:00", ("schedule_callback_at", "2026-03-08 18:00:00 +0000"),
     "Callback: '3/8/26 14:00' has a two-digit year, read as 2026"),
    ("Callback", "23-Jul-70 10:00", ("schedule_callback_at", "1970-07-23 14:00:00 +0000"),
     "Callback: '23-Jul-70 10:00' has a two-digit year, read as 1970"),
    ("Callback", "3/8/2026 14:00", ("schedule_callback_at", "2026-03-08 18:00:00 +0000"), ""),
]  # fmt: skip


@pytest.mark.parametrize(("column", "cell", "sent", "warning"), READINGS, ids=lambda v: str(v))
def test_a_guess_in_reading_a_cell_is_said(
    tmp_path: Path, column: str, cell: str, sent: tuple[str, str], warning: str
) -> None:
    row = {"Phone": "(212) 555-0101", "Callback": "2026-07-01 10:00", column: cell}
    leads = write_csv(tmp_path / "l.csv", [list(row), list(row.values())])
    m = write_mapping(
        tmp_path, "timezone: America/New_York\nfields:\n  caller_id: Phone\n"
        "  schedule_callback_at: Callback\n",
    )  # fmt: skip
    _, rows, _, _ = validate(tmp_path, leads, m)
    key, value = sent
    assert (rows[0]["status"], json.loads(rows[0]["payload"])[key], rows[0]["warnings"]) == (
        "valid",
        value,
        warning,
    )


def test_an_email_the_tool_cannot_accept_goes_out_of_a_lead_that_has_a_phone(
    tmp_path: Path,
) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [
            ["Phone", "E-mail"],
            ["(212) 555-0101", "josé.5@example.com"],  # a good phone: sent without the email
            ["", "josé.6@example.com"],  # no phone: nothing to send
            ["bad phone", "josé.7@example.com"],  # no good phone either
            ["(212) 555-0104", "ann@example.com"],
        ],
    )
    m = write_mapping(tmp_path, "fields:\n  caller_id: Phone\n  email: E-mail\n")
    code, rows, _, _ = validate(tmp_path, leads, m)
    assert code == 1
    assert [(r["status"], r["email"], r["payload"], r["warnings"]) for r in rows] == [
        ("valid", "", '{"caller_id":"+12125550101"}',
         "E-mail: 'josé.5@example.com' is not a valid email address, so the lead was sent "
         "without an email"),
        ("invalid", "", "", ""),
        ("invalid", "", "", ""),
        ("valid", "ann@example.com", '{"caller_id":"+12125550104","email":"ann@example.com"}', ""),
    ]  # fmt: skip
    assert rows[1]["error"] == (
        "E-mail: 'josé.6@example.com' is not a valid email address | no caller_id ('Phone') or "
        "email ('E-mail'): a lead needs a phone number or an email"
    )
    assert rows[2]["error"].startswith("Phone: 'bad phone' contains letters")
    assert "E-mail: 'josé.7@example.com' is not a valid email address" in rows[2]["error"]
    # strict: the email is an error again, and the row is not sent
    strict = write_mapping(
        tmp_path, "strict: true\nfields:\n  caller_id: Phone\n  email: E-mail\n", "s.yaml"
    )
    _, rows, _, _ = validate(tmp_path, leads, strict, "strict")
    assert (rows[0]["status"], rows[0]["error"], rows[0]["warnings"]) == (
        "invalid",
        "E-mail: 'josé.5@example.com' is not a valid email address",
        "",
    )


# ------------------------------------------------------------------ several, and where counted

LEADS = [
    ["Phone", "Mobile", "Callback", "E-mail"],
    ["0044 20 7946 0018", "", "3/8/26 02:30", "josé.5@example.com"],  # four warnings
    ["", "(212) 555-0102", "2026-11-01 01:30", ""],  # a fallback column (a note) and one
    ["(212) 555-0103", "", "2026-07-01 10:00", "ann@example.com"],  # none
    ["x", "", "2026-03-08 02:30", ""],  # invalid, and warned
]
MAPPING = (
    "timezone: America/New_York\nfields:\n  caller_id: [Phone, Mobile]\n"
    "  schedule_callback_at: Callback\n  email: E-mail\n"
)


def test_several_warnings_on_a_row_are_joined_and_a_note_is_no_warning(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", LEADS)
    code, rows, _, _ = validate(tmp_path, leads, write_mapping(tmp_path, MAPPING))
    assert code == 1
    assert list(rows[0]) == [*RESULT_COLUMNS, "note"]
    assert rows[0]["warnings"].split("; ") == [
        "Phone: '0044 20 7946 0018' starts with 00, so it was read as an international number "
        "(+442079460018)",
        "Callback: '3/8/26 02:30' has a two-digit year, read as 2026",
        "Callback: '3/8/26 02:30' does not exist in America/New_York (the clocks skip that "
        "hour), read as 03:00 EDT, the first time after the gap",
        "E-mail: 'josé.5@example.com' is not a valid email address, so the lead was sent "
        "without an email",
    ]
    assert (rows[1]["note"], rows[1]["warnings"]) == (
        "caller_id from 'Mobile'",
        "Callback: '2026-11-01 01:30' happens twice in America/New_York (the clocks go back "
        "that night), read as the earlier, 01:30 EDT (05:30 UTC)",
    )
    assert (rows[2]["warnings"], rows[3]["status"]) == ("", "invalid")
    assert rows[3]["warnings"].startswith("Callback: '2026-03-08 02:30' does not exist")


def test_warnings_are_counted_in_the_summary_the_console_and_the_report(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", LEADS)
    code, _, stdout, _ = validate(tmp_path, leads, write_mapping(tmp_path, MAPPING))
    assert code == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert (summary["warnings"], summary["warnings_total"], summary["warned_rows"]) == (
        {
            "dst_gap_moved": 2,
            "phone_00_international": 1,
            "two_digit_year": 1,
            "email_dropped": 1,
            "dst_ambiguous_earlier": 1,
        },
        6,
        3,
    )
    assert (
        "  warnings: 6 on 3 rows (2 dst gap moved, 1 dst ambiguous earlier, 1 two digit year, "
        "1 phone 00 international, 1 email dropped): see the warnings column of results.csv\n"
    ) in stdout
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert '<tr class="warning" data-kind="dst_gap_moved" data-count="2">' in page
    assert '<tr class="warning" data-kind="email_dropped" data-count="1">' in page
    assert "josé" not in page  # counts and kinds only, never a cell value
    # the page rebuilt from the folder's own files says the same
    code, _, stderr = invoke("report", tmp_path / "out")
    assert code == 0, stderr
    assert (tmp_path / "out" / "report.html").read_text(encoding="utf-8") == page


def test_a_run_without_warnings_says_nothing_of_them(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone"], ["(212) 555-0101"]])
    code, rows, stdout, _ = validate(
        tmp_path, leads, write_mapping(tmp_path, "fields:\n  caller_id: Phone\n")
    )
    assert (code, rows[0]["warnings"]) == (0, "")
    assert "  warnings:" not in stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert (summary["warnings"], summary["warnings_total"], summary["warned_rows"]) == ({}, 0, 0)
    assert 'class="warnings"' not in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_a_warned_row_is_sent_and_a_strict_one_is_not(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    leads = write_csv(tmp_path / "l.csv", LEADS)
    out = tmp_path / "run"
    code, _, stderr = invoke(
        "run", leads, "-m", write_mapping(tmp_path, MAPPING), "--endpoint", server.endpoint,
        "--lead-token", TOKEN, "-q", "--out", out,
    )  # fmt: skip
    assert code == 1, stderr
    assert sorted((r["body"] for r in server.requests()), key=lambda b: b["caller_id"]) == [
        {"caller_id": "+12125550102", "schedule_callback_at": "2026-11-01 05:30:00 +0000"},
        {"caller_id": "+12125550103", "schedule_callback_at": "2026-07-01 14:00:00 +0000",
         "email": "ann@example.com"},
        {"caller_id": "+442079460018", "schedule_callback_at": "2026-03-08 07:00:00 +0000"},
    ]  # fmt: skip
    rows = read_results(out)
    assert [r["status"] for r in rows] == ["success", "success", "success", "invalid"]
    assert rows[0]["warnings"].count("; ") == 3
    server2 = sandbox_factory()
    strict = write_mapping(tmp_path, "strict: true\n" + MAPPING, "s.yaml")
    code, _, stderr = invoke(
        "run", leads, "-m", strict, "--endpoint", server2.endpoint, "--lead-token", TOKEN, "-q",
        "--out", tmp_path / "strict",
    )  # fmt: skip
    assert code == 1, stderr
    assert [r["body"]["caller_id"] for r in server2.requests()] == ["+12125550103"]
    rows = read_results(tmp_path / "strict")
    assert [(r["status"], r["warnings"]) for r in rows] == [
        ("invalid", ""), ("invalid", ""), ("success", ""), ("invalid", "")
    ]  # fmt: skip
    failures = read_results(tmp_path / "strict", "failures.csv")
    assert failures[1]["error"] == (
        "Callback: '2026-11-01 01:30' happens twice in America/New_York (the clocks go back "
        "that night), read as the earlier, 01:30 EDT (05:30 UTC)" + STRICT
    )


def test_strict_must_be_true_or_false(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone"], ["(212) 555-0101"]])
    m = write_mapping(tmp_path, "strict: sometimes\nfields:\n  caller_id: Phone\n")
    code, _, stderr = invoke("validate", leads, "-m", m, "--out", tmp_path / "out")
    assert (code, stderr) == (2, f"leadimport: error: {m}: strict: must be true or false\n")


def test_each_rows_own_zone_and_country_warn_too_naming_the_column_read(tmp_path: Path) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [
            ["Phone", "Mobile", "Callback", "Time Zone", "Country"],
            ["", "0044 20 7946 0018", "2026-03-29 01:30", "Europe/London", "US"],
            ["(212) 555-0101", "", "2026-03-08 02:30", "Eastern", "US"],
            ["(312) 555-0102", "", "2026-03-08 02:30", "Arizona", "US"],  # no DST there
        ],
    )
    m = write_mapping(
        tmp_path,
        "timezone: {column: Time Zone, default: ET}\nregion: {column: Country, default: US}\n"
        "fields:\n  caller_id: [Phone, Mobile]\n  schedule_callback_at: Callback\n",
    )
    _, rows, _, _ = validate(tmp_path, leads, m)
    assert [(callback(r), r["warnings"]) for r in rows] == [
        ("2026-03-29 01:00:00 +0000",
         "Mobile: '0044 20 7946 0018' starts with 00, so it was read as an international "
         "number (+442079460018); Callback: '2026-03-29 01:30' does not exist in Europe/London "
         "(the clocks skip that hour), read as 02:00 BST, the first time after the gap"),
        ("2026-03-08 07:00:00 +0000",
         "Callback: '2026-03-08 02:30' does not exist in America/New_York (the clocks skip "
         "that hour), read as 03:00 EDT, the first time after the gap"),
        ("2026-03-08 09:30:00 +0000", ""),
    ]  # fmt: skip
