"""A full-name column split into a first and a last name, a whole column at a time.

Written by hand rather than with a name parser (nameparser is not a dependency and goes
one value at a time): the rule is short, runs as RE2 over the distinct cells, and is
written down in the README with its limits.

- ``Anna Smith`` → first ``Anna``, last ``Smith``; middle names are in neither
  (``Anna Maria Smith`` → ``Anna``, ``Smith``).
- A suffix stays with the last name: ``Anna Smith Jr.`` and ``Anna Smith, Jr.`` →
  ``Smith Jr.``; so do lower-case particles before it: ``Ludwig van Beethoven`` →
  ``van Beethoven``.
- The comma form is last, first: ``Smith, Anna`` → ``Anna``, ``Smith``.
- A title before two or more words is dropped: ``Dr. Anna Smith`` → ``Anna``.
- A single word is a first name only.

This module does no I/O.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.clean._columns import Normalized, by_distinct, empty_texts, lit, to_mask

_SUFFIX = r"(?i:jr|sr|ii|iii|iv|v|md|phd|esq)\.?"
_PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|du|dos|das|la|le|st\.?|y)"
_TITLE = r"^(?i:mr|mrs|ms|miss|mx|dr|prof)\.? (\S+ \S)"
# "Smith, Anna" and "Smith Jr., Anna Maria", but not "Anna Smith, Jr."
_COMMA = r"^(?P<last>[^,]+), ?(?P<first>[^ ,]+)(?: [^,]*)?$"
_PLAIN = (
    r"^(?P<first>\S+)(?: .*?)??"
    rf"(?: (?P<last>(?:{_PARTICLE} )*[^ ]+(?: {_SUFFIX})?))?$"
)


def split_names(s: pd.Series, part: str) -> Normalized:
    """The ``part`` ("first" or "last") of each full name in ``s``; never an error."""
    if part not in ("first", "last"):
        raise ValueError(f"unknown part of a name {part!r}; use first or last")

    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.replace_substring_regex(pc.utf8_trim_whitespace(distinct), r"\s+", " ")
        text = pc.replace_substring_regex(text, _TITLE, r"\1")
        # A comma before a suffix only: the suffix, not a last, first form.
        text = pc.replace_substring_regex(text, rf",( {_SUFFIX})$", r"\1")
        comma = pc.extract_regex(text, _COMMA)
        plain = pc.extract_regex(text, _PLAIN)
        is_comma = to_mask(pc.is_valid(comma))
        picked_comma = pc.fill_null(pc.struct_field(comma, part), lit(""))
        picked_plain = pc.fill_null(pc.struct_field(plain, part), lit(""))
        values = pc.if_else(pa.array(is_comma), picked_comma, picked_plain)
        values = pc.utf8_trim_whitespace(pc.fill_null(values, lit("")))
        return values, empty_texts(len(distinct))

    return by_distinct(s, parse)
