"""The column normalizers: one table row per real-world format, and properties checked
against phonenumbers and zoneinfo as independent oracles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from importer.clean import (
    Normalized,
    format_time,
    normalize_booleans,
    normalize_choices,
    normalize_emails,
    normalize_integers,
    normalize_phones,
    normalize_strings,
    normalize_times,
    parse_time,
    phone_timezone,
    snake_case,
)

NY = "America/New_York"


def one(normalized: Normalized) -> tuple[str, str]:
    """The value and error of a one-cell result."""
    assert len(normalized.values) == len(normalized.errors) == 1
    return normalized.values.iloc[0], normalized.errors.iloc[0]


def cell(text: str) -> pd.Series:
    return pd.Series([text], index=[2], dtype="str")


# --- phones ---------------------------------------------------------------------------------

SCIENTIFIC = "is in scientific notation: digits were lost; format the column as text"
EXTENSION = "and Trackdrive cannot dial one; keep only the main number"
MULTIPLE = "holds more than one phone number; keep one number per cell"
FRACTION = "is a number with a fraction, not a phone number; check the cell"


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("(800) 450-6787", "US", "+18004506787"),
        ("800.450.6787", "US", "+18004506787"),
        ("1-800-450-6787", "US", "+18004506787"),
        ("+1 800 450 6787", "US", "+18004506787"),
        ("8004506787", "US", "+18004506787"),
        ("18004506787", "US", "+18004506787"),
        ("+18004506787", "US", "+18004506787"),
        ("8004506787.00", "US", "+18004506787"),  # a whole number, as a number cell reads
        ("0044 20 7946 0958", "US", "+442079460958"),  # a European list: 00 = +
        ("00 33 1 42 68 53 00", "CA", "+33142685300"),
        ("0044 20 7946 0958", "GB", "+442079460958"),  # phonenumbers knows GB's 00
        ("800-450-6787", "US", "+18004506787"),
        ("800 450 6787", "US", "+18004506787"),
        ("(800)450-6787", "US", "+18004506787"),
        ("+1 (800) 450-6787", "US", "+18004506787"),
        ("1 (719) 313-2645", "US", "+17193132645"),
        ("  (719) 313-2645\t", "US", "+17193132645"),  # padded cell
        ("8004506787.0", "US", "+18004506787"),  # Excel numeric cell read back as a float
        ("18004506787.0", "US", "+18004506787"),
        ("800\u00a0450\u00a06787", "US", "+18004506787"),  # non-breaking spaces (web copy)
        ("800\u2013450\u20136787", "US", "+18004506787"),  # en dashes (Word autocorrect)
        ("800/450-6787", "US", "+18004506787"),
        ("(201) 555-0123", "US", "+12015550123"),  # phonenumbers' own example number
        ("(416) 555-0123", "US", "+14165550123"),  # Canadian number in a US file
        ("(416) 555-0123", "CA", "+14165550123"),
        ("604-555-0199", "CA", "+16045550199"),
        ("+1 (268) 464-1234", "US", "+12684641234"),  # Antigua: NANP region with leading digits
        ("(787) 555-1234", "PR", "+17875551234"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("011 44 20 7946 0958", "US", "+442079460958"),  # US international prefix
        ("0044 20 7946 0958", "GB", "+442079460958"),  # European international prefix
        ("020 7946 0958", "GB", "+442079460958"),
        ("+1 800 450 6787", "GB", "+18004506787"),  # explicit +1 outside North America
        ("04 12 34 56 78", "FR", "+33412345678"),
        ("+52 55 1234 5678", "US", "+525512345678"),
    ],
)
def test_phone_formats(text: str, region: str, expected: str) -> None:
    assert one(normalize_phones(cell(text), region)) == (expected, "")


@pytest.mark.parametrize(
    ("text", "region", "error"),
    [
        ("8.00451E+09", "US", f"'8.00451E+09' {SCIENTIFIC}"),
        ("8.004506787e9", "US", f"'8.004506787e9' {SCIENTIFIC}"),
        ("8,00451E+09", "US", f"'8,00451E+09' {SCIENTIFIC}"),  # a European Excel
        ("8004506787.5", "US", f"'8004506787.5' {FRACTION}"),  # an average, say
        ("8004506787,25", "US", f"'8004506787,25' {FRACTION}"),
        (
            "1-800-FLOWERS",
            "US",
            "'1-800-FLOWERS' contains letters; write the phone number in digits",
        ),
        ("N/A", "US", "'N/A' contains letters; write the phone number in digits"),
        (
            "call 800-450-6787",
            "US",
            "'call 800-450-6787' contains letters; write the phone number in digits",
        ),
        (
            "800-450-6787 / 719-313-2645",
            "US",
            f"'800-450-6787 / 719-313-2645' {MULTIPLE}",
        ),
        (
            "800-450-6787, 719-313-2645",
            "US",
            f"'800-450-6787, 719-313-2645' {MULTIPLE}",
        ),
        (
            "800-450-6787 or 719-313-2645",
            "US",
            f"'800-450-6787 or 719-313-2645' {MULTIPLE}",
        ),
        ("800-450-6787 x12", "US", f"'800-450-6787 x12' has an extension {EXTENSION}"),
        ("800-450-6787x12", "US", f"'800-450-6787x12' has an extension {EXTENSION}"),
        (
            "800-450-6787 ext. 12",
            "US",
            f"'800-450-6787 ext. 12' has an extension {EXTENSION}",
        ),
        (
            "(800) 450-6787 EXT 12",
            "US",
            f"'(800) 450-6787 EXT 12' has an extension {EXTENSION}",
        ),
        ("800-450-6787 #12", "US", f"'800-450-6787 #12' has an extension {EXTENSION}"),
        ("12345", "US", "'12345' is not a valid phone number for region US: too few digits"),
        (
            "450-6787",
            "US",
            "'450-6787' is not a valid phone number for region US: the area code is missing",
        ),
        (
            "800450678712345",
            "US",
            "'800450678712345' is not a valid phone number for region US: too many digits",
        ),
        (
            "(911) 555-1234",
            "US",
            "'(911) 555-1234' is not a valid phone number for region US",
        ),  # N11
        ("(211) 555-1234", "US", "'(211) 555-1234' is not a valid phone number for region US"),
        ("(999) 555-1234", "US", "'(999) 555-1234' is not a valid phone number for region US"),
        ("(555) 555-1234", "US", "'(555) 555-1234' is not a valid phone number for region US"),
        ("(800) 155-1234", "US", "'(800) 155-1234' is not a valid phone number for region US"),
        ("123-456-7890", "US", "'123-456-7890' is not a valid phone number for region US"),
        (
            "+44 20 7946 09",
            "US",
            "'+44 20 7946 09' is not a valid phone number for country code +44: too few digits",
        ),
        ("+999 123 4567", "US", "'+999 123 4567' has an unknown country code"),
        ("-", "US", "'-' is not a phone number"),
        (
            "1-800-450-6787",
            "GB",
            "'1-800-450-6787' is not a valid phone number for region GB: too many digits",
        ),
    ],
)
def test_phone_errors(text: str, region: str, error: str) -> None:
    assert one(normalize_phones(cell(text), region)) == ("", error)


def test_phone_column_keeps_row_numbers_and_blanks() -> None:
    column = pd.Series(["800.450.6787", "", "12345", "800.450.6787", "   "], index=[2, 3, 5, 9, 10])
    result = normalize_phones(column, "US")
    assert result.values.index.tolist() == result.errors.index.tolist() == [2, 3, 5, 9, 10]
    assert result.values.tolist() == ["+18004506787", "", "", "+18004506787", ""]
    assert result.errors.tolist() == [
        "",
        "",
        "'12345' is not a valid phone number for region US: too few digits",
        "",
        "",
    ]


def test_phone_messages_cut_long_cells() -> None:
    value, error = one(normalize_phones(cell("9" * 200), "US"))
    assert value == ""
    assert error.startswith("'" + "9" * 80 + "…'")
    assert len(error) < 160


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown phone region 'XX'"):
        normalize_phones(cell("8004506787"), "XX")


COMMON_FORMATS: list[Callable[[str], str]] = [
    lambda n: f"({n[:3]}) {n[3:6]}-{n[6:]}",
    lambda n: f"{n[:3]}.{n[3:6]}.{n[6:]}",
    lambda n: f"1-{n[:3]}-{n[3:6]}-{n[6:]}",
    lambda n: f"+1 {n[:3]} {n[3:6]} {n[6:]}",
    lambda n: f"{n[:3]}-{n[3:6]}-{n[6:]}",
    lambda n: n,
    lambda n: f"1{n}",
    lambda n: f"+1{n}",
]


def test_common_formats_never_reach_phonenumbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path alone handles valid numbers in the common layouts: that is the speed."""
    numbers = ["8004506787", "7193132645", "2125551234", "4165550123", "8085550100"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"phonenumbers.parse called with {args}")

    monkeypatch.setattr(phonenumbers, "parse", refuse)
    column = pd.Series([f(n) for n in numbers for f in COMMON_FORMATS])
    result = normalize_phones(column, "US")
    assert result.values.tolist() == [f"+1{n}" for n in numbers for _ in COMMON_FORMATS]
    assert (result.errors == "").all()


