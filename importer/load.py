"""Spreadsheets (CSV, Excel) as chunks of text cells, each row keeping the number Excel shows.

Every cell comes out as ``str`` ("" when empty): nothing is inferred, so ``02134``, ``N/A``
and 19-digit numbers survive as written. Row numbers are the ones a person sees when the
file is opened in Excel: the header is row 1, a record whose quoted cell spans several lines
is still one row, and blank rows are dropped (and counted) without shifting later numbers.

CSV is read with pyarrow's streaming reader (``pyarrow.csv.open_csv``) rather than
``pandas.read_csv(chunksize=...)``: it is several times faster than a bare ``read_csv``, its
memory is bounded by the block size, and its ``invalid_row_handler`` hands us every record
whose cell count differs from the header together with the record number, so ragged rows
are kept (padded, or flagged in ``Chunk.problems``) instead of being dropped or aborting the
read as pandas' C engine does. Serial parsing (``use_threads=False``) is what makes those
record numbers known; the whole loader still reads a 1M-row file in about half the time
of a bare ``pandas.read_csv(dtype=str)``.

Excel files (.xlsx, .xlsm, .xls, .ods) are read with python-calamine, which loads the whole
sheet (workbooks cannot be streamed) and gives typed cells; they are turned into the text a
person sees (``8004506787.0`` -> ``8004506787``, dates as ``YYYY-MM-DD HH:MM:SS``). Row 1 is
always the header; rows above a table are not skipped. calamine reports formula error cells
(``#N/A``) as empty, so an .xlsx/.xlsm sheet holding error cells is read with openpyxl
instead, which keeps their text.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import re
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import charset_normalizer
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import python_calamine

from importer.errors import InputError
from importer.xlsx_formats import padded_columns, padding_format, zero_padded

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SUPPORTED = ", ".join(CSV_SUFFIXES + EXCEL_SUFFIXES)

_SAMPLE_BYTES = 1 << 20  # what open_table reads to detect encoding, delimiter and headers
_SAMPLE_RECORDS = 5_000  # the records of it that decide the usual row width
_MAX_HEADER_BYTES = 64 << 20
_BLOCK_SIZE = 1 << 18  # pyarrow block: 256 KiB reads as fast as 1 MiB and peaks 40 MB lower
_MAX_BLOCK_SIZE = 1 << 30
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MARK = "\ufffe"  # a noncharacter: stands in for undecodable bytes when locating them
_MARK_ERRORS = "leadimport.mark"


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return _MARK, error.end


codecs.register_error(_MARK_ERRORS, _mark_undecodable)
# Python's csv module refuses cells over 128 KiB by default; a cell of any size must load.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A block of rows: text cells indexed by spreadsheet row number, and per-row problems."""

    frame: pd.DataFrame
    problems: dict[int, str]


@dataclass(frozen=True, slots=True)
class _Piece:
    """Rows on their way to a chunk: c0..cN string columns, their row numbers, problems."""

    table: pa.Table
    numbers: np.ndarray
    problems: dict[int, str] = field(default_factory=dict)

    def after(self, done: int) -> _Piece:
        """The rows numbered above ``done`` (used when a read restarts from the top)."""
        if not self.numbers.size or self.numbers[0] > done:
            return self
        keep = self.numbers > done
        problems = {r: p for r, p in self.problems.items() if r > done}
        return _Piece(self.table.filter(pa.array(keep)), self.numbers[keep], problems)


