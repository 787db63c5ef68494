"""Each lead source's export (docs/sources.md) imports with no hand edit.

One table row per source: its sample in samples/, its mapping in mappings/, how many rows
validate, and the exact request bodies of a few chosen rows, all through the real CLI.
Then `mapping init` on each sample must pick the same phone and email columns and give a
mapping that validates as many rows, with no edit. Every source's mapping gives the agent a
first and a last name (split from a full-name column where the export has only that) and
guards each time the dialer schedules with calling_hours.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import ROOT, STRICT, invoke
from helpers import read_results as results

from importer.clean import normalize_phones
from importer.config import SCHEDULED, load_mapping
from importer.read import open_table


@dataclass(frozen=True)
class Source:
    name: str  # samples/NAME.csv and mappings/NAME.yaml
    counts: dict[str, int]  # statuses of `validate`
    bodies: dict[int, dict[str, Any]]  # row -> the exact request body
    errors: dict[int, str] = field(default_factory=dict)  # row -> the exact error
    notes: dict[int, str] = field(default_factory=dict)  # row -> results.csv's note
    # row -> results.csv's warnings; every other row must have none
    warnings: dict[int, str] = field(default_factory=dict)
    phones: tuple[str, ...] = ()  # the caller_id column(s) mapping init picks, in order
    email: str = ""  # the email column mapping init picks
    consent: tuple[str, ...] = ()  # headers mapping init marks as consent answers
    shape: tuple[str, str] = ("utf-8", ",")  # the encoding and delimiter the reader finds


FB_AD = {"campaign_name": "Fall promo 2026", "ad_name": "Fall promo - video"}
FB_FORM = {"form_name": "Free quote form", "consent": "yes", "lead_source": "facebook"}
GOOGLE = {"campaign": "Quotes - Search", "form_name": "Get a quote"}
TIKTOK = {"campaign_name": "Lead gen Q4", "ad_name": "Spot 15s", "form_name": "Instant form"}
VENDOR_URL = "https://quotes.example.com/auto"
CERT = "a1b2c3d4e5f60718293a4b5c6d7e8f90123456"
JORNAYA = "9619FF-8B86-D011-B42D-00C04FC964FF"

SOURCES = [
    Source(
        "facebook-lead-ads",
        {"valid": 10},
        {
            # full_name kept, and split into first_name / last_name (part: first, last)
            2: {"caller_id": "+12125550142", "email": "ann.smith@example.com", "data": {
                "full_name": "Ann Smith", "first_name": "Ann", "last_name": "Smith",
                "created_at": "2026-11-02 19:05:11 +0000",
                "meta_lead_id": "l:1234567890123401", "platform": "fb", **FB_AD, **FB_FORM}},
            4: {"caller_id": "+14155550123", "email": "mk.obrien@example.com", "data": {
                "full_name": "Mary-Kate O'Brien", "first_name": "Mary-Kate",
                "last_name": "O'Brien", "created_at": "2026-11-02 20:02:03 +0000",
                "meta_lead_id": "l:1234567890123403", "platform": "fb", **FB_AD, **FB_FORM}},
            # organic: no ad, campaign or ad set; the empty cells are left out of the body
            5: {"caller_id": "+16175550111", "email": "bob.jones@example.com", "data": {
                "full_name": "Bob Jones", "first_name": "Bob", "last_name": "Jones",
                "created_at": "2026-11-02 21:45:59 +0000",
                "meta_lead_id": "l:1234567890123404", "platform": "fb", **FB_FORM}},
            7: {"caller_id": "+13035550105", "data": {
                "full_name": "Dan Brown", "first_name": "Dan", "last_name": "Brown",
                "created_at": "2026-11-03 13:01:12 +0000",
                "meta_lead_id": "l:1234567890123406", "platform": "fb", **FB_AD, **FB_FORM}},
            # a name written family name first is read first, last: a documented limit
            # of the split (README, "Names"; docs/sources.md)
            9: {"caller_id": "+12065550188", "email": "lan.nguyen@example.com", "data": {
                "full_name": "Nguyễn Thị Lan", "first_name": "Nguyễn", "last_name": "Lan",
                "created_at": "2026-11-03 16:59:59 +0000",
                "meta_lead_id": "l:1234567890123408", "platform": "fb", **FB_AD, **FB_FORM}},
        },
        phones=("phone_number",),
        email="email",
        consent=("i_agree_to_be_contacted_by_phone_or_text",),
        shape=("utf-16", "\t"),  # a "CSV" that is UTF-16 and tab-separated
    ),
    Source(
        "google-ads-lead-form",
        {"valid": 8},
        {
            6: {"caller_id": "+17135550105", "email": "zoe.muller@example.com", "data": {
                "full_name": "Zoë Müller", "first_name": "Zoë", "last_name": "Müller",
                "postal_code": "77002",
                "created_at": "2026-11-02 19:00:05 +0000",
                "google_lead_id": "TeSter-005-AbCdEfGhIjKl", **GOOGLE,
                "gclid": "Cj0KCQiA0005exampleGclid", "is_test_lead": "false",
                "lead_source": "google-ads"}},
        },
        phones=("Phone Number",),
        email="Email",
    ),
    Source(
        "tiktok-leads",
        {"valid": 8},
        {
            3: {"caller_id": "+13125550199", "data": {
                "full_name": "Bob Jones", "first_name": "Bob", "last_name": "Jones",
                "created_at": "2026-11-02 19:22:40",
                "tiktok_lead_id": "7301234567890000002", **TIKTOK, "consent": "I agree",
                "lead_source": "tiktok"}},
        },
        phones=("phone_number",),
        email="email",
        consent=("consent",),
        shape=("utf-8-sig", ","),
    ),
    Source(
        "hubspot-contacts",
        {"valid": 8},
        {
            3: {"caller_id": "+13125550199", "email": "bob.jones@example.com", "data": {
                "first_name": "Bob", "last_name": "Jones", "created_at": "2026-11-02 14:17",
                "hubspot_record_id": "51234567802", "lifecycle_stage": "Lead",
                "lead_status": "New", "marketing_contact_status": "Marketing contact",
                "legal_basis": "Freely given consent from contact",
                "lead_source": "hubspot"}},
            9: {"email": "hana.ito@example.com", "data": {
                "first_name": "Hana", "last_name": "Ito", "created_at": "2026-11-03 12:00",
                "hubspot_record_id": "51234567808", "lifecycle_stage": "Lead",
                "lead_status": "New", "marketing_contact_status": "Marketing contact",
                "legal_basis": "Freely given consent from contact",
                "lead_source": "hubspot"}},
        },
        notes={3: "caller_id from 'Mobile Phone Number'", 7: ""},
        phones=("Phone Number", "Mobile Phone Number"),
        email="Email",
        consent=("Marketing contact status", "Legal basis for processing contact's data"),
    ),
    Source(
        "salesforce-leads",
        {"valid": 8},
        {
            3: {"caller_id": "+13125550199", "email": "bob.jones@example.com", "data": {
                "first_name": "Bob", "last_name": "Jones", "company": "Jones & Sons",
                "created_at": "2026-11-02 19:17:40 +0000",
                "salesforce_id": "00Q5g00000AbCdFEA1", "lead_source": "Phone Inquiry",
                "status": "Open - Not Contacted", "do_not_call": "false",
                "has_opted_out_of_email": "false"}},
            6: {"email": "renee.agren@example.com", "data": {
                "first_name": "Renée", "last_name": "Ågren", "company": "Ågren AB",
                "created_at": "2026-11-03 13:01:12 +0000",
                "salesforce_id": "00Q5g00000AbCdIEA1", "lead_source": "Trade Show",
                "status": "Open - Not Contacted", "do_not_call": "false",
                "has_opted_out_of_email": "false"}},
        },
        notes={3: "caller_id from 'MobilePhone'"},
        phones=("Phone", "MobilePhone"),
        email="Email",
        consent=("HasOptedOutOfEmail", "DoNotCall"),
    ),
    Source(
        "zoho-crm-leads",
        {"valid": 8},
        {
            3: {"caller_id": "+13125550199", "email": "bob.jones@example.com", "data": {
                "first_name": "Bob", "last_name": "Jones", "company": "Jones & Sons",
                "created_at": "11/02/2026 14:17:40",
                "zoho_record_id": "zcrm_5725767000001234002", "lead_source": "Cold Call",
                "lead_status": "Not Contacted", "email_opt_out": "false"}},
        },
        notes={3: "caller_id from 'Mobile'"},
        phones=("Phone", "Mobile"),
        email="Email",
        consent=("Email Opt Out",),
    ),
    Source(
        "pipedrive-people",
        {"valid": 7, "invalid": 1},
        {
            4: {"caller_id": "+13035550103", "email": "cara.lee@example.com", "data": {
                "full_name": "Cara Lee", "first_name": "Cara", "last_name": "Lee",
                "organization": "Lee Studio", "created_at": "2026-11-02 15:02:03",
                "pipedrive_id": "103", "marketing_status": "No consent"}},
        },
        errors={
            5: "Phone - Work: '+1 617 555 0104, +1 617 555 0114' holds more than one phone "
            "number; keep one number per cell"
        },
        notes={3: "caller_id from 'Phone - Mobile'", 4: "caller_id from 'Phone - Home'"},
        phones=("Phone - Work", "Phone - Mobile", "Phone - Home"),
        email="Email - Work",
        consent=("Marketing status",),
    ),
    Source(
        "google-sheets",
        {"valid": 7, "invalid": 1},
        {
            # "Best time to call" in each lead's own zone: Eastern (EST in November),
            # none (the default, New York), Hawaii; each inside calling_hours 08:00-21:00
            # of the lead's phone's zone, so none is moved (see the test below for moves)
            2: {"caller_id": "+12125550142", "email": "ann.smith@example.com",
                "schedule_callback_at": "2026-11-03 15:00:00 +0000", "data": {
                    "full_name": "Ann Smith", "first_name": "Ann", "last_name": "Smith",
                    "created_at": "11/2/2026 9:05:11",
                    "consent": "I agree", "lead_source": "google-form"}},
            5: {"caller_id": "+16175550104", "email": "dan.brown@example.com",
                "schedule_callback_at": "2026-11-04 14:15:00 +0000", "data": {
                    "full_name": "Dan Brown", "first_name": "Dan", "last_name": "Brown",
                    "created_at": "11/2/2026 12:33:48",
                    "consent": "I agree", "lead_source": "google-form"}},
            9: {"caller_id": "+18085550108", "email": "hana.ito@example.com",
                "schedule_callback_at": "2026-11-05 19:00:00 +0000", "data": {
                    "full_name": "Hana Ito", "first_name": "Hana", "last_name": "Ito",
                    "created_at": "11/3/2026 10:48:36",
                    "consent": "I agree", "lead_source": "google-form"}},
        },
        errors={
            8: "Phone number: '206-555-010' is not a valid phone number for region US: too few "
            "digits | no caller_id ('Phone number') or email ('Email Address'): a lead needs "
            "a phone number or an email"
        },
        phones=("Phone number",),
        email="Email Address",
        consent=("I agree to be contacted by phone or text at the number above",),
    ),
    Source(
        "vendor-aged-leads",
        {"valid": 8, "invalid": 1},
        {
            # '2125550142: the apostrophe is dropped; opt-in 14:05 "EST" on 2 October is
            # New York time, daylight saving (EDT): 18:05 UTC
            2: {"caller_id": "+12125550142", "email": "ann.smith@example.com", "data": {
                "first_name": "Ann", "last_name": "Smith", "address": "1 Main St",
                "city": "New York", "state": "NY", "zip": "10001",
                "opt_in_at": "2026-10-02 18:05:11 +0000", "ip_address": "203.0.113.1",
                "source_url": VENDOR_URL, "tcpa_consent": "Y",
                "trustedform_cert_url": f"https://cert.trustedform.com/01{CERT}",
                "jornaya_leadid": f"01{JORNAYA}"}},
            3: {"caller_id": "+13125550199", "email": "bob.jones@example.com", "data": {
                "first_name": "Bob", "last_name": "Jones", "address": "2 Oak Ave",
                "city": "Chicago", "state": "IL", "zip": "60601",
                "opt_in_at": "2026-10-02 20:17:40 +0000", "ip_address": "203.0.113.2",
                "source_url": VENDOR_URL, "tcpa_consent": "Y",
                "trustedform_cert_url": f"https://cert.trustedform.com/02{CERT}",
                "jornaya_leadid": f"02{JORNAYA}"}},
        },
        errors={
            7: "Phone1: '\\'415555010' is not a valid phone number for region US: too few "
            "digits | no caller_id ('Phone1', 'Phone2') or email ('Email'): a lead needs a "
            "phone number or an email"
        },
        notes={3: "caller_id from 'Phone2'"},
        phones=("Phone1", "Phone2"),
        email="Email",
        consent=("TCPA Consent", "TrustedForm Cert URL", "Jornaya LeadiD", "Opt-In Date"),
        shape=("cp1252", ","),
    ),
]  # fmt: skip


def _validate(sample: Path, mapping: Path, out: Path) -> list[dict[str, str]]:
    code, stdout, stderr = invoke("validate", sample, "-m", mapping, "--out", out)
    rows = results(out)
    assert code == (1 if any(r["status"] == "invalid" for r in rows) else 0), stderr
    assert "no guard:" not in stdout  # every scheduled time is under calling_hours
    return rows


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_each_sample_has_its_exports_encoding_and_delimiter(source: Source) -> None:
    table = open_table(ROOT / "samples" / f"{source.name}.csv")
    assert (table.format, table.encoding, table.delimiter) == ("csv", *source.shape)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_each_source_validates_with_its_mapping(source: Source, tmp_path: Path) -> None:
    rows = _validate(
        ROOT / "samples" / f"{source.name}.csv",
        ROOT / "mappings" / f"{source.name}.yaml",
        tmp_path / "run",
    )
    assert Counter(r["status"] for r in rows) == source.counts
    by_row = {int(r["row"]): r for r in rows}
    for row, body in source.bodies.items():
        assert by_row[row]["status"] == "valid", by_row[row]["error"]
        assert json.loads(by_row[row]["payload"]) == body, row
    for row, error in source.errors.items():
        assert (by_row[row]["status"], by_row[row]["error"]) == ("invalid", error)
    for row, note in source.notes.items():
        assert by_row[row]["note"] == note
    assert {row: r["warnings"] for row, r in by_row.items() if r["warnings"]} == source.warnings
    assert set(by_row) == set(range(2, 2 + len(rows)))  # every row of the file, in order


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_each_source_mapping_names_the_lead_and_guards_its_scheduled_times(
    source: Source,
) -> None:
    """Agents greet by first name: every mapping sends first_name and last_name, split
    from the full name where the export has no first-name column. A time the dialer
    schedules is sent only with calling_hours; a mapping with none has no such key."""
    mapping = load_mapping(ROOT / "mappings" / f"{source.name}.yaml")
    headers = set(open_table(ROOT / "samples" / f"{source.name}.csv").columns)
    tokens = {spec.name: spec for spec in mapping.data}
    for name, part in (("first_name", "first"), ("last_name", "last")):
        spec = tokens[name]
        if not {"First Name", "First name", "FirstName"} & headers:
            assert (spec.column, spec.part) == (tokens["full_name"].column, part), name
    scheduled = [name for name in SCHEDULED if mapping.field(name) is not None]
    assert (mapping.calling_hours is not None) == bool(scheduled), scheduled


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_mapping_init_maps_each_source_with_no_edit(source: Source, tmp_path: Path) -> None:
    sample = ROOT / "samples" / f"{source.name}.csv"
    suggested = tmp_path / "suggested.yaml"
    code, _, stderr = invoke("mapping", "init", sample, "-o", suggested)
    assert code == 0, stderr
    mapping = load_mapping(suggested)
    caller_id, email = mapping.field("caller_id"), mapping.field("email")
    assert caller_id is not None and email is not None
    assert caller_id.columns == source.phones
    assert email.columns == (source.email,)

    text = suggested.read_text(encoding="utf-8")
    consent = {
        line.split(":", 1)[1].split("   #")[0].strip().strip('"')
        for line in text.splitlines()
        if line.endswith("# a consent / opt-in answer, sent as written")
    }
    assert consent == set(source.consent)
    data = {spec.column for spec in mapping.data}
    assert set(source.consent) <= data  # consent answers reach Trackdrive as data tokens
    # Agents greet by first name: from a column of its own, or split from a full name.
    tokens = {spec.name: spec for spec in mapping.data}
    assert {"first_name", "last_name"} <= tokens.keys()
    if "full_name" in tokens and tokens["first_name"].part is not None:
        assert tokens["first_name"].column == tokens["full_name"].column
        assert (tokens["first_name"].part, tokens["last_name"].part) == ("first", "last")

    rows = _validate(sample, suggested, tmp_path / "run")
    assert Counter(r["status"] for r in rows) == source.counts


def test_mapping_init_sends_a_created_time_only_when_it_carries_its_offset(
    tmp_path: Path,
) -> None:
    """created_time (-05:00) and CreatedDate (Z) become times; HubSpot's Create Date,
    in an account zone the file does not name, is passed on as written."""
    for name, typed in (("facebook-lead-ads", True), ("salesforce-leads", True),
                        ("hubspot-contacts", False), ("tiktok-leads", False)):  # fmt: skip
        out = tmp_path / f"{name}.yaml"
        assert invoke("mapping", "init", ROOT / "samples" / f"{name}.csv", "-o", out)[0] == 0
        created = next(s for s in load_mapping(out).data if s.name == "created_at")
        assert (created.type.value == "time") is typed, name


@pytest.mark.parametrize(
    ("cell", "e164"),
    [
        ("p:+12125550142", "+12125550142"),  # Meta's lead downloads
        ("P:+1 212 555 0142", "+12125550142"),
        ("p:2125550142", "+12125550142"),
        ("tel:+1-212-555-0142", "+12125550142"),  # a tel: link pasted into a cell
        ("'2125550142", "+12125550142"),  # kept as text in a spreadsheet
        ("'+1 (212) 555-0142", "+12125550142"),
        (" p: +1 212 555 0142 ", "+12125550142"),
    ],
)
def test_export_prefixes_are_not_part_of_the_number(cell: str, e164: str) -> None:
    result = normalize_phones(pd.Series([cell]), "US")
    assert (result.values[0], result.errors[0]) == (e164, "")


@pytest.mark.parametrize(
    ("cell", "error"),
    [
        # only a prefix is dropped, never letters inside or a second number
        ("pp:+12125550142", "'pp:+12125550142' contains letters; write the phone number in digits"),
        ("p:+1 212 555 0142, +1 312 555 0199",
         "'p:+1 212 555 0142, +1 312 555 0199' holds more than one phone number; "
         "keep one number per cell"),
        ("tel:+1-212-555-0142 ext. 12",
         "'tel:+1-212-555-0142 ext. 12' has an extension and Trackdrive cannot dial one; "
         "keep only the main number"),
    ],
)  # fmt: skip
def test_export_prefixes_do_not_hide_a_bad_number(cell: str, error: str) -> None:
    result = normalize_phones(pd.Series([cell]), "US")
    assert (result.values[0], result.errors[0]) == ("", error)


def _sheet_with(tmp_path: Path, changes: dict[tuple[int, str], str]) -> Path:
    """The Google Sheets sample with some cells changed: (row, header) -> new text."""
    with (ROOT / "samples" / "google-sheets.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for (row, header), text in changes.items():
        rows[row - 2][header] = text
    path = tmp_path / "google-sheets.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


BEST = "Best time to call"
MOVED_INTO_HOURS = {
    # 21:30 Chicago, after closing: the next opening, 08:00 the next day
    3: ("2026-11-04 14:00:00 +0000",
        "Best time to call: '11/3/2026 21:30' is 21:30 CST in America/Chicago, outside "
        "calling hours 08:00-21:00, moved to 2026-11-04 08:00 CST (14:00 UTC)"),
    # a date alone: the opening of that day in the lead's zone (Mountain)
    4: ("2026-11-06 15:00:00 +0000",
        "Best time to call: '11/6/2026' has no time of day, set to 2026-11-06 08:00 MST, "
        "the start of calling hours 08:00-21:00 in America/Denver"),
    # no zone given: 09:00 New York, which is 04:00 for this Honolulu number
    9: ("2026-11-05 18:00:00 +0000",
        "Best time to call: '11/5/2026 9:00' is 04:00 HST in Pacific/Honolulu, outside "
        "calling hours 08:00-21:00, moved to 2026-11-05 08:00 HST (18:00 UTC)"),
}  # fmt: skip
EMAIL_DROPPED = (
    "Email Address: 'josé.5@example.com' is not a valid email address, so the lead was "
    "sent without an email"
)


def test_google_sheets_callbacks_move_into_the_leads_calling_hours(tmp_path: Path) -> None:
    """The sample's callbacks are all inside calling hours; leads that ask for a time
    outside them, or give a date alone, get the next opening in their own zone, and an
    email the tool cannot accept beside a good phone is left out: each with a warning."""
    sample = _sheet_with(tmp_path, {
        (3, BEST): "11/3/2026 21:30", (4, BEST): "11/6/2026", (9, "Time Zone"): "",
        (5, "Email Address"): "josé.5@example.com",
    })  # fmt: skip
    rows = _validate(sample, ROOT / "mappings" / "google-sheets.yaml", tmp_path / "run")
    assert Counter(r["status"] for r in rows) == {"valid": 7, "invalid": 1}
    by_row = {int(r["row"]): r for r in rows}
    warned = {row: r["warnings"] for row, r in by_row.items() if r["warnings"]}
    assert warned == {
        **{row: warning for row, (_, warning) in MOVED_INTO_HOURS.items()},
        5: EMAIL_DROPPED,
    }
    for row, (sent, _) in MOVED_INTO_HOURS.items():
        assert json.loads(by_row[row]["payload"])["schedule_callback_at"] == sent, row
    assert json.loads(by_row[5]["payload"]) == {
        "caller_id": "+16175550104", "schedule_callback_at": "2026-11-04 14:15:00 +0000",
        "data": {"full_name": "Dan Brown", "first_name": "Dan", "last_name": "Brown",
                 "created_at": "11/2/2026 12:33:48", "consent": "I agree",
                 "lead_source": "google-form"},
    }  # fmt: skip
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    assert summary["warnings"] == {
        "moved_into_calling_hours": 2, "date_only_opening": 1, "email_dropped": 1,
    }  # fmt: skip

    # strict: true — nothing is sent that the lead did not write exactly
    strict = tmp_path / "strict.yaml"
    text = (ROOT / "mappings" / "google-sheets.yaml").read_text(encoding="utf-8")
    strict.write_text(text + "strict: true\n", encoding="utf-8")
    rows = _validate(sample, strict, tmp_path / "strict-run")
    by_row = {int(r["row"]): r for r in rows}
    assert Counter(r["status"] for r in rows) == {"valid": 3, "invalid": 5}
    errors = {row: r["error"] for row, r in by_row.items() if row != 8 and r["error"]}
    assert errors == {  # the warning is the error; an unusable email is an error again
        **{row: warning + STRICT for row, (_, warning) in MOVED_INTO_HOURS.items()},
        5: "Email Address: 'josé.5@example.com' is not a valid email address",
    }
    assert not any(r["warnings"] for r in rows)
