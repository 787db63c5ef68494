"""Phone numbers to E.164, a whole column at a time, and the time zone a number rings in.

The common North American layouts go through a vectorized fast path (RE2 over the distinct
cells, validated against phonenumbers' own metadata), which accepts the numbers
phonenumbers accepts and refuses, with the message the per-value path would write, those
it refuses (a bought list full of unassigned area codes is no slower than a clean one);
phonenumbers is called one value at a time only for the rest, so that its verdict and
wording stay the single source of truth. This module does no I/O.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import timezone as phone_zones
from phonenumbers import tzdata as phone_zone_data

from importer.clean._columns import (
    TEXT_TYPE,
    Normalized,
    by_distinct,
    empty_texts,
    finish,
    join_text,
    lit,
    matches,
    quote_text,
    quoted_text,
    to_mask,
    warn_where,
)
from importer.clean._times import zone_exists
from importer.clean._warnings import IDD_00

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
# What exports put before a plain number: Meta's lead downloads write "p:+12125550142", a
# tel: link is "tel:+1-212-555-0142", and a leading apostrophe is how a spreadsheet was
# told to keep "'2125550142" as text. None of them is part of the number.
_CELL_PREFIX = r"^(?:'|(?i:p|tel):)\s*"

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
    return matches(numbers, region.general) & matches(numbers, region.types)


@functools.cache
def _nanp_leading() -> str:
    """One RE2 alternation of every region's leading digits, in walk order: the group that
    matches names the first region whose leading digits a number starts with."""
    groups = [
        f"(?P<r{i}>{region.leading.removeprefix('^')})"
        for i, region in enumerate(_nanp_regions())
        if region.leading is not None
    ]
    return "^(?:" + "|".join(groups) + ")"


def _nanp_valid(numbers: pa.Array) -> np.ndarray:
    """Which 10-digit national numbers (null: not a candidate) phonenumbers deems valid."""
    valid = np.zeros(len(numbers), dtype=bool)
    pending = np.flatnonzero(to_mask(pc.is_valid(numbers)))
    first_leading: np.ndarray | None = None  # per number: see _nanp_leading (-1: none)
    for i, region in enumerate(_nanp_regions()):
        if not len(pending):
            break
        subset = pc.take(numbers, pa.array(pending))
        if region.leading is not None:
            if first_leading is None:  # one pass for all regions instead of one each
                first_leading = np.full(len(numbers), -1)
                found = pc.extract_regex(subset, _nanp_leading())
                for field in reversed(found.type):
                    starts = to_mask(pc.not_equal(pc.struct_field(found, field.name), ""))
                    first_leading[pending[starts]] = int(field.name[1:])
            claimed = first_leading[pending] == i
            if claimed.any():
                fits = _nanp_fits(pc.filter(subset, pa.array(claimed)), region)
                valid[pending[claimed]] = fits
        else:
            claimed = _nanp_fits(subset, region)
            valid[pending[claimed]] = True
        pending = pending[~claimed]
    return valid


_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+")
# A number cell with a fraction (8004506787.5): a sum or an average landed in the phone
# column, or the cell was typed wrong; dropping the fraction would be a guess.
_FRACTION = re.compile(r"\d{7,}[.,]\d*[1-9]\d*")
_FRACTION_RE2 = f"^(?:{_FRACTION.pattern})$"  # its fullmatch, for whole columns
# 00 is the international prefix in most of the world (011 in North America). A North
# American number never starts with 0, so for those regions 0044… can only mean +44….
_IDD_00 = re.compile(r"\s*00(?=[\s.-]*[1-9])")
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


def _phone_slow(text: str, shown: str, region: str) -> tuple[str, str, str]:
    """One phone that the fast path did not accept: (E.164, "", warning) or ("", message, "")."""
    quoted = quote_text(shown)
    if _SCIENTIFIC.fullmatch(text):
        return (
            "",
            f"{quoted} is in scientific notation: digits were lost; format the column as text",
            "",
        )
    if _FRACTION.fullmatch(text):
        return "", f"{quoted} is a number with a fraction, not a phone number; check the cell", ""
    # Patterns here are linear in the cell's length (no nested repeats), so a pasted
    # paragraph cannot stall the run.
    match = _EXTENSION.search(text)
    if match and _DIGIT.search(text[: match.start()]) and not _LETTER.search(text[: match.start()]):
        return (
            "",
            f"{quoted} has an extension and Trackdrive cannot dial one; keep only the main number",
            "",
        )
    parts = _SEPARATORS.split(text)
    if sum(len(_DIGIT.findall(part)) >= 7 for part in parts) >= 2:
        return "", f"{quoted} holds more than one phone number; keep one number per cell", ""
    if _LETTER.search(text):
        return "", f"{quoted} contains letters; write the phone number in digits", ""
    calling_code = phonenumbers.country_code_for_region(region)
    warning = ""
    if calling_code == 1 and (idd := _IDD_00.match(text)):
        text = "+" + text[idd.end() :]
        # North America dials 011 abroad, so a 00 here is a guess worth saying.
        warning = IDD_00
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return "", f"{quoted} has an unknown country code", ""
        reason = {
            phonenumbers.NumberParseException.TOO_SHORT_NSN: ": too few digits",
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: ": too few digits",
            phonenumbers.NumberParseException.TOO_LONG: ": too many digits",
        }.get(exc.error_type)
        if reason is None:
            return "", f"{quoted} is not a phone number", ""
        return "", f"{quoted} is not a valid phone number for region {region}{reason}", ""
    if number.extension:
        return (
            "",
            f"{quoted} has an extension and Trackdrive cannot dial one; keep only the main number",
            "",
        )
    if phonenumbers.is_valid_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return e164, "", f"{quoted} {warning} ({e164})" if warning else ""
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
    return "", f"{quoted} is not a valid phone number for {where}{reason}", ""


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

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        shown = pc.utf8_trim_whitespace(distinct)
        text = pc.replace_substring_regex(shown, _CELL_PREFIX, "")
        text = pc.replace_substring_regex(text, _EXCEL_FLOAT, r"\1")
        parts = pc.extract_regex(text, fast)
        national = pc.if_else(
            pc.is_valid(parts),
            join_text(*(pc.struct_field(parts, f) for f in ("area", "area2", "exchange", "line"))),
            pa.scalar(None, TEXT_TYPE),
        )
        ok = _nanp_valid(national)
        values = pc.if_else(pa.array(ok), join_text("+1", pc.fill_null(national, lit(""))), lit(""))
        errors = empty_texts(len(distinct))
        warnings = empty_texts(len(distinct))
        # A well-formed +1 number that phonenumbers refuses: _phone_slow would find no
        # letters, separators or extension in it, parse the same 10 digits with country code
        # 1 (always of a possible length), and refuse it with this message; written here
        # for the whole column. A cell like 1212555.0123 still goes one by one, since
        # _phone_slow calls it a fraction. tests/test_phone_fast_path.py checks they agree.
        refused = to_mask(pc.is_valid(national)) & ~ok & ~matches(text, _FRACTION_RE2)
        if refused.any():
            scope = f"region {region}" if fast is _NANP_FAST else "country code +1"
            mask = pa.array(refused)
            messages = join_text(
                quoted_text(pc.filter(shown, mask)), f" is not a valid phone number for {scope}"
            )
            errors = pc.replace_with_mask(errors, mask, messages)
        slow = np.flatnonzero(~ok & ~refused & ~to_mask(pc.equal(text, lit(""))))
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
                values, pa.array(where), pa.array([v for v, _, _ in results], TEXT_TYPE)
            )
            errors = pc.replace_with_mask(
                errors, pa.array(where), pa.array([e for _, e, _ in results], TEXT_TYPE)
            )
            warnings = pc.replace_with_mask(
                warnings, pa.array(where), pa.array([w for _, _, w in results], TEXT_TYPE)
            )
            ok[slow] = [not e for _, e, _ in results]
        return *finish(text, ok, values, errors), warn_where(ok, warnings)

    return by_distinct(s, parse)


@functools.lru_cache(maxsize=4096)
def number_zones(e164: str) -> tuple[str, ...]:
    """Every IANA zone a phone number may ring in (an area code can span two); () for a
    number of no zone of its own (toll-free, non-geographic, unknown)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    if number_type(number) in _NON_GEOGRAPHIC:
        return ()
    zones = _zones_of(number)
    return tuple(z for z in zones if zone_exists(z))


