"""Turn a chunk of spreadsheet rows into validated Trackdrive request bodies, column-wise.

The JSON bodies are assembled with vectorized string operations instead of one
``json.dumps`` per row: on a million rows that is the difference between seconds and
tens of seconds. Values that need JSON escaping go through ``json.dumps`` one by one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import Enum

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.clean._columns import (
    Memo,
    Normalized,
    byte_table,
    join_text,
    matches,
    quote_text,
    rows_with_bytes,
    text_array,
    text_series,
    to_mask,
    utf8_buffers,
)
from importer.clean._hours import Guarded, guard_hours, lead_zones
from importer.clean._names import split_names
from importer.clean._normalize import (
    normalize_booleans,
    normalize_choices,
    normalize_emails,
    normalize_integers,
    normalize_strings,
    snake_case,
)
from importer.clean._phones import normalize_phones, phone_timezone
from importer.clean._times import dates_without_time, normalize_times
from importer.clean._warnings import CELL_SEPARATOR, EMAIL_DROPPED, WARNING_SEPARATOR
from importer.config import (
    SCHEDULED,
    ZONE_HELP,
    Duplicates,
    FieldSpec,
    FieldType,
    MappingConfig,
    closest_header,
    resolve_region,
    resolve_zone,
    token_fingerprint,
)
from importer.errors import ConfigError, InputError, Setting, mention
from importer.read import Chunk, Table, find_column

# Characters that a JSON string cannot hold as they are (RE2 syntax, for pyarrow).
_NEEDS_ESCAPE = r'["\\\x00-\x1f\x7f\x{2028}\x{2029}]'
# Their bytes (0xE2 leads U+2028 and U+2029, and other characters: RE2 decides).
_JSON_BYTES = byte_table(below=0x20, also=b'"\\\x7f\xe2')


class RowStatus(Enum):
    """Every status a row can end a run with."""

    VALID = "valid"
    INVALID = "invalid"
    SKIPPED = "skipped"
    SUCCESS = "success"
    FAILED = "failed"
    NOT_SENT = "not_sent"


@dataclass(frozen=True, slots=True)
class BoundField:
    """A field spec tied to a frame column (or a constant already normalized)."""

    spec: FieldSpec
    label: str | None  # frame column; None for a constant
    constant: str  # normalized constant value ("" when from a column)
    fallback_labels: tuple[str, ...] = ()  # frame columns of spec.fallbacks


@dataclass(frozen=True, slots=True)
class Plan:
    """A mapping bound to one table: which frame column feeds which value."""

    mapping: MappingConfig
    fields: tuple[BoundField, ...]
    data: tuple[BoundField, ...]
    token: str | None  # the run's token; None when unknown (validate) or per-row
    token_label: str | None  # frame column holding a token per row
    mapped_labels: frozenset[str]
    zone_label: str | None = None  # frame column naming each row's time zone
    region_label: str | None = None  # frame column naming each row's country
    # Per time field: the values read in earlier chunks (see Memo), by id of the field.
    memos: dict[int, Memo] = dataclass_field(default_factory=dict)


def bind(mapping: MappingConfig, table: Table, token: str | None) -> Plan:
    """Check that every mapped column exists in ``table`` and tie the mapping to it."""
    used: set[str] = set()

    def label_for(spec_key: str, column: str) -> str:
        label = find_column(table, column)
        if label is None:
            shown = ", ".join(f"'{h}'" for h in table.headers[:30])
            more = f" and {len(table.headers) - 30} more" if len(table.headers) > 30 else ""
            other = table.sheet_with(column)
            if other is not None:
                raise ConfigError(
                    f"{mapping.path}: {spec_key}: no column named '{column}' in sheet "
                    f"'{table.sheet}' of {table.path.name}, but sheet '{other}' has one: "
                    f"pass {mention(Setting.SHEET, repr(other))}"
                )
            below = table.header_row_of(column)
            if below is not None:
                raise ConfigError(
                    f"{mapping.path}: {spec_key}: no column named '{column}' in row 1 of "
                    f"{table.path.name}, but row {below} has one: the column names must be in "
                    f"row 1, so delete {table.rows_above(below)} above them"
                )
            raise ConfigError(
                f"{mapping.path}: {spec_key}: no column named '{column}' in {table.path.name}. "
                f"The file has: {shown}{more}{closest_header(column, table.headers)}"
            )
        if column.strip().lower() in {d.strip().lower() for d in table.duplicate_headers}:
            raise ConfigError(
                f"{mapping.path}: {spec_key}: {table.path.name} has more than one column named "
                f"'{column}'; rename one of them so the mapping is unambiguous"
            )
        used.add(label)
        return label

    def bound(prefix: str, spec: FieldSpec) -> BoundField:
        key = f"{prefix}.{spec.name}"
        if spec.column is not None:
            others = tuple(label_for(f"{key}.column", c) for c in spec.fallbacks)
            return BoundField(spec, label_for(key, spec.column), "", others)
        norm = _normalizer(spec, mapping)(pd.Series([spec.value or ""], dtype="str"))
        if norm.errors.iloc[0]:
            raise ConfigError(f"{mapping.path}: {key}.value: {norm.errors.iloc[0]}")
        return BoundField(spec, None, str(norm.values.iloc[0]))

    fields = tuple(bound("fields", s) for s in mapping.fields)
    data = [bound("data", s) for s in mapping.data]
    token_label = label_for("lead_token", mapping.token.column) if mapping.token.column else None
    zone_label = (
        label_for("timezone.column", mapping.timezone_column) if mapping.timezone_column else None
    )
    region_label = (
        label_for("region.column", mapping.region_column) if mapping.region_column else None
    )
    if mapping.include_unmapped_columns:
        taken = {d.spec.name for d in data}
        # A failures.csv imported again: its row and error columns are ours, not the lead's.
        ours = failure_columns(table.headers)
        for i, (header, label) in enumerate(zip(table.headers, table.columns, strict=True)):
            if label in used or label == token_label or i < ours:
                continue
            key = snake_case(header) or "column"
            base, n = key, 2
            while key in taken:
                key, n = f"{base}_{n}", n + 1
            taken.add(key)
            data.append(BoundField(FieldSpec(key, FieldType.STRING, column=header), label, ""))
    return Plan(
        mapping=mapping,
        fields=fields,
        data=tuple(data),
        token=token,
        token_label=token_label,
        mapped_labels=frozenset(used),
        zone_label=zone_label,
        region_label=region_label,
    )


def _normalizer(
    spec: FieldSpec, mapping: MappingConfig, memo: Memo | None = None
) -> Callable[[pd.Series], Normalized]:
    t = spec.type
    if t is FieldType.PHONE:
        return lambda s: normalize_phones(s, mapping.region)
    if t is FieldType.TIME:
        # parse_mapping refuses a time column without a zone; UTC is never reached here.
        zone = mapping.timezone or "UTC"
        return lambda s: normalize_times(s, zone, mapping.date_order, memo)
    if t is FieldType.INTEGER:
        return normalize_integers
    if t is FieldType.BOOLEAN:
        return normalize_booleans
    if t is FieldType.EMAIL:
        return normalize_emails
    if t is FieldType.CHOICE:
        return lambda s: normalize_choices(s, spec.choices)
    if spec.part is not None:
        part = spec.part
        return lambda s: split_names(s, part)
    return normalize_strings


TEXT = _TEXT = pa.large_string()
_EMPTY = pa.scalar("", _TEXT)
# What failures.csv puts in a token column instead of the token, and the columns it adds
# before the original ones; both are recognised when that file is imported again.
TOKEN_HIDDEN = "(hidden: lead token)"
FAILURE_COLUMNS = ("row", "error")
ORIGINAL_ROW = "original_row"  # after them in a re-import's failures: the first file's row


def failure_columns(headers: list[str]) -> int:
    """How many leading columns of a failures file imported again are ours, not the lead's."""
    if tuple(headers[:2]) != FAILURE_COLUMNS:
        return 0
    return 3 if headers[2:3] == [ORIGINAL_ROW] else 2


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, _TEXT)


