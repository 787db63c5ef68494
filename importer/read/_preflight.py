"""What a workbook declares, checked before calamine parses it: a tiny file must not take GBs.

calamine (python-calamine) builds a sheet as one dense block of cells, 32 bytes each, from
its first to its farthest used cell; it keeps every shared string, holds each XML text or
tag whole while it parses, reserves the cells an .xls DIMENSIONS record declares, and
expands the repeated rows and columns of an .ods. So a 2 KB .xlsx with one cell at
XFD1048576 asks for 550 GB and the Rust library aborts the process: there is no exception
to catch, and a batch loses every file after it. The checks here read what a file declares
(its zip sizes, cell references, repeat counts, BIFF records), streaming and without
building cells, and refuse a file that would need far more than any lead list, with one
line that says what to do.

Written by hand because no library reports these numbers without parsing the whole file
(which is the allocation to avoid); olefile opens the .xls container. The scan also notes
whether a worksheet holds formula error cells (``t="e"``), which calamine reads as empty.
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree

from importer.errors import InputError

# --- the limits, far above any real lead list ------------------------------------------------
MAX_ROWS = 1_048_576  # Excel's grid: no real sheet has a cell beyond it
MAX_COLUMNS = 16_384
# Cells calamine allocates for one sheet: its used range, rows x columns, 32 bytes each
# (2.1 GB at the limit): every row Excel has, 1,048,576, x 64 columns.
MAX_CELLS = MAX_ROWS * 64
# One zip member, uncompressed: a sheet of 1,048,576 rows x 9 text columns is ~0.5 GB.
MAX_PART_BYTES = 2 << 30
MAX_TOTAL_BYTES = 4 << 30  # every member together
# XML compresses 5-20x; a member that expands more than this (and to more than
# RATIO_FLOOR_BYTES) is a zip bomb, not an export.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 64 << 20
MAX_SHARED_STRINGS_BYTES = 512 << 20  # calamine holds every shared string at once
# The longest stretch between two '<' in an XML member: the biggest text or tag calamine's
# XML reader holds whole. A cell holds at most 32,767 characters.
MAX_XML_RUN = 64 << 20
MAX_XLS_BYTES = 512 << 20  # an .xls is read whole; Excel 97-2003 holds 65,536 x 256 cells

_BLOCK = 1 << 20
_MB = 1 << 20
_FIX = (
    "open it in Excel, delete the stray cells after your data (Ctrl+End shows them) "
    "and save it again"
)
_BOMB = (
    "this is not a spreadsheet export (a damaged file or a zip bomb); ask the sender for it again"
)


@dataclass(frozen=True, slots=True)
class WorkbookFacts:
    """What the preflight learned on the way that the reader can use."""

    error_cells: bool = False  # some .xlsx worksheet holds a formula error cell (t="e")


def check_workbook(path: Path) -> WorkbookFacts:
    """Refuse (InputError) a workbook that declares far more than any lead list; else its facts.

    Files that are not readable zip or OLE containers pass: calamine says what is wrong.
    """
    stat = path.stat()
    return _checked(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@lru_cache(maxsize=16)  # the pipeline opens a workbook more than once
def _checked(name: str, size: int, mtime_ns: int, inode: int) -> WorkbookFacts:
    path = Path(name)
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        return _check_zip(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        _check_xls(path, size)
    return WorkbookFacts()


# --- .xlsx, .xlsm, .ods: a zip of XML members ------------------------------------------------


def _check_zip(path: Path) -> WorkbookFacts:
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return WorkbookFacts()  # calamine will say what is wrong with the file
    with book:
        infos = book.infolist()
        if any(info.filename.lower() == "xl/workbook.bin" for info in infos):
            # calamine would read it (as .xlsb), but its binary cells cannot be scanned here
            raise InputError(
                f"{path}: is an Excel binary workbook (.xlsb), which leadimport does not read; "
                "open it in Excel and save it as .xlsx"
            )
        _check_sizes(path, infos)
        sheets = _sheet_parts(book)
        # calamine reads a zip as .xlsx only through _rels/.rels (an .ods has none): only
        # then can cell references place cells
        xlsx = any(info.filename.lower() == "_rels/.rels" for info in infos)
        error_cells = False
        for info in infos:
            where = sheets.get(info.filename)
            label = f"sheet '{where}'" if where else info.filename
            scan = _scan_member(path, book, info, label, xlsx)
            if info.filename == "content.xml" and scan.ods is not None:
                scan.ods.judge(path)
            box = scan.box()
            if box is None and not scan.placed_by_count:  # a bound too loose: the refs
                box = _referenced_box(book, info)
            if box is None:  # cells placed by counting: read the member as calamine does
                box = _counted_box(path, book, info, label)
            _judge_box(path, label, *box)
            error_cells = error_cells or scan.error_cells
    return WorkbookFacts(error_cells=error_cells)


_LAST_ROW = re.compile(rb'<row\b[^>]*?\br="([0-9]+)"')


def last_row(path: Path, sheet: str | None = None) -> int | None:
    """The number of the last row element of an .xlsx sheet (the first sheet by default),
    or None: a quick count for a progress bar, not a reading.

    One streamed pass over the sheet's XML with a regular expression: openpyxl's read-only
    mode instead parses the whole sheet with ElementTree when the writer recorded no
    <dimension> (5 s for 100,000 rows). Call it after ``check_workbook``.
    """
    try:
        with zipfile.ZipFile(path) as book:
            parts = _sheet_parts(book)  # in workbook order
            names = [part for part, name in parts.items() if sheet is None or name == sheet]
            if not names:
                return None
            found: int | None = None
            tail = b""
            for block in _blocks(book, book.getinfo(names[0])):
                text = tail + block
                for match in _LAST_ROW.finditer(text):
                    found = int(match.group(1))
                tail = text[-256:]  # a row tag cut by the block's end is read whole next time
            return found
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return None


def _check_sizes(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """The sizes the zip's directory declares: per member, in total, and how far each expands."""
    total = 0
    for info in infos:
        size, packed = info.file_size, max(info.compress_size, 1)
        total += size
        if size > RATIO_FLOOR_BYTES and size / packed > MAX_RATIO:
            raise InputError(
                f"{path}: {info.filename} expands from {_amount(packed)} to {_amount(size)} "
                f"({size // packed:,} times), which no spreadsheet does; {_BOMB}"
            )
        limit = MAX_SHARED_STRINGS_BYTES if _is_shared_strings(info) else MAX_PART_BYTES
        if size > limit:
            what = "the shared strings" if _is_shared_strings(info) else info.filename
            raise InputError(
                f"{path}: {what} unpack to {_amount(size)}, far beyond any lead list "
                f"(at most {_amount(limit)}); save the sheet as .csv and import that"
            )
    if total > MAX_TOTAL_BYTES:
        raise InputError(
            f"{path}: the workbook unpacks to {_amount(total)}, far beyond any lead list "
            f"(at most {_amount(MAX_TOTAL_BYTES)}); save the sheet as .csv and import that"
        )


