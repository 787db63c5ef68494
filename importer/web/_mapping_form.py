"""The mapping as a table of choices: one row per column of the file, plus the settings.

``read_form`` turns a mapping document (the YAML's parsed keys) into what the page shows;
``apply_choices`` turns the posted choices back into a mapping document, on top of the one
the table was made from, so every key the table cannot edit (constants, fallback lists,
``timezone: {from: caller_id}``, a per-row token, keys it does not know) is kept as written.
The text the page then checks and saves is ``dump_mapping``'s, read back by ``load_mapping``
like any mapping file, so the page and the command line read the same mapping.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from importer.clean import snake_case
from importer.config import PARAMETERS, Duplicates

IGNORE = "ignore"
DATA = "data"
FIELD = "field:"  # a choice "field:caller_id" maps the column to that Trackdrive parameter
DATE_ORDERS = ("MDY", "DMY")
DUPLICATES = tuple(d.value for d in Duplicates)
SEND_SETTINGS = ("rate", "concurrency", "max_attempts", "timeout_s")
# The settings the table edits, each a text box or a list; the rest of the keys are kept.
SETTINGS = ("endpoint", "region", "timezone", "date_order", "duplicates", "calling_hours")
SWITCHES = ("include_unmapped_columns", "strict")  # true or false, each a tick box
TABLE_KEYS = ("version", *SETTINGS, "lead_token", "send", "fields", "data", *SWITCHES)
_ENV = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")

Match = Callable[[str], int | None]  # a column name of the mapping -> the file's column index


class FormError(ValueError):
    """Choices that make no mapping (the same parameter for two columns); said on the page."""


@dataclass(frozen=True, slots=True)
class ColumnRow:
    """One column of the file: its samples and what the mapping does with it."""

    index: int
    header: str
    samples: tuple[str, ...]
    choice: str  # IGNORE, DATA or FIELD + parameter
    token: str  # the data token's name (a suggestion when the column is not a data token)
    entry: tuple[str, str] | None  # ("fields" | "data", name) of the mapping entry it edits


@dataclass(frozen=True, slots=True)
class MapForm:
    """What the page shows of a mapping: the column rows, the settings, the kept keys."""

    columns: tuple[ColumnRow, ...]
    settings: dict[str, str]  # setting -> the text its box shows ("" = the default)
    fixed: frozenset[str]  # settings written in a form the table cannot edit (kept)
    switches: dict[str, bool]  # the tick boxes: include_unmapped_columns, strict
    kept: tuple[str, ...]  # "key: value" of each entry kept as written

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(value, label) of every choice a column row offers."""
        return [
            (IGNORE, "ignore (not sent)"),
            (DATA, "data token"),
            *((FIELD + name, name) for name in PARAMETERS),
        ]


def literal_token(raw: Mapping[str, Any]) -> bool:
    """Whether the mapping writes a lead token itself (never shown on the page)."""
    token = raw.get("lead_token")
    if isinstance(token, bool) or token is None or isinstance(token, dict):
        return False
    return not _ENV.match(str(token).strip())


def _simple_column(spec: Any) -> str | None:
    """The column of a spec the table can edit: ``Phone`` or ``{column: Phone, …}``."""
    if isinstance(spec, str) and spec.strip():
        return spec.strip()
    if isinstance(spec, dict) and isinstance(spec.get("column"), str) and spec["column"].strip():
        return str(spec["column"]).strip()
    return None


def _said(value: Any) -> str:
    """A kept value as one line of YAML flow text."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _setting_text(raw: Mapping[str, Any], key: str) -> str | None:
    """The text of a setting's box; None when it is written in a form the table cannot edit."""
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        return None
    return str(value)


