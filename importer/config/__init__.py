"""The mapping YAML as frozen dataclasses, and every check of it.

``load_mapping`` reads and validates a mapping file; ``MappingConfig`` and its parts are what
the other parts receive. Every default of a mapping lives in ``_mapping``.
"""

from __future__ import annotations

from importer.config._load import (
    DEFAULT_ENDPOINT,
    TOKEN_ENV,
    ZONE_HELP,
    check_endpoint,
    closest_header,
    load_mapping,
    mapping_yaml,
    parse_mapping,
    reschedule_mapping,
    resolve_region,
    resolve_token,
    resolve_zone,
)
from importer.config._mapping import (
    DATA_TYPES,
    DEFAULT_CALLING_HOURS,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_RATE,
    DEFAULT_TIMEOUT_S,
    MAX_ANSWER_BYTES,
    NAME_PARTS,
    PARAMETERS,
    SCHEDULED,
    Duplicates,
    FieldSpec,
    FieldType,
    MappingConfig,
    SendConfig,
    TokenSource,
    calling_window,
    token_fingerprint,
)

__all__ = [
    "DEFAULT_CALLING_HOURS",
    "NAME_PARTS",
    "SCHEDULED",
    "calling_window",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_CONSECUTIVE_FAILURES",
    "DEFAULT_MAX_RETRY_WAIT_S",
    "DEFAULT_RATE",
    "DEFAULT_TIMEOUT_S",
    "DATA_TYPES",
    "DEFAULT_ENDPOINT",
    "Duplicates",
    "FieldSpec",
    "FieldType",
    "MAX_ANSWER_BYTES",
    "PARAMETERS",
    "MappingConfig",
    "SendConfig",
    "TOKEN_ENV",
    "TokenSource",
    "check_endpoint",
    "closest_header",
    "load_mapping",
    "mapping_yaml",
    "parse_mapping",
    "reschedule_mapping",
    "ZONE_HELP",
    "resolve_region",
    "resolve_token",
    "resolve_zone",
    "token_fingerprint",
]