def _is_shared_strings(info: zipfile.ZipInfo) -> bool:
    return info.filename.lower().endswith("sharedstrings.xml")


def _amount(size: int) -> str:
    return f"{size / _MB:,.0f} MB" if size >= _MB else f"{size / 1024:,.1f} KB"


def _sheet_parts(book: zipfile.ZipFile) -> dict[str, str]:
    """Zip member -> sheet name, as workbook.xml and its relationships say (to name sheets)."""
    try:
        workbook = ElementTree.fromstring(_small(book, "xl/workbook.xml"))
        rels = ElementTree.fromstring(_small(book, "xl/_rels/workbook.xml.rels"))
    except (KeyError, ValueError, ElementTree.ParseError, zipfile.BadZipFile, OSError):
        return {}
    targets = {}
    for rel in rels:
        target = rel.get("Target", "")
        part = target.lstrip("/") if target.startswith("/") else "xl/" + target
        targets[rel.get("Id")] = part
    rid = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    return {
        targets[sheet.get(rid)]: sheet.get("name", "")
        for sheet in workbook.iter()
        if sheet.tag.endswith("}sheet") and sheet.get(rid) in targets
    }


def _small(book: zipfile.ZipFile, name: str) -> bytes:
    if book.getinfo(name).file_size > 16 * _MB:
        raise ValueError(name)
    return book.read(name)


