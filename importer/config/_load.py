"""Read a mapping YAML file into frozen dataclasses; every config check lives here.

Every error is a :class:`ConfigError` whose message names the file, the key and what is
allowed, so the CLI can print it as one line.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import zoneinfo
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import phonenumbers
import yaml

from importer.config._mapping import (
    CHOICES,
    COUNTRY_NAMES,
    DATA_TYPES,
    NAME_PARTS,
    PARAMETERS,
    US_ZONES,
    Duplicates,
    FieldSpec,
    FieldType,
    MappingConfig,
    SendConfig,
    TokenSource,
    calling_window,
)
from importer.errors import ConfigError, Setting, mention

DEFAULT_ENDPOINT = "https://trackdrive.com/api/v1/leads/create_or_update"
TOKEN_ENV = "TRACKDRIVE_LEAD_TOKEN"

TOP_KEYS = (
    "version",
    "endpoint",
    "lead_token",
    "region",
    "timezone",
    "date_order",
    "duplicates",
    "send",
    "fields",
    "data",
    "include_unmapped_columns",
    "calling_hours",
    "strict",
)
SEND_KEYS = ("rate", "concurrency", "max_attempts", "timeout_s")
_ENV_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# A mapping reads only these variables: ${AWS_SECRET_ACCESS_KEY} would otherwise be sent
# to whatever endpoint the mapping names, as its lead token.
ENV_PREFIX = "TRACKDRIVE_"
MAX_MAPPING_BYTES = 1 << 20  # a mapping is a few KB; /dev/zero named as one is not
# A YAML integer of more digits is text (quote it); Python refuses to print ints over
# 4,300 digits, and no setting needs more than a handful.
MAX_NUMBER_CHARS = 100
MAX_HOST_LABEL = 63  # RFC 1035: each dot-separated part of a host name
MAX_HOST_NAME = 253


class _Refused(yaml.MarkedYAMLError):
    """YAML that is valid but not allowed in a mapping file (an alias, a huge number)."""


class MappingLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases, and with numbers of bounded size.

    387 bytes of nested aliases expand to gigabytes when a value is formatted; a mapping
    file has no use for them, so they are refused where they appear.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise _Refused(
                problem=f"YAML anchors and aliases ({sign}{event.anchor}) are not allowed in "
                "a mapping file; write each value out",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node: Any) -> Any:
        if len(str(node.value)) > MAX_NUMBER_CHARS:
            raise _Refused(
                problem=f"a number of {len(str(node.value)):,} characters is too long "
                f"(at most {MAX_NUMBER_CHARS}); quote it if it is text",
                problem_mark=node.start_mark,
            )
        return super().construct_yaml_int(node)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # A key written twice would silently keep the second value: refuse it, both lines.
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _value in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                if key in seen:
                    first = seen[key].start_mark
                    raise _Refused(
                        problem=f"the key '{key}' is written twice (lines {first.line + 1} "
                        f"and {key_node.start_mark.line + 1}); keep one",
                        problem_mark=key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


MappingLoader.add_constructor("tag:yaml.org,2002:int", MappingLoader.construct_yaml_int)


class _PlainDumper(yaml.SafeDumper):
    """Writes a value used twice out twice: mapping files must not hold aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _env_value(path: Path, key: str, name: str) -> str | None:
    """The variable ``name`` a mapping reads at ``key``; ConfigError unless TRACKDRIVE_*."""
    if not name.startswith(ENV_PREFIX):
        raise _err(
            path,
            key,
            f"${{{name}}}: a mapping may read only environment variables named "
            f"{ENV_PREFIX}* (like ${{{TOKEN_ENV}}}); export the value under such a name",
        )
    return os.environ.get(name)


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _err(path: Path, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {message}")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_spec(
    path: Path,
    key: str,
    name: str,
    raw: Any,
    ftype: FieldType,
    *,
    allow_type: bool,
) -> FieldSpec:
    choices = CHOICES.get(name, ()) if not allow_type else ()
    if isinstance(raw, str):
        if not raw.strip():
            raise _err(path, key, "is empty; write a column name, {column: NAME} or {value: X}")
        return FieldSpec(name, ftype, column=raw.strip(), choices=choices)
    if isinstance(raw, list):
        first, *rest = _column_list(path, key, raw)
        return FieldSpec(name, ftype, column=first, choices=choices, fallbacks=tuple(rest))
    if not isinstance(raw, dict):
        raise _err(
            path,
            key,
            f"must be a column name, {{column: NAME}} or {{value: X}}, not {type(raw).__name__}",
        )
    allowed = {"column", "value", "required"} | ({"type", "part"} if allow_type else set())
    for k in raw:
        if k not in allowed:
            raise _err(
                path,
                f"{key}.{k}",
                f"unknown key; allowed: {', '.join(sorted(allowed))}{_suggest(str(k), allowed)}",
            )
    if ("column" in raw) == ("value" in raw):
        raise _err(path, key, "needs exactly one of 'column' or 'value'")
    if allow_type and "type" in raw:
        tname = raw["type"]
        if tname not in DATA_TYPES:
            raise _err(
                path,
                f"{key}.type",
                f"'{tname}' is not a type; allowed: {', '.join(DATA_TYPES)}"
                f"{_suggest(str(tname), DATA_TYPES)}",
            )
        ftype = FieldType(tname)
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise _err(path, f"{key}.required", "must be true or false")
    part = _parse_part(path, key, raw, ftype)
    if "column" in raw:
        column = raw["column"]
        if isinstance(column, list):
            first, *rest = _column_list(path, f"{key}.column", column)
            return FieldSpec(
                name,
                ftype,
                column=first,
                required=required,
                choices=choices,
                fallbacks=tuple(rest),
                part=part,
            )
        if not isinstance(column, str) or not column.strip():
            raise _err(path, f"{key}.column", "must be a non-empty column name")
        return FieldSpec(
            name, ftype, column=column.strip(), required=required, choices=choices, part=part
        )
    value = raw["value"]
    if value is None or isinstance(value, dict | list):
        raise _err(path, f"{key}.value", "must be a single value (text, number or true/false)")
    return FieldSpec(name, ftype, value=_scalar_text(value), required=required, choices=choices)


