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

The shared plumbing and ``Normalized`` live in ``columns.py``, phones in ``phones.py``,
dates and times in ``times.py``; this module is the public front and holds the rest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.clean._columns import (
    TEXT_TYPE,
    Normalized,
    by_distinct,
    empty_texts,
    finish,
    join_text,
    lit,
    matches,
    quoted_text,
    text_array,
    text_series,
    to_mask,
)
from importer.clean._phones import normalize_phones, phone_timezone
from importer.clean._times import format_time, normalize_times, parse_time

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


# --- integers, booleans, emails, choices, strings ------------------------------------------

_INTEGER = r"^[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.0*)?$"  # 3, +3, -3, 3.0, 1,000


def normalize_integers(s: pd.Series) -> Normalized:
    """Whole numbers written as ``3``, ``3.0``, ``+3`` or ``1,000`` to ``3``/``1000``."""

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.utf8_trim_whitespace(distinct)
        ok = matches(text, _INTEGER)
        digits = pc.replace_substring_regex(text, r"[+,]|\.0*$", "")
        digits = pc.replace_substring_regex(digits, r"^(-?)0+(\d)", r"\1\2")
        digits = pc.replace_substring_regex(digits, r"^-0$", "0")
        return finish(
            text, ok, digits, lambda bad: join_text(quoted_text(bad), " is not a whole number")
        )

    return by_distinct(s, parse)


_TRUE = pa.array(["1", "1.0", "true", "yes", "on"], TEXT_TYPE)
_FALSE = pa.array(["0", "0.0", "false", "no", "off"], TEXT_TYPE)


def normalize_booleans(s: pd.Series) -> Normalized:
    """``1/true/yes/on`` to ``"true"`` and ``0/false/no/off`` to ``"false"``, in any case."""

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.utf8_trim_whitespace(distinct)
        word = pc.utf8_lower(text)
        true = to_mask(pc.is_in(word, value_set=_TRUE))
        false = to_mask(pc.is_in(word, value_set=_FALSE))
        values = pc.if_else(pa.array(true), lit("true"), lit("false"))
        advice = " is not a yes/no value; write one of 1/true/yes/on or 0/false/no/off"
        return finish(text, true | false, values, lambda bad: join_text(quoted_text(bad), advice))

    return by_distinct(s, parse)


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
        ok = matches(text, _EMAIL)
        ok &= to_mask(pc.less_equal(pc.utf8_length(text), 254))  # RFC 5321 limits
        parts = pc.split_pattern(pc.filter(text, pa.array(ok)), "@", max_splits=1)
        local, domain = pc.list_element(parts, 0), pc.list_element(parts, 1)
        fine = to_mask(pc.less_equal(pc.utf8_length(local), 64))
        address = join_text(local, "@", pc.utf8_lower(domain))
        values = pc.replace_with_mask(empty_texts(len(text)), pa.array(ok), address)
        ok[ok] = fine
        return finish(
            text,
            ok,
            values,
            lambda bad: join_text(quoted_text(bad), " is not a valid email address"),
        )

    return by_distinct(s, parse)


def normalize_choices(s: pd.Series, allowed: Sequence[str]) -> Normalized:
    """One of ``allowed``, matched ignoring case and surrounding spaces, written as in
    ``allowed``."""
    if not allowed:
        raise ValueError("normalize_choices needs at least one allowed value")
    canonical = pa.array(list(allowed), TEXT_TYPE)
    folded = pc.utf8_lower(canonical)
    message = " is not allowed; write " + (
        f"{allowed[0]}" if len(allowed) == 1 else "one of " + ", ".join(allowed)
    )

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.utf8_trim_whitespace(distinct)
        at = pc.index_in(pc.utf8_lower(text), value_set=folded)
        ok = to_mask(pc.is_valid(at))
        values = pc.fill_null(pc.take(canonical, at), lit(""))
        return finish(text, ok, values, lambda bad: join_text(quoted_text(bad), message))

    return by_distinct(s, parse)


def normalize_strings(s: pd.Series) -> Normalized:
    """Text with surrounding whitespace removed; never an error."""
    # One trim of the column: cheaper than finding its distinct values first (by_distinct)
    # for a column of ZIP codes or amounts, and no dearer for one of first names.
    values = pc.utf8_trim_whitespace(text_array(s))
    return Normalized(text_series(values, s.index), text_series(empty_texts(len(s)), s.index))


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
