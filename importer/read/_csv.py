"""CSV files as a Table: encoding and delimiter detection, then rows streamed by pyarrow.

CSV is read with pyarrow's streaming reader (``pyarrow.csv.open_csv``) rather than
``pandas.read_csv(chunksize=...)``: it is several times faster than a bare ``read_csv``, its
memory is bounded by the block size, and its ``invalid_row_handler`` hands us every record
whose cell count differs from the header together with the record number, so ragged rows
are kept (padded, or flagged in ``Chunk.problems``) instead of being dropped or aborting the
read as pandas' C engine does. Serial parsing (``use_threads=False``) is what makes those
record numbers known; the whole loader still reads a 1M-row file in about half the time
of a bare ``pandas.read_csv(dtype=str)``.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from importer.errors import InputError, Setting, mention
from importer.read._encoding import (
    checked_encoding,
    decode_message,
    decode_sample,
    detect_encoding,
    undecodable_row,
)
from importer.read._table import (
    CONTROL_CHARS,
    MAX_CELL_BYTES,
    MAX_COLUMNS,
    OLE_MAGIC,
    ZIP_MAGIC,
    Piece,
    Table,
    cell_too_large,
    clean_header,
    is_blank,
    one_line,
    strings_table,
    too_wide,
)

SAMPLE_BYTES = 1 << 20  # what open_table reads to detect encoding, delimiter and headers
# Excel writes and reads a first line "sep=;" naming the delimiter; it is not a row.
_SEP_LINE = re.compile(r"sep=(?P<delimiter>[^\r\n])\r?\n")
_SAMPLE_RECORDS = 5_000  # the records of it that decide the usual row width
_TOP_ROWS = 11  # rows 2-11 are searched for column names a mapping misses in row 1
_MAX_HEADER_BYTES = 64 << 20
BLOCK_SIZE = 1 << 18  # pyarrow block: 256 KiB reads as fast as 1 MiB and peaks 40 MB lower
_MAX_BLOCK_SIZE = 1 << 30
# A record that does not fit a block of this size makes the file be scanned for huge cells
# (_huge_records), which are cut out before pyarrow sees them: growing the block to hold a
# 100 MB cell took 1 GB.
_SCAN_AFTER_BLOCK = 4 << 20
MAX_ROW_BYTES = 4 << 20  # a record larger than this is refused whatever its cells
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}

# Python's csv module refuses cells over 128 KiB by default; a cell of any size must load.
csv.field_size_limit(2**31 - 1)


def open_csv(path: Path, size: int, encoding: str | None, delimiter: str | None) -> Table:
    with path.open("rb") as f:
        raw = f.read(SAMPLE_BYTES)
    _reject_non_text(path, raw)
    enc = checked_encoding(path, encoding) if encoding else detect_encoding(path, raw, size)
    delim = _checked_delimiter(path, delimiter) if delimiter else None
    limit = SAMPLE_BYTES
    while True:
        eof = len(raw) >= size
        text = decode_sample(path, raw, enc, eof, delim)
        hint = _SEP_LINE.match(text)
        if hint:  # Excel's "sep=;" line: it names the delimiter and Excel does not show it
            text = text[hint.end() :]
            delim = delim or hint["delimiter"]
        if len(CONTROL_CHARS.findall(text)) > 0.05 * max(len(text), 1):
            raise InputError(
                f"{path}: does not look like CSV text (it contains binary data); if it is a "
                f"workbook pass {mention(Setting.FORMAT, 'excel')}, otherwise export the sheet "
                "again as CSV"
            )
        # a second record, even cut off, means the header row is complete
        header_read = eof or len(_sample_records(text, delim or ",", True, limit=2)) >= 2
        if header_read or limit >= _MAX_HEADER_BYTES:
            break
        if _header_width(text, delim) > MAX_COLUMNS:  # refused before reading more of it
            raise too_wide(path, None)
        limit *= 4  # the header row did not fit: read more
        with path.open("rb") as f:
            raw = f.read(limit)
    if not header_read:
        raise InputError(f"{path}: the header row is longer than {_MAX_HEADER_BYTES >> 20} MB")
    if delim is None:
        delim = _detect_delimiter(text, eof, path.suffix.lower() == ".tsv")
    width = _header_width(text, delim)
    if width > MAX_COLUMNS:
        raise too_wide(path, width)
    records = _sample_records(text, delim, eof, limit=_SAMPLE_RECORDS)
    if not eof:
        records = records or _sample_records(text, delim, True)[:1]  # the header, cut-off row
    if not records or is_blank(records[0]):
        raise InputError(
            f"{path}: row 1 is empty; the column names must be in row 1 "
            "(remove the rows above them)"
        )
    if (
        eof
        and all(is_blank(r) for r in records[1:])
        and all(is_blank(r) for r in _sample_records(text, delim, eof)[1:])  # past the limit
    ):
        raise InputError(f"{path}: has a header row but no data rows")
    headers = [clean_header(h) for h in records[0]]
    skip = 1 if hint else 0
    source = _CsvSource(path, enc, delim, len(headers), _usual_width(records), skip)
    source.headers = headers
    return Table(
        path,
        "csv",
        headers,
        source.pieces,
        encoding=enc,
        delimiter=delim,
        top_rows=tuple(records[1 : _TOP_ROWS + 1]),
    )


def _reject_non_text(path: Path, raw: bytes) -> None:
    if raw.startswith(ZIP_MAGIC):
        raise InputError(
            f"{path}: is a zip file (probably an .xlsx or .ods workbook), not CSV text; "
            f"rename it to .xlsx or pass {mention(Setting.FORMAT, 'excel')}"
        )
    if raw.startswith(OLE_MAGIC):
        raise InputError(
            f"{path}: is an Excel workbook (.xls, or a password-protected .xlsx), not CSV text; "
            f"rename it to .xls or pass {mention(Setting.FORMAT, 'excel')}"
        )


def _checked_delimiter(path: Path, delimiter: str) -> str:
    delim = _DELIMITER_NAMES.get(delimiter.lower(), delimiter)
    if len(delim) != 1 or delim in '\r\n"':
        raise InputError(
            f"{path}: the delimiter must be one character (or comma, semicolon, tab, pipe), "
            f"not {delimiter!r}"
        )
    return delim


def _sample_records(text: str, delim: str, eof: bool, limit: int | None = None) -> list[list[str]]:
    """The complete records of a sample (the last one may be cut off unless at EOF).

    With ``limit``, at most that many, parsing no further than needed.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    if limit is None:
        records = list(reader)
    else:
        records = list(itertools.islice(reader, limit + 1))
        if len(records) > limit:
            return records[:limit]  # another record follows: these are all complete
    return records if eof else records[:-1]