class Table:
    """An opened spreadsheet: its headers, how it was decoded, and its rows as chunks."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        headers: list[str],
        pieces: Callable[[], Iterator[_Piece]],
        *,
        sheet: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
    ) -> None:
        self.path = path
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

    def __repr__(self) -> str:
        return f"Table({str(self.path)!r}, format={self.format!r}, columns={len(self.columns)})"

    def chunks(self, size: int = 50_000) -> Iterator[Chunk]:
        """Stream the data rows, at most ``size`` per chunk, blank rows left out; call once."""
        if self._started:
            raise RuntimeError("Table.chunks() can be called only once")
        if size < 1:
            raise ValueError(f"chunk size must be at least 1, not {size}")
        self._started = True
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


def open_table(
    path: Path,
    *,
    fmt: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Table:
    """Open a spreadsheet, reading only what is needed to know its headers and layout."""
    path = Path(path)
    kind = _format_of(path, fmt)
    size = _check_file(path)
    if kind == "csv":
        if sheet is not None:
            raise InputError(
                f"{path}: a CSV file has no sheets; --sheet applies to workbooks "
                f"({', '.join(EXCEL_SUFFIXES)})"
            )
        return _open_csv(path, size, encoding, delimiter)
    return _open_excel(path, sheet)


def list_sheets(path: Path, *, fmt: str | None = None) -> list[str]:
    """The worksheet names of a workbook, in workbook order."""
    path = Path(path)
    if _format_of(path, fmt) == "csv":
        raise InputError(
            f"{path}: a CSV file has no sheets; --list-sheets applies to workbooks "
            f"({', '.join(EXCEL_SUFFIXES)})"
        )
    _check_file(path)
    return [name for name, _ in _worksheets(path, _open_workbook(path))]


def find_column(table: Table, name: str) -> str | None:
    """The frame column for a header, ignoring case, surrounding spaces and a BOM."""
    wanted = _header_key(name)
    for header, column in zip(table.headers, table.columns, strict=True):
        if _header_key(header) == wanted:
            return column
    return name if name in table.columns else None


# --- shared helpers ---------------------------------------------------------------------


def _format_of(path: Path, fmt: str | None) -> str:
    """'csv' or 'excel', from ``fmt`` when given, else from the file extension."""
    if fmt is not None:
        key = "." + fmt.lower().strip().lstrip(".")
        if key in (".csv", *CSV_SUFFIXES):
            return "csv"
        if key in (".excel", *EXCEL_SUFFIXES):
            return "excel"
        raise InputError(
            f"{path}: unknown format '{fmt}'; use csv or excel (or one of: {SUPPORTED})"
        )
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    shown = f"'{suffix}'" if suffix else "no extension"
    raise InputError(
        f"{path}: unknown file type ({shown}); supported: {SUPPORTED}; "
        "pass --format csv or --format excel to read it anyway"
    )


def _check_file(path: Path) -> int:
    """The file's size; an InputError when it is missing, unreadable or empty."""
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a folder, not a spreadsheet file")
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; check the path") from None
    except PermissionError:
        raise InputError(
            f"{path}: cannot be read (permission denied); check its permissions"
        ) from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror or e})") from None
    if size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes); export the spreadsheet again")
    return size


def _header_key(text: str) -> str:
    return text.replace("\ufeff", "").strip().casefold()


def _clean_header(text: str) -> str:
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
        key = _header_key(header)
        if not key:
            continue
        if key in first:
            dupes.setdefault(key, first[key])
        else:
            first[key] = header
    return list(dupes.values())


def _is_blank(cells: Iterable[str]) -> bool:
    return all(not c.strip() for c in cells)