def _blocks(book: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's bytes, a block at a time; stops early (like calamine) at a damaged spot."""
    try:
        with book.open(info) as member:
            while block := member.read(_BLOCK):
                yield block
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError):
        return  # calamine will say what is wrong with the file


# Upper-cases, turns tabs, line ends, '/' and '>' into spaces and single quotes into double
# ones, so one spelling of each tag and attribute is enough to count: <c\tr='a1'/> and <c>
# read <C R="A1"   and <C .
_CANON = bytes.maketrans(
    b"\t\r\n/>'abcdefghijklmnopqrstuvwxyz", b'     "ABCDEFGHIJKLMNOPQRSTUVWXYZ'
)
_MULTI_LETTER = re.compile(rb' R="([A-Z]{2,})[0-9]')  # columns after Z, as written
_LONG_ROW = re.compile(rb' R="[A-Z]*([0-9]{7,})"')  # rows from 1,000,000 on
_CELL_REF = re.compile(rb'<C R="([A-Z]+)([0-9]+)"')
_SHORT_ROWS = 999_999  # the largest row a reference of six digits or fewer can name


class _Scan:
    """What one streamed member declares: the far corner of its cells, runs, repeats."""

    def __init__(self, worksheet: bool) -> None:
        self.worksheet = worksheet
        self.cells = 0  # <c …> start tags
        self.refs = 0  # of those, written <c r="…"> (the position is the reference)
        self.long_row = 0  # the largest row of seven digits or more
        self.columns: set[bytes] = set()  # column letters after Z
        self.odd = False  # prefixed cell tags (<x:c>): positions need the exact reading
        self.error_cells = False
        self.ods: _OdsScan | None = None

    def feed(self, tail: bytes, text: bytes) -> None:
        """``text`` is a canonical block with ``tail``, the previous one's end, before it."""
        # what lies wholly in the tail was counted with the previous block
        self.cells += text.count(b"<C ") - tail.count(b"<C ")
        self.refs += text.count(b'<C R="') - tail.count(b'<C R="')
        if not self.odd and b":C " in text:
            self.odd = True
        for digits in _LONG_ROW.findall(text):
            self.long_row = max(self.long_row, int(digits))
        self.columns.update(_MULTI_LETTER.findall(text))
        if self.worksheet and not self.error_cells and b'T="E"' in text:
            self.error_cells = True

    @property
    def placed_by_count(self) -> bool:
        """Does some cell take its place from the cells before it, not from a reference?"""
        return self.odd or self.cells != self.refs

    def box(self) -> tuple[int, int, str] | None:
        """(rows, columns, "") bounding calamine's block, or None when that bound is too big."""
        if self.placed_by_count:
            return None
        rows = max(self.long_row, _SHORT_ROWS if self.refs else 0)
        columns = max((_column_number(c) for c in self.columns), default=26 if self.refs else 0)
        if rows * columns <= MAX_CELLS and rows <= MAX_ROWS and columns <= MAX_COLUMNS:
            return rows, columns, ""
        return None


