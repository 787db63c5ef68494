"""The table an opened spreadsheet becomes, and the helpers both readers (CSV, Excel) share."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.errors import InputError

CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Excel's widest sheet; a header of a million columns took 78 s and 4.8 GB to refuse.
MAX_COLUMNS = 16_384
# No lead field needs more; a 100 MB cell took 1 GB. A larger cell makes its row invalid
# (and is not kept), the rest of the file goes on.
MAX_CELL_BYTES = 1 << 20
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A block of rows: text cells indexed by spreadsheet row number, and per-row problems."""

    frame: pd.DataFrame
    problems: dict[int, str]


@dataclass(frozen=True, slots=True)
class Piece:
    """Rows on their way to a chunk: c0..cN string columns, their row numbers, problems."""

    table: pa.Table
    numbers: np.ndarray
    problems: dict[int, str] = field(default_factory=dict)

    def after(self, done: int) -> Piece:
        """The rows numbered above ``done`` (used when a read restarts from the top)."""
        if not self.numbers.size or self.numbers[0] > done:
            return self
        keep = self.numbers > done
        problems = {r: p for r, p in self.problems.items() if r > done}
        return Piece(self.table.filter(pa.array(keep)), self.numbers[keep], problems)


class Table:
    """An opened spreadsheet: its headers, how it was decoded, and its rows as chunks."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        headers: list[str],
        pieces: Callable[[], Iterator[Piece]],
        *,
        sheet: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
        top_rows: tuple[list[str], ...] = (),
        sheet_with: Callable[[str], str | None] | None = None,
    ) -> None:
        if len(headers) > MAX_COLUMNS:
            raise too_wide(path, len(headers))
        self.path = path
        self.top_rows = top_rows  # rows 2, 3, … as read, to spot headers below row 1
        # another sheet of the workbook whose row 1 has a column of that name
        self.sheet_with: Callable[[str], str | None] = sheet_with or (lambda column: None)
        self.format = fmt
        self.sheet = sheet
        self.encoding = encoding
        self.delimiter = delimiter
        self.headers = headers
        self.columns = _unique_labels(headers)
        self.duplicate_headers = _duplicates(headers)
        self.blank_rows = 0
        self._pieces = pieces
        self._started = False

    def header_row_of(self, name: str) -> int | None:
        """The row (2, 3, …) among the first few that holds a cell named ``name``, if any.

        Vendor workbooks often put a title and a blank row above the table; the mapping's
        error then says where the column names really are.
        """
        key = header_key(name)
        for number, row in enumerate(self.top_rows, start=2):
            if any(header_key(cell) == key for cell in row):
                return number
        return None

    @staticmethod
    def rows_above(row: int) -> str:
        """What to delete so that ``row`` becomes row 1: "the row" or "the 3 rows"."""
        return "the row" if row == 2 else f"the {row - 1} rows"

    def __repr__(self) -> str:
        return f"Table({str(self.path)!r}, format={self.format!r}, columns={len(self.columns)})"

    def chunks(self, size: int = 50_000, first: int | None = None) -> Iterator[Chunk]:
        """Stream the data rows, at most ``size`` per chunk, blank rows left out; call once.

        ``first``: the first chunk's size, when smaller (what comes first is ready sooner).
        """
        if self._started:
            raise RuntimeError("Table.chunks() can be called only once")
        for n in (size, size if first is None else first):
            if n < 1:
                raise ValueError(f"chunk size must be at least 1, not {n}")
        self._started = True
        full, size = size, min(size, first or size)
        tables: list[pa.Table] = []
        numbers: list[np.ndarray] = []
        problems: dict[int, str] = {}
        count = 0
        for piece in self._pieces():
            tables.append(piece.table)
            numbers.append(piece.numbers)
            problems.update(piece.problems)
            count += len(piece.numbers)
            while count >= size:
                table, nums = pa.concat_tables(tables), np.concatenate(numbers)
                chunk = self._chunk(table.slice(0, size), nums[:size], problems)
                tables, numbers, count = [table.slice(size)], [nums[size:]], count - size
                if chunk is not None:
                    yield chunk
                    size = full
        if count:
            chunk = self._chunk(pa.concat_tables(tables), np.concatenate(numbers), problems)
            if chunk is not None:
                yield chunk

    def sha256(self) -> str:
        """The SHA-256 of the input file's bytes, hex."""
        digest = hashlib.sha256()
        with self.path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()

    def _chunk(
        self, table: pa.Table, numbers: np.ndarray, problems: dict[int, str]
    ) -> Chunk | None:
        """Drop and count blank rows; turn the rest into a pandas frame indexed by row."""
        if not len(numbers):
            return None
        table = self._without_huge_cells(table, numbers, problems)
        # Narrow the candidates column by column: most rows are ruled out by the first one.
        blank = np.arange(len(numbers))
        for column in table.columns:
            cells = column if len(blank) == len(numbers) else column.take(blank)
            empty = pc.or_(pc.equal(pc.binary_length(cells), 0), pc.utf8_is_space(cells))
            blank = blank[np.asarray(empty, dtype=bool)]
            if not len(blank):
                break
        if len(blank) and problems:  # ",,,,extra": blank within the header, not a blank row
            blank = blank[~np.isin(numbers[blank], np.fromiter(problems, "int64"))]
        if len(blank):
            self.blank_rows += len(blank)
            keep = np.ones(len(numbers), dtype=bool)
            keep[blank] = False
            table = table.filter(pa.array(keep))
            numbers = numbers[keep]
        last = int(numbers[-1]) if len(numbers) else 0
        mine = {r: problems.pop(r) for r in [r for r in problems if r <= last]}
        if not len(numbers):
            return None
        frame = table.to_pandas()
        frame.columns = pd.Index(self.columns)
        frame.index = pd.Index(numbers, dtype="int64", name="row")
        return Chunk(frame, {r: p for r, p in mine.items() if r in frame.index})

    def _without_huge_cells(
        self, table: pa.Table, numbers: np.ndarray, problems: dict[int, str]
    ) -> pa.Table:
        """Empty every cell over MAX_CELL_BYTES and make its row invalid (in ``problems``)."""
        columns = list(table.columns)
        for i, column in enumerate(columns):
            lengths = pc.binary_length(column)
            biggest = pc.max(lengths).as_py()
            if biggest is None or biggest <= MAX_CELL_BYTES:
                continue  # the usual case: one vectorized pass per column
            huge = np.asarray(pc.greater(lengths, MAX_CELL_BYTES), dtype=bool)
            sizes = np.asarray(lengths)
            for row in np.flatnonzero(huge):
                number = int(numbers[row])
                problems.setdefault(number, cell_too_large(int(sizes[row]), self.columns[i]))
            cells = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            columns[i] = pc.if_else(pa.array(huge), pa.scalar("", cells.type), cells)
        if len(columns) == table.num_columns and all(
            a is b for a, b in zip(columns, table.columns, strict=True)
        ):
            return table
        return pa.table(columns, names=table.column_names)