def _valid_nanp(national: int) -> bool:
    return phonenumbers.is_valid_number(
        phonenumbers.PhoneNumber(country_code=1, national_number=national)
    )


@settings(max_examples=150, deadline=None)
@given(national=st.integers(2_000_000_000, 9_999_999_999), region=st.sampled_from(["US", "CA"]))
def test_any_valid_number_in_any_common_format_comes_back(national: int, region: str) -> None:
    assume(_valid_nanp(national))
    digits = str(national)
    column = pd.Series([f(digits) for f in COMMON_FORMATS])
    result = normalize_phones(column, region)
    assert result.values.tolist() == [f"+1{digits}"] * len(COMMON_FORMATS)
    assert (result.errors == "").all()


def _phonenumbers_verdict(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    national=st.one_of(
        st.integers(2_000_000_000, 9_999_999_999),  # mostly invalid exchanges and area codes
        st.sampled_from([2125550123, 9115551234, 8001551234, 2684641234, 7875551234]),
    ),
    layout=st.sampled_from(COMMON_FORMATS),
    region=st.sampled_from(["US", "CA", "PR", "AG", "BS", "GB", "DE"]),
)
def test_fast_path_agrees_with_phonenumbers(
    national: int, layout: Callable[[str], str], region: str
) -> None:
    text = layout(str(national))
    assert one(normalize_phones(cell(text), region))[0] == _phonenumbers_verdict(text, region)


