"""What every column normalizer shares: the ``Normalized`` result and the pyarrow plumbing.

A normalizer hands ``by_distinct`` a parser of distinct cell values (a pyarrow array);
``finish`` blanks what failed, the other helpers build values and quote cells in messages.
This module does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.errors import printable


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalized column: values, per-cell errors and warnings, indexed like the input."""

    values: pd.Series  # normalized text; "" where the input was empty or invalid
    errors: pd.Series  # "" where fine (or empty); else a message quoting the value
    # "" where the value is as written; else what the tool changed in a way a person might
    # not expect, quoting the value (a time moved out of a DST gap, a two-digit year…).
    # None: this normalizer never warns.
    warnings: pd.Series | None = None


# large_string everywhere: pandas' pyarrow-backed "str" columns use it, and pyarrow kernels
# refuse to mix string and large_string arguments.
TEXT_TYPE = pa.large_string()
_QUOTE_LIMIT = 80  # longer cells are cut in messages so one garbage cell cannot flood a log

# A parser returns (values, errors) or (values, errors, warnings) for the distinct cells.
_Parser = Callable[[pa.Array], tuple[pa.Array, ...]]


def lit(text: str) -> pa.Scalar:
    return pa.scalar(text, TEXT_TYPE)


def byte_table(*, below: int = 0, also: bytes = b"") -> np.ndarray:
    """A lookup table for ``rows_with_bytes``: bytes under ``below`` and those in ``also``."""
    table = np.zeros(256, dtype=bool)
    table[:below] = True
    table[list(also)] = True
    return table


def utf8_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A text column's cell offsets (``len(text) + 1`` of them) and the bytes they point
    into, read in place from its Arrow buffers (32-bit offsets are cast first)."""
    if text.type != TEXT_TYPE:
        text = text.cast(TEXT_TYPE)
    n = len(text)
    _, offsets, data = text.buffers()
    if n == 0 or offsets is None:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.uint8)
    at = np.frombuffer(offsets, np.int64, n + 1, text.offset * 8)
    return at, np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)


def text_bytes(text: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of all the cells of ``text``, back to back (no copy for TEXT_TYPE)."""
    at, data = utf8_buffers(text)
    return data[at[0] : at[-1]]


def rows_with_bytes(text: pa.Array, table: np.ndarray) -> np.ndarray:
    """Which values hold a byte that ``table`` marks: one numpy pass over the bytes.

    A prefilter for RE2 (hand-written: pyarrow has no byte-set test): a regex only has to
    confirm the few values found, instead of being run over every value.
    """
    found = np.zeros(len(text), dtype=bool)
    at, data = utf8_buffers(text)
    hits = np.flatnonzero(table[data[at[0] : at[-1]]])
    if len(hits):
        found[np.searchsorted(at, hits + at[0], side="right") - 1] = True
    return found


_BINARY = pa.large_binary()
_END = 2**62  # a slice start past the end of any value: inserting there appends


def join_text(*parts: pa.Array | pa.Scalar | str) -> pa.Array:
    """Each row's parts one after the other; a text part is the same on every row.

    Fixed text is inserted into the next column's values (or appended to the last) with
    binary_replace_slice, which is several times faster than binary_join_element_wise with
    scalar arguments; the columns, with their fixed text, are then joined.
    """
    columns: list[pa.Array] = []
    before = ""
    for part in parts:
        if isinstance(part, pa.Scalar):
            part = part.as_py()
        if isinstance(part, str):
            before += part
            continue
        columns.append(_around(before, part, "") if before else part)
        before = ""
    if not columns:
        raise ValueError("join_text needs at least one column")
    if before:
        columns[-1] = _around("", columns[-1], before)
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(*columns, lit(""))


def _around(before: str, values: pa.Array, after: str) -> pa.Array:
    """``before`` + each value + ``after``, on the values' bytes (UTF-8 stays UTF-8)."""
    out = values.view(_BINARY)
    if before:
        out = pc.binary_replace_slice(out, 0, 0, before)
    if after:
        out = pc.binary_replace_slice(out, _END, _END, after)
    return out.view(TEXT_TYPE)


