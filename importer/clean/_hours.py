"""Calling hours for scheduled times: each lead is called inside a window of its own day.

``guard_hours`` takes a column of normalized times (UTC text, as ``normalize_times`` writes
them) and moves every time that falls outside the window in the lead's zone to the next
opening, with a warning; a cell that gave a date but no time of day gets the window's
opening on that date. A lead's zone is its phone number's (every zone of it where an area
code spans several: the time must be inside the window in each), else the zone its times
were read in. Rows are grouped by (reading zone, lead zones) and each group is moved with
numpy and pandas' time zone arithmetic, so the work is a few array passes per group. This
module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.clean._columns import TEXT_TYPE, empty_texts, join_text, lit, quoted_text, to_mask
from importer.clean._phones import zones_by_number
from importer.clean._warnings import NO_TIME_MIDNIGHT, NO_TIME_OPENING, OUTSIDE_HOURS

_DAY = 86400
# Moving a time to the next opening in one zone can take it past the closing in another
# (two zones an hour apart); a few rounds settle any window that all of them share.
_ROUNDS = 6


@dataclass(frozen=True, slots=True)
class Guarded:
    """A time column after calling hours: values, warnings and errors per row."""

    values: pa.Array  # "YYYY-MM-DD HH:MM:SS +0000", "" where the input was ""
    warnings: pa.Array  # "" or what was moved, quoting the cell
    errors: pa.Array  # "" or why no time could be found


def lead_zones(phones: pa.Array, read_zones: pa.Array) -> pa.Array:
    """Each row's zones as "A,B": its phone number's, else the zone its times were read in."""
    zones = zones_by_number(phones)
    return pc.if_else(pc.equal(zones, lit("")), read_zones, zones)


def _seconds(values: pa.Array) -> np.ndarray:
    """UTC text ("2026-12-13 14:00:00 +0000") to seconds since 1970 (0 for "")."""
    stamp = pc.utf8_slice_codeunits(
        pc.if_else(pc.equal(values, lit("")), lit("1970-01-01 00:00:00"), values), 0, 19
    )
    parsed = pc.strptime(stamp, format="%Y-%m-%d %H:%M:%S", unit="s")
    return np.asarray(parsed.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _format(seconds: np.ndarray) -> pa.Array:
    stamps = pc.cast(pa.array(seconds.astype("datetime64[s]")), TEXT_TYPE)
    return join_text(stamps, " +0000")


def _local(seconds: np.ndarray, zone: str, fmt: str) -> pa.Array:
    stamps = pa.array(seconds.astype("datetime64[s]"), pa.timestamp("s", tz=zone))
    return pc.cast(pc.strftime(stamps, format=fmt), TEXT_TYPE)


def _opening(days: np.ndarray, zone: str, start: time) -> np.ndarray:
    """The window's opening on each local date (days since 1970) in ``zone``, in UTC seconds.

    An opening inside a DST gap is the first time after it; one that happens twice, the
    earlier.
    """
    wall = days * _DAY + start.hour * 3600 + start.minute * 60
    index = pd.DatetimeIndex(wall.astype("datetime64[s]"))
    every = np.ones(len(days), dtype=bool)
    stamps = index.tz_localize(zone, ambiguous=every, nonexistent="shift_forward")
    return np.asarray(stamps.tz_convert("UTC").as_unit("s").asi8, dtype=np.int64)


def _local_days_and_times(seconds: np.ndarray, zone: str) -> tuple[np.ndarray, np.ndarray]:
    """Each instant's local date (days since 1970) and time of day (seconds) in ``zone``."""
    index = pd.DatetimeIndex(seconds.astype("datetime64[s]")).tz_localize("UTC").tz_convert(zone)
    wall = np.asarray(index.tz_localize(None).as_unit("s").asi8, dtype=np.int64)
    return wall // _DAY, wall % _DAY