def _json_inner(values: pa.Array) -> pa.Array:
    """Each value as it goes between a JSON string's quotes (escaped where it must be)."""
    needs = rows_with_bytes(values, _JSON_BYTES)
    if not needs.any():
        return values
    needs[needs] = matches(pc.filter(values, pa.array(needs)), _NEEDS_ESCAPE)
    if not needs.any():
        return values
    needs = pa.array(needs)
    escaped = [
        json.dumps(v, ensure_ascii=False)[1:-1] for v in pc.filter(values, needs).to_pylist()
    ]
    return pc.replace_with_mask(values, needs, pa.array(escaped, _TEXT))


def _has_text(values: pa.Array) -> bool:
    """Whether any value is not empty: from the offsets, without a pass over the text."""
    if isinstance(values, pa.LargeStringArray) and not values.null_count:
        offsets, _ = utf8_buffers(values)
        return bool(offsets[-1] > offsets[0])
    return bool(pc.any(pc.not_equal(values, _EMPTY)).as_py())


def _replace_head(values: pa.Array, length: int, head: str) -> pa.Array:
    """Each value with its first ``length`` characters replaced by ``head``."""
    # utf8_replace_slice touches only the head; utf8_slice_codeunits walks each whole
    # string and was 20 times slower on a chunk of bodies.
    return pc.utf8_replace_slice(values, 0, length, head)


