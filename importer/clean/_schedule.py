"""Bulk rescheduling: when each lead's ``next_action_at`` should be, and its request rows.

The time arithmetic is pure (no I/O); ``RescheduleBuilder`` turns a chunk of a
spreadsheet into the same validated-rows frame as ``payload.build_rows`` so the pipeline
sends, journals and reports reschedules exactly as it does imports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from importer.clean._payload import RowStatus
from importer.clean._phones import normalize_phones, phone_timezone
from importer.clean._times import format_time, parse_when
from importer.config import calling_window, token_fingerprint
from importer.errors import ConfigError, Setting, mention
from importer.read import Chunk

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_IN, _HOURS = mention(Setting.RESCHEDULE_IN), mention(Setting.CALLING_HOURS)


def parse_duration(text: str) -> timedelta:
    """``1s``, ``30m``, ``2h``, ``1d``, ``1h30m`` → a timedelta (ConfigError otherwise)."""
    cleaned = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ConfigError(f"{_IN}: '{text}' is not a duration; write e.g. 1s, 30m, 2h, 1d or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNIT_S[u] for n, u in parts))


def parse_calling_hours(text: str) -> tuple[time, time]:
    """``08:00-21:00`` → (start, end); the window must not wrap past midnight."""
    try:
        return calling_window(text)
    except ValueError as exc:
        raise ConfigError(f"{_HOURS}: {exc}") from None


def within_hours(moment: datetime, zone: ZoneInfo, hours: tuple[time, time]) -> datetime:
    """``moment`` if it falls inside the calling hours in ``zone``, else the next start."""
    local = moment.astimezone(zone)
    start, end = hours
    if start <= local.time() < end:
        return moment
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    # Built from the wall-clock date and time so a DST change in between is respected.
    return datetime.combine(day, start, tzinfo=zone)


@dataclass(frozen=True, slots=True)
class RescheduleSpec:
    """What ``leadimport reschedule`` was asked for, with relative times resolved.

    Exactly one of ``instant`` (an absolute UTC time: a delay, or a time with a zone) and
    ``wall_time`` (a time of day read in each lead's own zone) is set.
    """

    caller_id_column: str
    instant: datetime | None = None
    wall_time: str | None = None
    local_time: bool = False
    calling_hours: tuple[time, time] | None = None
    update_all_matching: bool = False
    # When it was asked: "tomorrow 9am" in each lead's zone is counted from here, so a
    # rerun sends the same times.
    asked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """For run.json, so a rerun sends exactly the same times."""
        hours = None
        if self.calling_hours:
            hours = [t.strftime("%H:%M") for t in self.calling_hours]
        return {
            "caller_id_column": self.caller_id_column,
            "instant": self.instant.isoformat() if self.instant else None,
            "wall_time": self.wall_time,
            "local_time": self.local_time,
            "calling_hours": "-".join(hours) if hours else None,
            "update_all_matching": self.update_all_matching,
            "asked_at": self.asked_at.isoformat() if self.asked_at else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RescheduleSpec:
        """Inverse of ``to_json``."""
        hours = raw.get("calling_hours")
        return cls(
            caller_id_column=raw["caller_id_column"],
            instant=datetime.fromisoformat(raw["instant"]) if raw.get("instant") else None,
            wall_time=raw.get("wall_time"),
            local_time=bool(raw.get("local_time")),
            calling_hours=parse_calling_hours(hours) if hours else None,
            update_all_matching=bool(raw.get("update_all_matching")),
            asked_at=datetime.fromisoformat(raw["asked_at"]) if raw.get("asked_at") else None,
        )


class RescheduleBuilder:
    """Turn a chunk into validated reschedule rows (status, error, payload, note, …)."""

    def __init__(
        self,
        label: str,
        spec: RescheduleSpec,
        region: str,
        timezone: str | None,
        token: str | None,
        date_order: str = "MDY",
    ) -> None:
        self.label = label
        self.spec = spec
        self.region = region
        self.default_zone = timezone
        self.date_order = date_order
        self.fingerprint = token_fingerprint(token) if token else ""
        self._cache: dict[str, tuple[str, str, str]] = {}

    def _time_for(self, e164: str) -> tuple[str, str, str]:
        """(next_action_at, note, error) for one normalized phone number."""
        cached = self._cache.get(e164)
        if cached is not None:
            return cached
        if self.spec.instant is not None and not self.spec.calling_hours:
            return (format_time(self.spec.instant), "", "")  # the same for every lead
        zone_name = self.default_zone
        if self.spec.local_time or self.spec.calling_hours:
            zone_name = phone_timezone(e164) or self.default_zone
        if zone_name is None:  # a toll-free number, and no zone given to fall back on
            result = ("", "", "the number has no time zone of its own (toll-free or not "
                      "geographic); give reschedule a time zone for such numbers")  # fmt: skip
            self._cache[e164] = result
            return result
        zone = ZoneInfo(zone_name)
        if self.spec.instant is not None:
            moment = self.spec.instant
        else:
            try:
                wall_zone = zone_name if self.spec.local_time else (self.default_zone or "")
                moment = parse_when(
                    self.spec.wall_time or "", wall_zone, self.date_order, self.spec.asked_at
                )
            except ValueError as exc:
                result = ("", "", f"the time to reschedule to: {exc}")
                self._cache[e164] = result
                return result
        note = ""
        if self.spec.calling_hours:
            moved = within_hours(moment, zone, self.spec.calling_hours)
            if moved != moment:
                fmt = "%Y-%m-%d %H:%M %Z"
                note = (
                    f"moved from {moment.astimezone(zone).strftime(fmt)} to "
                    f"{moved.astimezone(zone).strftime(fmt)} ({zone_name} calling hours)"
                )
                moment = moved
        result = (format_time(moment), note, "")
        if len(self._cache) < 100_000:
            self._cache[e164] = result
        return result

    def __call__(self, chunk: Chunk) -> pd.DataFrame:
        """The rows frame of one chunk, as ``payload.build_rows`` returns it (plus ``note``)."""
        raw = chunk.frame[self.label]
        norm = normalize_phones(raw, self.region)
        records: list[dict[str, str]] = []
        column = self.spec.caller_id_column
        for row, value, phone, error in zip(raw.index, raw, norm.values, norm.errors, strict=True):
            problem = chunk.problems.get(int(row), "")
            rec = {"status": RowStatus.INVALID.value, "caller_id": "", "email": "", "token": ""}
            rec.update(key="", payload="", note="")
            if problem or error or not str(value).strip():
                rec["error"] = problem or (
                    f"{column}: {error}" if error else f"{column}: no phone number in this row"
                )
                records.append(rec)
                continue
            when, note, time_error = self._time_for(str(phone))
            if time_error:
                rec["error"] = time_error
                records.append(rec)
                continue
            body: dict[str, Any] = {"caller_id": str(phone), "next_action_at": when}
            if self.spec.update_all_matching:
                body["update_all_matching_leads"] = True
            rec.update(
                status=RowStatus.VALID.value,
                error="",
                caller_id=str(phone),
                key=f"{self.fingerprint}:{phone}",
                payload=json.dumps(body),
                note=note,
            )
            records.append(rec)
        columns = ["status", "error", "caller_id", "email", "key", "payload", "token", "note"]
        frame = pd.DataFrame.from_records(records, index=raw.index, columns=columns).astype("str")
        return frame.assign(warnings="")  # a reschedule changes no cell: nothing to warn of
