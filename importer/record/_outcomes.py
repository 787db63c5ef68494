"""Reading what the journal says was sent, column-wise: the outcomes results.csv takes.

``Journal.state`` reads journal.jsonl line by line into an ``Outcome`` per row, which is
what rerun, the web face and history need. The second pass of a run needs the same facts
for every row at once: ``read_outcomes`` reads them with Arrow's JSON reader in blocks and
keeps them as columns (``Outcomes``), falling back to ``state``'s own reading for a block
Arrow cannot read exactly as ``state`` would, and for the whole journal when a value is
one ``state`` holds but Arrow cannot (``Irregular``). A new run's outcomes, kept by the
journal as it writes them, become the same columns without a read (``outcomes_kept``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json


@dataclass(frozen=True, slots=True)
class Outcome:
    """What sending a row came to, as the journal last recorded it."""

    row: int
    status: str
    key: str = ""  # the lead key (token fingerprint + caller_id or email)
    http_status: int | None = None
    attempts: int = 0
    error: str = ""
    lead_id: str = ""
    trackdrive_number_plain: str = ""
    sms_number_plain: str = ""


OUTCOME_FIELDS = tuple(f.name for f in fields(Outcome))

# What results.csv takes of an outcome, each as the text it writes there.
OUTCOME_COLUMNS = (
    "status",
    "http_status",
    "attempts",
    "error",
    "lead_id",
    "trackdrive_number_plain",
    "sms_number_plain",
)
_TEXTS = ("status", "error", "lead_id", "trackdrive_number_plain", "sms_number_plain")
_NUMBERS = ("http_status", "attempts")
_OUTCOME_SCHEMA = pa.schema(
    [("e", pa.string()), ("row", pa.int64())]
    + [(name, pa.int64() if name in _NUMBERS else pa.string()) for name in OUTCOME_COLUMNS]
)
_READ_BLOCK = 4 << 20
# A text field written as null reads as None in ``state``, not as the "" of a missing one:
# Arrow cannot tell the two apart, so a block that has one is read line by line.
_NULL_TEXT = re.compile(rb'"(?:%s)"\s*:\s*$' % b"|".join(n.encode() for n in _TEXTS))


@dataclass(frozen=True, slots=True)
class Outcomes:
    """``Journal.state`` column-wise, as results.csv takes it: the rows with an outcome
    (sorted), each one's latest outcome as the texts of ``OUTCOME_COLUMNS`` (Arrow arrays,
    or object arrays when the journal had to be read as ``state`` reads it), and the rows
    in flight when events stop (sorted)."""

    rows: np.ndarray
    columns: dict[str, pa.Array | np.ndarray]
    in_flight: np.ndarray

    def find(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each of ``rows``: where its outcome is, whether it has one, whether in flight."""
        at, found = _look_up(self.rows, rows)
        return at, found, _look_up(self.in_flight, rows)[1]

    def take(self, name: str, at: np.ndarray) -> np.ndarray:
        """The texts of column ``name`` at positions ``at``, as an object array."""
        column = self.columns[name]
        if isinstance(column, np.ndarray):
            return column[at]
        return np.asarray(column.take(at).to_numpy(zero_copy_only=False), dtype=object)