# --- phone time zones -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        ("+12125551234", "America/New_York"),
        ("+13125551234", "America/Chicago"),
        ("+13035551234", "America/Denver"),
        ("+12135551234", "America/Los_Angeles"),
        ("+18085551234", "Pacific/Honolulu"),
        ("+15205551234", "America/Phoenix"),
        ("+19075551234", "America/Adak"),  # Alaska spans two zones: the westernmost
        ("+18004506787", None),  # toll-free: listed in every NANP zone, local to none
        ("+442079460958", "Europe/London"),
        ("+16845551234", None),  # not a valid number: no zone known
        ("8004506787", None),  # not E.164
        ("", None),
    ],
)
def test_phone_timezone(number: str, zone: str | None) -> None:
    assert phone_timezone(number) == zone


# --- times ----------------------------------------------------------------------------------

TIME_HELP = "is not a date/time I can read; write it as YYYY-MM-DD HH:MM"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-07-23T14:26:43-05:00", "2021-07-23 19:26:43 +0000"),
        ("2021-07-23T14:26:43Z", "2021-07-23 14:26:43 +0000"),
        ("2021-07-23T14:26:43.123456+05:30", "2021-07-23 08:56:43 +0000"),
        ("2021-07-23 14:26:43 +0000", "2021-07-23 14:26:43 +0000"),
        ("2016-01-01 12:25:15 -0500", "2016-01-01 17:25:15 +0000"),  # Trackdrive's own example
        ("2021-07-23 14:26:43 UTC", "2021-07-23 14:26:43 +0000"),
        ("2021-07-23 14:26 EST", "2021-07-23 19:26:00 +0000"),
        ("2021-07-23 14:26 PDT", "2021-07-23 21:26:00 +0000"),
        ("2021-07-23 14:26", "2021-07-23 18:26:00 +0000"),
        ("2021-07-23 14:26:00", "2021-07-23 18:26:00 +0000"),  # an Excel date cell, as loaded
        ("2021-07-23", "2021-07-23 04:00:00 +0000"),  # an Excel date-only cell: local midnight
        ("2021/07/23 14:26", "2021-07-23 18:26:00 +0000"),
        ("7/23/2021 2:26 PM", "2021-07-23 18:26:00 +0000"),
        ("7/23/2021 2:26 pm", "2021-07-23 18:26:00 +0000"),
        ("7/23/2021 2:26PM", "2021-07-23 18:26:00 +0000"),
        ("7/23/2021 2:26:43 p.m.", "2021-07-23 18:26:43 +0000"),
        ("7/23/2021 2 PM", "2021-07-23 18:00:00 +0000"),
        ("7/23/2021 12:30 AM", "2021-07-23 04:30:00 +0000"),
        ("7/23/2021 12:30 PM", "2021-07-23 16:30:00 +0000"),
        ("7/23/2021 14:26", "2021-07-23 18:26:00 +0000"),
        ("07/23/2021", "2021-07-23 04:00:00 +0000"),
        ("7/23/21 2:26 PM", "2021-07-23 18:26:00 +0000"),
        ("07-23-2021 14:26", "2021-07-23 18:26:00 +0000"),
        ("03/04/2025", "2025-03-04 05:00:00 +0000"),  # ambiguous: date_order MDY
        ("Jul 23, 2021 2:26 PM", "2021-07-23 18:26:00 +0000"),
        ("July 23, 2021", "2021-07-23 04:00:00 +0000"),
        ("Jul 23 2021 at 2:26 PM", "2021-07-23 18:26:00 +0000"),
        ("Friday, July 23rd, 2021 2:26 PM", "2021-07-23 18:26:00 +0000"),
        ("23-Jul-2021", "2021-07-23 04:00:00 +0000"),
        ("23 Jul 2021 14:26", "2021-07-23 18:26:00 +0000"),
        ("Fri, 23 Jul 2021 14:26:43 +0000", "2021-07-23 14:26:43 +0000"),  # RFC 2822
        ("  7/23/2021\t 2:26  PM ", "2021-07-23 18:26:00 +0000"),
        ("2024-02-29 09:00", "2024-02-29 14:00:00 +0000"),  # leap day
    ],
)
def test_time_formats(text: str, expected: str) -> None:
    assert one(normalize_times(cell(text), NY)) == (expected, "")


