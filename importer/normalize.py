"""Turn spreadsheet text into the values Trackdrive expects, a whole column at a time.

Every ``normalize_*`` function takes a column of text cells (a pandas Series indexed by the
spreadsheet row number, ``""`` for an empty cell) and returns :class:`Normalized`: two
Series with the same index, the normalized values and a message per invalid cell. Messages
quote the value but not the column; the caller prefixes the column name.

Speed: each column is reduced to its distinct values (``pd.factorize``) and those are
parsed with pyarrow's vectorized string kernels (RE2 regular expressions) and numpy.
phonenumbers is called one value at a time only for the phones the fast path does not
accept (other countries, rare layouts, and every invalid number, so that its verdict and
wording stay the single source of truth). This module does no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import timezone as phone_zones

__all__ = [
    "Normalized",
    "format_time",
    "normalize_booleans",
    "normalize_choices",
    "normalize_emails",
    "normalize_integers",
    "normalize_phones",
    "normalize_strings",
    "normalize_times",
    "parse_time",
    "phone_timezone",
    "snake_case",
]


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalized column: values and per-cell errors, both indexed like the input."""

    values: pd.Series  # normalized text; "" where the input was empty or invalid
    errors: pd.Series  # "" where fine (or empty); else a message quoting the value


# --- column plumbing ------------------------------------------------------------------------

# large_string everywhere: pandas' pyarrow-backed "str" columns use it, and pyarrow kernels
# refuse to mix string and large_string arguments.
_TEXT = pa.large_string()
_QUOTE_LIMIT = 80  # longer cells are cut in messages so one garbage cell cannot flood a log

_Parser = Callable[[pa.Array], tuple[pa.Array, pa.Array]]


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, _TEXT)


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(
        *[_lit(p) if isinstance(p, str) else p for p in parts], _lit("")
    )


def _quoted(text: pa.Array) -> pa.Array:
    short = pc.utf8_slice_codeunits(text, 0, _QUOTE_LIMIT)
    long = pc.greater(pc.utf8_length(text), _QUOTE_LIMIT)
    return _join("'", pc.if_else(long, _join(short, "…"), short), "'")


def _quote(text: str) -> str:
    return f"'{text[:_QUOTE_LIMIT]}…'" if len(text) > _QUOTE_LIMIT else f"'{text}'"


def _blank(n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, _TEXT), _lit(""))