def _look_up(ordered: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``: its position in the sorted ``ordered``, and whether it is there."""
    at = np.searchsorted(ordered, rows)
    there = at < len(ordered)
    there[there] = ordered[at[there]] == rows[there]
    return at, there


class Irregular(Exception):
    """A line the column-wise reader cannot hold as ``state`` reads it (a lone surrogate,
    a value of an odd type): the whole journal is then read by ``state`` itself."""


def read_outcomes(path: Path) -> Outcomes:
    # Blocks of whole lines, each read by Arrow when it can be, else line by line: a torn
    # line (a run killed mid-write, then rerun) costs its block the slow way, not the file.
    blocks = []
    with path.open("rb") as fh:
        rest = b""
        while True:
            data = fh.read(_READ_BLOCK)
            if data:
                data = rest + data
                cut = data.rfind(b"\n") + 1
                block, rest = data[:cut], data[cut:]
                if not block:
                    continue  # a line longer than a block: read on
            else:
                block, rest = rest, b""
                if not block:
                    break
            blocks.append(_block_events(block))
    table = pa.concat_tables(blocks) if blocks else _OUTCOME_SCHEMA.empty_table()
    rows = table.column("row").to_numpy()
    # Compared in Arrow: to_numpy of the texts would make a Python str of each of 2M events.
    done = pc.equal(table.column("e"), "done").to_numpy(zero_copy_only=False)
    # The last event of each row says whether it is in flight; the last done, its outcome.
    last = _last_of(rows)
    in_flight = np.sort(rows[last[~done[last]]])
    done_at = np.flatnonzero(done)
    latest = done_at[_last_of(rows[done_at])]
    picked = table.take(pa.array(latest))
    if picked.column("status").null_count:
        raise Irregular  # ``state`` fails on such a line; let it say so
    columns = {name: _text(picked.column(name), name) for name in OUTCOME_COLUMNS}
    return Outcomes(rows[latest], columns, in_flight)


def _last_of(rows: np.ndarray) -> np.ndarray:
    """The position of each distinct row's last occurrence in ``rows``, by row."""
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    return order[np.append(ordered[1:] != ordered[:-1], True)] if len(rows) else order


def _text(column: pa.ChunkedArray, name: str) -> pa.Array:
    values = column.combine_chunks()
    if name == "attempts":  # 0 is written as nothing, like a missing one
        values = pc.if_else(pc.equal(values, 0), pa.scalar(None, values.type), values)
    if name in _NUMBERS:
        values = pc.cast(values, pa.string())
    return pc.fill_null(values, "")


def _block_events(block: bytes) -> pa.Table:
    """The start and done events with a row number of a block of whole journal lines."""
    lines = block.count(b"\n") + (not block.endswith(b"\n"))
    table = None
    # Arrow reads a line as ``load_line`` does only if it is one JSON object on its own, so a
    # block where a line does not start with "{" (blank, a BOM) is read line by line, and
    # one where Arrow found more objects than lines (two on one line) too.
    if block.count(b"\n{") + block.startswith(b"{") == lines and not _null_text(block):
        try:
            table = pa_json.read_json(
                pa.BufferReader(block),
                read_options=pa_json.ReadOptions(block_size=len(block) + 1, use_threads=False),
                parse_options=pa_json.ParseOptions(
                    explicit_schema=_OUTCOME_SCHEMA, unexpected_field_behavior="ignore"
                ),
            )
            for name in ("e", *_TEXTS):  # Arrow does not check that the text is UTF-8
                table.column(name).validate(full=True)
        except pa.ArrowInvalid:
            table = None
        if table is not None and table.num_rows != lines:
            table = None
    if table is None:
        table = _block_by_line(block)
    kinds = pc.is_in(table.column("e"), pa.array(["start", "done"]))
    return table.filter(pc.fill_null(pc.and_(kinds, pc.is_valid(table.column("row"))), False))


def _null_text(block: bytes) -> bool:
    """Does a text field of ``Outcome`` hold a JSON null somewhere in ``block``?"""
    # A regex over the whole block would try each of its quotes; "null" is rare (a name in
    # an email address), and only what stands before it needs a look.
    at = block.find(b"null")
    while at >= 0:
        if _NULL_TEXT.search(block, max(at - 40, 0), at):
            return True
        at = block.find(b"null", at + 4)
    return False


def _block_by_line(block: bytes) -> pa.Table:
    """``_block_events`` for a block Arrow cannot read: each line as ``events`` reads it."""
    kept = []
    for line in block.split(b"\n"):
        event = load_line(line)
        if not isinstance(event, dict):
            continue
        kind, row = event.get("e"), event.get("row")
        if kind not in ("start", "done") or not isinstance(row, int):
            continue
        if kind == "done":
            for name in _TEXTS:
                if name in event and type(event[name]) is not str:
                    raise Irregular
            for name in _NUMBERS:
                if event.get(name) is not None and type(event[name]) is not int:
                    raise Irregular
        kept.append({name: event.get(name) for name in _OUTCOME_SCHEMA.names})
    try:
        return pa.Table.from_pylist(kept, schema=_OUTCOME_SCHEMA)
    except (pa.ArrowException, UnicodeError, OverflowError) as exc:
        raise Irregular from exc  # a lone surrogate, a number beyond 64 bits


def outcomes_of(outcomes: dict[int, Outcome], in_flight: set[int]) -> Outcomes:
    """``Outcomes`` of what ``state`` returned."""
    fields_of = {
        row: tuple(getattr(o, name) for name in OUTCOME_FIELDS) for row, o in outcomes.items()
    }
    return outcomes_kept(fields_of, in_flight)


def outcomes_kept(kept: dict[int, tuple[Any, ...]], in_flight: set[int]) -> Outcomes:
    """``Outcomes`` of ``Outcome``'s fields in order by row (``done``'s arguments: then ms),
    as the texts results.csv writes (no HTTP status and 0 attempts are empty)."""
    rows = sorted(kept)
    found = [kept[row] for row in rows]
    texts = {
        "status": [d[1] for d in found],
        "http_status": ["" if d[3] is None else str(d[3]) for d in found],
        "attempts": [str(d[4]) if d[4] else "" for d in found],
        **{name: [d[i] for d in found] for i, name in enumerate(OUTCOME_COLUMNS[3:], start=5)},
    }
    columns: dict[str, pa.Array | np.ndarray] = {}
    for name, values in texts.items():
        column = np.empty(len(values), dtype=object)
        column[:] = values
        columns[name] = column
    return Outcomes(
        np.array(rows, dtype=np.int64), columns, np.array(sorted(in_flight), dtype=np.int64)
    )


def load_line(line: bytes) -> Any:
    """One journal line as JSON, or None for a line that is not (torn, or not UTF-8)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    # What orjson refuses may still be a line ``_dumps`` wrote with the json module (an
    # escaped lone surrogate); only a torn or garbled line fails both.
    try:
        return json.loads(line.decode("utf-8"))  # bytes alone: json would guess UTF-16/32
    except ValueError:  # JSONDecodeError, or UnicodeDecodeError for bytes that are not UTF-8
        return None
