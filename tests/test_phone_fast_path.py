"""The phone fast path refuses what phonenumbers refuses, with the words phonenumbers' own
verdict gives, a whole column at a time (issue 14: a bought list full of unassigned area
codes must not fall to the per-value path).

The oracle is phonenumbers, called one value at a time; the column goes through
``normalize_phones`` in one call, mixed, as a file's column does."""

from __future__ import annotations

import random
import re

import pandas as pd
import phonenumbers
import pytest

from importer.clean import normalize_phones

NANP_REGIONS = ["US", "CA", "PR", "JM", "AG", "BS"]
OTHER_REGIONS = ["GB", "DE", "FR"]
FRACTION = "is a number with a fraction, not a phone number; check the cell"
REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: ": too few digits",
    phonenumbers.ValidationResult.TOO_LONG: ": too many digits",
    phonenumbers.ValidationResult.INVALID_LENGTH: ": wrong number of digits",
}

# {a} area code, {e} exchange, {l} line: the layouts people and CRM exports write
LAYOUTS = [
    "({a}) {e}-{l}",
    "({a}){e}-{l}",
    "{a}-{e}-{l}",
    "{a}.{e}.{l}",
    "{a} {e} {l}",
    "{a}{e}{l}",
    "{a}{e}{l}.0",  # a number cell read back as text
    "1{a}{e}{l}",
    "1-{a}-{e}-{l}",
    "1 ({a}) {e}-{l}",
    "1.{a}.{e}.{l}",
    "+1{a}{e}{l}",
    "+1 {a} {e} {l}",
    "+1 ({a}) {e}-{l}",
    "+1-{a}-{e}-{l}",
    " {a}-{e}-{l} ",
    "{a}-{e}-{l}\t",
]
PLUS_ONE = [layout for layout in LAYOUTS if layout.startswith("+1")]


def one_by_one(cell: str, region: str) -> tuple[str, str]:
    """phonenumbers' verdict on one cell, in the words the importer uses for it."""
    shown = cell.strip()
    text = re.sub(r"^(\+?\d+)\.0+$", r"\1", shown)  # the whole-number cell: 2125550123.0
    number = phonenumbers.parse(text, region)
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""
    own = number.country_code == phonenumbers.country_code_for_region(region)
    where = f"region {region}" if own else f"country code +{number.country_code}"
    reason = REASONS.get(phonenumbers.is_possible_number_with_reason(number), "")
    return "", f"'{shown}' is not a valid phone number for {where}{reason}"


def messy_column(rng: random.Random, layouts: list[str], n: int) -> list[str]:
    """``n`` cells: any area code and exchange (most of them unassigned), any layout."""
    cells = []
    for _ in range(n):
        area = rng.choice([rng.randint(200, 999), rng.choice([212, 221, 268, 555, 800, 911])])
        exchange, line = rng.randint(0, 999), rng.randint(0, 9999)
        layout = rng.choice(layouts)
        cells.append(layout.format(a=area, e=f"{exchange:03d}", l=f"{line:04d}"))
    return cells


@pytest.mark.parametrize("region", NANP_REGIONS + OTHER_REGIONS)
@pytest.mark.parametrize("seed", range(3))
def test_a_messy_column_gets_phonenumbers_verdict_on_every_cell(region: str, seed: int) -> None:
    rng = random.Random(f"{region}-{seed}")
    layouts = LAYOUTS if region in NANP_REGIONS else PLUS_ONE
    cells = messy_column(rng, layouts, 600)
    result = normalize_phones(pd.Series(cells, dtype="str"), region)
    got = list(zip(result.values, result.errors, strict=True))
    expected = [one_by_one(c, region) for c in cells]
    assert got == expected
    assert 0 < sum(not value for value, _ in got) < len(got)  # both verdicts were tested


NOT_VALID = "is not a valid phone number for"


@pytest.mark.parametrize(
    ("cell", "region", "value", "error"),
    [
        ("(221) 555-0123", "US", "", f"{NOT_VALID} region US"),
        ("1-338-555-0123", "CA", "", f"{NOT_VALID} region CA"),
        ("3995550123.0", "US", "", f"{NOT_VALID} region US"),
        ("  299 555 0123 ", "US", "", f"{NOT_VALID} region US"),
        ("+1 221 555 0123", "GB", "", f"{NOT_VALID} country code +1"),
        ("2125550123", "GB", "", f"{NOT_VALID} region GB"),
        ("(212) 155-0123", "US", "", f"{NOT_VALID} region US"),  # no exchange starts with 1
        # a fraction in a number cell is named as such, not as an unassigned area code
        ("1221555.0123", "US", "", FRACTION),
        ("1212555.0123", "US", "+12125550123", ""),  # a valid number reads as one
        ("(212) 555-0123", "US", "+12125550123", ""),
        ("+1 212 555 0123", "GB", "+12125550123", ""),
    ],
)
def test_refused_numbers(cell: str, region: str, value: str, error: str) -> None:
    result = normalize_phones(pd.Series([cell, "(212) 555-0123"], dtype="str"), region)
    expected = f"'{cell.strip()}' {error}" if error else ""
    assert (result.values.iloc[0], result.errors.iloc[0]) == (value, expected)


def test_refused_numbers_never_reach_phonenumbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A well-formed number in an unassigned area code is refused on the fast path."""
    cells = ["(221) 555-0123", "338.555.0123", "1-399-555-0123", "+1 (290) 555-0123"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"phonenumbers.parse called with {args}")

    monkeypatch.setattr(phonenumbers, "parse", refuse)
    result = normalize_phones(pd.Series(cells, dtype="str"), "US")
    assert result.values.tolist() == [""] * len(cells)
    assert result.errors.tolist() == [
        f"'{c}' is not a valid phone number for region US" for c in cells
    ]