def _scan_member(
    path: Path, book: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, xlsx: bool
) -> _Scan:
    lower = info.filename.lower()
    scan = _Scan(lower.startswith("xl/worksheets/") and lower.endswith(".xml"))
    if info.filename == "content.xml":
        scan.ods = _OdsScan()
    run = 0  # bytes since the last '<'
    tail = b""
    for block in _blocks(book, info):
        first = block.find(b"<")
        if first < 0:
            run += len(block)
        else:
            run += first
            _judge_run(path, label, run)
            run = len(block) - block.rfind(b"<") - 1
        _judge_run(path, label, run)
        if scan.ods is not None:
            scan.ods.feed(path, block)
        if not xlsx:
            continue
        canon = block.translate(_CANON)
        if not tail and _is_shared_strings(info):
            _judge_unique_count(path, info, canon)
        scan.feed(tail, tail + canon)
        tail = canon[-32:] or b" "
    return scan


_UNIQUE_COUNT = re.compile(rb'<(?:[A-Z0-9_.-]+:)?SST\b[^>]*? UNIQUECOUNT *= *"([0-9]+)"')


def _judge_unique_count(path: Path, info: zipfile.ZipInfo, canon: bytes) -> None:
    """calamine reserves room for ``<sst uniqueCount>`` strings (24 bytes each) up front."""
    found = _UNIQUE_COUNT.search(canon)
    # every string takes at least a few bytes of XML (<si/>): more than that is a lie
    if found and int(found.group(1)) > info.file_size // 4 + 1024:
        raise InputError(
            f"{path}: the shared strings declare {int(found.group(1)):,} strings in "
            f"{_amount(info.file_size)}; the file is damaged or hostile: {_BOMB.split('; ')[1]}"
        )


def _judge_run(path: Path, label: str, run: int) -> None:
    if run > MAX_XML_RUN:
        raise InputError(
            f"{path}: {label} holds a single text or tag of over {_amount(MAX_XML_RUN)} (a cell "
            f"holds at most 32,767 characters); {_BOMB}"
        )


def _judge_box(path: Path, label: str, rows: int, columns: int, corner: str) -> None:
    if rows <= MAX_ROWS and columns <= MAX_COLUMNS and rows * columns <= MAX_CELLS:
        return
    raise InputError(
        f"{path}: {label} declares a cell at {corner} ({columns:,} columns x {rows:,} rows), "
        f"far beyond any lead list; {_FIX}"
    )


def _column_number(letters: bytes) -> int:
    """b"A" -> 1, b"Z" -> 26, b"AA" -> 27 (calamine also reads lower case)."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_TAG = re.compile(
    rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s/>])((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>"
)
_R_ATTR = re.compile(rb"(?:^|\s)r\s*=\s*[\"']([A-Za-z]*)([0-9]*)[\"']")


def _referenced_box(book: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, int, str]:
    """The far corner of the member's cells when every cell is written ``<c r="…">``."""
    rows = columns = 0
    letters: set[bytes] = set()
    tail = b""
    for block in _blocks(book, info):
        canon = block.translate(_CANON)
        refs = _CELL_REF.findall(tail + canon)
        letters.update(column for column, _ in refs)
        rows = max(rows, max((int(row) for _, row in refs), default=0))
        tail = canon[-32:]
    columns = max((_column_number(c) for c in letters), default=0)
    return rows, columns, f"{_column_letters(columns)}{rows}"


def _counted_box(
    path: Path, book: zipfile.ZipFile, info: zipfile.ZipInfo, label: str
) -> tuple[int, int, str]:
    """The far corner of the member's cells, placed the way calamine places them.

    A cell's reference gives its place; a cell without one goes after the previous cell of
    its row, and a row without one after the previous row. Empty cells (``<c r="Z9"/>``)
    are not cells to calamine.
    """
    row_index = col_index = 0  # calamine's 0-based counters
    rows = columns = 0
    carry = b""
    for block in _blocks(book, info):
        text = carry + block
        cut = text.rfind(b"<")  # XML allows no '<' inside a tag: tags before it are whole
        if cut <= 0:
            carry = text
            _judge_run(path, label, len(carry))
            continue
        carry, text = text[cut:], text[:cut]
        for closing, name, attrs in _TAG.findall(text):
            ref = _R_ATTR.search(attrs)
            if name == b"row":
                if closing or attrs.rstrip().endswith(b"/"):
                    row_index, col_index = row_index + 1, 0
                elif ref and ref.group(2):
                    row_index = int(ref.group(2)) - 1
                continue
            if closing:
                continue
            if ref and ref.group(1) and ref.group(2):
                row, column = int(ref.group(2)), _column_number(ref.group(1))
                col_index = column - 1
            else:
                row, column = row_index + 1, col_index + 1
            col_index += 1
            if not attrs.rstrip().endswith(b"/"):  # a value may follow: calamine keeps it
                rows, columns = max(rows, row), max(columns, column)
    return rows, columns, f"{_column_letters(columns)}{rows}"