def _join(parts: list[pa.Array], sep: str, length: int) -> pa.Array:
    """Join the non-empty parts of each row with ``sep``.

    A part with no text in this chunk (most error and warning columns, most of the time)
    costs nothing; each other non-empty part gets ``sep`` in front, all are concatenated,
    and the first ``sep`` is cut off. pyarrow's own null-skipping join drops whole rows
    in this version.
    """
    parts = [p for p in parts if _has_text(p)]
    if not parts:
        return pa.array([""] * length, _TEXT)
    if len(parts) == 1:
        return parts[0]
    tagged = [_unless_empty(p, join_text(sep, p)) for p in parts]
    return _replace_head(join_text(*tagged), len(sep), "")


def _unless_empty(values: pa.Array, then: pa.Array) -> pa.Array:
    """``then`` where ``values`` is not empty, else ""."""
    empty = pc.equal(values, _EMPTY)
    if not pc.any(empty).as_py():
        return then
    return pc.if_else(empty, _EMPTY, then)


def _prefixed(column: pa.Array | pa.Scalar, messages: pa.Array) -> pa.Array:
    """Each message led by its column's name (``Phone: …``); "" stays ""."""
    if not _has_text(messages):  # most columns of most chunks: nothing to say
        return messages
    return _unless_empty(messages, join_text(column, ": ", messages))


def _member(field: BoundField, values: pa.Array, *, in_data: bool) -> pa.Array:
    """The ``,"name":value`` JSON member of each row (comma first), or "" where the value
    is empty; ``_object`` cuts the first comma."""
    key = json.dumps(field.spec.name, ensure_ascii=False)
    if not in_data and field.spec.type in (FieldType.INTEGER, FieldType.BOOLEAN):
        return _unless_empty(values, join_text(f",{key}:", values))
    return _unless_empty(values, join_text(f',{key}:"', _json_inner(values), '"'))


def _object(members: list[pa.Array], length: int, name: str | None = None) -> pa.Array:
    """Each row's members (each led by a comma, or "") as a JSON object: ``{...}``, or
    with a ``name`` the member ``,"name":{...}`` ("" where the row has no member)."""
    members = [m for m in members if _has_text(m)]
    if not members:
        return pa.array(["" if name else "{}"] * length, _TEXT)
    joined = members[0] if len(members) == 1 else join_text(*members)
    if name is None:  # "" becomes "{}"
        return join_text(_replace_head(joined, 1, "{"), "}")
    opened = _replace_head(joined, 1, f",{json.dumps(name)}:{{")
    return _unless_empty(joined, join_text(opened, "}"))


# After a warning that strict: true makes an error: nothing was moved, dropped or sent.
STRICT_REFUSED = " (not sent: the mapping says strict: true)"


def _message(where: pa.Array, text: str) -> pa.Array:
    """``text`` on the rows where the boolean array ``where`` is true, else ""."""
    return pc.if_else(where, _text(text), _EMPTY)