def _mask(array: pa.Array) -> np.ndarray:
    """A boolean pyarrow array as a numpy mask, null counting as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    return _mask(pc.match_substring_regex(text, pattern))


def _series(array: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.array(array, dtype="str"), index=index, copy=False)


def _by_distinct(s: pd.Series, parse: _Parser) -> Normalized:
    """Run ``parse`` once per distinct cell value and spread the results back over ``s``."""
    if not isinstance(s.dtype, pd.StringDtype):
        s = s.astype("str")
    s = s.fillna("")
    codes, uniques = pd.factorize(s.array)
    distinct = pa.array(uniques)
    if isinstance(distinct, pa.ChunkedArray):  # what pandas hands over for an empty column
        distinct = distinct.combine_chunks()
    values, errors = parse(pc.cast(distinct, _TEXT))
    take = pa.array(codes)
    return Normalized(
        _series(pc.take(values, take), s.index), _series(pc.take(errors, take), s.index)
    )


def _finish(
    text: pa.Array, ok: np.ndarray, values: pa.Array, errors: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """Blank the value of every failed cell and the error of every good or empty cell."""
    empty = _mask(pc.equal(text, _lit("")))
    bad = ~ok & ~empty
    return (
        pc.if_else(pa.array(ok & ~empty), values, _lit("")),
        pc.if_else(pa.array(bad), errors, _lit("")),
    )


# --- phones ---------------------------------------------------------------------------------

# The common North American layouts: "(800) 450-6787", "800.450.6787", "1-800-450-6787",
# "+1 800 450 6787", "8004506787", "18004506787", "+18004506787". The area code starts with
# 2-9, so the national number is exactly the 10 digits captured (what phonenumbers would
# keep); whether it exists is decided by _nanp_valid, never by this pattern.
_NANP_BODY = (
    r"(?:\((?P<area>[2-9]\d\d)\)[ .-]?|(?P<area2>[2-9]\d\d)[ .-]?)"
    r"(?P<exchange>\d{3})[ .-]?(?P<line>\d{4})$"
)
_NANP_FAST = r"^(?:\+?1[ .-]?)?" + _NANP_BODY  # region is a NANP one: "+1"/"1" optional
_NANP_FAST_PLUS = r"^\+1[ .-]?" + _NANP_BODY  # any other region: only an explicit +1
_EXCEL_FLOAT = r"^(\+?\d+)\.0+$"  # a numeric Excel cell read back as text: 8004506787.0

# The order of phonenumbers' own _number_type_helper; a number is valid for a region when
# it fits the region's general pattern and any one of these.
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


@dataclass(frozen=True, slots=True)
class _NanpRegion:
    leading: str | None  # phonenumbers' leading_digits, anchored at the start
    general: str | None  # full-match pattern; None: the region has no 10-digit numbers
    types: str | None  # full-match union of the number-type patterns


def _ten_digit_pattern(desc: phonenumbers.PhoneNumberDesc | None) -> str | None:
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and 10 not in desc.possible_length:
        return None
    return desc.national_number_pattern


@functools.cache
def _nanp_regions() -> tuple[_NanpRegion, ...]:
    """The +1 regions' validation patterns, read from phonenumbers' own metadata.

    is_valid_number(+1 NNNNNNNNNN) walks these regions in this order: a region with
    leading digits claims the number if they match (valid if its patterns fit), a region
    without claims it only if its patterns fit. _nanp_valid replays that walk with RE2 over
    whole columns, so the fast path accepts exactly what phonenumbers accepts; the test
    suite checks the two agree.
    """
    regions = []
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(code, None)
        if meta is None:
            continue
        types = [p for name in _NUMBER_TYPES if (p := _ten_digit_pattern(getattr(meta, name)))]
        general = _ten_digit_pattern(meta.general_desc)
        regions.append(
            _NanpRegion(
                leading=f"^(?:{meta.leading_digits})" if meta.leading_digits else None,
                general=f"^(?:{general})$" if general and types else None,
                types="^(?:" + "|".join(f"(?:{p})" for p in types) + ")$" if types else None,
            )
        )
    return tuple(regions)


def _nanp_fits(numbers: pa.Array, region: _NanpRegion) -> np.ndarray:
    if region.general is None or region.types is None:
        return np.zeros(len(numbers), dtype=bool)
    return _matches(numbers, region.general) & _matches(numbers, region.types)


def _nanp_valid(numbers: pa.Array) -> np.ndarray:
    """Which 10-digit national numbers (null: not a candidate) phonenumbers deems valid."""
    valid = np.zeros(len(numbers), dtype=bool)
    pending = np.flatnonzero(_mask(pc.is_valid(numbers)))
    for region in _nanp_regions():
        if not len(pending):
            break
        subset = pc.take(numbers, pa.array(pending))
        if region.leading is not None:
            claimed = _matches(subset, region.leading)
            valid[pending[claimed]] = _nanp_fits(pc.filter(subset, pa.array(claimed)), region)
        else:
            claimed = _nanp_fits(subset, region)
            valid[pending[claimed]] = True
        pending = pending[~claimed]
    return valid


_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+")
# Trackdrive dials caller_id as written and has no field for an extension, and a number
# with an extension usually reaches a switchboard rather than the lead. Dropping the
# extension would silently call the wrong person, so such cells are refused instead.
_EXTENSION = re.compile(r"(?P<ext>(?:ext(?:ension)?|x|#)\.?:?\s*\d{1,7})$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[/,;|&\n]|\b(?:or|and)\b", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")

_LENGTH_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: ": too few digits",
    phonenumbers.ValidationResult.TOO_LONG: ": too many digits",
    phonenumbers.ValidationResult.INVALID_LENGTH: ": wrong number of digits",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: ": the area code is missing",
}


def _phone_slow(text: str, shown: str, region: str) -> tuple[str, str]:
    """One phone that the fast path did not accept: (E.164, "") or ("", message)."""
    quoted = _quote(shown)
    if _SCIENTIFIC.fullmatch(text):
        return (
            "",
            f"{quoted} is in scientific notation: digits were lost; format the column as text",
        )
    # Patterns here are linear in the cell's length (no nested repeats), so a pasted
    # paragraph cannot stall the run.
    match = _EXTENSION.search(text)
    if match and _DIGIT.search(text[: match.start()]) and not _LETTER.search(text[: match.start()]):
        return "", (
            f"{quoted} has an extension ({match['ext']}) and Trackdrive cannot dial one; "
            "keep only the main number"
        )
    parts = _SEPARATORS.split(text)
    if sum(len(_DIGIT.findall(part)) >= 7 for part in parts) >= 2:
        return "", f"{quoted} holds more than one phone number; keep one number per cell"
    if _LETTER.search(text):
        return "", f"{quoted} contains letters; write the phone number in digits"
    calling_code = phonenumbers.country_code_for_region(region)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return "", f"{quoted} has an unknown country code"
        reason = {
            phonenumbers.NumberParseException.TOO_SHORT_NSN: ": too few digits",
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: ": too few digits",
            phonenumbers.NumberParseException.TOO_LONG: ": too many digits",
        }.get(exc.error_type)
        if reason is None:
            return "", f"{quoted} is not a phone number"
        return "", f"{quoted} is not a valid phone number for region {region}{reason}"
    if number.extension:
        return "", (
            f"{quoted} has an extension ({number.extension}) and Trackdrive cannot dial one; "
            "keep only the main number"
        )
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""
    where = (
        f"region {region}"
        if number.country_code == calling_code
        else f"country code +{number.country_code}"
    )
    possible = phonenumbers.is_possible_number_with_reason(number)
    if (
        possible == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY
        and where != f"region {region}"
    ):
        possible = phonenumbers.ValidationResult.TOO_SHORT  # a country code but no area code
    reason = _LENGTH_REASONS.get(possible, "")
    return "", f"{quoted} is not a valid phone number for {where}{reason}"


def _check_region(region: str) -> str:
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown phone region {region!r}; use a two-letter country code such as US or CA"
        )
    return code


def normalize_phones(s: pd.Series, region: str) -> Normalized:
    """Phone numbers to E.164 (``+18004506787``), reading numbers without a country code
    as numbers of ``region``."""
    region = _check_region(region)
    fast = _NANP_FAST if phonenumbers.country_code_for_region(region) == 1 else _NANP_FAST_PLUS

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        shown = pc.utf8_trim_whitespace(distinct)
        text = pc.replace_substring_regex(shown, _EXCEL_FLOAT, r"\1")
        parts = pc.extract_regex(text, fast)
        national = pc.if_else(
            pc.is_valid(parts),
            _join(*(pc.struct_field(parts, f) for f in ("area", "area2", "exchange", "line"))),
            pa.scalar(None, _TEXT),
        )
        ok = _nanp_valid(national)
        values = pc.if_else(pa.array(ok), _join("+1", pc.fill_null(national, _lit(""))), _lit(""))
        errors = _blank(len(distinct))
        slow = np.flatnonzero(~ok & ~_mask(pc.equal(text, _lit(""))))
        if len(slow):
            picks = pa.array(slow)
            results = [
                _phone_slow(t, q, region)
                for t, q in zip(
                    pc.take(text, picks).to_pylist(), pc.take(shown, picks).to_pylist(), strict=True
                )
            ]
            where = np.zeros(len(distinct), dtype=bool)
            where[slow] = True
            values = pc.replace_with_mask(
                values, pa.array(where), pa.array([v for v, _ in results], _TEXT)
            )
            errors = pc.replace_with_mask(
                errors, pa.array(where), pa.array([e for _, e in results], _TEXT)
            )
            ok[slow] = [not e for _, e in results]
        return _finish(text, ok, values, errors)

    return _by_distinct(s, parse)


def phone_timezone(e164: str) -> str | None:
    """The IANA time zone of a phone number, the westernmost if it spans several; None if
    unknown.

    Westernmost means the lowest UTC offset, so a time meant as "09:30 local" is never
    earlier than 09:30 for anyone the number might reach. A non-geographic number (a +1
    800 toll-free number is listed in every NANP zone) has no local time: None, so the
    caller falls back to its default zone instead of Pago Pago's.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    zones = tuple(
        sorted(
            z
            for z in phone_zones.time_zones_for_number(number)
            if z != phone_zones.UNKNOWN_TIMEZONE
        )
    )
    if number_type(number) in _NON_GEOGRAPHIC:
        return None
    return _westernmost(zones, datetime.now(UTC).year)