# --- .ods: content.xml's repeated rows and columns ---------------------------------------------

_ODS_ROW = re.compile(
    rb"<table:table-row(?=[\s/>])([^>]*)>|</table:table-row>|<table:table(?=[\s>])([^>]*)>"
)
_ODS_CELL = re.compile(rb"<table:(?:covered-)?table-cell(?=[\s/>])([^>]*?)(/?)>")
_ODS_REPEAT_COLS = re.compile(rb'table:number-columns-repeated="([0-9]+)"')
_ODS_REPEAT_ROWS = re.compile(rb'table:number-rows-repeated="([0-9]+)"')
_ODS_NAME = re.compile(rb'table:name="([^"]*)"')
# calamine keeps a cell with any of these (a string cell even when it is empty)
_ODS_VALUE = re.compile(
    rb"office:(?:value|string-value|date-value|time-value|boolean-value)=|"
    rb'office:value-type="string"|table:formula='
)
_ODS_SPACES = re.compile(rb'<text:s\b[^>]*?text:c="([0-9]+)"')


class _OdsScan:
    """Each table's rows and columns as calamine expands them (see its ``get_range``).

    calamine keeps one copy of a row element however many times it repeats, with its
    cells; repeated non-empty cells are copied, up to 16,384 a row. It then expands the
    rows from the first to the last non-empty one into a block as wide as the widest row,
    repeats included. Trailing empty rows and columns, which LibreOffice writes with huge
    repeat counts in every normal file, are never expanded.
    """

    def __init__(self) -> None:
        self.carry = b""
        self.name = ""
        self._reset()

    def _reset(self) -> None:
        self.rows_total = 0  # rows so far, repeats included (capped like calamine's)
        self.first = -1  # the row number where the first non-empty row starts
        self.last = -1  # the row number where the last non-empty row ends
        self.width = 0  # the widest non-empty row, up to its last non-empty cell
        self.kept = 0  # cells calamine keeps before expanding rows
        self.text_bytes = 0  # bytes of text the copies of repeated cells add

    def feed(self, path: Path, block: bytes) -> None:
        text = self.carry + block
        cut = text.rfind(b"</table:table-row>")
        if cut < 0:
            self.carry = text
            if len(text) > MAX_XML_RUN:
                _judge_run(path, "content.xml", len(text))
            return
        cut += len(b"</table:table-row>")
        self.carry, text = text[cut:], text[:cut]
        if self._plain_rows(text):
            self.judge(path)
            return
        start = 0
        repeats = 1
        for match in _ODS_ROW.finditer(text):
            if match.group(2) is not None:  # a new table: judge the one before
                self.judge(path)
                name = _ODS_NAME.search(match.group(2))
                self.name = name.group(1).decode("utf-8", "replace") if name else ""
                self._reset()
            elif match.group(1) is not None:
                found = _ODS_REPEAT_ROWS.search(match.group(1))
                repeats = int(found.group(1)) if found else 1
                start = match.end()
                if match.group(1).rstrip().endswith(b"/"):
                    self._row(path, b"", repeats)
            else:
                self._row(path, text[start : match.start()], repeats)
        self.judge(path)

    def _plain_rows(self, text: bytes) -> bool:
        """Rows without repeats or a new table, counted a block at a time; False if not so.

        Each row counts as non-empty when the block holds a value: a bound, not the count.
        """
        if b"repeated" in text or b"text:c" in text or b"<table:table " in text:
            return False
        rows = text.split(b"</table:table-row>")[:-1]
        if text.count(b"<table:table-row") != len(rows):  # self-closing rows, row groups
            return False
        if not _ODS_VALUE.search(text):
            self.rows_total = min(self.rows_total + len(rows), MAX_ROWS)
            return True
        covered = text.count(b"<table:covered-table-cell")
        widths = [row.count(b"<table:table-cell") for row in rows]
        if self.first < 0:
            self.first = self.rows_total
        self.rows_total = min(self.rows_total + len(rows), MAX_ROWS)
        self.last = self.rows_total
        self.width = max(self.width, max(widths, default=0) + covered)
        self.kept += sum(widths) + covered
        return True

    def _row(self, path: Path, cells: bytes, repeats: int) -> None:
        repeats = min(repeats, max(MAX_ROWS - self.rows_total, 0))
        row_at = self.rows_total
        self.rows_total += repeats
        if b"repeated" not in cells and b"text:c" not in cells:  # the common row: count
            if not _ODS_VALUE.search(cells):
                return
            used = cells.count(b"<table:table-cell") + cells.count(b"<table:covered-table-cell")
            extra = len(cells) * (repeats - 1)
        else:
            used, extra, column = 0, 0, 0
            for match in _ODS_CELL.finditer(cells):
                found = _ODS_REPEAT_COLS.search(match.group(1))
                count = min(int(found.group(1)) if found else 1, MAX_COLUMNS - column)
                column += count
                if _ODS_VALUE.search(match.group(1)):
                    used = column
                    body = len(match.group(0))
                    if not match.group(2):
                        end = cells.find(b"table-cell>", match.end())
                        inside = cells[match.end() : end if end >= 0 else len(cells)]
                        body += len(inside) + sum(int(n) for n in _ODS_SPACES.findall(inside))
                    extra += body * (count * repeats - 1)
            if not used:
                return
        self.kept += used
        self.text_bytes += extra
        self.width = max(self.width, used)
        if self.first < 0:
            self.first = row_at
        self.last = row_at + repeats

    def judge(self, path: Path) -> None:
        """Refuse the table read so far if calamine would expand it beyond the limits."""
        if self.first < 0:
            return
        rows = self.last - self.first
        label = f"sheet '{self.name}'"
        if rows * self.width > MAX_CELLS or self.kept > MAX_CELLS:
            raise InputError(
                f"{path}: {label} repeats its cells into {rows:,} rows x {self.width:,} "
                f"columns ({rows * self.width:,} cells), far beyond any lead list; open it in "
                "LibreOffice, delete the rows and columns after your data and save it again"
            )
        if self.text_bytes > MAX_PART_BYTES:
            raise InputError(
                f"{path}: {label} repeats its text into {_amount(self.text_bytes)}, far "
                "beyond any lead list; open it in LibreOffice, delete the repeated cells and "
                "save it again"
            )