@pytest.mark.parametrize(
    ("text", "date_order", "expected"),
    [
        ("23/07/2021", "DMY", "2021-07-23 04:00:00 +0000"),
        ("23/07/2021 14:26", "DMY", "2021-07-23 18:26:00 +0000"),
        ("23.07.2021 14:26", "DMY", "2021-07-23 18:26:00 +0000"),
        ("03/04/2025", "DMY", "2025-04-03 04:00:00 +0000"),
        ("03/04/2025", "MDY", "2025-03-04 05:00:00 +0000"),
        ("2025-03-04", "DMY", "2025-03-04 05:00:00 +0000"),  # ISO ignores date_order
        ("Mar 4, 2025", "DMY", "2025-03-04 05:00:00 +0000"),
    ],
)
def test_date_order(text: str, date_order: str, expected: str) -> None:
    assert one(normalize_times(cell(text), NY, date_order)) == (expected, "")


@pytest.mark.parametrize(
    ("text", "date_order", "error"),
    [
        ("hello", "MDY", f"'hello' {TIME_HELP}"),
        ("44400", "MDY", f"'44400' {TIME_HELP}"),  # an Excel serial number
        ("14:26", "MDY", f"'14:26' {TIME_HELP}"),
        ("2021-07-23 14", "MDY", f"'2021-07-23 14' {TIME_HELP}"),
        ("2021-02-29", "MDY", f"'2021-02-29' {TIME_HELP}"),
        ("2021-06-31", "MDY", f"'2021-06-31' {TIME_HELP}"),
        ("2021-07-23 25:00", "MDY", f"'2021-07-23 25:00' {TIME_HELP}"),
        ("2021-07-23 14:60", "MDY", f"'2021-07-23 14:60' {TIME_HELP}"),
        ("7/23/2021 0:30 AM", "MDY", f"'7/23/2021 0:30 AM' {TIME_HELP}"),
        ("7/23/2021 13:30 PM", "MDY", f"'7/23/2021 13:30 PM' {TIME_HELP}"),
        ("2021-07-23 14:26 +25:00", "MDY", f"'2021-07-23 14:26 +25:00' {TIME_HELP}"),
        ("13/13/2021", "MDY", f"'13/13/2021' {TIME_HELP}"),
        ("Jul 32, 2021", "MDY", f"'Jul 32, 2021' {TIME_HELP}"),
        ("0021-07-23", "MDY", f"'0021-07-23' {TIME_HELP}"),
        (
            "23/07/2021",
            "MDY",
            f"'23/07/2021' {TIME_HELP} (read as month/day/year because date_order is MDY; "
            "set date_order: DMY if the file writes the day first)",
        ),
        (
            "7/23/2021",
            "DMY",
            f"'7/23/2021' {TIME_HELP} (read as day/month/year because date_order is DMY; "
            "set date_order: MDY if the file writes the month first)",
        ),
    ],
)
def test_time_errors(text: str, date_order: str, error: str) -> None:
    assert one(normalize_times(cell(text), NY, date_order)) == ("", error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Spring forward, 14 March 2021: 02:00-02:59 does not exist in New York.
        ("2021-03-14 01:59", "2021-03-14 06:59:00 +0000"),
        ("2021-03-14 02:30", "2021-03-14 07:00:00 +0000"),  # shifted to 03:00 EDT
        ("2021-03-14 03:00", "2021-03-14 07:00:00 +0000"),
        ("2021-03-14 12:00", "2021-03-14 16:00:00 +0000"),
        # Fall back, 7 November 2021: 01:00-01:59 happens twice; the earlier (EDT) is used.
        ("2021-11-07 00:59", "2021-11-07 04:59:00 +0000"),
        ("2021-11-07 01:30", "2021-11-07 05:30:00 +0000"),
        ("2021-11-07 02:00", "2021-11-07 07:00:00 +0000"),
        # The same wall-clock time in winter and summer.
        ("2021-03-01 12:00", "2021-03-01 17:00:00 +0000"),
        ("2021-07-01 12:00", "2021-07-01 16:00:00 +0000"),
        ("3/1/2021 9:00 AM", "2021-03-01 14:00:00 +0000"),
        ("7/1/2021 9:00 AM", "2021-07-01 13:00:00 +0000"),
        # An explicit offset is never moved by the zone's rules.
        ("2021-03-14 02:30 -0500", "2021-03-14 07:30:00 +0000"),
    ],
)
def test_daylight_saving_in_new_york(text: str, expected: str) -> None:
    assert one(normalize_times(cell(text), NY)) == (expected, "")


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/Chicago", "2021-07-23 19:26:00 +0000"),
        ("America/Denver", "2021-07-23 20:26:00 +0000"),
        ("America/Phoenix", "2021-07-23 21:26:00 +0000"),
        ("America/Los_Angeles", "2021-07-23 21:26:00 +0000"),
        ("Pacific/Honolulu", "2021-07-24 00:26:00 +0000"),
        ("Europe/London", "2021-07-23 13:26:00 +0000"),
        ("UTC", "2021-07-23 14:26:00 +0000"),
    ],
)
def test_naive_times_follow_the_zone(zone: str, expected: str) -> None:
    assert one(normalize_times(cell("2021-07-23 14:26"), zone)) == (expected, "")


ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
]


