"""Dates and times to Trackdrive's ``YYYY-MM-DD HH:MM:SS +0000``, a whole column at a time.

Each distinct cell is matched against a few layouts (ISO 8601, 7/23/2021, Jul 23 2021,
23 Jul 2021, each with an optional time and offset) by pyarrow's RE2 kernels, and the
calendar arithmetic runs in numpy. This module does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.clean._columns import (
    TEXT_TYPE,
    Memo,
    Normalized,
    by_distinct,
    empty_texts,
    finish,
    join_text,
    lit,
    matches,
    quoted_text,
    text_array,
    to_mask,
    warn_where,
)
from importer.clean._warnings import CELL_SEPARATOR, DST_GAP, DST_TWICE, TWO_DIGIT_YEAR

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,? )?"
_ORDINAL = r"(?:st|nd|rd|th)?"
_US_ZONES = r"[ecmp][sd]t|ak[sd]t|hst"
# Optional time after the date: "T14:26:43.123-05:00", " 2:26 PM", ", 2:26 pm EST", " at 14:26".
_CLOCK = (
    r"(?:(?:t|,? (?:at )?)(?P<H>\d{1,2})"
    r"(?::(?P<Mi>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?)?"
    r" ?(?P<P>[ap]\.?m\.?)?"
    rf"(?: ?(?P<Z>z|utc|gmt|(?:utc|gmt)? ?[+-]\d{{1,2}}(?::?\d{{2}})?|{_US_ZONES}))?)?$"
)
# Each layout's date, tried in this order on what the earlier ones did not match. Group
# names: Y year, Mo month number, N month name, D day, A/B day and month in date_order.
_DATES = (
    r"(?i)^(?P<Y>\d{4})[-/.](?P<Mo>\d{1,2})[-/.](?P<D>\d{1,2})",  # ISO 8601, Excel
    r"(?i)^(?P<A>\d{1,2})[-/.](?P<B>\d{1,2})[-/.](?P<Y>\d{4}|\d{2})",  # 7/23/2021
    rf"(?i)^{_WEEKDAY}(?P<N>{_MONTHS})\.?[ -](?P<D>\d{{1,2}}){_ORDINAL},?[ -](?P<Y>\d{{4}})",
    # 23 Jul 2021, 23-Jul-21, Fri, 23 Jul 2021 14:26:43 +0000
    rf"(?i)^{_WEEKDAY}(?P<D>\d{{1,2}}){_ORDINAL}[ -](?P<N>{_MONTHS})\.?,?[ -]"
    r"(?P<Y>\d{4}|\d{2})",
)
_LAYOUTS = tuple(date + _CLOCK for date in _DATES)
# The same dates with nothing after them: a cell that gives a day but no time of day.
_DATE_ONLY = "(?i)" + "|".join(
    "(?:" + re.sub(r"\(\?P<\w+>", "(?:", date.removeprefix("(?i)")) + "$)" for date in _DATES
)
_MONTH_NAMES = pa.array(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], TEXT_TYPE
)
# US abbreviations only: the product serves US call centres, and "CST" elsewhere would be
# China or Cuba. Anything else must be written as an offset.
_US_OFFSETS = {
    "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6,
    "pst": -8, "pdt": -7, "akst": -9, "akdt": -8, "hst": -10,
}  # fmt: skip
_OFFSET = re.compile(r"(?:utc|gmt)? ?(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?")
_DATE_ORDERS = ("MDY", "DMY")
_TIME_HELP = "is not a date/time I can read; write it as YYYY-MM-DD HH:MM"


def _offset_seconds(zone: str) -> int | None:
    zone = zone.lower()
    if zone in ("z", "utc", "gmt"):
        return 0
    if zone in _US_OFFSETS:
        return _US_OFFSETS[zone] * 3600
    match = _OFFSET.fullmatch(zone)
    if match is None or int(match["h"]) > 14 or int(match["m"] or 0) > 59:
        return None
    seconds = int(match["h"]) * 3600 + int(match["m"] or 0) * 60
    return -seconds if match["sign"] == "-" else seconds


def _numbers(field: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """An extracted digit group as int64, and whether it was present."""
    present = pc.not_equal(field, lit(""))
    values = pc.cast(pc.if_else(present, field, lit("0")), pa.int64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64), to_mask(present)


@dataclass(frozen=True, slots=True)
class _Clock:
    """Wall-clock instants (seconds since 1970, as if UTC) parsed from one layout."""

    seconds: np.ndarray
    ok: np.ndarray
    offset: np.ndarray  # seconds east of UTC, for the cells that wrote one
    aware: np.ndarray
    short_year: np.ndarray  # the cells that wrote a two-digit year
    year: np.ndarray  # the year each was read as


def _wall_clock(parts: pa.Array, month: np.ndarray, day: np.ndarray) -> _Clock:
    year, _ = _numbers(pc.struct_field(parts, "Y"))
    short_year = to_mask(pc.equal(pc.utf8_length(pc.struct_field(parts, "Y")), 2))
    # strptime's %y pivot: 69-99 are 1900s, 00-68 are 2000s.
    year = np.where(short_year, np.where(year < 69, 2000 + year, 1900 + year), year)
    hour, has_hour = _numbers(pc.struct_field(parts, "H"))
    minute, has_minute = _numbers(pc.struct_field(parts, "Mi"))
    second, _ = _numbers(pc.struct_field(parts, "S"))
    meridiem = pc.utf8_lower(pc.utf8_slice_codeunits(pc.struct_field(parts, "P"), 0, 1))
    has_meridiem = to_mask(pc.not_equal(meridiem, lit("")))
    pm = to_mask(pc.equal(meridiem, lit("p")))

    ok = (year >= 1900) & (year <= 2199) & (month >= 1) & (month <= 12) & (day >= 1)
    ok &= ~has_hour | has_minute | has_meridiem  # "2021-07-23 14" is not a time
    ok &= ~has_meridiem | ((hour >= 1) & (hour <= 12))
    hour = np.where(has_meridiem, hour % 12 + 12 * pm, hour)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    first = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    date = first.astype("datetime64[D]") + np.where(ok, day - 1, 0)
    ok &= date.astype("datetime64[M]") == first  # 31 June, 29 February 2025
    seconds = date.astype(np.int64) * 86400 + hour * 3600 + minute * 60 + second

    zone = pc.struct_field(parts, "Z")
    aware = to_mask(pc.not_equal(zone, lit("")))
    offset = np.zeros(len(parts), dtype=np.int64)
    if aware.any():
        distinct = pc.unique(pc.filter(zone, pa.array(aware)))
        found = [_offset_seconds(z) for z in distinct.to_pylist()]
        at = np.asarray(pc.fill_null(pc.index_in(zone, distinct), 0).to_numpy(zero_copy_only=False))
        lookup = np.array([0 if f is None else f for f in found], dtype=np.int64)
        bad = np.array([f is None for f in found], dtype=bool)
        offset[aware] = lookup[at[aware]]
        ok &= ~(aware & bad[at])
    return _Clock(seconds, ok, offset, aware, short_year, year)


def _clocks(parts: pa.Array, layout: int, date_order: str) -> tuple[_Clock, _Clock | None]:
    """The layout's clock, and for day/month layouts the clock read in the other order."""
    if layout == 0:
        month, _ = _numbers(pc.struct_field(parts, "Mo"))
        day, _ = _numbers(pc.struct_field(parts, "D"))
        return _wall_clock(parts, month, day), None
    if layout == 1:
        a, _ = _numbers(pc.struct_field(parts, "A"))
        b, _ = _numbers(pc.struct_field(parts, "B"))
        month, day = (a, b) if date_order == "MDY" else (b, a)
        return _wall_clock(parts, month, day), _wall_clock(parts, day, month)
    name = pc.utf8_lower(pc.utf8_slice_codeunits(pc.struct_field(parts, "N"), 0, 3))
    at = pc.fill_null(pc.index_in(name, _MONTH_NAMES), -1)
    month = np.asarray(at.to_numpy(zero_copy_only=False), dtype=np.int64) + 1
    day, _ = _numbers(pc.struct_field(parts, "D"))
    return _wall_clock(parts, month, day), None


