"""The kinds of warning a row can carry, and counting them in a column of warnings.

A warning says, in plain words, that the tool changed a value in a way a person might not
expect. Each kind is recognised by a phrase its message always holds; the messages are
built with these same constants, so the counts in summary.json, the console and the
report cannot drift from the words in results.csv. This module does no I/O.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from importer.clean._columns import TEXT_TYPE

DST_GAP = "the clocks skip that hour"
DST_TWICE = "the clocks go back that night"
TWO_DIGIT_YEAR = "has a two-digit year"
IDD_00 = "starts with 00, so it was read as an international number"
OUTSIDE_HOURS = "outside calling hours"
NO_TIME_OPENING = "has no time of day, set to"
NO_TIME_MIDNIGHT = "has no time of day, sent as midnight"
EMAIL_DROPPED = "the lead was sent without an email"

# Between the warnings of one row (results.csv); no warning's own words hold it.
WARNING_SEPARATOR = "; "
# Between the warnings of one cell, inside clean, before each is prefixed with its column:
# a control character, which a quoted cell value never holds (they are escaped as \xNN).
CELL_SEPARATOR = "\x1f"

# kind (summary.json's key) -> (the phrase, what it means for a person)
WARNING_KINDS: dict[str, tuple[str, str]] = {
    "dst_gap_moved": (DST_GAP, "a time that does not exist (spring forward) read as the next"),
    "dst_ambiguous_earlier": (
        DST_TWICE,
        "a time that happens twice (fall back) read as the earlier",
    ),
    "two_digit_year": (TWO_DIGIT_YEAR, "a two-digit year read as 19xx/20xx"),
    "phone_00_international": (IDD_00, "a phone starting with 00 read as international"),
    "moved_into_calling_hours": (
        OUTSIDE_HOURS,
        "a time outside calling hours moved to the next opening",
    ),
    "date_only_opening": (
        NO_TIME_OPENING,
        "a date without a time set to the opening of calling hours",
    ),
    "date_only_midnight": (NO_TIME_MIDNIGHT, "a date without a time sent as midnight"),
    "email_dropped": (EMAIL_DROPPED, "an unusable email left out, the lead sent by phone"),
}
# A quoted cell value, as every message writes it after "Column: ": hidden before the
# phrases are looked for, so a cell holding one of them is not counted.
_QUOTED = r": '(?:[^'\\]|\\.)*'"


def warning_counts(warnings: pa.Array) -> dict[str, np.ndarray]:
    """For each kind, how many warnings of it each row of ``warnings`` holds."""
    text = pc.cast(warnings, TEXT_TYPE)
    if not pc.any(pc.not_equal(text, pa.scalar("", TEXT_TYPE))).as_py():
        return {}
    plain = pc.replace_substring_regex(text, _QUOTED, ": '…'")
    found: dict[str, np.ndarray] = {}
    for kind, (phrase, _) in WARNING_KINDS.items():
        counts = pc.count_substring(plain, phrase)
        per_row = np.asarray(pc.fill_null(counts, 0).to_numpy(zero_copy_only=False), np.int64)
        if per_row.any():
            found[kind] = per_row
    return found