def read_form(
    raw: Mapping[str, Any],
    headers: Sequence[str],
    samples: Sequence[Sequence[str]],
    match: Match,
) -> MapForm:
    """The table of ``raw`` (a parsed mapping) for a file with ``headers``."""
    owner: dict[int, tuple[str, str, str]] = {}  # column index -> (block, name, choice)
    kept: list[str] = []
    for block in ("fields", "data"):
        entries = raw.get(block)
        if not isinstance(entries, dict):
            if entries not in (None, {}):
                kept.append(f"{block}: {_said(entries)}")
            continue
        for name, spec in entries.items():
            column = _simple_column(spec)
            index = match(column) if column is not None else None
            editable = block == "data" or name in PARAMETERS
            if index is None or index in owner or not editable:
                kept.append(f"{block}.{name}: {_said(spec)}")
                continue
            owner[index] = (block, str(name), DATA if block == "data" else FIELD + str(name))
    columns = []
    for i, header in enumerate(headers):
        found = owner.get(i)
        token = found[1] if found and found[0] == "data" else (snake_case(header) or "column")
        columns.append(
            ColumnRow(
                index=i,
                header=header,
                samples=tuple(samples[i]) if i < len(samples) else (),
                choice=found[2] if found else IGNORE,
                token=token,
                entry=(found[0], found[1]) if found else None,
            )
        )
    settings: dict[str, str] = {}
    fixed = set()
    for key in SETTINGS:
        text = _setting_text(raw, key)
        if text is None:
            fixed.add(key)
            kept.append(f"{key}: {_said(raw[key])}")
        else:
            settings[key] = text
    switches = {}
    for key in SWITCHES:
        value = raw.get(key, False)
        if isinstance(value, bool):
            switches[key] = value
        else:
            fixed.add(key)
            kept.append(f"{key}: {_said(value)}")
    send = raw.get("send")
    if isinstance(send, dict):
        for key in SEND_SETTINGS:
            text = _setting_text(send, key)
            settings[f"send.{key}"] = text if text is not None else ""
        extra = {k: v for k, v in send.items() if k not in SEND_SETTINGS}
        if extra:
            kept.append(f"send: {_said(extra)}")
    else:
        settings.update({f"send.{key}": "" for key in SEND_SETTINGS})
        if send is not None:
            kept.append(f"send: {_said(send)}")
    written = raw.get("lead_token")
    if written is not None:
        shown: Any = "(written in the mapping; not shown here)" if literal_token(raw) else written
        kept.append(f"lead_token: {_said(shown)}")
    for key, value in raw.items():
        if key not in TABLE_KEYS:
            kept.append(f"{key}: {_said(value)}")
    return MapForm(
        columns=tuple(columns),
        settings=settings,
        fixed=frozenset(fixed),
        switches=switches,
        kept=tuple(kept),
    )