def build_rows(chunk: Chunk, plan: Plan, *, bodies: bool = True) -> pd.DataFrame:
    """Validate and encode one chunk.

    Returns a frame indexed by row number with the columns ``status`` (valid/invalid),
    ``error``, ``caller_id``, ``email``, ``key`` (the duplicate/ordering key),
    ``payload`` (JSON body without the token), ``token`` (a per-row token, else "") and,
    when the mapping lists fallback columns, ``note`` (which column a value came from, when
    not the first).
    The work is done on pyarrow arrays: a million rows take about a second.
    """
    frame = chunk.frame
    index = frame.index
    n = len(frame)
    errors: list[pa.Array] = []
    members: list[pa.Array] = []
    data_members: list[pa.Array] = []
    normalized: dict[str, pa.Array] = {}
    mapping = plan.mapping

    notes: list[pa.Array] = []
    warnings: list[pa.Array] = []
    # strict: each warning is one of the row's errors, with the errors' separator
    between = " | " if mapping.strict else WARNING_SEPARATOR
    email_at: int | None = None  # where the email's errors are in ``errors``
    rows = _RowSettings(frame, plan)
    errors.extend(rows.errors)
    for group, in_data in ((plan.fields, False), (plan.data, True)):
        for field in group:
            scheduled = not in_data and field.spec.name in SCHEDULED
            if field.label is None and not rows.per_row(field) and not scheduled:
                values = pa.array([field.constant] * n, _TEXT)
            else:
                cells, source = rows.cells(field)
                norm = rows.normalize(field)
                values = text_array(norm.values)
                errs = text_array(norm.errors)
                first = _text(f"{field.spec.column or field.label or field.spec.name}")
                column = first if source is None else pc.if_else(_blank(source), first, source)
                if norm.warnings is not None:
                    warnings.append(_each_prefixed(text_array(norm.warnings), column, between))
                if scheduled:
                    guarded = rows.guard(values, cells)
                    values = guarded.values
                    warnings.append(_prefixed(column, guarded.warnings))
                    errs = pc.if_else(pc.equal(errs, _EMPTY), guarded.errors, errs)
                if field.spec.name == "email" and not in_data:
                    email_at = len(errors)
                errors.append(_prefixed(column, errs))
                if source is not None:
                    # Which fallback column gave the value: a fact for results, not an error.
                    taken = f"{field.spec.name} from '"
                    notes.append(_unless_empty(source, join_text(taken, source, "'")))
                if field.spec.required and field.label is not None:
                    missing = pc.and_(_blank(text_array(cells)), pc.equal(errs, _EMPTY))
                    named = " or ".join(field.spec.columns)
                    errors.append(_message(missing, f"{named}: required but empty"))
            if not in_data:
                normalized[field.spec.name] = values
            if bodies:
                (data_members if in_data else members).append(
                    _member(field, values, in_data=in_data)
                )

    empty = pa.array([""] * n, _TEXT)
    caller = normalized.get("caller_id", empty)
    email = normalized.get("email", empty)
    if email_at is not None and not mapping.strict:
        # An email the tool cannot accept on a row whose phone is good: the lead goes
        # without it, and the row says so.
        refused = errors[email_at]
        phoned = pc.and_(pc.not_equal(caller, _EMPTY), pc.not_equal(refused, _EMPTY))
        errors[email_at] = pc.if_else(phoned, _EMPTY, refused)
        dropped = join_text(refused, f", so {EMAIL_DROPPED}")
        warnings.append(pc.if_else(phoned, dropped, _EMPTY))
    neither = pc.and_(pc.equal(caller, _EMPTY), pc.equal(email, _EMPTY))
    errors.append(_message(neither, _who_is_missing(mapping)))

    if plan.token_label is not None:
        tokens = pc.utf8_trim_whitespace(text_array(frame[plan.token_label]))
        errors.append(
            _message(pc.equal(tokens, _EMPTY), f"{mapping.token.column}: no lead token in this row")
        )
        errors.append(
            _message(
                pc.equal(tokens, pa.scalar(TOKEN_HIDDEN, _TEXT)),
                f"{mapping.token.column}: the lead token was hidden when failures.csv was "
                "written; type this row's token back into the cell",
            )
        )
        encoded = pc.dictionary_encode(tokens)
        prints = pa.array([token_fingerprint(t) for t in encoded.dictionary.to_pylist()], _TEXT)
        fingerprint = pc.take(prints, encoded.indices)
    else:
        tokens = empty
        fingerprint = pa.array([token_fingerprint(plan.token) if plan.token else ""] * n, _TEXT)

    if chunk.problems:
        problem = pd.Series(chunk.problems, dtype="str").reindex(index, fill_value="")
        errors.insert(0, text_array(problem))

    if bodies:
        members.append(_object(data_members, n, "data"))
        body = _object(members, n)
    else:  # a pass that only needs each row's status and key (duplicates: last)
        body = empty
    if mapping.strict:  # a warned row is invalid instead, each warning one of its errors
        # said as refused: the warning's own words tell what would have been sent
        errors.extend(_unless_empty(w, join_text(w, STRICT_REFUSED)) for w in warnings)
        warnings = []
    error = _join(errors, " | ", n)  # results.ERROR_SEPARATOR
    lead = pc.if_else(pc.equal(caller, _EMPTY), join_text("email:", pc.utf8_lower(email)), caller)
    key = join_text(fingerprint, ":", lead)
    status = pc.if_else(
        pc.equal(error, _EMPTY), _text(RowStatus.VALID.value), _text(RowStatus.INVALID.value)
    )
    return pd.DataFrame(
        {
            name: text_series(arr, index)
            for name, arr in (
                ("status", status),
                ("error", error),
                ("caller_id", caller),
                ("email", email),
                ("key", key),
                ("payload", body),
                ("token", tokens),
                ("warnings", _join(warnings, WARNING_SEPARATOR, n)),
                # Only a mapping with fallback columns has notes (results' "note" column).
                *((("note", _join(notes, "; ", n)),) if notes else ()),
            )
        },
        index=index,
    )