def _parse_part(path: Path, key: str, raw: dict[str, Any], ftype: FieldType) -> str | None:
    """A data token's ``part:`` (first or last name of a full-name column), if any."""
    if "part" not in raw:
        return None
    part = raw["part"]
    if part not in NAME_PARTS:
        raise _err(
            path,
            f"{key}.part",
            f"'{part}' is not a part of a name; use first or last (of a full-name column)",
        )
    if "column" not in raw or ftype is not FieldType.STRING:
        raise _err(path, f"{key}.part", "splits a full-name column: use it with column:, as text")
    return str(part)


def _parse_hours(path: Path, raw: Any) -> Any:
    """The ``calling_hours:`` key: (start, end), or None when absent."""
    if raw is None:
        return None
    try:
        return calling_window(str(raw))
    except ValueError as exc:
        raise _err(path, "calling_hours", f"{exc} (local time in each lead's own zone)") from None


def _column_list(path: Path, key: str, raw: list[Any]) -> list[str]:
    """A list of fallback columns: non-empty names, each once."""
    if not raw or not all(isinstance(c, str) and c.strip() for c in raw):
        raise _err(
            path, key, "a list of columns must name one or more columns, e.g. [Phone, Mobile]"
        )
    names = [c.strip() for c in raw]
    twice = next(
        (c for i, c in enumerate(names) if _column_key(c) in map(_column_key, names[:i])), None
    )
    if twice is not None:
        raise _err(path, key, f"column '{twice}' is listed twice; list each column once")
    return names


def resolve_zone(text: str) -> str | None:
    """The IANA zone a mapping or a cell names (``EST`` and ``Eastern`` are America/New_York,
    with daylight saving); None if it names none."""
    word = " ".join(text.split())
    zone = US_ZONES.get(word.casefold(), word)
    if not zone or zone.casefold() in ("localtime", "local"):
        return None
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return zone


def resolve_region(text: str) -> str | None:
    """The phone region (ISO code) a mapping or a cell names, by code or country name."""
    word = " ".join(text.split())
    code = word.upper()
    if code in phonenumbers.SUPPORTED_REGIONS:
        return code
    return COUNTRY_NAMES.get(word.casefold())