# --- .xls: an OLE container of BIFF records ----------------------------------------------------

# Cell records and where their row and column are: calamine places a cell by them.
_XLS_CELLS = {0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006, 0x00BD}
_XLS_DIMENSIONS = 0x0200
_XLS_BOF = 0x0809
_XLS_BOUNDSHEET = 0x0085


def _check_xls(path: Path, size: int) -> None:
    """An .xls: its size, its header's allocation counts, each sheet's DIMENSIONS and cells."""
    if size > MAX_XLS_BYTES:
        raise InputError(
            f"{path}: {_amount(size)} is far beyond any lead list in the old .xls format "
            f"(at most {_amount(MAX_XLS_BYTES)}); save it as .csv and import that"
        )
    with path.open("rb") as f:
        header = f.read(512)
    if len(header) < 512:
        return
    # calamine reserves memory by these header fields before reading anything: the FAT's
    # sector count, and 4 bytes at 62 it takes for the DIFAT's (small in every real file)
    sectors = size // 512 + 1
    (fat,) = struct.unpack_from("<I", header, 44)
    (difat,) = struct.unpack_from("<I", header, 62)
    if fat > sectors or difat > 1 << 26:
        raise InputError(
            f"{path}: the file's header declares more sectors than the file holds; it is "
            "damaged: open it in Excel and save it again as .xlsx"
        )
    stream = _xls_workbook_stream(path)
    if stream is not None:
        _check_biff(path, stream)


