"""What a mapping is: the Trackdrive parameters and their types, and the frozen dataclasses."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from enum import Enum
from pathlib import Path
from typing import Any


class FieldType(Enum):
    """How a mapped value is normalized and checked."""

    STRING = "string"
    PHONE = "phone"
    EMAIL = "email"
    TIME = "time"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "choice"


class Duplicates(Enum):
    """What to do with rows that share a caller_id (and token) inside one file."""

    ALL = "all"
    FIRST = "first"
    LAST = "last"


# Every documented leads/create_or_update parameter and the type it implies
# (docs/trackdrive-api.md). lead_token and data have keys of their own.
PARAMETERS: dict[str, FieldType] = {
    "caller_id": FieldType.PHONE,
    "email": FieldType.EMAIL,
    "contact_field_type": FieldType.STRING,
    "schedule_callback_at": FieldType.TIME,
    "schedule_callback_in_seconds": FieldType.INTEGER,
    "update_all_matching_leads": FieldType.BOOLEAN,
    "apply_to": FieldType.CHOICE,
    "assign_trackdrive_number": FieldType.BOOLEAN,
    "assign_sms_number": FieldType.BOOLEAN,
    "lead_priority": FieldType.INTEGER,
    "restart_schedule": FieldType.BOOLEAN,
    "auto_format_nested_fields": FieldType.BOOLEAN,
    "next_action_at": FieldType.TIME,
    "hours_to_expire": FieldType.INTEGER,
    "max_contact_attempts": FieldType.INTEGER,
}
CHOICES: dict[str, tuple[str, ...]] = {"apply_to": ("calls",)}
DATA_TYPES = ("string", "phone", "time", "integer", "boolean")
NAME_PARTS = ("first", "last")  # what part: takes of a full-name column
# The parameters whose times calling_hours guards: when Trackdrive will call the lead.
SCHEDULED = ("schedule_callback_at", "next_action_at")
DEFAULT_CALLING_HOURS = "08:00-21:00"  # what mapping init writes: 8 a.m. to 9 p.m.


def calling_window(text: str) -> tuple[time, time]:
    """``08:00-21:00`` -> (start, end); ValueError saying what is wrong otherwise.

    The one rule for calling hours, in a mapping and on reschedule's command line alike;
    the window must not wrap past midnight.
    """
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise ValueError(f"'{text}' is not a window; write e.g. {DEFAULT_CALLING_HOURS}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"'{text}' has an impossible time of day")
    start = time(h1, m1)
    end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueError(f"'{text}': the end must be after the start (same day)")
    return start, end


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One Trackdrive parameter or data token: where its value comes from and its type."""

    name: str
    type: FieldType
    column: str | None = None
    value: str | None = None
    required: bool = False
    choices: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()  # columns read, in order, where ``column`` is empty
    part: str | None = None  # a full-name column: "first" or "last" (NAME_PARTS)

    @property
    def source(self) -> str:
        """How the mapping names this value's origin, for messages."""
        return f"column '{self.column}'" if self.column is not None else "constant"

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this value may come from, first choice first."""
        return (self.column, *self.fallbacks) if self.column is not None else ()


# Every default of sending lives here, once: the mapping's send: block, the sender's
# settings and each face's help take them from these names.
DEFAULT_RATE = 10.0  # requests per second
DEFAULT_CONCURRENCY = 8  # requests in flight
DEFAULT_MAX_ATTEMPTS = 5  # per row, for retryable answers
DEFAULT_TIMEOUT_S = 30.0  # for one answer
DEFAULT_MAX_CONSECUTIVE_FAILURES = 50  # rows failed in a row before the run aborts
# What one row may wait in all on Retry-After (the whole pool waits with it): the longest
# single wait the sender used to honour, now once per row rather than once per attempt.
DEFAULT_MAX_RETRY_WAIT_S = 300.0
# The largest answer read (after decompression), from the endpoint or the webhook: a lead's
# answer is a few KB; anything near this is no answer to a lead.
MAX_ANSWER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class SendConfig:
    """The mapping's ``send:`` block."""

    rate: float | None = DEFAULT_RATE
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class TokenSource:
    """Where the lead token comes from: a literal, an environment variable, or a column."""

    literal: str | None = None
    env: str | None = None
    column: str | None = None

    def describe(self) -> str:
        """Say where the token comes from without revealing it."""
        if self.column is not None:
            return f"column '{self.column}'"
        if self.env is not None:
            return f"${{{self.env}}}"
        return "literal in the mapping" if self.literal else "not set"


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """A whole mapping file, validated."""

    path: Path
    endpoint: str
    token: TokenSource
    region: str
    timezone: str | None  # None: the mapping names none (then it may map no time column)
    date_order: str
    duplicates: Duplicates
    send: SendConfig
    fields: tuple[FieldSpec, ...]
    data: tuple[FieldSpec, ...]
    include_unmapped_columns: bool
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Per row: the column naming each row's zone, or the field whose phone number's zone
    # it is (``timezone`` is then the default); the column naming each row's country.
    timezone_column: str | None = None
    timezone_from: str | None = None
    region_column: str | None = None
    # The local hours in which schedule_callback_at and next_action_at must fall (each
    # lead's own zone); None: no guard. strict: a value the tool would change with a
    # warning makes its row invalid instead.
    calling_hours: tuple[time, time] | None = None
    strict: bool = False

    @property
    def columns(self) -> list[str]:
        """Every spreadsheet column the mapping names, in mapping order."""
        names = [c for s in (*self.fields, *self.data) for c in s.columns]
        names += [c for c in (self.timezone_column, self.region_column) if c is not None]
        if self.token.column is not None:
            names.append(self.token.column)
        return names

    @property
    def unguarded(self) -> tuple[str, ...]:
        """The scheduled times (SCHEDULED) this mapping maps without calling_hours."""
        if self.calling_hours is not None:
            return ()
        return tuple(s.name for s in self.fields if s.name in SCHEDULED)

    def field(self, name: str) -> FieldSpec | None:
        """The spec of Trackdrive parameter ``name``, if mapped."""
        return next((s for s in self.fields if s.name == name), None)