# A cell value in a message is written 'like this', cut at _QUOTE_LIMIT characters and then
# escaped: \ as \\, ' as \', a control character as \xNN (a terminal obeys them). Inside the
# quotes, then, a ' is never bare, so where a value ends is known, not guessed: hide_values
# finds every value exactly, whatever the cell held (O'Brien, a " | ", an ESC sequence).
_QUOTED_VALUE = re.compile(r"(?<=: )'(?:[^'\\]|\\.)*'")
_CONTROL_RE2 = r"[\x00-\x1f\x7f-\x9f]"
VALUE_HIDDEN = "'…'"


# What _escape_texts changes: a backslash, a quote, a control character.
_ESCAPED_RE2 = r"[\\'\x00-\x1f\x7f-\x9f]"


# Its bytes: 0xC2 leads U+0080-U+009F (and other characters: RE2 decides).
_ESCAPED_BYTES = byte_table(below=0x20, also=b"\\'\x7f\xc2")


def _escape_texts(text: pa.Array) -> pa.Array:
    odd = rows_with_bytes(text, _ESCAPED_BYTES)
    if odd.any():
        odd[odd] = matches(pc.filter(text, pa.array(odd)), _ESCAPED_RE2)
    if not odd.any():  # the usual case: one RE2 pass, nothing to change
        return text
    some = pc.filter(text, pa.array(odd))
    out = pc.replace_substring(some, "\\", "\\\\")
    out = pc.replace_substring(out, "'", "\\'")
    control = matches(out, _CONTROL_RE2)
    if control.any():  # rare: a per-value fallback only where a control character is
        fixed = [printable(v) for v in pc.filter(out, pa.array(control)).to_pylist()]
        out = pc.replace_with_mask(out, pa.array(control), pa.array(fixed, TEXT_TYPE))
    return pc.replace_with_mask(text, pa.array(odd), out)


def _escape_text(text: str) -> str:
    return printable(text.replace("\\", "\\\\").replace("'", "\\'"))


def quoted_text(text: pa.Array) -> pa.Array:
    """Each cell value quoted for a message: cut, escaped (see ``_QUOTED_VALUE``)."""
    # A value of at most _QUOTE_LIMIT bytes has at most as many characters: only longer
    # ones are measured and cut (utf8_slice_codeunits walks every string it is given).
    # The mark goes on before escaping, which leaves it as it is.
    over = pa.array(to_mask(pc.greater(pc.binary_length(text), _QUOTE_LIMIT)))
    if pc.any(over).as_py():
        some = pc.filter(text, over)
        cut = pc.greater(pc.utf8_length(some), _QUOTE_LIMIT)
        short = join_text(pc.utf8_slice_codeunits(some, 0, _QUOTE_LIMIT), "…")
        text = pc.replace_with_mask(text, over, pc.if_else(cut, short, some))
    return join_text("'", _escape_texts(text), "'")


def quote_text(text: str) -> str:
    """A cell value quoted for a message: cut, escaped (see ``_QUOTED_VALUE``)."""
    more = "…" if len(text) > _QUOTE_LIMIT else ""
    return f"'{_escape_text(text[:_QUOTE_LIMIT])}{more}'"


def hide_values(message: str) -> str:
    """``message`` with every quoted cell value replaced by ``'…'`` (for logs and summaries)."""
    return _QUOTED_VALUE.sub(VALUE_HIDDEN, message)


def first_value(message: str) -> str | None:
    """The first quoted cell value in ``message`` as written there (cut and escaped)."""
    found = _QUOTED_VALUE.search(message)
    return found.group() if found else None


def empty_texts(n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, TEXT_TYPE), lit(""))


