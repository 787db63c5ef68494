"""Text cells -> Trackdrive values and request bodies, a column at a time; no I/O.

Normalizers (phones, times, integers, booleans, emails, choices), the binding of a mapping to
a table's columns, the building of request bodies, the duplicates rules, and reschedule
times and calling hours.
"""

from __future__ import annotations

from importer.clean._columns import (
    VALUE_HIDDEN,
    Normalized,
    first_value,
    hide_values,
    join_text,
    text_array,
    text_bytes,
    text_series,
    utf8_buffers,
)
from importer.clean._normalize import (
    normalize_booleans,
    normalize_choices,
    normalize_emails,
    normalize_integers,
    normalize_strings,
    snake_case,
)
from importer.clean._payload import (
    FAILURE_COLUMNS,
    ORIGINAL_ROW,
    TEXT,
    TOKEN_HIDDEN,
    BoundField,
    DuplicateTracker,
    Plan,
    RowStatus,
    bind,
    build_rows,
    failure_columns,
)
from importer.clean._phones import (
    normalize_phones,
    number_type,
    number_zones,
    phone_timezone,
    zones_by_number,
)
from importer.clean._schedule import (
    RescheduleBuilder,
    RescheduleSpec,
    parse_calling_hours,
    parse_duration,
    within_hours,
)
from importer.clean._times import (
    WHEN_FORMS,
    format_time,
    normalize_times,
    parse_time,
    parse_when,
    zone_exists,
)
from importer.clean._warnings import WARNING_KINDS, warning_counts

__all__ = [
    "WARNING_KINDS",
    "warning_counts",
    "WHEN_FORMS",
    "parse_when",
    "BoundField",
    "DuplicateTracker",
    "FAILURE_COLUMNS",
    "ORIGINAL_ROW",
    "failure_columns",
    "Normalized",
    "Plan",
    "RescheduleBuilder",
    "RescheduleSpec",
    "RowStatus",
    "TEXT",
    "TOKEN_HIDDEN",
    "VALUE_HIDDEN",
    "bind",
    "build_rows",
    "first_value",
    "format_time",
    "hide_values",
    "join_text",
    "normalize_booleans",
    "normalize_choices",
    "normalize_emails",
    "normalize_integers",
    "normalize_phones",
    "normalize_strings",
    "normalize_times",
    "number_type",
    "number_zones",
    "zones_by_number",
    "parse_calling_hours",
    "parse_duration",
    "parse_time",
    "phone_timezone",
    "snake_case",
    "text_array",
    "text_bytes",
    "text_series",
    "utf8_buffers",
    "within_hours",
    "zone_exists",
]