# The zones people type for US time: each means the US zone with daylight saving, so
# "EST" in July is read as EDT (what a person writing "EST" on a form means), in a row
# and in the mapping alike.
US_ZONES: dict[str, str] = {
    **dict.fromkeys(("eastern", "est", "edt", "et", "us/eastern"), "America/New_York"),
    **dict.fromkeys(("central", "cst", "cdt", "ct", "us/central"), "America/Chicago"),
    **dict.fromkeys(("mountain", "mst", "mdt", "mt", "us/mountain"), "America/Denver"),
    **dict.fromkeys(("pacific", "pst", "pdt", "pt", "us/pacific"), "America/Los_Angeles"),
    **dict.fromkeys(
        ("alaska", "akst", "akdt", "akt", "us/alaska"), "America/Anchorage"
    ),
    **dict.fromkeys(
        ("hawaii", "hst", "hdt", "ht", "us/hawaii", "hawaii-aleutian"), "Pacific/Honolulu"
    ),
    **dict.fromkeys(("arizona", "us/arizona"), "America/Phoenix"),
    **{f"{z} time": zone for z, zone in (("eastern", "America/New_York"),
        ("central", "America/Chicago"), ("mountain", "America/Denver"),
        ("pacific", "America/Los_Angeles"), ("alaska", "America/Anchorage"),
        ("hawaii", "Pacific/Honolulu"))},
}  # fmt: skip

# Country names as lead forms write them, to ISO codes. pycountry is not installed and
# phonenumbers knows only the codes; the two-letter codes themselves are always accepted
# (phonenumbers.SUPPORTED_REGIONS), so this table needs only the names seen in lead lists.
COUNTRY_NAMES: dict[str, str] = {
    **dict.fromkeys(("united states", "united states of america", "usa", "u.s.", "u.s.a.",
                     "america"), "US"),
    **dict.fromkeys(("canada", "can"), "CA"),
    **dict.fromkeys(("united kingdom", "great britain", "england", "scotland", "wales",
                     "northern ireland", "uk", "u.k."), "GB"),
    **dict.fromkeys(("mexico", "méxico", "mex"), "MX"),
    "puerto rico": "PR", "australia": "AU", "new zealand": "NZ", "ireland": "IE",
    "india": "IN", "philippines": "PH", "germany": "DE", "france": "FR", "spain": "ES",
    "italy": "IT", "netherlands": "NL", "belgium": "BE", "switzerland": "CH",
    "austria": "AT", "portugal": "PT", "brazil": "BR", "argentina": "AR", "colombia": "CO",
    "chile": "CL", "peru": "PE", "dominican republic": "DO", "jamaica": "JM",
    "south africa": "ZA", "nigeria": "NG", "kenya": "KE", "israel": "IL",
    "united arab emirates": "AE", "uae": "AE", "japan": "JP", "china": "CN",
    "singapore": "SG", "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI",
    "poland": "PL", "pakistan": "PK", "bahamas": "BS", "bermuda": "BM", "guam": "GU",
    "u.s. virgin islands": "VI", "us virgin islands": "VI",
}  # fmt: skip


def token_fingerprint(token: str) -> str:
    """A short, non-reversible name for a token, safe to write to logs and ledgers."""
    return hashlib.sha256(b"leadimport-token:" + token.encode()).hexdigest()[:16]
