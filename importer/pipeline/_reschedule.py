"""What a face asks ``reschedule`` for, turned into a mapping and a ``RescheduleSpec``.

Both faces give the same request (the time as typed, the delay, the options); the checks
and their one-line errors live here, before any row is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from importer.clean import RescheduleSpec, parse_calling_hours, parse_duration, parse_when
from importer.config import MappingConfig, load_mapping, reschedule_mapping
from importer.errors import ConfigError, Setting, mention
from importer.pipeline._jobs import Source, phone_column

_AT, _IN = mention(Setting.RESCHEDULE_AT), mention(Setting.RESCHEDULE_IN)


@dataclass(frozen=True, slots=True)
class RescheduleRequest:
    """A reschedule as a person asks for it: exactly one of ``at`` and ``delay``."""

    at: str | None = None  # a time as typed, e.g. "2026-12-01 09:30"
    delay: str | None = None  # how long from now, e.g. "2h"
    local_time: bool = False  # read ``at`` in each lead's own zone
    calling_hours: str | None = None  # "08:00-21:00", in each lead's own zone
    update_all_matching: bool = False
    caller_id_column: str | None = None
    region: str | None = None
    timezone: str | None = None  # overrides the mapping's


def plan_reschedule(
    source: Source,
    mapping_path: Path | None,
    request: RescheduleRequest,
    now: datetime | None = None,
) -> tuple[MappingConfig, RescheduleSpec]:
    """The mapping and spec of a reschedule; ConfigError (one line) when it cannot be done."""
    if (request.at is None) == (request.delay is None):
        raise ConfigError(f"give exactly one of {_AT} TIME or {_IN} DURATION")
    if request.local_time and request.at is None:
        raise ConfigError(f"{mention(Setting.LOCAL_TIME)} goes with {_AT}")
    hours = parse_calling_hours(request.calling_hours) if request.calling_hours else None
    delay = parse_duration(request.delay) if request.delay is not None else None
    asked_at = now or datetime.now(UTC)
    if request.at is not None:
        try:  # an unusable time is one line before any row is read, whatever the zone
            parse_when(request.at, "UTC", now=asked_at)
        except ValueError as exc:
            raise ConfigError(f"{_AT}: {exc}") from None
    base = load_mapping(mapping_path) if mapping_path else None
    zone = request.timezone or (base.timezone if base else None)
    if zone is None:
        _need_no_zone(request, asked_at)
    column = phone_column(source, base, request.caller_id_column)
    mapping = reschedule_mapping(base, mapping_path, column, request.region, request.timezone)
    if delay is not None:
        spec = RescheduleSpec(column, instant=asked_at + delay)
    elif request.local_time:
        spec = RescheduleSpec(column, wall_time=request.at, local_time=True)
    else:
        try:
            instant = parse_when(request.at or "", zone or "UTC", mapping.date_order, asked_at)
        except ValueError as exc:
            raise ConfigError(f"{_AT}: {exc}") from None
        spec = RescheduleSpec(column, instant=instant)
    return mapping, RescheduleSpec(
        spec.caller_id_column,
        instant=spec.instant,
        wall_time=spec.wall_time,
        local_time=spec.local_time,
        calling_hours=hours,
        update_all_matching=request.update_all_matching,
        asked_at=asked_at,
    )


def _need_no_zone(request: RescheduleRequest, now: datetime) -> None:
    """Refuse what would need a time zone when neither the mapping nor the request has one."""
    fix = (
        f"pass {mention(Setting.TIMEZONE)} (e.g. America/New_York) or set timezone: in the mapping"
    )
    # In each lead's own zone (local time, calling hours), a number with no zone of its own
    # makes its row invalid, saying so; the other rows go on.
    if request.at is not None and not request.local_time and not _has_offset(request.at, now):
        raise ConfigError(
            f"{_AT}: '{request.at}' names no time zone; {fix}, or write the offset "
            "(e.g. '2026-12-01 09:30 -0500')"
        )


def _has_offset(text: str, now: datetime) -> bool:
    """Does this time carry its own offset (it reads the same in any zone)?"""
    try:
        return parse_when(text, "UTC", now=now) == parse_when(text, "Asia/Tokyo", now=now)
    except ValueError:
        return True  # unreadable: parse_time's own error says why, later