def _each_prefixed(warned: pa.Array, column: pa.Array | pa.Scalar, between: str) -> pa.Array:
    """A cell's warnings (CELL_SEPARATOR between them) each led by its column, joined."""
    parts = pc.split_pattern(warned, CELL_SEPARATOR)
    parents = pc.list_parent_indices(parts)
    named = column if isinstance(column, pa.Scalar) else pc.take(column, parents)
    each = join_text(named, ": ", pc.list_flatten(parts))
    rebuilt = pa.ListArray.from_arrays(parts.offsets, each)
    return _unless_empty(warned, pc.binary_join(rebuilt, _text(between)))


def _blank(values: pa.Array) -> pa.Array:
    return pc.equal(pc.utf8_trim_whitespace(values), _EMPTY)


def _grouped(
    s: pd.Series, keys: pa.Array, normalize: Callable[[pd.Series, str], Normalized]
) -> Normalized:
    """Normalize ``s`` once per group of rows that share a key (a zone, a region).

    Each group is vectorised over its distinct values, so the work is one pass per distinct
    (value, key) pair; rows whose key is "" (a zone or country that names none, reported
    on its own) are left empty.
    """
    encoded = pc.dictionary_encode(keys)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    values: list[pd.Series] = []
    errors: list[pd.Series] = []
    warnings: list[pd.Series] = []
    for i, key in enumerate(encoded.dictionary.to_pylist()):
        if not key:
            continue
        norm = normalize(s[codes == i], key)
        values.append(norm.values)
        errors.append(norm.errors)
        if norm.warnings is not None:
            warnings.append(norm.warnings)
    blank = pd.Series([], dtype=s.dtype)

    def spread(parts: list[pd.Series]) -> pd.Series:
        return pd.concat([blank, *parts]).reindex(s.index, fill_value="").astype("str")

    return Normalized(spread(values), spread(errors), spread(warnings))