def _xls_workbook_stream(path: Path) -> bytes | None:
    import olefile  # only for the rare .xls

    try:
        with olefile.OleFileIO(str(path)) as ole:
            for name in ("Workbook", "Book"):
                if ole.exists(name):
                    data: bytes = ole.openstream(name).read()
                    return data
    except Exception:  # olefile raises many kinds for a damaged file; calamine reports it
        return None
    return None


def _check_biff(path: Path, stream: bytes) -> None:
    """Walk the BIFF records: the cells of each sheet and the size each DIMENSIONS declares."""
    names: list[str] = []
    sheet = -1  # the index of the sheet whose records these are (-1: workbook globals)
    rows = columns = 0
    offset, end = 0, len(stream) - 4
    unpack = struct.unpack_from
    while offset <= end:
        kind, length = unpack("<HH", stream, offset)
        data = offset + 4
        offset = data + length
        if kind in _XLS_CELLS and length >= 4:
            row, column = unpack("<HH", stream, data)
            if kind == 0x00BD and length >= 6:  # MULRK: a run of cells from this column
                column += (length - 6) // 6 - 1
            rows, columns = max(rows, row + 1), max(columns, column + 1)
        elif kind == _XLS_DIMENSIONS and length in (10, 14):
            layout = "<IIHH" if length == 14 else "<HHHH"
            first, last, first_col, last_col = unpack(layout, stream, data)
            if first_col > 0xFF or last_col < first_col:  # as calamine reads it
                first_col = 0
            if last >= 1 and last_col >= 1:  # calamine reserves rows x columns cells
                declared_rows = (last - first) & 0xFFFFFFFF
                declared_cols = last_col - first_col
                if declared_rows * declared_cols > MAX_CELLS:
                    _judge_xls(path, names, sheet, declared_rows, declared_cols)
        elif kind == _XLS_BOUNDSHEET and length >= 8:
            names.append(_biff_sheet_name(stream[data + 6 : data + length]))
        elif kind == _XLS_BOF and length >= 4:
            (substream,) = unpack("<H", stream, data + 2)
            if substream == 0x0010:  # a worksheet: judge the one before, start this one
                if sheet >= 0:
                    _judge_xls_box(path, names, sheet, rows, columns)
                sheet += 1
                rows = columns = 0
    if sheet >= 0:
        _judge_xls_box(path, names, sheet, rows, columns)


def _biff_sheet_name(data: bytes) -> str:
    if len(data) < 2:
        return ""
    count, wide = data[0], data[1] & 1
    raw = data[2 : 2 + count * (2 if wide else 1)]
    return raw.decode("utf-16-le" if wide else "latin-1", "replace")


def _judge_xls_box(path: Path, names: list[str], sheet: int, rows: int, columns: int) -> None:
    if rows * columns > MAX_CELLS or columns > 256 or rows > 65_536:
        _judge_xls(path, names, sheet, rows, columns)


def _judge_xls(path: Path, names: list[str], sheet: int, rows: int, columns: int) -> None:
    name = names[sheet] if 0 <= sheet < len(names) else f"#{sheet + 1}"
    raise InputError(
        f"{path}: sheet '{name}' declares a cell at {_column_letters(columns)}{rows} "
        f"({columns:,} columns x {rows:,} rows), far beyond any lead list; {_FIX}"
    )
