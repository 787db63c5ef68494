"""What a mapping is: the Trackdrive parameters and their types, and the frozen dataclasses."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One Trackdrive parameter or data token: where its value comes from and its type."""

    name: str
    type: FieldType
    column: str | None = None
    value: str | None = None
    required: bool = False
    choices: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """How the mapping names this value's origin, for messages."""
        return f"column '{self.column}'" if self.column is not None else "constant"


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

    @property
    def columns(self) -> list[str]:
        """Every spreadsheet column the mapping names, in mapping order."""
        names = [s.column for s in (*self.fields, *self.data) if s.column is not None]
        if self.token.column is not None:
            names.append(self.token.column)
        return names

    def field(self, name: str) -> FieldSpec | None:
        """The spec of Trackdrive parameter ``name``, if mapped."""
        return next((s for s in self.fields if s.name == name), None)


def token_fingerprint(token: str) -> str:
    """A short, non-reversible name for a token, safe to write to logs and ledgers."""
    return hashlib.sha256(b"leadimport-token:" + token.encode()).hexdigest()[:16]