def _strings_table(rows: list[list[str]], width: int) -> pa.Table:
    """Rows of text (already padded to ``width``) as a table of string columns c0..cN."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
    return pa.table(
        [pa.array(col, pa.string()) for col in columns], names=[f"c{i}" for i in range(width)]
    )


# --- CSV --------------------------------------------------------------------------------


def _open_csv(path: Path, size: int, encoding: str | None, delimiter: str | None) -> Table:
    with path.open("rb") as f:
        raw = f.read(_SAMPLE_BYTES)
    _reject_non_text(path, raw)
    enc = _checked_encoding(path, encoding) if encoding else _detect_encoding(path, raw, size)
    delim = _checked_delimiter(path, delimiter) if delimiter else None
    limit = _SAMPLE_BYTES
    while True:
        eof = len(raw) >= size
        text = _decode_sample(path, raw, enc, eof, delim)
        if len(_CONTROL.findall(text)) > 0.05 * max(len(text), 1):
            raise InputError(
                f"{path}: does not look like CSV text (it contains binary data); if it is a "
                "workbook pass --format excel, otherwise export the sheet again as CSV"
            )
        # a second record, even cut off, means the header row is complete
        header_read = eof or len(_sample_records(text, delim or ",", True, limit=2)) >= 2
        if header_read or limit >= _MAX_HEADER_BYTES:
            break
        limit *= 4  # the header row did not fit: read more
        with path.open("rb") as f:
            raw = f.read(limit)
    if not header_read:
        raise InputError(f"{path}: the header row is longer than {_MAX_HEADER_BYTES >> 20} MB")
    if delim is None:
        delim = _detect_delimiter(text, eof, path.suffix.lower() == ".tsv")
    records = _sample_records(text, delim, eof, limit=_SAMPLE_RECORDS)
    if not eof:
        records = records or _sample_records(text, delim, True)[:1]  # the header, cut-off row
    if not records or _is_blank(records[0]):
        raise InputError(
            f"{path}: row 1 is empty; the column names must be in row 1 "
            "(remove the rows above them)"
        )
    if (
        eof
        and all(_is_blank(r) for r in records[1:])
        and all(_is_blank(r) for r in _sample_records(text, delim, eof)[1:])  # past the limit
    ):
        raise InputError(f"{path}: has a header row but no data rows")
    headers = [_clean_header(h) for h in records[0]]
    source = _CsvSource(path, enc, delim, len(headers), _usual_width(records))
    return Table(path, "csv", headers, source.pieces, encoding=enc, delimiter=delim)


def _reject_non_text(path: Path, raw: bytes) -> None:
    if raw.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{path}: is a zip file (probably an .xlsx or .ods workbook), not CSV text; "
            "rename it to .xlsx or pass --format excel"
        )
    if raw.startswith(_OLE_MAGIC):
        raise InputError(
            f"{path}: is an Excel workbook (.xls, or a password-protected .xlsx), not CSV text; "
            "rename it to .xls or pass --format excel"
        )


def _checked_encoding(path: Path, encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputError(
            f"{path}: unknown encoding '{encoding}'; "
            "use a name like utf-8, cp1252, latin-1 or utf-16"
        ) from None


def _checked_delimiter(path: Path, delimiter: str) -> str:
    delim = _DELIMITER_NAMES.get(delimiter.lower(), delimiter)
    if len(delim) != 1 or delim in '\r\n"':
        raise InputError(
            f"{path}: the delimiter must be one character (or comma, semicolon, tab, pipe), "
            f"not {delimiter!r}"
        )
    return delim


def _detect_encoding(path: Path, raw: bytes, size: int) -> str:
    """The codec for a CSV, from its first bytes: BOM, then strict UTF-8, then a guess."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode Text": UTF-16 LE with a BOM, tab-delimited
    try:
        codecs.getincrementaldecoder("utf-8")().decode(raw, final=len(raw) >= size)
        return "utf-8"  # cheap and right most of the time
    except UnicodeDecodeError as e:
        if not raw[: e.start].isascii():
            # Real UTF-8 letters before the bad bytes: rows pasted in from another file.
            # Guessing one code page would garble one part or the other, so say where.
            row = _undecodable_row(path, "utf-8", ",")
            where = f"row {row}" if row else "part of the file"
            raise InputError(
                f"{path}: {where} is not valid UTF-8 but rows before it are: the file mixes "
                "encodings; re-save it as UTF-8, or pass --encoding cp1252 to read it all as "
                "Windows-1252"
            ) from None
    best = charset_normalizer.from_bytes(raw[:200_000], cp_isolation=_SPREADSHEET_CODECS).best()
    if _decodes(raw, "cp1252") and (best is None or not _foreign_words(raw)):
        # On a few accented letters charset-normalizer guesses anything (big5, cp1006) or
        # nothing. Windows-1252 read of Cyrillic, Greek or CJK bytes gives whole words of
        # accented letters; Western text has them one or two at a time ("São", "ções").
        return "cp1252"
    if best is None:
        raise InputError(
            f"{path}: does not look like CSV text (no text encoding fits); if it is a "
            "workbook pass --format excel, otherwise export the sheet again as CSV"
        )
    # For Latin text charset-normalizer often ranks look-alike code pages (cp775, cp1250)
    # first; Excel on US/Western Windows writes Windows-1252, so that is what a Latin guess
    # means here. Cyrillic, Greek, Arabic, CJK… guesses are kept; other Latin code pages
    # (Polish cp1250, say) need --encoding.
    foreign = any(a.startswith(_OTHER_SCRIPTS) for a in best.alphabets)
    if not foreign and _decodes(raw, "cp1252"):
        return "cp1252"
    return codecs.lookup(best.encoding).name