ZONE_HELP = "use an IANA name like America/New_York or a US zone like Eastern, EST, PT"


def _parse_zone(path: Path, raw: Any) -> tuple[str | None, str | None, str | None]:
    """The ``timezone:`` key: (default zone, zone column, field whose phone gives the zone)."""
    if raw is None:
        return None, None, None
    if not isinstance(raw, dict):
        return _one_zone(path, "timezone", raw), None, None
    allowed = ("column", "from", "default")
    for k in raw:
        if k not in allowed:
            raise _err(
                path,
                f"timezone.{k}",
                f"unknown key; allowed: {', '.join(allowed)}{_suggest(str(k), allowed)}",
            )
    if ("column" in raw) == ("from" in raw):
        raise _err(
            path,
            "timezone",
            "write a zone (America/New_York), {column: NAME, default: ZONE} or "
            "{from: caller_id, default: ZONE}",
        )
    default = (
        None if raw.get("default") is None else _one_zone(path, "timezone.default", raw["default"])
    )
    if "column" in raw:
        column = raw["column"]
        if not isinstance(column, str) or not column.strip():
            raise _err(path, "timezone.column", "must be a non-empty column name")
        return default, column.strip(), None
    if raw["from"] != "caller_id":
        raise _err(path, "timezone.from", f"'{raw['from']}' is not allowed; use caller_id")
    if default is None:
        raise _err(
            path,
            "timezone.default",
            "is needed with from: caller_id, for numbers of no one zone (toll-free, "
            "foreign); add e.g. 'default: America/New_York'",
        )
    return default, None, "caller_id"


def _one_zone(path: Path, key: str, raw: Any) -> str:
    zone = resolve_zone(str(raw))
    if zone is None:
        close = _suggest(str(raw), zoneinfo.available_timezones())
        raise _err(path, key, f"'{raw}' is not a time zone; {ZONE_HELP}{close}")
    return zone


def _parse_region(path: Path, raw: Any) -> tuple[str, str | None]:
    """The ``region:`` key: (default region, region column)."""
    column = None
    if isinstance(raw, dict):
        for k in raw:
            if k not in ("column", "default"):
                raise _err(path, f"region.{k}", "unknown key; allowed: column, default")
        column = raw.get("column")
        if not isinstance(column, str) or not column.strip():
            raise _err(path, "region.column", "must be a non-empty column name")
        column = column.strip()
        raw = raw.get("default", "US")
    region = resolve_region(str(raw))
    if region is None:
        raise _err(
            path,
            "region" if column is None else "region.default",
            f"'{raw}' is not a region code; use a two-letter code like US, CA, GB",
        )
    return region, column


def _parse_token(path: Path, raw: Any) -> TokenSource:
    if raw is None:
        return TokenSource()
    if isinstance(raw, dict):
        if set(raw) != {"column"} or not isinstance(raw["column"], str):
            raise _err(path, "lead_token", "must be a literal, ${ENV_VAR} or {column: NAME}")
        return TokenSource(column=raw["column"].strip())
    if not isinstance(raw, str | int):
        raise _err(path, "lead_token", "must be a literal, ${ENV_VAR} or {column: NAME}")
    text = str(raw).strip()
    match = _ENV_RE.match(text)
    if match:
        _env_value(path, "lead_token", match.group(1))
        return TokenSource(env=match.group(1))
    if "${" in text:
        raise _err(path, "lead_token", "write an environment variable as ${NAME}, alone")
    return TokenSource(literal=text)


def _positive(path: Path, key: str, value: Any, *, integer: bool, allow_none: bool) -> Any:
    if value is None and allow_none:
        return None
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _err(path, key, f"must be {kind} greater than 0, not {value!r}")
    if integer and not float(value).is_integer():
        raise _err(path, key, f"must be {kind} greater than 0, not {value!r}")
    if value <= 0:
        raise _err(path, key, f"must be {kind} greater than 0, not {value!r}")
    return int(value) if integer else float(value)


