"""Guess a mapping from a spreadsheet's headers and a sample of its values.

Used by ``leadimport mapping init`` (writes a commented mapping file) and by
``reschedule`` (finds the phone column when none is named).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from importer.clean import (
    Normalized,
    normalize_emails,
    normalize_phones,
    normalize_times,
    snake_case,
)
from importer.config import DEFAULT_CALLING_HOURS, resolve_region, resolve_zone
from importer.errors import InputError
from importer.read import Table

_SAMPLE_ROWS = 500
_PHONE_WORDS = re.compile(r"phone|mobile|cell|tel\b|telephone|caller|\bnumber\b|contact.?no", re.I)
_EMAIL_WORDS = re.compile(r"e-?mail", re.I)
_CALLBACK_WORDS = re.compile(r"call.?back|appointment|schedule|best.?time|time.?to.?call", re.I)
_NEXT_ACTION_WORDS = re.compile(r"next.?action|follow.?up|next.?call", re.I)
_TIME_WORDS = re.compile(r"time|date|when|\bat\b", re.I)
_ZONE_WORDS = re.compile(r"time.?zone|\btz\b|\bzone\b", re.I)
_COUNTRY_WORDS = re.compile(r"country|\bnation", re.I)
# When the lead came in: Meta's created_time, Salesforce's CreatedDate, HubSpot's Create
# Date, Zoho's Created Time, Google Ads' Submission time, a Google Form's Timestamp.
_CREATED_WORDS = re.compile(
    r"creat(?:ed|e).?(?:time|date|at|on)|(?:person|contact|lead).?created|date.?created"
    r"|submi(?:ssion|tted).?(?:time|date|at|on)|^timestamp$",
    re.I,
)
# A consent or opt-in answer, or the proof of one (docs/sources.md): TCPA consent,
# TrustedForm certificates, Jornaya LeadiD tokens, opt-outs, a form's "I agree" box.
_CONSENT_WORDS = re.compile(
    r"consent|opt(?:ed)?.?(?:in|out)|tcpa|trusted.?form|jornaya|lead.?id.?token"
    r"|universal.?lead.?id|(?<![a-z])agree|do.?not.?call|(?<![a-z])dnc(?![a-z])"
    r"|marketing.?(?:contact.?)?status"
    r"|unsubscribe|legal.?basis|gdpr",
    re.I,
)
_OFFSET_AT_END = re.compile(r"(?:z|[+-]\d\d:?\d\d|utc|gmt)$", re.I)
# Data-token names a dialer's scripts can rely on, whatever the export called the column.
_FULL_NAME_KEYS = {"name", "full_name", "contact_name", "lead_name", "person_name"}
_NAME_KEYS = {"firstname": "first_name", "given_name": "first_name", "surname": "last_name",
              "lastname": "last_name", "family_name": "last_name"}  # fmt: skip
_LONG_KEY = 45  # a form question as a header ("I agree to be contacted…") is cut to this


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What a spreadsheet's columns look like they feed."""

    caller_id: str | None
    email: str | None
    times: dict[str, str]  # Trackdrive parameter -> header
    data: dict[str, str]  # data token -> header
    sample_rows: int
    zone_column: str | None = None  # a column naming each row's time zone
    region_column: str | None = None  # a column naming each row's country
    # Every phone-like column, in file order, when there are several: caller_id is read
    # from the first of them that is filled (a fallback list).
    phone_columns: tuple[str, ...] = ()
    time_tokens: frozenset[str] = frozenset()  # data tokens sent as times (they carry an offset)
    consent_tokens: frozenset[str] = frozenset()  # data tokens that are consent answers


def _share(norm: Normalized, values: pd.Series) -> float:
    filled = values.str.strip() != ""
    if not filled.any():
        return 0.0
    ok = filled & (norm.errors == "")
    return float(ok.sum()) / float(filled.sum())