def cell_too_large(size: int, column: str | None) -> str:
    """The problem of a row with a cell over MAX_CELL_BYTES (``size`` bytes)."""
    where = f" in column '{column}'" if column else ""
    return (
        f"cell too large: {_megabytes(size)}{where} (at most {MAX_CELL_BYTES >> 20} MB a "
        "cell); shorten it"
    )


def too_wide(path: Path, count: int | None) -> InputError:
    """The error of a header wider than MAX_COLUMNS (``count`` columns, None: over it)."""
    has = f"{count:,} columns" if count else f"more than {MAX_COLUMNS:,} columns"
    return InputError(
        f"{path}: row 1 has {has}; at most {MAX_COLUMNS:,} can be read (Excel's limit); "
        "check that the file is a spreadsheet and its delimiter"
    )


def _megabytes(size: int) -> str:
    mb = size / (1 << 20)
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


def header_key(text: str) -> str:
    return text.replace("\ufeff", "").strip().casefold()


def clean_header(text: str) -> str:
    return text.replace("\ufeff", "").strip()


def _column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the column name a person sees in Excel."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _unique_labels(headers: list[str]) -> list[str]:
    """Frame labels: headers, blanks named after their column letter, duplicates numbered."""
    labels: list[str] = []
    seen: set[str] = set()
    for i, header in enumerate(headers):
        base = header or f"Column {_column_letter(i)}"
        label, n = base, 1
        while label.casefold() in seen:
            n += 1
            label = f"{base} ({n})"
        seen.add(label.casefold())
        labels.append(label)
    return labels


def _duplicates(headers: list[str]) -> list[str]:
    first: dict[str, str] = {}
    dupes: dict[str, str] = {}
    for header in headers:
        key = header_key(header)
        if not key:
            continue
        if key in first:
            dupes.setdefault(key, first[key])
        else:
            first[key] = header
    return list(dupes.values())


def is_blank(cells: Iterable[str]) -> bool:
    return all(not c.strip() for c in cells)


def strings_table(rows: list[list[str]], width: int) -> pa.Table:
    """Rows of text (already padded to ``width``) as a table of string columns c0..cN."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
    return pa.table(
        [pa.array(col, pa.string()) for col in columns], names=[f"c{i}" for i in range(width)]
    )


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."