def _parse_send(path: Path, raw: Any) -> SendConfig:
    if raw is None:
        return SendConfig()
    if not isinstance(raw, dict):
        raise _err(path, "send", "must be a mapping like {rate: 10, concurrency: 8}")  # an example
    for k in raw:
        if k not in SEND_KEYS:
            raise _err(
                path,
                f"send.{k}",
                f"unknown key; allowed: {', '.join(SEND_KEYS)}{_suggest(str(k), SEND_KEYS)}",
            )
    default = SendConfig()
    rate = raw.get("rate", default.rate)
    if rate in (0, "unlimited"):
        rate = None

    def setting(key: str, integer: bool) -> Any:
        value = raw.get(key, getattr(default, key))
        return _positive(path, f"send.{key}", value, integer=integer, allow_none=False)

    return SendConfig(
        rate=_positive(path, "send.rate", rate, integer=False, allow_none=True),
        concurrency=setting("concurrency", integer=True),
        max_attempts=setting("max_attempts", integer=True),
        timeout_s=setting("timeout_s", integer=False),
    )


def check_endpoint(url: str, where: str) -> str:
    """Return ``url`` if it is an http(s) URL with a host, else raise ConfigError."""
    try:
        parsed = urlparse(url)
        host = parsed.hostname
    except ValueError:  # e.g. a bad [IPv6] literal or port
        parsed, host = None, None
    if parsed is None or parsed.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"{where}: '{url}' is not an http(s) URL; "
            "write e.g. https://ACCOUNT.trackdrive.com/api/v1/leads/create_or_update"
        )
    _check_host(host, where)
    if "lead_token=" in (parsed.query or ""):
        raise ConfigError(
            f"{where}: the URL must not carry lead_token; set it with lead_token "
            f"or ${TOKEN_ENV} instead"
        )
    return url


def _check_host(host: str, where: str) -> None:
    """ConfigError unless ``host`` is a name DNS can hold (or an IP address)."""
    if ":" in host:  # an IPv6 literal; urlparse has checked its brackets
        return
    labels = host.rstrip(".").split(".")
    longest = max(labels, key=len)
    problem = None
    if len(longest) > MAX_HOST_LABEL:
        problem = f"its part '{longest[:20]}…' has {len(longest)} characters (at most 63)"
    elif "" in labels:
        problem = "it has an empty part (two dots in a row)"
    elif len(host) > MAX_HOST_NAME:
        problem = f"it has {len(host)} characters (at most {MAX_HOST_NAME})"
    else:
        try:
            host.encode("idna")
        except UnicodeError:
            problem = "it cannot be written as an international domain name"
    if problem:
        raise ConfigError(f"{where}: the host name is not valid: {problem}; check the URL")


def _column_key(name: str) -> str:
    return name.replace("\ufeff", "").strip().casefold()


def _check_token_column(path: Path, token: TokenSource, specs: Iterable[tuple[str, Any]]) -> None:
    """Refuse a column that holds the lead token mapped again as a field or data token."""
    if token.column is None:
        return
    for key, spec in specs:
        if any(_column_key(c) == _column_key(token.column) for c in spec.columns):
            raise _err(
                path,
                key,
                f"column '{spec.column}' holds the lead token (lead_token: {{column: "
                f"{token.column}}}); a token is sent only as the lead token, never in a lead's "
                "body or results: remove this key",
            )