@settings(max_examples=200, deadline=None)
@given(
    wall=st.datetimes(datetime(1990, 1, 1), datetime(2037, 12, 31)),
    zone=st.sampled_from(ZONES),
    layout=st.sampled_from(["%Y-%m-%d %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%b %d, %Y %H:%M:%S"]),
)
def test_naive_times_agree_with_zoneinfo(wall: datetime, zone: str, layout: str) -> None:
    wall = wall.replace(microsecond=0, fold=0)
    local = wall.replace(tzinfo=ZoneInfo(zone))  # fold=0: the earlier of two instants
    instant = local.astimezone(UTC)
    assume(instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == wall)  # skip gaps
    result = one(normalize_times(cell(wall.strftime(layout)), zone))
    assert result == (instant.strftime("%Y-%m-%d %H:%M:%S +0000"), "")


@settings(max_examples=100, deadline=None)
@given(
    instant=st.datetimes(datetime(1990, 1, 1), datetime(2037, 12, 31), timezones=st.just(UTC)),
    offset_minutes=st.integers(-12 * 60, 14 * 60),
)
def test_times_with_offsets_round_trip(instant: datetime, offset_minutes: int) -> None:
    instant = instant.replace(microsecond=0)
    text = instant.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()
    assert one(normalize_times(cell(text), "Asia/Tokyo")) == (format_time(instant), "")