def _header_width(text: str, delim: str | None) -> int:
    """The cells of the first record of ``text`` (widest over the candidate delimiters)."""
    widths = [
        len(next(csv.reader(io.StringIO(text, newline=""), delimiter=d), []))
        for d in ((delim,) if delim else _DELIMITERS)
    ]
    return max(widths)


def _usual_width(records: list[list[str]]) -> int:
    """The cell count most data rows of the sample have (the header's when no data rows)."""
    widths = Counter(len(r) for r in records[1:] if not is_blank(r))
    header = len(records[0])
    if not widths or widths[header] == max(widths.values()):
        return header
    return widths.most_common(1)[0][0]


def _detect_delimiter(text: str, eof: bool, tsv: bool) -> str:
    """The delimiter that splits the header into most cells and the rows most consistently.

    csv.Sniffer is not used: on short samples and quoted multi-line cells it picks letters
    or gives up, while scoring the four real candidates with the csv parser does not.
    """
    best, best_score = "\t" if tsv else ",", (False, 0.0, 1)
    for delim in _DELIMITERS:
        records = _sample_records(text[:200_000], delim, eof and len(text) <= 200_000, limit=51)
        if not records:
            continue
        width = len(records[0])
        data = [len(r) for r in records[1:] if not is_blank(r)]
        consistency = sum(n == width for n in data) / len(data) if data else 1.0
        score = (width > 1, consistency, width)
        if score > best_score:
            best, best_score = delim, score
    return best