def suggest_mapping(table: Table, region: str = "US", timezone: str = "UTC") -> Suggestion:
    """Read the first rows of ``table`` and guess which column is which."""
    sample = pd.DataFrame(columns=table.columns)
    for chunk in table.chunks(_SAMPLE_ROWS):
        sample = chunk.frame
        break
    by_label = dict(zip(table.columns, table.headers, strict=True))

    def phone_score(label: str) -> float:
        values = sample[label].astype("str")
        score = _share(normalize_phones(values, region), values)
        return score + (0.5 if _PHONE_WORDS.search(by_label[label]) else 0.0)

    def email_score(label: str) -> float:
        values = sample[label].astype("str")
        score = _share(normalize_emails(values), values)
        return score + (0.5 if _EMAIL_WORDS.search(by_label[label]) else 0.0)

    def time_share(label: str) -> float:
        values = sample[label].astype("str")
        return _share(normalize_times(values, timezone), values)

    labels = list(table.columns)
    phone = max(labels, key=phone_score, default=None)
    if phone is not None and phone_score(phone) < 0.6:
        phone = None
    # Other columns that are phones by name and by value (named like one, and 60 % of their
    # filled cells are: a score of 0.5 + 0.6), such as Phone and Mobile or Phone1 and
    # Phone2: all of them, in file order, become caller_id's fallback list.
    phones = [
        c
        for c in labels
        if c == phone or (phone and _PHONE_WORDS.search(by_label[c]) and phone_score(c) >= 1.1)
    ]
    phone = phones[0] if phones else None
    rest = [c for c in labels if c not in phones]
    email = max(rest, key=email_score, default=None)
    if email is not None and email_score(email) < 0.6:
        email = None
    rest = [c for c in rest if c != email]
    if phone is None and email is None:
        _check_header_row(table)

    times: dict[str, str] = {}
    for label in list(rest):
        header = by_label[label]
        if _NEXT_ACTION_WORDS.search(header):
            param = "next_action_at"
        elif _CALLBACK_WORDS.search(header):
            param = "schedule_callback_at"
        else:
            continue
        if param in times or not (_TIME_WORDS.search(header) or time_share(label) >= 0.6):
            continue
        if time_share(label) >= 0.6:
            times[param] = header
            rest.remove(label)

    def named(words: re.Pattern[str], resolve: Callable[[str], str | None]) -> str | None:
        """The first header like ``words`` whose filled sample cells mostly resolve."""
        for label in rest:
            if not words.search(by_label[label]):
                continue
            cells = [c for c in sample[label].astype("str").str.strip() if c]
            if cells and sum(resolve(c) is not None for c in cells) >= 0.6 * len(cells):
                return by_label[label]
        return None

    data: dict[str, str] = {}
    time_tokens: set[str] = set()
    consent_tokens: set[str] = set()
    for label in rest:
        header = by_label[label]
        key = _token_key(header, consent=bool(_CONSENT_WORDS.search(header)))
        if _CREATED_WORDS.search(header) and "created_at" not in data:
            key = "created_at"
        base, n = key, 2
        while key in data:
            key, n = f"{base}_{n}", n + 1
        data[key] = header
        if _CONSENT_WORDS.search(header):
            consent_tokens.add(key)
        elif key == "created_at" and _with_offsets(sample[label].astype("str"), timezone):
            time_tokens.add(key)
    return Suggestion(
        caller_id=by_label[phone] if phone else None,
        email=by_label[email] if email else None,
        times=times,
        data=data,
        sample_rows=len(sample),
        zone_column=named(_ZONE_WORDS, resolve_zone),
        region_column=named(_COUNTRY_WORDS, resolve_region),
        phone_columns=tuple(by_label[c] for c in phones) if len(phones) > 1 else (),
        time_tokens=frozenset(time_tokens),
        consent_tokens=frozenset(consent_tokens),
    )


def _token_key(header: str, consent: bool) -> str:
    """The data-token name for a column: its header in snake_case, names made uniform."""
    key = snake_case(header) or "column"
    if key in _FULL_NAME_KEYS:
        return "full_name"
    key = _NAME_KEYS.get(key, key)
    if consent and re.search(r"jornaya|lead.?id", header, re.I):
        return "jornaya_leadid"
    if consent and len(key) > _LONG_KEY:
        return "consent"
    return key


def _with_offsets(values: pd.Series, timezone: str) -> bool:
    """Whether the filled cells mostly read as times that carry their own offset or Z.

    Only such a created time is sent as a time: one without an offset is in the export's
    account zone, which the file does not say, so it is passed on as written.
    """
    cells = values.str.strip()
    filled = cells != ""
    if not filled.any():
        return False
    with_offset = (
        filled
        & cells.str.contains(_OFFSET_AT_END)
        & (normalize_times(values, timezone).errors == "")
    )
    return float(with_offset.sum()) >= 0.6 * float(filled.sum())