def _clock(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second + (1 if t.microsecond else 0)


def _into_window(
    seconds: np.ndarray, zones: list[str], hours: tuple[time, time]
) -> tuple[np.ndarray, np.ndarray]:
    """Each instant moved to the first one at or after it inside the window in every zone;
    and which could not be (the zones share no hour of the window)."""
    start, end = _clock(hours[0]), _clock(hours[1])
    moved = seconds.copy()
    for _ in range(_ROUNDS):
        changed = np.zeros(len(moved), dtype=bool)
        for zone in zones:
            days, clock = _local_days_and_times(moved, zone)
            early, late = clock < start, clock >= end
            out = early | late
            if out.any():
                moved[out] = _opening(days[out] + late[out], zone, hours[0])
                changed |= out
        if not changed.any():
            return moved, np.zeros(len(moved), dtype=bool)
    return moved, changed


def guard_hours(
    values: pa.Array,
    cells: pa.Array,
    date_only: np.ndarray,
    read_zones: pa.Array,
    zones: pa.Array,
    hours: tuple[time, time] | None,
) -> Guarded:
    """Move each time into the calling hours of its lead's ``zones`` ("A,B" per row).

    ``values`` are normalized times ("" where empty or invalid), ``cells`` the cells they
    came from (quoted in warnings), ``date_only`` marks cells without a time of day (read
    as midnight in ``read_zones``). Without ``hours`` nothing moves, and a date without a
    time stays midnight, with a warning saying so.
    """
    n = len(values)
    present = to_mask(pc.not_equal(values, lit("")))
    warnings, errors = empty_texts(n), empty_texts(n)
    quoted = quoted_text(pc.utf8_trim_whitespace(cells))
    if hours is None:
        bare = present & date_only
        if bare.any():
            said = join_text(
                quoted, f" {NO_TIME_MIDNIGHT} in ", read_zones,
                " (calling_hours in the mapping would send the start of calling hours instead)",
            )  # fmt: skip
            warnings = pc.if_else(pa.array(bare), said, warnings)
        return Guarded(values, warnings, errors)
    window = f"{hours[0].strftime('%H:%M')}-{hours[1].strftime('%H:%M')}"
    seconds = _seconds(values)
    out_values = values
    key = join_text(read_zones, "|", zones)
    encoded = pc.dictionary_encode(pc.if_else(pa.array(present), key, lit("")))
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    for i, group_key in enumerate(encoded.dictionary.to_pylist()):
        if not group_key:
            continue
        rows = np.flatnonzero(codes == i)
        read_zone, _, names = group_key.partition("|")
        group_zones = names.split(",")
        original = seconds[rows]
        bare = date_only[rows]
        start = original.copy()
        if bare.any():  # the date as written, at the opening of that day in the lead's zone
            days, _ = _local_days_and_times(original[bare], read_zone)
            start[bare] = np.min([_opening(days, z, hours[0]) for z in group_zones], axis=0)
        moved, stuck = _into_window(start, group_zones, hours)
        picks = pa.array(rows)
        changed = (moved != original) & ~stuck
        if changed.any():
            lead = group_zones[0]
            shown = _local(moved, lead, "%Y-%m-%d %H:%M %Z")
            for other in group_zones[1:]:  # the same instant on each of the number's clocks
                shown = join_text(shown, " / ", _local(moved, other, "%H:%M %Z"))
            utc = _local(moved, "UTC", "%H:%M UTC")
            was = _local(original, lead, "%H:%M %Z")
            where = (
                f" in {lead}"
                if len(group_zones) == 1
                else f" in {lead} (the number may be in any of {', '.join(group_zones)})"
            )
            q = pc.take(quoted, picks)
            opened = f", the start of calling hours {window}{where}"
            outside = f"{where}, {OUTSIDE_HOURS} {window}, moved to "
            told = pc.if_else(
                pa.array(bare),
                join_text(q, f" {NO_TIME_OPENING} ", shown, opened),
                join_text(q, " is ", was, outside, shown, " (", utc, ")"),
            )
            mask = np.zeros(n, dtype=bool)
            mask[rows[changed]] = True
            warnings = pc.replace_with_mask(
                warnings, pa.array(mask), pc.filter(told, pa.array(changed))
            )
            out_values = pc.replace_with_mask(out_values, pa.array(mask), _format(moved[changed]))
        if stuck.any():
            mask = np.zeros(n, dtype=bool)
            mask[rows[stuck]] = True
            said = (
                f" cannot be called: no time is inside calling hours {window} in every zone "
                f"of the number ({', '.join(group_zones)}); widen calling_hours"
            )
            errors = pc.if_else(pa.array(mask), join_text(quoted, said), errors)
            out_values = pc.if_else(pa.array(mask), lit(""), out_values)
    return Guarded(out_values, warnings, errors)