class _RowSettings:
    """One chunk's per-row zone and region, and its fields' normalized values."""

    def __init__(self, frame: pd.DataFrame, plan: Plan) -> None:
        self.frame = frame
        self.plan = plan
        self.mapping = plan.mapping
        self.errors: list[pa.Array] = []
        self._norms: dict[int, Normalized] = {}  # by id(field)
        self._zones: pa.Array | None = None
        self.regions: pa.Array | None = None
        if plan.region_label is not None:
            self.regions = self._per_row(
                plan.region_label,
                self.mapping.region_column or "",
                self.mapping.region,
                resolve_region,
                "is not a country; write an ISO code like US, CA, GB or a country name",
            )
        if plan.zone_label is not None:
            self._zones = self._per_row(
                plan.zone_label,
                self.mapping.timezone_column or "",
                self.mapping.timezone or "",
                resolve_zone,
                f"is not a time zone; {ZONE_HELP}",
            )

    def _per_row(
        self,
        label: str,
        column: str,
        default: str,
        resolve: Callable[[str], str | None],
        problem: str,
    ) -> pa.Array:
        """Each row's setting from ``label`` ("" where it names none, with a row error)."""
        cells = pc.utf8_trim_whitespace(text_array(self.frame[label]))
        encoded = pc.dictionary_encode(cells)
        names: list[str] = []
        messages: list[str] = []
        for cell in encoded.dictionary.to_pylist():
            name = (resolve(cell) or "") if cell else default
            names.append(name)
            if name:
                messages.append("")
            elif cell:
                messages.append(f"{column}: {quote_text(cell)} {problem}")
            else:
                messages.append(f"{column}: empty, and the mapping names no default")
        self.errors.append(pc.take(pa.array(messages, _TEXT), encoded.indices))
        return pc.take(pa.array(names, _TEXT), encoded.indices)

    def cells(self, field: BoundField) -> tuple[pd.Series, pa.Array | None]:
        """The cells a field reads: the first non-empty of its columns, and per row the
        fallback column it came from ("" for the first); None without fallbacks."""
        if field.label is None:  # a constant, read in each row's zone or region
            value = field.spec.value or ""
            return pd.Series([value] * len(self.frame), self.frame.index, dtype="str"), None
        if not field.fallback_labels:
            return self.frame[field.label], None
        chosen = text_array(self.frame[field.label])
        source = pa.array([""] * len(chosen), _TEXT)
        for column, label in zip(field.spec.fallbacks, field.fallback_labels, strict=True):
            other = text_array(self.frame[label])
            take = pc.and_(_blank(chosen), pc.invert(_blank(other)))
            chosen = pc.if_else(take, other, chosen)
            source = pc.if_else(take, _text(column), source)
        return text_series(chosen, self.frame.index), source

    def per_row(self, field: BoundField) -> bool:
        """Whether the field's values depend on each row's zone or region."""
        if field.spec.type is FieldType.PHONE:
            return self.regions is not None
        if field.spec.type is FieldType.TIME:
            return bool(self.mapping.timezone_column or self.mapping.timezone_from)
        return False

    def normalize(self, field: BoundField) -> Normalized:
        """The field's normalized values, in each row's zone or region where the mapping
        reads them per row."""
        key = id(field)
        if key in self._norms:
            return self._norms[key]
        cells, _ = self.cells(field)
        spec, mapping = field.spec, self.mapping
        if spec.type is FieldType.PHONE and self.regions is not None:
            norm = _grouped(cells, self.regions, normalize_phones)
        elif self.per_row(field):
            zones = self.zones()
            order = mapping.date_order
            norm = _grouped(cells, zones, lambda s, zone: normalize_times(s, zone, order))
        else:
            memo = None
            if spec.type is FieldType.TIME:
                memo = self.plan.memos.setdefault(id(field), Memo())
            norm = _normalizer(spec, mapping, memo)(cells)
        self._norms[key] = norm
        return norm

    def guard(self, values: pa.Array, cells: pd.Series) -> Guarded:
        """A scheduled time column moved into the mapping's calling hours, in each lead's
        zone (see ``guard_hours``)."""
        read_zones = (
            self.zones()
            if self.mapping.timezone_column or self.mapping.timezone_from
            else pa.array([self.mapping.timezone or "UTC"] * len(values), _TEXT)
        )
        date_only = dates_without_time(cells)
        if self.mapping.calling_hours is None:
            return guard_hours(values, text_array(cells), date_only, read_zones, read_zones, None)
        caller = next((f for f in self.plan.fields if f.spec.name == "caller_id"), None)
        if caller is None:
            phones = pa.array([""] * len(values), _TEXT)
        elif caller.label is None and not self.per_row(caller):
            phones = pa.array([caller.constant] * len(values), _TEXT)
        else:
            phones = text_array(self.normalize(caller).values)
        phones = pc.if_else(pc.equal(values, _EMPTY), _EMPTY, phones)  # only rows with a time
        zones = lead_zones(phones, read_zones)
        return guard_hours(
            values, text_array(cells), date_only, read_zones, zones, self.mapping.calling_hours
        )

    def zones(self) -> pa.Array:
        """Each row's zone: from its zone column, or from its phone number's zone."""
        if self._zones is None:
            default = self.mapping.timezone or ""
            caller = next(
                (f for f in self.plan.fields if f.spec.name == self.mapping.timezone_from), None
            )
            n = len(self.frame)
            if caller is None or caller.label is None:
                phones = pa.array([caller.constant if caller else ""] * n, _TEXT)
            else:
                phones = text_array(self.normalize(caller).values)
            encoded = pc.dictionary_encode(phones)
            # Per distinct number: phone_timezone parses each, so a list of a million
            # different numbers costs seconds here, and only with from: caller_id.
            names = [
                (phone_timezone(p) if p else None) or default
                for p in encoded.dictionary.to_pylist()
            ]
            self._zones = pc.take(pa.array(names, _TEXT), encoded.indices)
        return self._zones