_NON_GEOGRAPHIC = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
        phonenumbers.PhoneNumberType.UAN,
        phonenumbers.PhoneNumberType.VOIP,
    }
)


def number_type(number: phonenumbers.PhoneNumber) -> int:
    """phonenumbers' type of ``number`` (toll-free, mobile, …)."""
    return int(phonenumbers.number_type(number))


@functools.lru_cache(maxsize=1024)
def _westernmost(zones: tuple[str, ...], year: int) -> str | None:
    # Compare winter and summer offsets together: Phoenix (-7/-7) is west of Denver (-7/-6)
    # because its local time is never later.
    def offset(zone: str) -> float:
        info = ZoneInfo(zone)
        return sum(
            (datetime(year, month, 15, 12, tzinfo=info).utcoffset() or timedelta(0)).total_seconds()
            for month in (1, 7)
        )

    known = [z for z in zones if _zone_exists(z)]
    return min(known, key=lambda z: (offset(z), z)) if known else None


def _zone_exists(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# --- times ----------------------------------------------------------------------------------

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
# Each layout, tried in this order on what the earlier ones did not match. Group names:
# Y year, Mo month number, N month name, D day, A/B day and month in date_order.
_LAYOUTS = (
    r"(?i)^(?P<Y>\d{4})[-/.](?P<Mo>\d{1,2})[-/.](?P<D>\d{1,2})" + _CLOCK,  # ISO 8601, Excel
    r"(?i)^(?P<A>\d{1,2})[-/.](?P<B>\d{1,2})[-/.](?P<Y>\d{4}|\d{2})" + _CLOCK,  # 7/23/2021
    rf"(?i)^{_WEEKDAY}(?P<N>{_MONTHS})\.?[ -](?P<D>\d{{1,2}}){_ORDINAL},?[ -](?P<Y>\d{{4}})"
    + _CLOCK,  # Jul 23, 2021
    rf"(?i)^{_WEEKDAY}(?P<D>\d{{1,2}}){_ORDINAL}[ -](?P<N>{_MONTHS})\.?,?[ -](?P<Y>\d{{4}}|\d{{2}})"
    + _CLOCK,  # 23 Jul 2021, 23-Jul-21, Fri, 23 Jul 2021 14:26:43 +0000
)
_MONTH_NAMES = pa.array(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], _TEXT
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
    present = pc.not_equal(field, _lit(""))
    values = pc.cast(pc.if_else(present, field, _lit("0")), pa.int64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64), _mask(present)


@dataclass(frozen=True, slots=True)
class _Clock:
    """Wall-clock instants (seconds since 1970, as if UTC) parsed from one layout."""

    seconds: np.ndarray
    ok: np.ndarray
    offset: np.ndarray  # seconds east of UTC, for the cells that wrote one
    aware: np.ndarray


def _wall_clock(parts: pa.Array, month: np.ndarray, day: np.ndarray) -> _Clock:
    year, _ = _numbers(pc.struct_field(parts, "Y"))
    short_year = _mask(pc.equal(pc.utf8_length(pc.struct_field(parts, "Y")), 2))
    # strptime's %y pivot: 69-99 are 1900s, 00-68 are 2000s.
    year = np.where(short_year, np.where(year < 69, 2000 + year, 1900 + year), year)
    hour, has_hour = _numbers(pc.struct_field(parts, "H"))
    minute, has_minute = _numbers(pc.struct_field(parts, "Mi"))
    second, _ = _numbers(pc.struct_field(parts, "S"))
    meridiem = pc.utf8_lower(pc.utf8_slice_codeunits(pc.struct_field(parts, "P"), 0, 1))
    has_meridiem = _mask(pc.not_equal(meridiem, _lit("")))
    pm = _mask(pc.equal(meridiem, _lit("p")))

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
    aware = _mask(pc.not_equal(zone, _lit("")))
    offset = np.zeros(len(parts), dtype=np.int64)
    if aware.any():
        distinct = pc.unique(pc.filter(zone, pa.array(aware)))
        found = [_offset_seconds(z) for z in distinct.to_pylist()]
        at = np.asarray(pc.fill_null(pc.index_in(zone, distinct), 0).to_numpy(zero_copy_only=False))
        lookup = np.array([0 if f is None else f for f in found], dtype=np.int64)
        bad = np.array([f is None for f in found], dtype=bool)
        offset[aware] = lookup[at[aware]]
        ok &= ~(aware & bad[at])
    return _Clock(seconds, ok, offset, aware)


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


def _check_time_settings(timezone: str, date_order: str) -> None:
    if date_order not in _DATE_ORDERS:
        raise ValueError(f"unknown date order {date_order!r}; use MDY or DMY")
    if not _zone_exists(timezone):
        raise ValueError(
            f"unknown time zone {timezone!r}; use an IANA name such as America/New_York"
        )


def _parse_times(
    distinct: pa.Array, timezone: str, date_order: str
) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Distinct cells to (UTC seconds, ok, error messages)."""
    n = len(distinct)
    text = pc.utf8_trim_whitespace(distinct)
    spaced = _matches(text, r"\s\s|[^\S ]")  # tabs, non-breaking or doubled spaces: rare
    if spaced.any():
        tidy = pc.replace_substring_regex(text, r"\s+", " ")
        text = pc.if_else(pa.array(spaced), tidy, text)
    seconds = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    naive = np.zeros(n, dtype=bool)
    other_order = np.zeros(n, dtype=bool)
    pending = np.flatnonzero(_mask(pc.not_equal(text, _lit(""))))
    for layout, pattern in enumerate(_LAYOUTS):
        if not len(pending):
            break
        parts = pc.extract_regex(pc.take(text, pa.array(pending)), pattern)
        matched = _mask(pc.is_valid(parts))
        rows = pending[matched]
        clock, swapped = _clocks(pc.filter(parts, pa.array(matched)), layout, date_order)
        seconds[rows] = clock.seconds - clock.offset
        ok[rows] = clock.ok
        naive[rows] = ~clock.aware
        if swapped is not None:
            other_order[rows] = ~clock.ok & swapped.ok
        pending = pending[~matched]

    local = np.flatnonzero(ok & naive)
    if len(local):
        # A wall-clock time that does not exist (02:30 on the spring-forward night) moves to
        # the first one that does (03:00); one that happens twice (01:30 on the fall-back
        # night) is the earlier instant, daylight time (ambiguous=True), so a callback is
        # never late.
        stamps = pd.DatetimeIndex(seconds[local].astype("datetime64[s]")).tz_localize(
            timezone, ambiguous=np.ones(len(local), dtype=bool), nonexistent="shift_forward"
        )
        seconds[local] = stamps.tz_convert("UTC").as_unit("s").asi8
    message = _join(_quoted(text), " " + _TIME_HELP)
    if other_order.any():
        first, second = ("month", "day") if date_order == "MDY" else ("day", "month")
        hint = (
            f" (read as {first}/{second}/year because date_order is {date_order}; "
            f"set date_order: {'DMY' if date_order == 'MDY' else 'MDY'} if the file writes the "
            f"{second} first)"
        )
        message = pc.if_else(pa.array(other_order), _join(message, hint), message)
    return seconds, ok, message


def _format_seconds(seconds: np.ndarray) -> pa.Array:
    stamps = pc.cast(pa.array(seconds.astype("datetime64[s]")), _TEXT)
    return _join(stamps, " +0000")


def normalize_times(s: pd.Series, timezone: str, date_order: str = "MDY") -> Normalized:
    """Dates and times to ``YYYY-MM-DD HH:MM:SS +0000`` (UTC); times written without an
    offset are wall-clock times in ``timezone``."""
    _check_time_settings(timezone, date_order)

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        seconds, ok, errors = _parse_times(distinct, timezone, date_order)
        text = pc.utf8_trim_whitespace(distinct)
        return _finish(text, ok, _format_seconds(np.where(ok, seconds, 0)), errors)

    return _by_distinct(s, parse)


def parse_time(text: str, timezone: str, date_order: str = "MDY") -> datetime:
    """One date/time (e.g. ``reschedule --at``) as an aware datetime in UTC; ValueError if
    it cannot be read."""
    _check_time_settings(timezone, date_order)
    seconds, ok, errors = _parse_times(pa.array([text], _TEXT), timezone, date_order)
    if not ok[0]:
        raise ValueError(errors[0].as_py())
    return datetime.fromtimestamp(int(seconds[0]), UTC)


def format_time(dt: datetime) -> str:
    """An aware datetime as Trackdrive's ``YYYY-MM-DD HH:MM:SS +0000`` in UTC."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{dt.isoformat()} has no time zone; attach one before formatting")
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


# --- integers, booleans, emails, choices, strings ------------------------------------------

_INTEGER = r"^[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.0*)?$"  # 3, +3, -3, 3.0, 1,000


def normalize_integers(s: pd.Series) -> Normalized:
    """Whole numbers written as ``3``, ``3.0``, ``+3`` or ``1,000`` to ``3``/``1000``."""

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.utf8_trim_whitespace(distinct)
        ok = _matches(text, _INTEGER)
        digits = pc.replace_substring_regex(text, r"[+,]|\.0*$", "")
        digits = pc.replace_substring_regex(digits, r"^(-?)0+(\d)", r"\1\2")
        digits = pc.replace_substring_regex(digits, r"^-0$", "0")
        return _finish(text, ok, digits, _join(_quoted(text), " is not a whole number"))

    return _by_distinct(s, parse)


_TRUE = pa.array(["1", "1.0", "true", "yes", "on"], _TEXT)
_FALSE = pa.array(["0", "0.0", "false", "no", "off"], _TEXT)


def normalize_booleans(s: pd.Series) -> Normalized:
    """``1/true/yes/on`` to ``"true"`` and ``0/false/no/off`` to ``"false"``, in any case."""

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.utf8_trim_whitespace(distinct)
        word = pc.utf8_lower(text)
        true = _mask(pc.is_in(word, value_set=_TRUE))
        false = _mask(pc.is_in(word, value_set=_FALSE))
        values = pc.if_else(pa.array(true), _lit("true"), _lit("false"))
        message = _join(
            _quoted(text), " is not a yes/no value; write one of 1/true/yes/on or 0/false/no/off"
        )
        return _finish(text, true | false, values, message)

    return _by_distinct(s, parse)


# Hand-written rather than the email-validator package: that is not a dependency, checks
# deliverability over DNS by default, and goes one value at a time. This is the RFC 5322
# dot-atom syntax (no quoted local parts) over an ASCII or punycode host name, run by RE2
# over the whole column.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})$"


def normalize_emails(s: pd.Series) -> Normalized:
    """Email addresses, syntax-checked, with surrounding spaces removed and the domain in
    lower case."""

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.utf8_trim_whitespace(distinct)
        # A match, then a split at the one "@" it allows: RE2 without capture groups runs
        # as a DFA, some 20 times faster than extracting the parts.
        ok = _matches(text, _EMAIL)
        ok &= _mask(pc.less_equal(pc.utf8_length(text), 254))  # RFC 5321 limits
        parts = pc.split_pattern(pc.filter(text, pa.array(ok)), "@", max_splits=1)
        local, domain = pc.list_element(parts, 0), pc.list_element(parts, 1)
        fine = _mask(pc.less_equal(pc.utf8_length(local), 64))
        address = _join(local, "@", pc.utf8_lower(domain))
        values = pc.replace_with_mask(_blank(len(text)), pa.array(ok), address)
        ok[ok] = fine
        return _finish(text, ok, values, _join(_quoted(text), " is not a valid email address"))

    return _by_distinct(s, parse)


def normalize_choices(s: pd.Series, allowed: Sequence[str]) -> Normalized:
    """One of ``allowed``, matched ignoring case and surrounding spaces, written as in
    ``allowed``."""
    if not allowed:
        raise ValueError("normalize_choices needs at least one allowed value")
    canonical = pa.array(list(allowed), _TEXT)
    folded = pc.utf8_lower(canonical)
    message = " is not allowed; write " + (
        f"{allowed[0]}" if len(allowed) == 1 else "one of " + ", ".join(allowed)
    )

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.utf8_trim_whitespace(distinct)
        at = pc.index_in(pc.utf8_lower(text), value_set=folded)
        ok = _mask(pc.is_valid(at))
        values = pc.fill_null(pc.take(canonical, at), _lit(""))
        return _finish(text, ok, values, _join(_quoted(text), message))

    return _by_distinct(s, parse)


def normalize_strings(s: pd.Series) -> Normalized:
    """Text with surrounding whitespace removed; never an error."""

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        return pc.utf8_trim_whitespace(distinct), _blank(len(distinct))

    return _by_distinct(s, parse)


# --- headers --------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[\W_]+")


def snake_case(header: str) -> str:
    """A column header as a data-token key: ``"Loan Amount ($)"`` to ``"loan_amount"``.

    Accents are dropped (``Prénom`` to ``prenom``) when that leaves something; a header of
    only symbols gives ``""``.
    """
    text = _CAMEL.sub("_", header.replace("\ufeff", "").strip())
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    for candidate in (ascii_text, text):
        key = _NOT_WORD.sub("_", candidate).strip("_").lower()
        if key:
            return key
    return ""