def test_parse_time_returns_an_aware_utc_datetime() -> None:
    parsed = parse_time("2026-12-01 09:30", "America/Chicago")
    assert parsed == datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)
    assert parse_time("03/04/2026 9:30 AM", NY, "DMY") == datetime(2026, 4, 3, 13, 30, tzinfo=UTC)


def test_parse_time_explains_what_it_cannot_read() -> None:
    with pytest.raises(ValueError) as caught:
        parse_time("next tuesday", NY)
    assert str(caught.value) == f"'next tuesday' {TIME_HELP}"


@pytest.mark.parametrize(
    ("zone", "order", "message"),
    [
        (
            "Mars/Olympus",
            "MDY",
            "unknown time zone 'Mars/Olympus'; use an IANA name such as America/New_York",
        ),
        (NY, "YMD", "unknown date order 'YMD'; use MDY or DMY"),
    ],
)
def test_bad_time_settings_are_refused(zone: str, order: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalize_times(cell("2021-07-23"), zone, order)
    assert str(caught.value) == message
    with pytest.raises(ValueError):
        parse_time("2021-07-23", zone, order)


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (datetime(2021, 7, 23, 14, 26, 43, tzinfo=ZoneInfo(NY)), "2021-07-23 18:26:43 +0000"),
        (datetime(2021, 1, 23, 14, 26, 43, tzinfo=ZoneInfo(NY)), "2021-01-23 19:26:43 +0000"),
        (datetime(2021, 7, 23, 23, 59, 59, 999999, tzinfo=UTC), "2021-07-23 23:59:59 +0000"),
        (datetime(2021, 7, 24, 1, 0, tzinfo=ZoneInfo("Europe/Paris")), "2021-07-23 23:00:00 +0000"),
    ],
)
def test_format_time(dt: datetime, expected: str) -> None:
    assert format_time(dt) == expected


def test_format_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        format_time(datetime(2021, 7, 23, 14, 26))


# --- integers, booleans, emails, choices, strings ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("3", "3", ""),
        ("3.0", "3", ""),
        (" 3 ", "3", ""),
        ("3.", "3", ""),
        ("+3", "3", ""),
        ("-2", "-2", ""),
        ("007", "7", ""),
        ("0", "0", ""),
        ("-0", "0", ""),
        ("3600", "3600", ""),
        ("1,000", "1000", ""),
        ("12345678901234567890", "12345678901234567890", ""),
        ("", "", ""),
        ("abc", "", "'abc' is not a whole number"),
        ("3.5", "", "'3.5' is not a whole number"),
        ("1e3", "", "'1e3' is not a whole number"),
        ("1,00", "", "'1,00' is not a whole number"),
        ("3 4", "", "'3 4' is not a whole number"),
        ("--3", "", "'--3' is not a whole number"),
        (".0", "", "'.0' is not a whole number"),
    ],
)
def test_integers(text: str, expected: str, error: str) -> None:
    assert one(normalize_integers(cell(text))) == (expected, error)


BOOLEAN_HELP = "is not a yes/no value; write one of 1/true/yes/on or 0/false/no/off"


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("1", "true", ""),
        ("true", "true", ""),
        ("TRUE", "true", ""),  # Excel's own spelling
        (" Yes ", "true", ""),
        ("on", "true", ""),
        ("1.0", "true", ""),
        ("0", "false", ""),
        ("False", "false", ""),
        ("NO", "false", ""),
        ("off", "false", ""),
        ("0.0", "false", ""),
        ("", "", ""),
        ("maybe", "", f"'maybe' {BOOLEAN_HELP}"),
        ("2", "", f"'2' {BOOLEAN_HELP}"),
        ("y", "", f"'y' {BOOLEAN_HELP}"),
    ],
)
def test_booleans(text: str, expected: str, error: str) -> None:
    assert one(normalize_booleans(cell(text))) == (expected, error)


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("jane@example.com", "jane@example.com", ""),
        ("  Jane.Doe@Example.COM ", "Jane.Doe@example.com", ""),  # local part kept as written
        ("o'brien+leads@mail.example.co.uk", "o'brien+leads@mail.example.co.uk", ""),
        ("x@xn--80ak6aa92e.com", "x@xn--80ak6aa92e.com", ""),
        ("a@b.io", "a@b.io", ""),
        ("", "", ""),
        ("jane", "", "'jane' is not a valid email address"),
        ("jane@example", "", "'jane@example' is not a valid email address"),
        ("jane@@example.com", "", "'jane@@example.com' is not a valid email address"),
        ("jane@.example.com", "", "'jane@.example.com' is not a valid email address"),
        ("jane..doe@example.com", "", "'jane..doe@example.com' is not a valid email address"),
        ("jane doe@example.com", "", "'jane doe@example.com' is not a valid email address"),
        ("Jane <jane@example.com>", "", "'Jane <jane@example.com>' is not a valid email address"),
        (
            "a@x.com; b@y.com",
            "",
            "'a@x.com; b@y.com' is not a valid email address",
        ),
        ("x" * 65 + "@example.com", "", f"'{'x' * 65}@example.com' is not a valid email address"),
    ],
)
def test_emails(text: str, expected: str, error: str) -> None:
    assert one(normalize_emails(cell(text))) == (expected, error)