# The code pages spreadsheets are saved in (Excel's "CSV" on each Windows locale, old Mac and
# Unix exports). Left to choose among all of Python's codecs, charset-normalizer picks
# cp1006, johab or big5 for a few lines of Russian or Portuguese.
_SPREADSHEET_CODECS = [
    "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    "cp874", "cp932", "cp936", "gb18030", "cp949", "cp950", "big5", "shift_jis", "euc_jp",
    "euc_kr", "koi8_r", "koi8_u", "mac_roman", "iso8859_2", "iso8859_5", "iso8859_7",
    "iso8859_15", "utf_16_le", "utf_16_be",
]  # fmt: skip

_OTHER_SCRIPTS = (
    "Cyrillic", "Greek", "Arabic", "Hebrew", "Armenian", "Georgian", "Thai", "Devanagari",
    "CJK", "Hangul", "Hiragana", "Katakana", "Halfwidth", "Bopomofo",
)  # fmt: skip


# Three non-ASCII letters in a row. Ambiguous by nature: "ééé" in Windows-1252 is "иии" in
# Windows-1251; such files are read as charset-normalizer guesses and --encoding settles it.
NON_ASCII_WORD = re.compile(r"(?:(?![\x00-\x7f])[^\W\d_]){3,}")


def _foreign_words(raw: bytes) -> bool:
    """True when, read as Windows-1252, the bytes hold words of 3+ non-ASCII letters."""
    return NON_ASCII_WORD.search(raw[:200_000].decode("cp1252", errors="replace")) is not None


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _decode_sample(path: Path, raw: bytes, enc: str, eof: bool, delim: str | None) -> str:
    try:
        return codecs.getincrementaldecoder(enc)().decode(raw, final=eof)
    except UnicodeDecodeError:
        row = _undecodable_row(path, enc, delim or ",")
        raise InputError(_decode_message(path, enc, row)) from None


def _decode_message(path: Path, enc: str, row: int | None) -> str:
    where = f"row {row}" if row else "part of the file"
    if enc in ("utf-8", "utf-8-sig"):
        return (
            f"{path}: {where} is not valid UTF-8 text (the file may mix encodings); "
            "try --encoding cp1252 (Excel on Windows), or re-save the file as UTF-8"
        )
    hint = "latin-1" if enc == "cp1252" else "cp1252"
    return (
        f"{path}: {where} cannot be decoded as {enc}; pass --encoding with the file's real "
        f"encoding (e.g. utf-8, {hint})"
    )


def _undecodable_row(path: Path, enc: str, delimiter: str) -> int | None:
    """The row holding the first undecodable bytes (slow: only on the error path)."""
    with path.open(encoding=enc, errors=_MARK_ERRORS, newline="") as f:
        for number, record in enumerate(csv.reader(f, delimiter=delimiter), start=1):
            if any(_MARK in cell for cell in record):
                return number
    return None


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