def _who_is_missing(mapping: MappingConfig) -> str:
    names = []
    for name in ("caller_id", "email"):
        spec = mapping.field(name)
        if spec is not None and spec.column is not None:
            quoted = ", ".join(f"'{c}'" for c in spec.columns)
            names.append(f"{name} ({quoted})")
    listed = " or ".join(names) or "caller_id or email"
    return f"no {listed}: a lead needs a phone number or an email"


class _KeyNumbers:
    """Number each distinct key in the order it first appears, exactly, in little memory.

    Hand-written because no library here offers an incremental string -> int map outside
    Python objects: a dict of a million key strings costs about 200 MB, here each key is
    kept once as Arrow text (its bytes and an 8-byte offset) beside a sorted array of
    64-bit hashes and the key's number, about 40 bytes a key. A hash only points at a
    candidate: the key itself is compared, so keys that share a hash stay distinct.
    """

    def __init__(self) -> None:
        self._hashes = np.empty(0, np.uint64)  # sorted
        self._numbers = np.empty(0, np.int32)  # the key number of each hash
        self._keys: list[pa.Array] = []  # the distinct keys in number order, in pieces
        self._starts = np.zeros(1, np.int64)  # the number of each piece's first key
        self.count = 0

    def number(self, keys: pa.Array) -> np.ndarray:
        """Each key's number; keys not seen before are numbered on, in order."""
        encoded = pc.dictionary_encode(keys)
        distinct = encoded.dictionary
        hashes = pd.util.hash_array(distinct.to_numpy(zero_copy_only=False))
        numbers = self._find(distinct, hashes)
        new = np.flatnonzero(numbers < 0)
        if len(new):
            numbers[new] = np.arange(self.count, self.count + len(new))
            order = np.argsort(hashes[new], kind="stable")
            at = np.searchsorted(self._hashes, hashes[new][order])
            self._hashes = np.insert(self._hashes, at, hashes[new][order])
            self._numbers = np.insert(self._numbers, at, numbers[new][order])
            # 32-bit offsets: a piece of keys is far below 2 GB
            self._keys.append(pc.take(distinct, pa.array(new)).cast(pa.string()))
            self.count += len(new)
            self._starts = np.append(self._starts, self.count)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        return numbers[codes]

    def _find(self, distinct: pa.Array, hashes: np.ndarray) -> np.ndarray:
        """The number of each of ``distinct`` (keys unique among themselves), -1 if new."""
        numbers = np.full(len(distinct), -1, np.int64)
        low = np.searchsorted(self._hashes, hashes, "left")
        high = np.searchsorted(self._hashes, hashes, "right")
        one = np.flatnonzero(high - low == 1)  # nearly every key seen before
        if len(one):
            candidates = self._numbers[low[one]]
            same = to_mask(pc.equal(self._key_at(candidates), pc.take(distinct, pa.array(one))))
            numbers[one[same]] = candidates[same]
        for i in np.flatnonzero(high - low > 1):  # keys that share a hash: compare each
            candidates = self._numbers[low[i] : high[i]]
            same = to_mask(pc.equal(self._key_at(candidates), distinct[int(i)]))
            if same.any():
                numbers[i] = candidates[same][0]
        return numbers

    def _key_at(self, numbers: np.ndarray) -> pa.Array:
        """The keys numbered ``numbers``, in that order."""
        piece = np.searchsorted(self._starts, numbers, "right") - 1
        parts: list[pa.Array] = []
        places: list[np.ndarray] = []
        for p in np.unique(piece):
            where = np.flatnonzero(piece == p)
            parts.append(pc.take(self._keys[p], pa.array(numbers[where] - self._starts[p])))
            places.append(where)
        if not parts:
            return pa.array([], _TEXT)
        order = np.argsort(np.concatenate(places))
        return pc.take(pa.concat_arrays(parts), pa.array(order)).cast(_TEXT)