@pytest.mark.parametrize(
    ("text", "allowed", "expected", "error"),
    [
        ("calls", ("calls",), "calls", ""),
        (" CALLS ", ("calls",), "calls", ""),
        ("", ("calls",), "", ""),
        ("call", ("calls",), "", "'call' is not allowed; write calls"),
        ("sms", ("calls", "leads"), "", "'sms' is not allowed; write one of calls, leads"),
        ("Leads", ("calls", "Leads"), "Leads", ""),
    ],
)
def test_choices(text: str, allowed: tuple[str, ...], expected: str, error: str) -> None:
    assert one(normalize_choices(cell(text), allowed)) == (expected, error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fall-promo", "fall-promo"),
        ("  Jane  Doe \t", "Jane  Doe"),
        ("\u00a0Zoë\u00a0", "Zoë"),
        ("N/A", "N/A"),
        ("=1+1", "=1+1"),  # formula-looking text is the results writer's business
        ("", ""),
    ],
)
def test_strings(text: str, expected: str) -> None:
    assert one(normalize_strings(cell(text))) == (expected, "")


# --- the distinct-value machinery -----------------------------------------------------------

PHONE_POOL = ["800.450.6787", "", "12345", "x", "+44 20 7946 0958", "8.00451E+09"]
TIME_POOL = ["2021-07-23", "", "7/23/2021 2:26 PM", "bad", "23/07/2021"]
SAMPLES = {
    "phones": (lambda s: normalize_phones(s, "US"), PHONE_POOL),
    "times": (lambda s: normalize_times(s, NY), TIME_POOL),
    "integers": (normalize_integers, ["3", "3.0", "", "abc", " 7 "]),
    "booleans": (normalize_booleans, ["yes", "", "No", "maybe"]),
    "emails": (normalize_emails, ["a@b.co", "", "bad", " A@B.CO "]),
    "strings": (normalize_strings, ["a", " a ", "", "b"]),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_column_equals_its_cells_one_by_one(kind: str, data: st.DataObject) -> None:
    normalize, pool = SAMPLES[kind]
    cells = data.draw(st.lists(st.sampled_from(pool), max_size=12))
    index = [n * 3 + 2 for n in range(len(cells))]
    column = normalize(pd.Series(cells, index=index, dtype="str"))
    assert column.values.index.tolist() == column.errors.index.tolist() == index
    alone = [one(normalize(cell(text))) for text in cells]
    assert list(zip(column.values, column.errors, strict=True)) == alone


def test_object_columns_and_missing_cells_are_accepted() -> None:
    column = pd.Series(["3", None, float("nan"), 4], index=[2, 3, 4, 5], dtype=object)
    result = normalize_integers(column)
    assert result.values.tolist() == ["3", "", "", "4"]
    assert result.errors.tolist() == ["", "", "", ""]


# --- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("First Name", "first_name"),
        ("E-mail Address", "e_mail_address"),
        ("Loan Amount ($)", "loan_amount"),
        ("\ufeffZIP Code", "zip_code"),
        ("  Lead ID# ", "lead_id"),
        ("firstName", "first_name"),
        ("HTTPStatus", "http_status"),
        ("already_snake", "already_snake"),
        ("Phone (Home)", "phone_home"),
        ("2nd Phone", "2nd_phone"),
        ("Prénom", "prenom"),
        ("電話", "電話"),
        ("($)", ""),
    ],
)
def test_snake_case(header: str, key: str) -> None:
    assert snake_case(header) == key