def to_mask(array: pa.Array) -> np.ndarray:
    """A boolean pyarrow array as a numpy mask, null counting as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def matches(text: pa.Array, pattern: str) -> np.ndarray:
    return to_mask(pc.match_substring_regex(text, pattern))


def text_array(values: pd.Series) -> pa.Array:
    """A text column as a pyarrow large_string array ("" for missing), usually zero-copy."""
    arr = pa.array(
        values.array
        if isinstance(values.array, pd.arrays.ArrowStringArray)
        else values.astype("str").array
    )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != TEXT_TYPE:
        arr = arr.cast(TEXT_TYPE)
    return pc.fill_null(arr, lit("")) if arr.null_count else arr


def text_series(arr: pa.Array, index: pd.Index) -> pd.Series:
    """Back to a pandas ``str`` column without copying the strings."""
    return pd.Series(pd.arrays.ArrowStringArray(arr, dtype=_STR), index=index)


_STR = pd.StringDtype("pyarrow", na_value=np.nan)


class Memo:
    """What a parser said of the distinct values it has already read, across chunks.

    For a column whose values repeat from chunk to chunk (callback times written to the
    quarter hour: 45k distinct in a million rows, 11k in each 20k-row chunk), only values
    not seen before are parsed. At most ``limit`` values are kept; once full, a memo whose
    chunks are mostly new values (times to the second) is dropped.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._keys: pa.Array | None = None
        self._said: list[pa.Array] = []
        self._off = False

    def parse(self, distinct: pa.Array, parse: _Parser) -> tuple[pa.Array, ...]:
        """``parse(distinct)``, from memory where it can."""
        if self._off:
            return parse(distinct)
        if self._keys is None:
            said = parse(distinct)
            self._keep(distinct, said, len(distinct))
            return said
        at = pc.index_in(distinct, value_set=self._keys)
        new = pc.is_null(at)
        fresh = pc.filter(distinct, new)
        known = pc.fill_null(at, 0)
        if not len(fresh):
            return tuple(pc.take(column, known) for column in self._said)
        said = parse(fresh)
        out = tuple(
            pc.replace_with_mask(pc.take(column, known), new, part)
            for column, part in zip(self._said, said, strict=True)
        )
        self._keep(fresh, said, len(distinct))
        return out

    def _keep(self, keys: pa.Array, said: tuple[pa.Array, ...], distinct: int) -> None:
        held = 0 if self._keys is None else len(self._keys)
        if held + len(keys) > self.limit:
            if len(keys) > distinct // 2:  # full, and most values are new: it does not pay
                self._off, self._keys, self._said = True, None, []
            return
        if self._keys is None:
            self._keys, self._said = keys, list(said)
            return
        self._keys = pa.concat_arrays([self._keys, keys])
        self._said = [pa.concat_arrays([a, b]) for a, b in zip(self._said, said, strict=True)]


def by_distinct(s: pd.Series, parse: _Parser, memo: Memo | None = None) -> Normalized:
    """Run ``parse`` once per distinct cell value and spread the results back over ``s``."""
    # Arrow's own dictionary encoding: pandas' factorize of the same array converts it on
    # the way in and out, for a third of the time of normalizing a column of names.
    encoded = pc.dictionary_encode(text_array(s))
    distinct = encoded.dictionary
    values, errors, *warned = parse(distinct) if memo is None else memo.parse(distinct, parse)
    take = encoded.indices
    return Normalized(
        text_series(pc.take(values, take), s.index),
        text_series(pc.take(errors, take), s.index),
        text_series(pc.take(warned[0], take), s.index) if warned else None,
    )


def warn_where(ok: np.ndarray, warnings: pa.Array) -> pa.Array:
    """The warnings of the cells that were read (``ok``); "" elsewhere."""
    return pc.if_else(pa.array(ok), warnings, lit(""))


def finish(
    text: pa.Array,
    ok: np.ndarray,
    values: pa.Array,
    errors: pa.Array | Callable[[pa.Array], pa.Array],
) -> tuple[pa.Array, pa.Array]:
    """Blank the value of every failed cell and the error of every good or empty cell.

    ``errors`` may be a function of the failed cells' text, called on those alone: most
    cells of a column are fine, and a message built for each of them would be thrown away.
    """
    empty = to_mask(pc.equal(text, lit("")))
    bad = ~ok & ~empty
    if callable(errors):
        said = empty_texts(len(text))
        if bad.any():
            where = pa.array(bad)
            said = pc.replace_with_mask(said, where, errors(pc.filter(text, where)))
    else:
        said = pc.if_else(pa.array(bad), errors, lit(""))
    return pc.if_else(pa.array(ok & ~empty), values, lit("")), said