class _CsvSource:
    """Streams a CSV file as pieces of rows with exact record numbers.

    pyarrow is told the cell count most rows have, which is not always the header's: files
    whose every data line ends with a spare delimiter, or whose header has one more name
    than the rows have cells, are common. Rows with that count stay on pyarrow's fast path
    and are fitted to the header here; only the odd ones go through the Python callback.
    """

    def __init__(
        self, path: Path, encoding: str, delimiter: str, width: int, usual: int, skip: int = 0
    ) -> None:
        self.path = path
        self.skip = skip  # lines before the header that Excel does not show ("sep=;")
        self.encoding = encoding
        self.delimiter = delimiter
        self.width = width  # the header's cell count: what every piece has
        self.usual = usual  # the cell count pyarrow expects
        self.names = [f"c{i}" for i in range(width)]
        self.headers: list[str] = []  # column names, for the problem of a huge cell
        # records cut out by _huge_records: byte ranges, and problems by pyarrow's number
        self.cuts: list[tuple[int, int]] | None = None
        self.cut_problems: dict[int, str] = {}

    def pieces(self) -> Iterator[Piece]:
        """All data rows; the last piece also flags a quote left open at the end of the file."""
        previous: Piece | None = None
        for piece in self._restartable():
            if previous is not None:
                yield previous
            previous = piece
        if previous is not None:
            yield self._check_last_row(previous)

    def _restartable(self) -> Iterator[Piece]:
        """Re-read with a bigger block when one record is longer than a block."""
        done, block = 1, BLOCK_SIZE  # row 1, the header, is never handed out
        while True:
            try:
                for piece in self._read(block):
                    piece = piece.after(done)
                    if len(piece.numbers):
                        done = int(piece.numbers[-1])
                        yield piece
                return
            except (pa.ArrowException, OSError) as e:
                huge = "straddl" in str(e) and block >= _SCAN_AFTER_BLOCK
                if huge and self.cuts is None and self._scannable():
                    self.cuts, self.cut_problems = _huge_records(
                        self.path, self.delimiter, self.headers, 1 + self.skip
                    )
                    block = 2 * MAX_ROW_BYTES  # every record left fits in one block
                    continue
                if "straddl" in str(e) and block < _MAX_BLOCK_SIZE:
                    block *= 16
                    continue
                raise InputError(
                    f"{self.path}: cannot read the rows after row {done} ({one_line(e)})"
                ) from None
            except UnicodeDecodeError:
                row = undecodable_row(self.path, self.encoding, self.delimiter)
                row = row - self.skip if row is not None else None
                raise InputError(decode_message(self.path, self.encoding, row)) from None

    def _read(self, block_size: int) -> Iterator[Piece]:
        invalid: list[tuple[int, str]] = []

        def on_invalid(row: Any) -> str:
            if row.number is None or row.number < 1:
                raise RuntimeError("pyarrow did not number an invalid CSV row")
            invalid.append((row.number, row.text))
            return "skip"

        # utf-8-sig rather than utf-8: it makes pyarrow decode through Python's codec, which
        # strips a BOM and raises a plain UnicodeDecodeError on bad bytes instead of failing
        # inside the invalid-row callback.
        encoding = "utf-8-sig" if self.encoding == "utf-8" else self.encoding
        names = [f"c{i}" for i in range(self.usual)]
        source = _CutStream(self.path, self.cuts) if self.cuts else self.path
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                column_names=names,
                use_threads=False,
                block_size=block_size,
                encoding=encoding,
                skip_rows=self.skip,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
        # pyarrow numbers records from the top of the file, skipped lines included; the
        # pieces carry the numbers Excel shows, which leave those lines out.
        next_no = 1 + self.skip
        pending: list[tuple[int, str]] = []
        with reader:
            for batch in reader:
                pending.extend(invalid)
                invalid.clear()
                if not batch.num_rows:
                    continue
                numbers = _fill_gaps(next_no, batch.num_rows, [n for n, _ in pending])
                last = int(numbers[-1])
                mine = [p for p in pending if p[0] < last]
                pending = [p for p in pending if p[0] > last]
                piece = self._merge(self._fit(pa.Table.from_batches([batch]), numbers), mine)
                yield self._shifted(self._with_cuts(piece))
                next_no = last + 1
        pending.extend(invalid)
        if pending:
            empty = Piece(strings_table([], self.width), np.empty(0, "int64"))
            yield self._shifted(self._with_cuts(self._merge(empty, pending)))
        if isinstance(source, _CutStream):
            source.close()

    def _scannable(self) -> bool:
        """Whether quotes, newlines and the delimiter are single bytes in the file's encoding."""
        try:
            return all(
                c.encode(self.encoding) == c.encode("ascii") for c in f'"\r\n{self.delimiter}'
            )
        except UnicodeError:
            return False

    def _with_cuts(self, piece: Piece) -> Piece:
        """``piece`` with the problems of the records cut out of it (emptied, so invalid)."""
        if not self.cut_problems or not len(piece.numbers):
            return piece
        mine = {
            n: p
            for n, p in self.cut_problems.items()
            if piece.numbers[0] <= n <= piece.numbers[-1] and n not in piece.problems
        }
        return Piece(piece.table, piece.numbers, {**piece.problems, **mine}) if mine else piece

    def _shifted(self, piece: Piece) -> Piece:
        """``piece`` numbered as Excel shows it: without the skipped lines."""
        if not self.skip:
            return piece
        problems = {row - self.skip: p for row, p in piece.problems.items()}
        return Piece(piece.table, piece.numbers - self.skip, problems)

    def _fit(self, table: pa.Table, numbers: np.ndarray) -> Piece:
        """Rows of the usual cell count, padded or cut to the header's; extra cells flagged."""
        problems: dict[int, str] = {}
        if self.usual < self.width:
            empty = pa.nulls(table.num_rows, pa.string()).fill_null("")
            table = pa.table(table.columns + [empty] * (self.width - self.usual), self.names)
        elif self.usual > self.width:
            extra = table.select(range(self.width, self.usual))
            filled = np.zeros(table.num_rows, dtype=bool)
            for column in extra.columns:
                blank = pc.or_(pc.equal(pc.binary_length(column), 0), pc.utf8_is_space(column))
                filled |= ~np.asarray(blank, dtype=bool)
            for i in np.flatnonzero(filled):
                cells = [str(c[i].as_py()) for c in extra.columns]
                problems[int(numbers[i])] = self._too_many(self.usual, cells)
            table = table.select(range(self.width))
        return Piece(table, numbers, problems)

    def _too_many(self, count: int, extra: list[str]) -> str:
        shown = ", ".join(repr(c) for c in extra if c.strip())
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return (
            f"row has {count} cells but the header has {self.width}; a cell may contain "
            f"an unquoted delimiter ({self.delimiter!r}); extra cells: {shown}"
        )

    def _merge(self, piece: Piece, odd: list[tuple[int, str]]) -> Piece:
        """Put the rows pyarrow set aside (unusual cell count) back in their places."""
        if not odd:
            return piece
        rows, problems = [], dict(piece.problems)
        for number, text in odd:
            cells, problem = self._split(text)
            rows.append(cells)
            if problem:
                problems[number] = problem
        table = pa.concat_tables([piece.table, strings_table(rows, self.width)])
        numbers = np.concatenate([piece.numbers, np.array([n for n, _ in odd], dtype="int64")])
        order = np.argsort(numbers, kind="stable")
        return Piece(table.take(order), numbers[order], problems)

    def _split(self, text: str) -> tuple[list[str], str | None]:
        """A record's cells fitted to the header width, and what is wrong with it, if anything."""
        cells = [
            c
            for r in csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
            for c in r
        ]
        problem = None
        if _quote_left_open(text, self.delimiter):
            problem = OPEN_QUOTE
        elif len(cells) > self.width and not is_blank(cells[self.width :]):
            problem = self._too_many(len(cells), cells[self.width :])
        cells = cells[: self.width] + [""] * (self.width - len(cells))
        return cells, problem

    def _check_last_row(self, piece: Piece) -> Piece:
        """Flag the last row when a quote opened in it runs to the end of the file.

        pyarrow accepts such a record silently when it still has the header's cell count;
        its last cell then holds every line after the stray quote. A multi-line cell in the
        last column and an odd number of quote characters in the file together give it away.
        """
        if not len(piece.numbers):
            return piece
        number = int(piece.numbers[-1])
        cell = piece.table.column(min(self.width, self.usual) - 1)[-1].as_py()
        if number in piece.problems or not ("\n" in cell or "\r" in cell):
            return piece
        quotes = 0
        with self.path.open(encoding=self.encoding, errors="replace", newline="") as f:
            while text := f.read(1 << 20):
                quotes += text.count('"')
        if quotes % 2 == 0:
            return piece
        return Piece(piece.table, piece.numbers, {**piece.problems, number: OPEN_QUOTE})