def _usual_width(records: list[list[str]]) -> int:
    """The cell count most data rows of the sample have (the header's when no data rows)."""
    widths = Counter(len(r) for r in records[1:] if not _is_blank(r))
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
        data = [len(r) for r in records[1:] if not _is_blank(r)]
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

    def __init__(self, path: Path, encoding: str, delimiter: str, width: int, usual: int) -> None:
        self.path = path
        self.encoding = encoding
        self.delimiter = delimiter
        self.width = width  # the header's cell count: what every piece has
        self.usual = usual  # the cell count pyarrow expects
        self.names = [f"c{i}" for i in range(width)]

    def pieces(self) -> Iterator[_Piece]:
        """All data rows; the last piece also flags a quote left open at the end of the file."""
        previous: _Piece | None = None
        for piece in self._restartable():
            if previous is not None:
                yield previous
            previous = piece
        if previous is not None:
            yield self._check_last_row(previous)

    def _restartable(self) -> Iterator[_Piece]:
        """Re-read with a bigger block when one record is longer than a block."""
        done, block = 1, _BLOCK_SIZE  # row 1, the header, is never handed out
        while True:
            try:
                for piece in self._read(block):
                    piece = piece.after(done)
                    if len(piece.numbers):
                        done = int(piece.numbers[-1])
                        yield piece
                return
            except (pa.ArrowException, OSError) as e:
                if "straddl" in str(e) and block < _MAX_BLOCK_SIZE:
                    block *= 16
                    continue
                raise InputError(
                    f"{self.path}: cannot read the rows after row {done} ({_one_line(e)})"
                ) from None
            except UnicodeDecodeError:
                row = _undecodable_row(self.path, self.encoding, self.delimiter)
                raise InputError(_decode_message(self.path, self.encoding, row)) from None

    def _read(self, block_size: int) -> Iterator[_Piece]:
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
        reader = pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(
                column_names=names,
                use_threads=False,
                block_size=block_size,
                encoding=encoding,
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
        next_no = 1
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
                yield self._merge(self._fit(pa.Table.from_batches([batch]), numbers), mine)
                next_no = last + 1
        pending.extend(invalid)
        if pending:
            empty = _Piece(_strings_table([], self.width), np.empty(0, "int64"))
            yield self._merge(empty, pending)

    def _fit(self, table: pa.Table, numbers: np.ndarray) -> _Piece:
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
        return _Piece(table, numbers, problems)

    def _too_many(self, count: int, extra: list[str]) -> str:
        shown = ", ".join(repr(c) for c in extra if c.strip())
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return (
            f"row has {count} cells but the header has {self.width}; a cell may contain "
            f"an unquoted delimiter ({self.delimiter!r}); extra cells: {shown}"
        )

    def _merge(self, piece: _Piece, odd: list[tuple[int, str]]) -> _Piece:
        """Put the rows pyarrow set aside (unusual cell count) back in their places."""
        if not odd:
            return piece
        rows, problems = [], dict(piece.problems)
        for number, text in odd:
            cells, problem = self._split(text)
            rows.append(cells)
            if problem:
                problems[number] = problem
        table = pa.concat_tables([piece.table, _strings_table(rows, self.width)])
        numbers = np.concatenate([piece.numbers, np.array([n for n, _ in odd], dtype="int64")])
        order = np.argsort(numbers, kind="stable")
        return _Piece(table.take(order), numbers[order], problems)

    def _split(self, text: str) -> tuple[list[str], str | None]:
        """A record's cells fitted to the header width, and what is wrong with it, if anything."""
        cells = [
            c
            for r in csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
            for c in r
        ]
        problem = None
        if _quote_left_open(text, self.delimiter):
            problem = _OPEN_QUOTE
        elif len(cells) > self.width and not _is_blank(cells[self.width :]):
            problem = self._too_many(len(cells), cells[self.width :])
        cells = cells[: self.width] + [""] * (self.width - len(cells))
        return cells, problem

    def _check_last_row(self, piece: _Piece) -> _Piece:
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
        return _Piece(piece.table, piece.numbers, {**piece.problems, number: _OPEN_QUOTE})


_OPEN_QUOTE = (
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


# --- Excel ------------------------------------------------------------------------------


def _open_workbook(path: Path) -> python_calamine.CalamineWorkbook:
    """The workbook, or an InputError that says why it cannot be read."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(_OLE_MAGIC) and _is_encrypted_ooxml(path):
        raise InputError(_PASSWORD.format(path=path))
    if not head.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        if _looks_like_text(path):
            raise InputError(
                f"{path}: is a text file, not a workbook; rename it to .csv or pass --format csv"
            )
        raise InputError(
            f"{path}: is not a workbook (it is damaged, or another kind of file); "
            "open it in Excel and save it again as .xlsx"
        )
    try:
        with path.open("rb") as f:
            return python_calamine.CalamineWorkbook.from_filelike(f)
    except python_calamine.PasswordError:
        raise InputError(_PASSWORD.format(path=path)) from None
    except Exception as e:  # calamine raises several unrelated types for a bad file
        raise InputError(
            f"{path}: cannot be read as a workbook ({_one_line(e)}); the file is damaged or "
            "incomplete: open it in Excel and save it again"
        ) from None


_PASSWORD = (
    "{path}: the workbook is password-protected; open it in Excel, remove the password "
    "(File > Info > Protect Workbook) and save it again"
)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _is_encrypted_ooxml(path: Path) -> bool:
    """Is this OLE file an encrypted .xlsx (Excel stores those as OLE with this stream)?"""
    with path.open("rb") as f:
        data = f.read(64 << 20)
    return "EncryptionInfo".encode("utf-16-le") in data


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as f:
        raw = f.read(64 << 10)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return len(_CONTROL.findall(text)) < 0.01 * max(len(text), 1) and "\ufffd" not in text


def _worksheets(path: Path, book: python_calamine.CalamineWorkbook) -> list[tuple[str, bool]]:
    """(name, visible) of every worksheet (chart sheets have no cells)."""
    try:
        return [
            (m.name, m.visible == python_calamine.SheetVisibleEnum.Visible)
            for m in book.sheets_metadata
            if m.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
    except Exception as e:
        raise InputError(f"{path}: cannot list the sheets ({_one_line(e)})") from None


def _open_excel(path: Path, sheet: str | None) -> Table:
    book = _open_workbook(path)
    sheets = _worksheets(path, book)
    if not sheets:
        raise InputError(f"{path}: the workbook has no worksheets")
    names = [name for name, _ in sheets]
    if sheet is None:
        # the first sheet a person sees when opening the file; a hidden first sheet is a trap
        name = next((n for n, visible in sheets if visible), names[0])
    elif sheet in names:
        name = sheet
    else:
        folded = [n for n in names if n.strip().casefold() == sheet.strip().casefold()]
        if len(folded) != 1:
            listed = ", ".join(f"'{n}'" for n in names)
            raise InputError(f"{path}: no sheet named '{sheet}'; the workbook has: {listed}")
        name = folded[0]
    read_rows = _sheet_reader(path, book, name)
    rows = read_rows()
    header = next(rows, None)
    if header is None or _is_blank(header):
        if header is None:
            raise InputError(f"{path}: sheet '{name}' is empty")
        raise InputError(
            f"{path}: row 1 of sheet '{name}' is empty; the column names must be in row 1 "
            "(delete the rows above them)"
        )
    if all(_is_blank(row) for row in rows):
        raise InputError(f"{path}: sheet '{name}' has a header row but no data rows")
    headers = [_clean_header(h) for h in header]

    def pieces() -> Iterator[_Piece]:
        return _excel_pieces(read_rows(), len(headers))

    return Table(path, "excel", headers, pieces, sheet=name)


def _sheet_reader(
    path: Path, book: python_calamine.CalamineWorkbook, name: str
) -> Callable[[], Iterator[list[str]]]:
    """Something that reads the sheet's rows as text, row 1 first, from column A, each time."""
    try:
        sheet = book.get_sheet_by_name(name)  # parses the whole sheet, once
    except Exception as e:
        raise InputError(_sheet_message(path, name, e)) from None
    if _has_error_cells(path):
        width = sheet.end[1] + 1 if sheet.end else 0
        return lambda: _openpyxl_rows(path, name, width)
    formats = padded_columns(path, name) if zipfile.is_zipfile(path) else {}
    return lambda: _calamine_rows(path, sheet, formats)


def _calamine_rows(
    path: Path, sheet: python_calamine.CalamineSheet, formats: dict[int, str]
) -> Iterator[list[str]]:
    """The rows as text; number cells of zero-padded columns as shown (ZIP 2134 -> 02134)."""
    start = sheet.start
    if start is None:
        return
    # iter_rows starts at row 1 but at the first used column: put back the empty columns
    first = start[1]
    pad = [""] * first
    padded = [(column - first, column, fmt) for column, fmt in formats.items() if column >= first]
    try:
        for row in sheet.iter_rows():
            cells = pad + [v if type(v) is str else _cell_text(v) for v in row]
            for i, column, fmt in padded:
                number = _whole_number(row[i]) if i < len(row) else None
                if number is not None:
                    cells[column] = zero_padded(number, fmt)
            yield cells
    except Exception as e:
        raise InputError(_sheet_message(path, sheet.name, e)) from None


def _whole_number(value: object) -> int | None:
    """A number cell's value when it is a whole number (not a bool, a date or text)."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _sheet_message(path: Path, name: str, e: Exception) -> str:
    return (
        f"{path}: cannot read sheet '{name}' ({type(e).__name__}: {_one_line(e)}); the file is "
        "damaged or incomplete: open it in Excel and save it again"
    )


def _has_error_cells(path: Path) -> bool:
    """Does any .xlsx worksheet hold a formula error cell (``t="e"``)? calamine reads "".

    A byte search in the decompressed sheet XML: a few milliseconds per 100k rows, against
    seconds for reading every cell with openpyxl. A false hit only costs that time.
    """
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not (
                    info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
                ):
                    continue
                with z.open(info) as part:
                    tail = b""
                    while block := part.read(1 << 20):
                        if b't="e"' in tail + block:
                            return True
                        tail = block[-8:]
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError):
        return False  # calamine will have said what is wrong with the file
    return False


def _openpyxl_rows(path: Path, name: str, width: int) -> Iterator[list[str]]:
    """The rows through openpyxl, padded to the sheet width calamine found."""
    import openpyxl  # only for the rare sheet with error cells

    try:
        with warnings.catch_warnings(), path.open("rb") as f:
            warnings.simplefilter("ignore")  # openpyxl warns about unsupported extensions
            book = openpyxl.load_workbook(f, read_only=True, data_only=True)
            try:
                for row in book[name].iter_rows():
                    cells = [_openpyxl_text(c) for c in row]
                    yield cells + [""] * (width - len(cells))
            finally:
                book.close()
    except InputError:
        raise
    except Exception as e:
        raise InputError(_sheet_message(path, name, e)) from None


def _openpyxl_text(cell: Any) -> str:
    value = cell.value
    number = _whole_number(value)
    if number is not None:
        fmt = padding_format(str(getattr(cell, "number_format", "")))
        if fmt is not None:
            return zero_padded(number, fmt)
    if (
        type(value) is datetime
        and value.time() == time(0)
        and "h" not in str(getattr(cell, "number_format", "")).lower()
    ):
        return value.date().isoformat()
    return _cell_text(value)


def _float_text(v: float) -> str:
    # A number cell holding a phone comes back as 8004506787.0: integral floats lose the
    # ".0". A ZIP stored as the number 2134 is "2134" unless its cell is formatted 00000
    # (xlsx_formats); in .xls and .ods, and without that format, the zero is gone for good.
    return str(int(v)) if v.is_integer() else repr(v)


def _datetime_text(v: datetime) -> str:
    if v.microsecond >= 500_000:  # Excel stores times as fractions of a day: round, not floor
        v += timedelta(microseconds=1_000_000 - v.microsecond)
    return v.strftime("%Y-%m-%d %H:%M:%S")


def _time_text(v: time) -> str:
    seconds = v.hour * 3600 + v.minute * 60 + v.second + (v.microsecond >= 500_000)
    seconds = min(seconds, 86_399)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _duration_text(v: timedelta) -> str:
    seconds = round(v.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


_CONVERTERS: dict[type, Callable[[Any], str]] = {
    str: lambda v: v,
    float: _float_text,
    int: str,
    bool: lambda v: "true" if v else "false",
    datetime: _datetime_text,
    date: lambda v: v.isoformat(),
    time: _time_text,
    timedelta: _duration_text,
    type(None): lambda v: "",
}


def _cell_text(value: Any) -> str:
    """An Excel cell value as the text a person sees (numbers without a stray ".0")."""
    convert = _CONVERTERS.get(type(value))
    return convert(value) if convert else str(value)


def _excel_pieces(rows: Iterator[list[str]], width: int, size: int = 10_000) -> Iterator[_Piece]:
    next(rows, None)  # row 1: the header
    batch: list[list[str]] = []
    problems: dict[int, str] = {}
    first = 2
    for number, row in enumerate(rows, start=2):
        if len(row) != width:  # cannot happen with calamine; openpyxl is less strict
            if len(row) > width and not _is_blank(row[width:]):
                problems[number] = f"row has {len(row)} cells but the header has {width}"
            row = row[:width] + [""] * (width - len(row))
        batch.append(row)
        if len(batch) >= size:
            yield _Piece(_strings_table(batch, width), np.arange(first, number + 1), problems)
            first, batch, problems = number + 1, [], {}
    if batch:
        yield _Piece(_strings_table(batch, width), np.arange(first, first + len(batch)), problems)