def _number(text: str) -> Any:
    """A number typed in a box, as YAML would read it; the text itself when it is none."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # load_mapping says what is wrong with it, naming the key


def apply_choices(
    raw: Mapping[str, Any],
    form: MapForm,
    posted: Mapping[str, str],
) -> dict[str, Any]:
    """The mapping ``raw`` with the table's posted choices applied; FormError if they clash.

    ``posted`` holds ``column-N`` (a choice), ``token-N`` (a data token's name), the
    settings by name (``send.rate``…) and each switch ticked (``strict: yes``).
    """
    new: dict[str, Any] = copy.deepcopy(dict(raw))
    fields, data = _block(new, "fields"), _block(new, "data")
    for row in form.columns:  # the entries the table edits are written again below
        if row.entry is not None:
            block = fields if row.entry[0] == "fields" else data
            if block is not None:
                block.pop(row.entry[1], None)
    kept_fields = set(fields or {})
    kept_data = set(data or {})
    chosen: dict[str, str] = {}  # parameter or token -> the header that feeds it
    for row in form.columns:
        choice = posted.get(f"column-{row.index}", row.choice)
        if choice == IGNORE:
            continue
        original = _original_spec(raw, row)
        if choice == DATA:
            name = posted.get(f"token-{row.index}", row.token).strip()
            if not name:
                raise FormError(f"Name the data token of column '{row.header}'.")
            key, block, kept = f"data token '{name}'", data, kept_data
            same = row.entry == ("data", name)
        elif choice.startswith(FIELD) and choice[len(FIELD) :] in PARAMETERS:
            name = choice[len(FIELD) :]
            key, block, kept = name, fields, kept_fields
            same = row.entry == ("fields", name)
        else:
            raise FormError(f"'{choice}' is no choice for column '{row.header}'.")
        if key in chosen:
            raise FormError(
                f"{key} is chosen for two columns, '{chosen[key]}' and '{row.header}': "
                "choose it for one."
            )
        if name in kept:
            raise FormError(
                f"{key} is already in the mapping, kept as written; choose another for "
                f"'{row.header}', or edit the YAML."
            )
        chosen[key] = row.header
        if block is None:  # the block is written in a form the table keeps as it is
            raise FormError(f"The mapping's {'data' if choice == DATA else 'fields'} block is "
                            "kept as written: edit the YAML.")  # fmt: skip
        block[name] = original if same and original is not None else row.header
    if fields is not None:
        new["fields"] = fields
    if data is not None:
        new["data"] = data or {}
    for key in SETTINGS:
        if key in form.fixed:
            continue
        _set(new, key, posted.get(key, form.settings[key]).strip(), form.settings[key])
    send = new.get("send")
    if send is None or isinstance(send, dict):
        block = dict(send or {})
        for key in SEND_SETTINGS:
            shown = form.settings[f"send.{key}"]
            text = posted.get(f"send.{key}", shown).strip()
            if text != shown:
                if text:
                    block[key] = _number(text)
                else:
                    block.pop(key, None)
        if block:
            new["send"] = block
        else:
            new.pop("send", None)
    for key, shown_on in form.switches.items():
        on = posted.get(key, "") == "yes"
        if on != shown_on:
            new[key] = on
    return _ordered(new)


def _block(raw: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """A copy of the ``fields`` or ``data`` block; None when it is no mapping of keys."""
    value = raw.get(key)
    if value is None:
        return {}
    return dict(value) if isinstance(value, dict) else None


def _original_spec(raw: Mapping[str, Any], row: ColumnRow) -> Any:
    if row.entry is None:
        return None
    block = raw.get(row.entry[0])
    return copy.deepcopy(block.get(row.entry[1])) if isinstance(block, dict) else None


def _set(new: dict[str, Any], key: str, text: str, shown: str) -> None:
    """Write a setting typed in its box; an emptied box means the core's default."""
    if text == shown:
        return
    if not text:
        new.pop(key, None)
    elif key == "date_order":
        new[key] = text.upper()
    else:
        new[key] = text


def _ordered(raw: dict[str, Any]) -> dict[str, Any]:
    """The keys in the order of the mapping files in mappings/, the others after them."""
    order = [k for k in TABLE_KEYS if k in raw]
    return {k: raw[k] for k in [*order, *(k for k in raw if k not in TABLE_KEYS)]}


class _PlainDumper(yaml.SafeDumper):
    """Writes a value used twice out twice: load_mapping refuses YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_mapping(raw: Mapping[str, Any], source: str) -> str:
    """A mapping file's text for ``raw``, with a line saying where it came from."""
    head = (
        f"# Mapping made on the leadimport page for {source}; the command line reads it as is:\n"
        f"#   leadimport run FILE -m THIS_FILE\n"
    )
    body = yaml.dump(dict(raw), Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100)
    return head + body


def without_token(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` without a lead token written in it: the page reads ``$TRACKDRIVE_LEAD_TOKEN``
    or the one typed when sending instead."""
    return {k: v for k, v in raw.items() if k != "lead_token"}


def with_token(text: str, literal: str) -> str:
    """A saved mapping's text with its written lead token put back, after ``version:``."""
    line = yaml.safe_dump({"lead_token": literal}, width=10_000)
    lines = text.splitlines(keepends=True)
    at = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("version:")), 0)
    return "".join([*lines[:at], line, *lines[at:]])
