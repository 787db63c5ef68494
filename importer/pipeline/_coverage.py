"""How a mapping meets a spreadsheet: the columns it matched, those missing, those unused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from importer.clean import failure_columns
from importer.config import closest_header, load_mapping
from importer.pipeline._jobs import Source
from importer.read import find_column


@dataclass(frozen=True, slots=True)
class Match:
    """One mapping key and the column it names: found under ``header``, or not (``hint``)."""

    key: str  # fields.caller_id, data.zip, lead_token
    column: str  # as the mapping writes it
    header: str | None  # as the file has it; None: missing
    hint: str = ""  # "; did you mean 'Zip Code'?" when missing


@dataclass(frozen=True, slots=True)
class Coverage:
    """The mapping's columns against the file's headers."""

    matched: list[Match]
    missing: list[Match]
    unused: list[str]  # headers no key names (sent as data with include_unmapped_columns)
    include_unmapped: bool


def check_mapping(source: Source, mapping_path: Path) -> Coverage:
    """Compare the columns ``mapping_path`` names with ``source``'s headers; send nothing."""
    mapping = load_mapping(mapping_path)
    table = source.open()
    by_label = dict(zip(table.columns, table.headers, strict=True))
    keys = [(f"fields.{s.name}", c) for s in mapping.fields for c in s.columns]
    keys += [(f"data.{s.name}", c) for s in mapping.data for c in s.columns]
    if mapping.timezone_column is not None:
        keys.append(("timezone.column", mapping.timezone_column))
    if mapping.region_column is not None:
        keys.append(("region.column", mapping.region_column))
    if mapping.token.column is not None:
        keys.append(("lead_token", mapping.token.column))
    matched: list[Match] = []
    missing: list[Match] = []
    used: set[str] = set()
    for key, column in keys:
        label = find_column(table, column)
        if label is None:
            missing.append(Match(key, column, None, closest_header(column, table.headers)))
        else:
            used.add(label)
            matched.append(Match(key, column, by_label.get(label, column)))
    ours = failure_columns(table.headers)  # a failures file's row and error columns
    unused = [
        header
        for i, (header, label) in enumerate(zip(table.headers, table.columns, strict=True))
        if i >= ours and label not in used
    ]
    return Coverage(matched, missing, unused, mapping.include_unmapped_columns)