def parse_mapping(raw: Any, path: Path) -> MappingConfig:
    """Validate an already-parsed mapping document."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the mapping must be a YAML mapping of keys (version: 1, …)")
    for k in raw:
        if k not in TOP_KEYS:
            raise _err(
                path,
                str(k),
                f"unknown key; allowed: {', '.join(TOP_KEYS)}{_suggest(str(k), TOP_KEYS)}",
            )
    if raw.get("version") != 1:
        raise _err(path, "version", f"must be 1 (found {raw.get('version')!r})")

    endpoint = raw.get("endpoint") or DEFAULT_ENDPOINT
    if not isinstance(endpoint, str):
        raise _err(path, "endpoint", "must be a URL")
    env_match = _ENV_RE.match(endpoint.strip())
    if env_match:
        value = _env_value(path, "endpoint", env_match.group(1))
        if not value:
            raise _err(
                path, "endpoint", f"environment variable {env_match.group(1)} is not set; export it"
            )
        endpoint = value
    endpoint = check_endpoint(endpoint.strip(), f"{path}: endpoint")

    region, region_column = _parse_region(path, raw.get("region", "US"))
    timezone, timezone_column, timezone_from = _parse_zone(path, raw.get("timezone"))
    date_order = str(raw.get("date_order", "MDY")).upper()
    if date_order not in ("MDY", "DMY"):
        raise _err(path, "date_order", f"'{date_order}' is not allowed; use MDY or DMY")
    dup_raw = str(raw.get("duplicates", "all")).lower()
    try:
        duplicates = Duplicates(dup_raw)
    except ValueError:
        raise _err(
            path, "duplicates", f"'{dup_raw}' is not allowed; use all, first or last"
        ) from None

    fields_raw = raw.get("fields") or {}
    if not isinstance(fields_raw, dict):
        raise _err(path, "fields", "must be a mapping of Trackdrive parameter: column")
    fields = []
    for name, spec in fields_raw.items():
        if name == "lead_token":
            raise _err(path, "fields.lead_token", "set the token with the top-level lead_token key")
        if name == "data":
            raise _err(path, "fields.data", "data tokens go in the top-level data: block")
        if name not in PARAMETERS:
            raise _err(
                path,
                f"fields.{name}",
                f"'{name}' is not a Trackdrive parameter{_suggest(str(name), PARAMETERS)} "
                f"(allowed: {', '.join(PARAMETERS)})",
            )
        fields.append(
            _parse_spec(path, f"fields.{name}", name, spec, PARAMETERS[name], allow_type=False)
        )
    data_raw = raw.get("data") or {}
    if not isinstance(data_raw, dict):
        raise _err(path, "data", "must be a mapping of token name: column")
    data = []
    for name, spec in data_raw.items():
        if not isinstance(name, str) or not name.strip():
            raise _err(path, f"data.{name}", "token names must be non-empty text")
        data.append(
            _parse_spec(path, f"data.{name}", name, spec, FieldType.STRING, allow_type=True)
        )
    if not any(s.name in ("caller_id", "email") for s in fields):
        raise _err(path, "fields", "map caller_id or email: Trackdrive needs one of them per lead")

    for spec in fields:
        if spec.value is None:
            continue
        _check_constant(path, spec)
    timed = [s for s in (*fields, *data) if s.type is FieldType.TIME]
    if timed and timezone is None and timezone_column is None:
        # No silent default: the same file read as UTC or as New York is five hours apart.
        spec = timed[0]
        where = f"fields.{spec.name}" if spec in fields else f"data.{spec.name}"
        raise _err(
            path,
            "timezone",
            f"{where} ({spec.source}) holds times, but the mapping names no time zone; add "
            "e.g. 'timezone: America/New_York', the zone the times are written in (times "
            "written with an offset, such as +0000, are read as written)",
        )

    include = raw.get("include_unmapped_columns", False)
    if not isinstance(include, bool):
        raise _err(path, "include_unmapped_columns", "must be true or false")
    strict = raw.get("strict", False)
    if not isinstance(strict, bool):
        raise _err(path, "strict", "must be true or false")
    hours = _parse_hours(path, raw.get("calling_hours"))
    token = _parse_token(path, raw.get("lead_token"))
    _check_token_column(
        path,
        token,
        [(f"fields.{s.name}", s) for s in fields] + [(f"data.{s.name}", s) for s in data],
    )

    return MappingConfig(
        path=path,
        endpoint=endpoint,
        token=token,
        region=region,
        timezone=timezone,
        date_order=date_order,
        duplicates=duplicates,
        send=_parse_send(path, raw.get("send")),
        fields=tuple(fields),
        data=tuple(data),
        include_unmapped_columns=include,
        raw=raw,
        timezone_column=timezone_column,
        timezone_from=timezone_from,
        region_column=region_column,
        calling_hours=hours,
        strict=strict,
    )


_BOOL_WORDS = {"1", "true", "yes", "on", "0", "false", "no", "off"}


def _check_constant(path: Path, spec: FieldSpec) -> None:
    """Reject a constant that could never be sent, before any row is read."""
    value = (spec.value or "").strip()
    key = f"fields.{spec.name}.value"
    if spec.type is FieldType.BOOLEAN and value.lower() not in _BOOL_WORDS:
        raise _err(path, key, f"'{value}' is not a boolean; use true or false")
    if spec.type is FieldType.INTEGER:
        try:
            ok = float(value).is_integer()
        except ValueError:
            ok = False
        if not ok:
            raise _err(path, key, f"'{value}' is not a whole number")
    if spec.type is FieldType.CHOICE and value.lower() not in spec.choices:
        raise _err(path, key, f"'{value}' is not allowed; use {', '.join(spec.choices)}")


def load_mapping(path: Path, implied_timezone: str | None = None) -> MappingConfig:
    """Read and validate the mapping file at ``path``.

    ``implied_timezone``: the zone a mapping without ``timezone:`` was read in when it was
    used (a run folder's copy from before a zone was required); None for any new use.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ConfigError(f"{path}: the mapping is {kind}; name a mapping YAML file")
        if info.st_size > MAX_MAPPING_BYTES:
            raise ConfigError(
                f"{path}: the mapping file is {info.st_size / (1 << 20):,.1f} MB; a mapping is "
                f"a few KB (at most {MAX_MAPPING_BYTES >> 20} MB)"
            )
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: mapping file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; save the mapping as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    try:
        raw = yaml.load(text, Loader=MappingLoader)  # noqa: S506 (a SafeLoader, stricter)
    except _Refused as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = ""
        if "\t" in text:
            hint = "; YAML does not allow tabs for indentation, use spaces"
        raise ConfigError(f"{path}: {where}not valid YAML ({problem}){hint}") from None
    if raw is None:
        raise ConfigError(f"{path}: the mapping file is empty; start from mappings/example.yaml")
    if implied_timezone and isinstance(raw, dict) and raw.get("timezone") is None:
        raw = {**raw, "timezone": implied_timezone}
    return parse_mapping(raw, path)


def mapping_yaml(mapping: MappingConfig) -> str:
    """The mapping as YAML text (for a run folder), with the source file named.

    A literal lead token is left out (run folders get shared; the token must not be in
    them): rerun takes it from the source file, a given token or ${TRACKDRIVE_LEAD_TOKEN}.
    """
    header = f"# mapping of this run, from {mapping.path}\n"
    raw = dict(mapping.raw)
    if mapping.token.literal:
        del raw["lead_token"]
        header += f"# lead_token: the literal of {mapping.path}, not copied here\n"
    return header + yaml.dump(raw, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)


def reschedule_mapping(
    base: MappingConfig | None,
    path: Path | None,
    caller_id_column: str,
    region: str | None,
    timezone: str | None,
) -> MappingConfig:
    """The mapping of a reschedule: ``base``'s token, endpoint and send settings, one field.

    Built as YAML and parsed like any mapping, so a run folder's copy reruns the same way.
    """
    raw: dict[str, Any] = dict(base.raw) if base else {"version": 1}
    raw.pop("data", None)
    raw.pop("include_unmapped_columns", None)
    raw["fields"] = {"caller_id": caller_id_column}
    raw["region"] = region or raw.get("region", "US")
    if timezone:
        raw["timezone"] = timezone
    return parse_mapping(raw, path or Path("(reschedule options)"))


def resolve_token(mapping: MappingConfig, override: str | None) -> str | None:
    """The lead token to send with: ``override``, the mapping's, or the environment's.

    Returns None when the token comes from a column (each row carries its own).
    Raises ConfigError when no token can be found.
    """
    if override:
        return override
    src = mapping.token
    if src.column is not None:
        return None
    if src.literal:
        return src.literal
    env_name = src.env or TOKEN_ENV
    value = os.environ.get(env_name, "").strip()
    if value:
        return value
    if src.env:
        raise ConfigError(
            f"{mapping.path}: lead_token: environment variable {src.env} is not set; "
            f"export it or pass {mention(Setting.LEAD_TOKEN)}"
        )
    raise ConfigError(
        f"{mapping.path}: lead_token: no lead token; set lead_token in the mapping, "
        f"export {TOKEN_ENV}, or pass {mention(Setting.LEAD_TOKEN)}"
    )


def closest_header(name: str, headers: Iterable[str]) -> str:
    """'; did you mean X?' for the header closest to ``name`` (case-insensitive), or ''."""
    by_lower = {h.lower(): h for h in headers}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.5)
    return f"; did you mean '{by_lower[close[0]]}'?" if close else ""