class DuplicateTracker:
    """Apply the mapping's ``duplicates:`` rule across chunks.

    ``first`` remembers the first row of every key as rows stream by. ``last`` needs to
    know the last row of every key before the first row is sent, so it is fed a pre-pass
    (``note_last``) over the same rows in the same order, and the second pass reads each
    row's key number back by position. Keys are numbered by ``_KeyNumbers``, so a million
    keys cost tens of MB, not a Python dict. Nothing is kept for ``all``.
    """

    def __init__(self, rule: Duplicates) -> None:
        self.rule = rule
        self._numbers: _KeyNumbers | None = _KeyNumbers() if rule is not Duplicates.ALL else None
        # Row numbers in 32 bits (a file of 4 billion rows is no lead list): 4 bytes a key.
        self._first = np.empty(0, np.uint32)  # first: per key number, its first row
        self._keys: list[np.ndarray] = []  # last, pre-pass: the valid rows' key numbers
        self._rows: list[np.ndarray] = []  # ... and their row numbers
        self._last: np.ndarray | None = None  # last: per key number, its last row
        self._key_of: np.ndarray | None = None  # last: per valid row, its key number
        self._row_of: np.ndarray | None = None  # last: per valid row, its row number
        self._taken = 0  # last: valid rows consumed by apply()

    def _number(self, keys: pd.Series) -> np.ndarray:
        assert self._numbers is not None
        return self._numbers.number(text_array(keys))

    def note_last(self, rows: pd.DataFrame) -> None:
        """Pre-pass for ``last``: note the key of every valid row of a built chunk."""
        valid = rows[rows["status"] == RowStatus.VALID.value]
        self._keys.append(self._number(valid["key"]).astype(np.int32))
        self._rows.append(valid.index.to_numpy(dtype="uint32"))

    def number_keys(self) -> None:
        """End of the pre-pass for ``last``: find each key's last row."""
        count = self._numbers.count if self._numbers is not None else 0
        self._numbers = None  # the keys themselves are not needed any more
        self._key_of = np.concatenate(self._keys) if self._keys else np.empty(0, np.int32)
        self._row_of = np.concatenate(self._rows) if self._rows else np.empty(0, "uint32")
        self._keys, self._rows = [], []
        self._last = np.zeros(count, dtype="uint32")
        np.maximum.at(self._last, self._key_of, self._row_of)

    def apply(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Mark the valid rows this rule drops as ``skipped`` with 'duplicate of row N'."""
        if self.rule is Duplicates.ALL:
            return rows
        valid = rows["status"] == RowStatus.VALID.value
        numbers = rows.index[valid].to_numpy(dtype="int64")
        if self.rule is Duplicates.FIRST:
            assert self._numbers is not None
            before = self._numbers.count
            keys = self._number(rows["key"][valid])
            if self._numbers.count > len(self._first):
                grown = np.empty(max(self._numbers.count, len(self._first) * 5 // 4), np.uint32)
                grown[: len(self._first)] = self._first
                self._first = grown
            # a key first seen in this chunk: its first row is its first occurrence here
            fresh = np.flatnonzero(keys >= before)
            seen, first = np.unique(keys[fresh], return_index=True)
            self._first[seen] = numbers[fresh[first]]
            keep = self._first[keys]
        else:
            if self._last is None:
                self.number_keys()
            assert self._key_of is not None and self._row_of is not None
            assert self._last is not None
            end = self._taken + len(numbers)
            if not np.array_equal(self._row_of[self._taken : end], numbers):
                raise InputError(
                    "the file changed while it was being read (duplicates: last reads it "
                    "twice); run again once it is no longer being written"
                )
            keep = self._last[self._key_of[self._taken : end]]
            self._taken = end
        keeper = pd.Series(keep, index=rows.index[valid], dtype="int64")
        dup = keeper[keeper != keeper.index.to_series()]
        if not dup.empty:
            rows = rows.copy()
            rows.loc[dup.index, "status"] = RowStatus.SKIPPED.value
            rows.loc[dup.index, "error"] = "duplicate of row " + dup.astype("str")
        return rows