class _CutStream(io.RawIOBase):
    """The file's bytes with some byte ranges left out: records too large to read."""

    def __init__(self, path: Path, cuts: list[tuple[int, int]]) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._cuts = sorted(cuts)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view, filled = memoryview(buffer).cast("B"), 0
        while filled < len(view):  # full reads: a short one could look like the end
            while self._cuts and self._pos >= self._cuts[0][0]:
                self._pos = self._cuts.pop(0)[1]
                self._file.seek(self._pos)
            want = len(view) - filled
            if self._cuts:
                want = min(want, self._cuts[0][0] - self._pos)
            got = self._file.readinto(view[filled : filled + want])
            if not got:
                break
            filled += got
            self._pos += got
        return filled

    def close(self) -> None:
        self._file.close()
        super().close()


def _huge_records(
    path: Path, delimiter: str, headers: list[str], header_no: int
) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """The cells over MAX_CELL_BYTES (and records over MAX_ROW_BYTES), streamed.

    Returns their byte ranges, to be left out (a cell becomes empty, a record an empty
    line), and a problem for each record by number, counted as pyarrow counts (from 1,
    every line). Only quotes, line ends and delimiters are looked at, one MiB at a time, so
    a cell of any size costs no memory; it runs only for a file with a record over 4 MiB.
    """
    special = re.compile(b'["\r\n' + re.escape(delimiter.encode("ascii")) + b"]")
    cuts: list[tuple[int, int]] = []
    problems: dict[int, str] = {}
    huge: list[tuple[int, int, int]] = []  # this record's cells over the limit
    number, start, cell_start, index = 1, 0, 0, 0
    quoted, closed_at, cr_end = False, -2, -1
    offset = 0

    def end_cell(end: int) -> None:
        if end - cell_start > MAX_CELL_BYTES and number > header_no:
            huge.append((cell_start, end, index))

    def end_record(end: int) -> None:
        end_cell(end)
        rest = end - start - sum(b - a for a, b, _ in huge)
        if number > header_no and rest > MAX_ROW_BYTES:
            cuts.append((start, end))
            problems[number] = (
                f"row too large: {(end - start) >> 20} MB (at most {MAX_ROW_BYTES >> 20} MB a row)"
            )
        elif huge:
            cuts.extend((a, b) for a, b, _ in huge)
            a, b, at = max(huge, key=lambda cell: cell[1] - cell[0])
            problems[number] = cell_too_large(b - a, headers[at] if at < len(headers) else None)
        huge.clear()

    with path.open("rb") as f:
        while block := f.read(1 << 20):
            for match in special.finditer(block):
                char, at = match.group(), offset + match.start()
                if char == b'"':
                    if quoted:
                        quoted, closed_at = False, at
                    elif at == closed_at + 1 or at == cell_start:  # "" inside, or opening
                        quoted = True
                elif quoted:
                    continue
                elif char == b"\n" and at == cr_end:  # the \n of \r\n
                    start = cell_start = at + 1
                elif char in (b"\r", b"\n"):
                    end_record(at)
                    number, index = number + 1, 0
                    start = cell_start = at + 1
                    cr_end = at + 1 if char == b"\r" else -1
                else:  # the delimiter
                    end_cell(at)
                    index, cell_start = index + 1, at + 1
            offset += len(block)
    if offset > start:
        end_record(offset)
    return cuts, problems


OPEN_QUOTE = (
    'a quote (") opened in this row is never closed, so the rest of the file was read into '
    "this row; fix the stray quote"
)


def _quote_left_open(text: str, delimiter: str) -> bool:
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as e:
        return "unexpected end of data" in str(e)
    return False


def _fill_gaps(start: int, count: int, taken: list[int]) -> np.ndarray:
    """The first ``count`` numbers from ``start`` on that are not in ``taken`` (sorted)."""
    slots = np.arange(count, dtype="int64")
    if not taken:
        return slots + start
    invalid = np.asarray(taken, dtype="int64")
    invalid = invalid[invalid >= start]
    # free slots before each taken number; a row's number moves past every taken one before it
    before = invalid - start - np.arange(len(invalid), dtype="int64")
    return start + slots + np.searchsorted(before, slots, side="right")