def _q(text: str) -> str:
    """A YAML scalar for ``text``, quoted when needed."""
    if re.fullmatch(
        r"[A-Za-z_][A-Za-z0-9_ ]*[A-Za-z0-9_]|[A-Za-z_]", text
    ) and text.lower() not in (
        "yes",
        "no",
        "on",
        "off",
        "true",
        "false",
        "null",
    ):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_mapping(s: Suggestion, source_name: str, region: str, timezone: str) -> str:
    """A commented mapping file for suggestion ``s``."""
    lines = [
        f"# Mapping suggested by `leadimport mapping init` from {source_name}",
        f"# ({s.sample_rows} rows sampled). Check every line, then run:",
        f"#   leadimport validate {source_name} -m THIS_FILE",
        "version: 1",
        "# endpoint: https://ACCOUNT.trackdrive.com/api/v1/leads/create_or_update",
        "lead_token: ${TRACKDRIVE_LEAD_TOKEN}   # or a literal, or {column: Token}",
        f"region: {region}                        # for phone numbers without a country code"
        if s.region_column is None
        else f"region: {{column: {_q(s.region_column)}, default: {region}}}   # each row's country",
        f"timezone: {timezone}             # for times written without an offset"
        if s.zone_column is None
        else f"timezone: {{column: {_q(s.zone_column)}, default: {timezone}}}   # each row's zone",
        "date_order: MDY                   # how to read 03/04/2025: MDY or DMY",
        f'calling_hours: "{DEFAULT_CALLING_HOURS}"  # callbacks only then, lead\'s own zone',
        "duplicates: all                   # same caller_id twice: all | first | last",
        "send: {rate: 10, concurrency: 8, max_attempts: 5, timeout_s: 30}",
        "fields:                           # Trackdrive parameters",
    ]
    if s.phone_columns:
        listed = ", ".join(_q(c) for c in s.phone_columns)
        lines.append(f"  caller_id: [{listed}]   # the first of them that is filled")
    elif s.caller_id:
        lines.append(f"  caller_id: {_q(s.caller_id)}")
    else:
        lines.append("  # caller_id: Phone              # no phone-like column found")
    if s.email:
        lines.append(f"  email: {_q(s.email)}")
    for param, header in s.times.items():
        lines.append(f"  {param}: {_q(header)}")
    if not s.caller_id and not s.email:
        lines.append("  caller_id: Phone    # EDIT ME: a lead needs a phone number or an email")
    lines.append("  # assign_trackdrive_number: {value: true}")
    lines.append("data:                             # each becomes a data token")
    if not s.data:
        lines.append("  {}")
    for key, header in s.data.items():
        if key in s.time_tokens:
            lines.append(f"  {key}: {{column: {_q(header)}, type: time}}")
        elif key in s.consent_tokens:
            lines.append(f"  {key}: {_q(header)}   # a consent / opt-in answer, sent as written")
        else:
            lines.append(f"  {key}: {_q(header)}")
        if key == "full_name" and not {"first_name", "last_name"} & s.data.keys():
            # Agents greet by first name; the README's "Names" says how a name is split.
            lines.append(f"  first_name: {{column: {_q(header)}, part: first}}")
            lines.append(f"  last_name: {{column: {_q(header)}, part: last}}")
    lines.append("include_unmapped_columns: false")
    return "\n".join(lines) + "\n"


def _check_header_row(table: Table) -> None:
    """Raise InputError when row 1 is a title and the column names are a few rows down."""
    for number, row in enumerate(table.top_rows, start=2):
        names = [c.strip() for c in row if _PHONE_WORDS.search(c) or _EMAIL_WORDS.search(c)]
        filled = sum(bool(c.strip()) for c in row)
        if names and filled >= 2 and all(len(n) <= 30 for n in names):
            shown = ", ".join(f"'{n}'" for n in names[:3])
            raise InputError(
                f"{table.path}: row 1 has no phone or email column, but row {number} looks like "
                f"the column names ({shown}): delete {table.rows_above(number)} above it, "
                "so they are in row 1"
            )
