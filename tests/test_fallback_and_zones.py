"""Fallback columns, and each row's own time zone and phone region (issue 13, items 2-3).

Through the real CLI: ``validate`` for the exact bodies, notes and errors, ``run`` against
the sandbox for what is sent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import invoke, read_results

from importer.record import RESULT_COLUMNS

TOKEN = "fz-TOKEN-0013"


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\n" + text, encoding="utf-8")
    return path


def validate(tmp_path: Path, leads: Path, mapping: Path) -> tuple[int, list[dict[str, str]]]:
    out = tmp_path / "out"
    code, _, stderr = invoke("validate", leads, "-m", mapping, "-q", "--out", out)
    assert code in (0, 1), stderr
    return code, read_results(out)


# ------------------------------------------------------------------ fallback columns

CRM = [
    ["Phone Number", "Mobile Phone Number", "Email", "ZIP", "Postal Code"],
    ["(212) 555-0101", "(312) 555-0102", "", "10001", "60601"],  # first columns win
    ["", "(312) 555-0103", "", "", "60602"],  # both from the second
    ["  ", "bad", "", "", ""],  # a blank cell is empty; the error names the column
    ["", "", "ann@example.com", "", ""],  # neither: email only
]
FALLBACK_MAPPINGS = {
    "column list": "fields:\n  caller_id: {column: [Phone Number, Mobile Phone Number]}\n"
    "  email: Email\ndata:\n  zip: {column: [ZIP, Postal Code]}\n",
    "shorthand": "fields:\n  caller_id: [Phone Number, Mobile Phone Number]\n"
    "  email: Email\ndata:\n  zip: [ZIP, Postal Code]\n",
}


@pytest.mark.parametrize("form", FALLBACK_MAPPINGS)
def test_a_list_of_columns_means_the_first_non_empty_one(tmp_path: Path, form: str) -> None:
    leads = write_csv(tmp_path / "crm.csv", CRM)
    code, rows = validate(tmp_path, leads, write_mapping(tmp_path, FALLBACK_MAPPINGS[form]))
    assert code == 1
    got = [(r["row"], r["status"], r["payload"], r["note"], r["error"]) for r in rows]
    assert got == [
        ("2", "valid", '{"caller_id":"+12125550101","data":{"zip":"10001"}}', "", ""),
        (
            "3",
            "valid",
            '{"caller_id":"+13125550103","data":{"zip":"60602"}}',
            "caller_id from 'Mobile Phone Number'; zip from 'Postal Code'",
            "",
        ),
        (
            "4",
            "invalid",
            "",
            "caller_id from 'Mobile Phone Number'",
            "Mobile Phone Number: 'bad' contains letters; write the phone number in digits | "
            "no caller_id ('Phone Number', 'Mobile Phone Number') or email ('Email'): a lead "
            "needs a phone number or an email",
        ),
        ("5", "valid", '{"email":"ann@example.com"}', "", ""),
    ]
    # The result columns keep their order; the note only follows them.
    assert list(rows[0]) == [*RESULT_COLUMNS, "note"]


def test_without_fallbacks_the_results_have_no_note_column(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "crm.csv", CRM)
    _, rows = validate(tmp_path, leads, write_mapping(tmp_path, "fields:\n  email: Email\n"))
    assert list(rows[0]) == RESULT_COLUMNS


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("caller_id: []", "fields.caller_id: a list of columns must name one or more columns"),
        ("caller_id: {column: [Phone, '']}", "fields.caller_id.column: a list of columns"),
        ("caller_id: [Phone, phone]", "fields.caller_id: column 'phone' is listed twice"),
    ],
)
def test_bad_column_lists_are_refused(tmp_path: Path, spec: str, message: str) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone"], ["(212) 555-0101"]])
    m = write_mapping(tmp_path, f"fields:\n  {spec}\n")
    code, _, stderr = invoke("validate", leads, "-m", m)
    assert code == 2
    assert stderr.startswith(f"leadimport: error: {m}: {message}"), stderr


def test_a_missing_fallback_column_is_named(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "Mobil"], ["(212) 555-0101", ""]])
    m = write_mapping(tmp_path, "fields:\n  caller_id: [Phone, Mobile]\n")
    code, _, stderr = invoke("validate", leads, "-m", m)
    assert code == 2
    assert stderr == (
        f"leadimport: error: {m}: fields.caller_id.column: no column named 'Mobile' in l.csv. "
        "The file has: 'Phone', 'Mobil'; did you mean 'Mobil'?\n"
    )


# ------------------------------------------------------------------ per-row time zone

ZONED = "timezone: {column: Time Zone, default: America/New_York}\n" + (
    "fields:\n  caller_id: Phone\n  schedule_callback_at: Callback\n"
)


@pytest.mark.parametrize(
    ("zone", "callback", "sent"),
    [
        ("America/Chicago", "2026-12-01 09:30", "2026-12-01 15:30:00 +0000"),
        ("", "2026-12-01 09:30", "2026-12-01 14:30:00 +0000"),  # the default
        ("  eastern ", "2026-12-01 09:30", "2026-12-01 14:30:00 +0000"),
        # The US forms mean the zone with daylight saving: EST in July is read as EDT.
        ("EST", "2026-07-01 09:00", "2026-07-01 13:00:00 +0000"),
        ("ET", "2026-01-15 09:00", "2026-01-15 14:00:00 +0000"),
        ("PST", "2026-07-01 09:00", "2026-07-01 16:00:00 +0000"),
        ("Pacific", "2026-01-15 09:00", "2026-01-15 17:00:00 +0000"),
        ("CDT", "2026-01-15 09:00", "2026-01-15 15:00:00 +0000"),
        ("MT", "2026-07-01 09:00", "2026-07-01 15:00:00 +0000"),
        ("Hawaii", "2026-07-01 09:00", "2026-07-01 19:00:00 +0000"),
        ("Alaska", "2026-01-15 09:00", "2026-01-15 18:00:00 +0000"),
        # Spring forward (8 March 2026): 02:30 does not exist, 03:00 local is sent.
        ("Eastern", "2026-03-08 02:30", "2026-03-08 07:00:00 +0000"),
        ("Pacific", "2026-03-08 02:30", "2026-03-08 10:00:00 +0000"),
        # Fall back (1 November 2026): 01:30 happens twice; the earlier instant is sent.
        ("Eastern", "2026-11-01 01:30", "2026-11-01 05:30:00 +0000"),
        ("Pacific", "2026-11-01 01:30", "2026-11-01 08:30:00 +0000"),
        ("Europe/London", "2026-07-01 09:00", "2026-07-01 08:00:00 +0000"),
        ("Eastern", "2026-07-01 09:00 +0000", "2026-07-01 09:00:00 +0000"),  # own offset
    ],
)
def test_each_row_is_read_in_its_own_zone(
    tmp_path: Path, zone: str, callback: str, sent: str
) -> None:
    leads = write_csv(
        tmp_path / "l.csv", [["Phone", "Callback", "Time Zone"], ["(212) 555-0101", callback, zone]]
    )
    code, (row,) = validate(tmp_path, leads, write_mapping(tmp_path, ZONED))
    assert (code, row["error"]) == (0, "")
    assert row["payload"] == f'{{"caller_id":"+12125550101","schedule_callback_at":"{sent}"}}'


def test_a_zone_that_names_none_is_a_row_error(tmp_path: Path) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [
            ["Phone", "Callback", "Time Zone"],
            ["(212) 555-0101", "2026-12-01 09:30", "Mars/Olympus"],
            ["(212) 555-0102", "2026-12-01 09:30", "Eastern"],
        ],
    )
    code, rows = validate(tmp_path, leads, write_mapping(tmp_path, ZONED))
    assert code == 1
    assert [(r["status"], r["error"]) for r in rows] == [
        (
            "invalid",
            "Time Zone: 'Mars/Olympus' is not a time zone; use an IANA name like "
            "America/New_York or a US zone like Eastern, EST, PT",
        ),
        ("valid", ""),
    ]


def test_an_empty_zone_without_a_default_is_a_row_error(tmp_path: Path) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Callback", "Time Zone"], ["(212) 555-0101", "2026-12-01 09:30", ""]],
    )
    m = write_mapping(tmp_path, ZONED.replace(", default: America/New_York", ""))
    code, (row,) = validate(tmp_path, leads, m)
    assert (code, row["error"]) == (1, "Time Zone: empty, and the mapping names no default")


def test_a_constant_time_is_read_in_each_rows_zone_too(tmp_path: Path) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Time Zone"], ["(212) 555-0101", "EDT"], ["(213) 555-0104", "Pacific"]],
    )
    m = write_mapping(
        tmp_path,
        "timezone: {column: Time Zone}\nfields:\n  caller_id: Phone\n"
        "  next_action_at: {value: '2026-07-01 09:00'}\n",
    )
    _, rows = validate(tmp_path, leads, m)
    assert [json.loads(r["payload"])["next_action_at"] for r in rows] == [
        "2026-07-01 13:00:00 +0000",
        "2026-07-01 16:00:00 +0000",
    ]


@pytest.mark.parametrize(
    ("zone", "sent"),
    [
        ("EST", "2026-07-01 13:00:00 +0000"),  # America/New_York, not the fixed -05:00 zone
        ("Pacific", "2026-07-01 16:00:00 +0000"),
        ("America/Denver", "2026-07-01 15:00:00 +0000"),
    ],
)
def test_the_mapping_may_name_its_zone_the_us_way_too(tmp_path: Path, zone: str, sent: str) -> None:
    leads = write_csv(
        tmp_path / "l.csv", [["Phone", "Callback"], ["2125550101", "2026-07-01 9:00"]]
    )
    m = write_mapping(
        tmp_path,
        f"timezone: {zone}\nfields:\n  caller_id: Phone\n  schedule_callback_at: Callback\n",
    )
    _, (row,) = validate(tmp_path, leads, m)
    assert row["payload"] == f'{{"caller_id":"+12125550101","schedule_callback_at":"{sent}"}}'


@pytest.mark.parametrize(
    ("phone", "callback", "sent"),
    [
        ("(212) 555-0101", "2026-03-08 02:30", "2026-03-08 07:00:00 +0000"),  # New York
        ("(808) 555-0103", "2026-03-08 02:30", "2026-03-08 12:30:00 +0000"),  # Honolulu
        ("(213) 555-0104", "2026-11-01 01:30", "2026-11-01 08:30:00 +0000"),  # Los Angeles
        ("(800) 555-0199", "2026-07-01 09:00", "2026-07-01 14:00:00 +0000"),  # toll-free
        ("+44 20 7946 0018", "2026-07-01 09:00", "2026-07-01 08:00:00 +0000"),  # London
    ],
)
def test_a_row_may_be_read_in_its_phone_numbers_zone(
    tmp_path: Path, phone: str, callback: str, sent: str
) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "Callback"], [phone, callback]])
    m = write_mapping(
        tmp_path,
        "timezone: {from: caller_id, default: Central}\n"
        "fields:\n  schedule_callback_at: Callback\n  caller_id: Phone\n",
    )
    _, (row,) = validate(tmp_path, leads, m)
    assert row["error"] == ""
    assert json.loads(row["payload"])["schedule_callback_at"] == sent


@pytest.mark.parametrize(
    ("timezone", "message"),
    [
        ("Mars", "timezone: 'Mars' is not a time zone; use an IANA name like America/New_York"),
        ("{column: TZ, from: caller_id}", "timezone: write a zone (America/New_York), {column"),
        ("{from: email, default: ET}", "timezone.from: 'email' is not allowed; use caller_id"),
        ("{from: caller_id}", "timezone.default: is needed with from: caller_id"),
        ("{column: TZ, default: Nowhere}", "timezone.default: 'Nowhere' is not a time zone"),
        ("{column: TZ, dfault: ET}", "timezone.dfault: unknown key; allowed: column, from"),
    ],
)
def test_bad_zone_settings_are_refused(tmp_path: Path, timezone: str, message: str) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "TZ"], ["(212) 555-0101", "ET"]])
    m = write_mapping(tmp_path, f"timezone: {timezone}\nfields:\n  caller_id: Phone\n")
    code, _, stderr = invoke("validate", leads, "-m", m)
    assert code == 2
    assert stderr.startswith(f"leadimport: error: {m}: {message}"), stderr


# ------------------------------------------------------------------ per-row region

REGIONED = "region: {column: Country, default: US}\nfields:\n  caller_id: Phone\n"


@pytest.mark.parametrize(
    ("country", "phone", "sent", "error"),
    [
        ("", "(212) 555-0101", "+12125550101", ""),  # the default
        ("US", "(212) 555-0101", "+12125550101", ""),
        ("Canada", "(416) 555-0105", "+14165550105", ""),
        ("gb", "020 7946 0018", "+442079460018", ""),
        ("United Kingdom", "07911 123456", "+447911123456", ""),
        ("Germany", "030 901820", "+4930901820", ""),
        ("Mexico", "55 1234 5678", "+525512345678", ""),
        ("GB", "+1 212 555 0101", "+12125550101", ""),  # its own country code wins
        (
            "Narnia",
            "(212) 555-0101",
            "",
            "Country: 'Narnia' is not a country; write an ISO code like US, CA, GB or a "
            "country name | no caller_id ('Phone'): a lead needs a phone number or an email",
        ),
    ],
)
def test_each_rows_phone_is_read_in_its_own_country(
    tmp_path: Path, country: str, phone: str, sent: str, error: str
) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "Country"], [phone, country]])
    _, (row,) = validate(tmp_path, leads, write_mapping(tmp_path, REGIONED))
    assert (row["caller_id"], row["error"]) == (sent, error)


def test_a_bad_region_default_is_refused(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "Country"], ["(212) 555-0101", "US"]])
    m = write_mapping(tmp_path, REGIONED.replace("default: US", "default: Atlantis"))
    code, _, stderr = invoke("validate", leads, "-m", m)
    assert code == 2
    assert stderr == (
        f"leadimport: error: {m}: region.default: 'Atlantis' is not a region code; use a "
        "two-letter code like US, CA, GB\n"
    )


# ------------------------------------------------------------------ all of it, sent


def test_fallbacks_zones_and_regions_reach_trackdrive(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    leads = write_csv(
        tmp_path / "l.csv",
        [
            ["Phone", "Mobile", "Callback", "Time Zone", "Country", "Source"],
            ["(212) 555-0101", "", "2026-03-08 02:30", "Eastern", "US", "web"],
            ["", "020 7946 0018", "2026-03-08 02:30", "Europe/London", "United Kingdom", "fb"],
            ["", "(213) 555-0104", "2026-11-01 01:30", "PT", "", "tiktok"],
            ["(312) 555-0102", "", "2026-12-01 09:00", "Moon", "US", "web"],
        ],
    )
    m = write_mapping(
        tmp_path,
        "timezone: {column: Time Zone, default: ET}\nregion: {column: Country, default: US}\n"
        "fields:\n  caller_id: [Phone, Mobile]\n  schedule_callback_at: Callback\n"
        "data:\n  source: Source\n",
    )
    out = tmp_path / "run"
    code, _, stderr = invoke(
        "run", leads, "-m", m, "--endpoint", server.endpoint, "--lead-token", TOKEN, "-q",
        "--out", out,
    )  # fmt: skip
    assert code == 1, stderr
    bodies = [r["body"] for r in server.requests()]
    assert sorted(bodies, key=lambda b: b["caller_id"]) == [
        {"caller_id": "+12125550101", "schedule_callback_at": "2026-03-08 07:00:00 +0000",
         "data": {"source": "web"}},
        {"caller_id": "+12135550104", "schedule_callback_at": "2026-11-01 08:30:00 +0000",
         "data": {"source": "tiktok"}},
        {"caller_id": "+442079460018", "schedule_callback_at": "2026-03-08 02:30:00 +0000",
         "data": {"source": "fb"}},
    ]  # fmt: skip
    rows = read_results(out)
    assert [(r["status"], r["note"]) for r in rows] == [
        ("success", ""),
        ("success", "caller_id from 'Mobile'"),
        ("success", "caller_id from 'Mobile'"),
        ("invalid", ""),
    ]
    assert rows[3]["error"].startswith("Time Zone: 'Moon' is not a time zone")


# ------------------------------------------------------------------ mapping init and check


def test_mapping_init_proposes_the_zone_and_country_columns(tmp_path: Path) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [
            ["Phone", "Callback", "Time Zone", "Country"],
            ["(212) 555-0101", "2026-12-01 09:30", "Eastern", "US"],
            ["020 7946 0018", "2026-12-01 09:30", "Europe/London", "United Kingdom"],
        ],
    )
    out = tmp_path / "m.yaml"
    code, _, stderr = invoke("mapping", "init", leads, "-o", out)
    assert code == 0, stderr
    text = out.read_text(encoding="utf-8")
    assert "region: {column: Country, default: US}   # each row's country\n" in text
    assert "timezone: {column: Time Zone, default: America/New_York}   # each row's zone\n" in text
    code, rows = validate(tmp_path, leads, out)
    assert code == 0
    assert [r["caller_id"] for r in rows] == ["+12125550101", "+442079460018"]
    assert json.loads(rows[1]["payload"])["schedule_callback_at"] == "2026-12-01 09:30:00 +0000"


def test_mapping_init_without_such_columns_writes_one_zone(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "l.csv", [["Phone", "Zone Name"], ["(212) 555-0101", "north"]])
    out = tmp_path / "m.yaml"
    code, _, stderr = invoke("mapping", "init", leads, "-o", out)
    assert code == 0, stderr
    text = out.read_text(encoding="utf-8")
    assert "\nregion: US " in text and "\ntimezone: America/New_York " in text


def test_mapping_check_names_every_column_of_a_list_and_the_zone_and_country(
    tmp_path: Path,
) -> None:
    leads = write_csv(
        tmp_path / "l.csv",
        [["Phone", "Mobile", "TZ", "Country"], ["(212) 555-0101", "", "ET", "US"]],
    )
    m = write_mapping(
        tmp_path,
        "timezone: {column: TZ, default: ET}\nregion: {column: Land, default: US}\n"
        "fields:\n  caller_id: [Phone, Mobile]\n",
    )
    code, stdout, _ = invoke("mapping", "check", leads, "-m", m)
    assert code == 2
    assert stdout.splitlines()[:4] == [
        "matched:  fields.caller_id <- 'Phone'",
        "matched:  fields.caller_id <- 'Mobile'",
        "matched:  timezone.column <- 'TZ'",
        "missing:  region.column: no column 'Land'",
    ]