@functools.cache
def _refined_areas() -> pa.Array:
    """The +1 area codes ("1208") whose zone depends on the exchange as well."""
    keys = {k[:4] for k in phone_zone_data.TIMEZONE_DATA if k.startswith("1") and len(k) > 4}
    return pa.array(sorted(keys), TEXT_TYPE)


def zones_by_number(phones: pa.Array) -> pa.Array:
    """Each E.164 number's zones as "A,B" ("" for none, see ``number_zones``).

    phonenumbers is asked once per distinct zone prefix, not once per number: a +1 number's
    zone is its area code's (or, where phonenumbers' table splits an area code, its area
    code and exchange's), so a list of 200,000 different numbers costs a few dozen lookups.
    """
    text = pc.cast(phones, TEXT_TYPE)
    nanp = to_mask(pc.and_(pc.starts_with(text, "+1"), pc.equal(pc.utf8_length(text), 12)))
    area = pc.utf8_slice_codeunits(text, 1, 5)
    refined = pc.is_in(area, value_set=_refined_areas())
    prefix = pc.if_else(
        refined, pc.utf8_slice_codeunits(text, 0, 8), pc.utf8_slice_codeunits(text, 0, 5)
    )
    key = pc.if_else(pa.array(nanp), prefix, text)
    encoded = pc.dictionary_encode(key)
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    _, first = np.unique(codes, return_index=True)
    numbers = pc.take(text, pa.array(first)).to_pylist()
    names = [",".join(number_zones(p)) if p else "" for p in numbers]
    return pc.take(pa.array(names, TEXT_TYPE), encoded.indices)


def _zones_of(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    """phonenumbers' zones of ``number``, sorted, without its 'unknown' marker."""
    return tuple(
        sorted(
            z
            for z in phone_zones.time_zones_for_number(number)
            if z != phone_zones.UNKNOWN_TIMEZONE
        )
    )


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
    if number_type(number) in _NON_GEOGRAPHIC:
        return None
    return _westernmost(_zones_of(number), datetime.now(UTC).year)


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

    known = [z for z in zones if zone_exists(z)]
    return min(known, key=lambda z: (offset(z), z)) if known else None