def zone_exists(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_time_settings(timezone: str, date_order: str) -> None:
    if date_order not in _DATE_ORDERS:
        raise ValueError(f"unknown date order {date_order!r}; use MDY or DMY")
    if not zone_exists(timezone):
        raise ValueError(
            f"unknown time zone {timezone!r}; use an IANA name such as America/New_York"
        )


@dataclass(frozen=True, slots=True)
class _Read:
    """Distinct cells read as UTC instants, with what could not be read and what was changed."""

    seconds: np.ndarray
    ok: np.ndarray
    errors: pa.Array
    warnings: pa.Array


def _tidy(distinct: pa.Array) -> pa.Array:
    text = pc.utf8_trim_whitespace(distinct)
    spaced = matches(text, r"\s\s|[^\S ]")  # tabs, non-breaking or doubled spaces: rare
    if spaced.any():
        tidy = pc.replace_substring_regex(text, r"\s+", " ")
        text = pc.if_else(pa.array(spaced), tidy, text)
    return text


def _parse_times(distinct: pa.Array, timezone: str, date_order: str) -> _Read:
    """Distinct cells to UTC seconds, errors and warnings."""
    n = len(distinct)
    text = _tidy(distinct)
    seconds = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    naive = np.zeros(n, dtype=bool)
    other_order = np.zeros(n, dtype=bool)
    short_year = np.zeros(n, dtype=bool)
    year = np.zeros(n, dtype=np.int64)
    pending = np.flatnonzero(to_mask(pc.not_equal(text, lit(""))))
    for layout, pattern in enumerate(_LAYOUTS):
        if not len(pending):
            break
        parts = pc.extract_regex(pc.take(text, pa.array(pending)), pattern)
        matched = to_mask(pc.is_valid(parts))
        rows = pending[matched]
        clock, swapped = _clocks(pc.filter(parts, pa.array(matched)), layout, date_order)
        seconds[rows] = clock.seconds - clock.offset
        ok[rows] = clock.ok
        naive[rows] = ~clock.aware
        short_year[rows] = clock.short_year
        year[rows] = clock.year
        if swapped is not None:
            other_order[rows] = ~clock.ok & swapped.ok
        pending = pending[~matched]

    # Messages are built for the cells they are about only: most cells read fine.
    warnings = empty_texts(n)
    if short_year.any():
        said = join_text(
            quoted_text(pc.filter(text, pa.array(short_year))),
            f" {TWO_DIGIT_YEAR}, read as ",
            _decimal(year[short_year]),
        )
        warnings = pc.replace_with_mask(warnings, pa.array(short_year), said)
    local = np.flatnonzero(ok & naive)
    if len(local):
        warnings = _localize(seconds, local, timezone, text, warnings)
    errors = empty_texts(n)
    if not ok.all():
        failed = pa.array(~ok)
        message = join_text(quoted_text(pc.filter(text, failed)), " " + _TIME_HELP)
        if other_order.any():
            first, second = ("month", "day") if date_order == "MDY" else ("day", "month")
            hint = (
                f" (read as {first}/{second}/year because date_order is {date_order}; "
                f"set date_order: {'DMY' if date_order == 'MDY' else 'MDY'} if the file writes the "
                f"{second} first)"
            )
            message = pc.if_else(pa.array(other_order[~ok]), join_text(message, hint), message)
        errors = pc.replace_with_mask(errors, failed, message)
    return _Read(seconds, ok, errors, warnings)


def _decimal(numbers: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(numbers, pa.int64()), TEXT_TYPE)


def _localize(
    seconds: np.ndarray, local: np.ndarray, timezone: str, text: pa.Array, warnings: pa.Array
) -> pa.Array:
    """Read the wall-clock times at ``local`` in ``timezone`` (in place in ``seconds``) and
    add a warning where the wall clock does not name one instant."""
    # A wall-clock time that does not exist (02:30 on the spring-forward night) moves to
    # the first one that does (03:00); one that happens twice (01:30 on the fall-back
    # night) is the earlier instant, daylight time (ambiguous=True), so a callback is
    # never late. Both are said in a warning: the file did not name one instant.
    wall = pd.DatetimeIndex(seconds[local].astype("datetime64[s]"))
    every = np.ones(len(local), dtype=bool)
    stamps = wall.tz_localize(timezone, ambiguous=every, nonexistent="shift_forward")
    later = wall.tz_localize(timezone, ambiguous=~every, nonexistent="shift_forward")
    instants = stamps.tz_convert("UTC").as_unit("s").asi8
    moved = stamps.tz_localize(None).as_unit("s").asi8 != seconds[local]
    twice = (later.tz_convert("UTC").as_unit("s").asi8 != instants) & ~moved
    seconds[local] = instants
    if not (moved.any() or twice.any()):
        return warnings
    said: list[str | None] = [None] * len(seconds)
    told = moved | twice
    for at, stamp, gap in zip(local[told], stamps[told], moved[told], strict=True):
        if gap:  # a handful of cells at most: per value is fine
            said[at] = (
                f" does not exist in {timezone} ({DST_GAP}), "
                f"read as {stamp.strftime('%H:%M %Z')}, the first time after the gap"
            )
        else:
            utc = stamp.tz_convert("UTC").strftime("%H:%M UTC")
            said[at] = (
                f" happens twice in {timezone} ({DST_TWICE}), read as the "
                f"earlier, {stamp.strftime('%H:%M %Z')} ({utc})"
            )
    found = pa.array(said, TEXT_TYPE)
    where = pc.is_valid(found)
    told = join_text(quoted_text(pc.filter(text, where)), pc.filter(found, where))
    before = pc.filter(warnings, where)
    both = pc.if_else(pc.equal(before, lit("")), told, join_text(before, CELL_SEPARATOR, told))
    return pc.replace_with_mask(warnings, where, both)


def _format_seconds(seconds: np.ndarray) -> pa.Array:
    stamps = pc.cast(pa.array(seconds.astype("datetime64[s]")), TEXT_TYPE)
    return join_text(stamps, " +0000")


def normalize_times(
    s: pd.Series, timezone: str, date_order: str = "MDY", memo: Memo | None = None
) -> Normalized:
    """Dates and times to ``YYYY-MM-DD HH:MM:SS +0000`` (UTC); times written without an
    offset are wall-clock times in ``timezone``.

    Warnings: a two-digit year, a wall-clock time that does not exist in ``timezone`` or
    that happens twice there (the nights the clocks change). A ``memo`` kept across the
    chunks of one column (same zone and date order) reads each distinct value once."""
    _check_time_settings(timezone, date_order)

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        read = _parse_times(distinct, timezone, date_order)
        text = pc.utf8_trim_whitespace(distinct)
        values, errors = finish(
            text, read.ok, _format_seconds(np.where(read.ok, read.seconds, 0)), read.errors
        )
        return values, errors, warn_where(read.ok, read.warnings)

    return by_distinct(s, parse, memo)


def dates_without_time(s: pd.Series) -> np.ndarray:
    """Which cells of ``s`` give a date but no time of day (``2026-12-13``, ``12/13/26``)."""
    encoded = pc.dictionary_encode(text_array(s))  # as by_distinct: per distinct cell
    return matches(_tidy(encoded.dictionary), _DATE_ONLY)[encoded.indices.to_numpy()]


def parse_time(text: str, timezone: str, date_order: str = "MDY") -> datetime:
    """One date/time (e.g. where reschedule moves leads to) as an aware datetime in UTC.

    Raises ValueError if it cannot be read."""
    _check_time_settings(timezone, date_order)
    read = _parse_times(pa.array([text], TEXT_TYPE), timezone, date_order)
    if not read.ok[0]:
        raise ValueError(read.errors[0].as_py())
    return datetime.fromtimestamp(int(read.seconds[0]), UTC)


def format_time(dt: datetime) -> str:
    """An aware datetime as Trackdrive's ``YYYY-MM-DD HH:MM:SS +0000`` in UTC."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{dt.isoformat()} has no time zone; attach one before formatting")
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


# The forms people type for "when" (reschedule's time): a day word and a time of day.
# Written by hand: dateparser and friends resolve "tomorrow" in one zone only and guess
# at anything; here "tomorrow 9am" must mean 9 a.m. tomorrow in each lead's own zone, and
# what is not one of these forms must be refused, never guessed.
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WHEN = re.compile(
    r"(?:(?P<day>today|tomorrow|" + "|".join(d for d in _WEEKDAYS) + r"|"
    + "|".join(d[:3] for d in _WEEKDAYS) + r")\s+)?(?:at\s+)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<half>[ap]\.?m\.?)?",
    re.IGNORECASE,
)  # fmt: skip
WHEN_FORMS = "tomorrow 9am, today 17:30, monday 9:00, 9am, or YYYY-MM-DD HH:MM"


def parse_when(
    text: str, timezone: str, date_order: str = "MDY", now: datetime | None = None
) -> datetime:
    """A time as people type it, read in ``timezone``, as an aware datetime in UTC.

    Besides every form ``parse_time`` reads: ``tomorrow 9am``, ``today 17:30``,
    ``monday 9:00`` (the next Monday whose 9:00 is still ahead), ``9am`` (the next 9 a.m.),
    all relative to ``now`` in ``timezone``. Raises ValueError naming the forms.
    """
    match = _WHEN.fullmatch(text.strip())
    if match is None:
        try:
            return parse_time(text, timezone, date_order)
        except ValueError:
            problem = f"{text.strip()!r} is not a time I can read; write e.g. {WHEN_FORMS}"
            raise ValueError(problem) from None
    _check_time_settings(timezone, date_order)
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    half = (match["half"] or "").replace(".", "").lower()
    if minute > 59 or hour > (12 if half else 23) or (half and hour == 0):
        raise ValueError(f"{text.strip()!r} is not a time of day; write e.g. {WHEN_FORMS}")
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    zone = ZoneInfo(timezone)
    today = (now or datetime.now(UTC)).astimezone(zone)
    day = (match["day"] or "").lower()

    def at(offset: int) -> datetime:
        date = today.date() + timedelta(days=offset)
        return datetime(date.year, date.month, date.day, hour, minute, tzinfo=zone)

    if day == "today":
        moment = at(0)
    elif day == "tomorrow":
        moment = at(1)
    elif day:
        weekday = next(i for i, name in enumerate(_WEEKDAYS) if name.startswith(day))
        ahead = (weekday - today.weekday()) % 7
        moment = at(ahead) if at(ahead) > today else at(ahead + 7)
    else:
        moment = at(0) if at(0) > today else at(1)
    return moment.astimezone(UTC)
