"""Workbooks (.xlsx, .xlsm, .xls, .ods) as a Table, each cell as the text Excel shows.

Excel files (.xlsx, .xlsm, .xls, .ods) are read with python-calamine, which loads the whole
sheet (workbooks cannot be streamed) and gives typed cells; they are turned into the text a
person sees (``8004506787.0`` -> ``8004506787``, dates as ``YYYY-MM-DD HH:MM:SS``). Row 1 is
always the header; rows above a table are not skipped. calamine reports formula error cells
(``#N/A``) as empty, so an .xlsx/.xlsm sheet holding error cells is read with openpyxl
instead, which keeps their text.

Vendor files are untrusted: before calamine sees a workbook, ``preflight`` checks what it
declares (zip sizes, far cell references, repeat counts), because calamine allocates by
those and a Rust allocation failure aborts the whole process.
"""

from __future__ import annotations

import itertools
import warnings
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import python_calamine

from importer.errors import InputError, Setting, mention
from importer.read._preflight import check_workbook
from importer.read._table import (
    CONTROL_CHARS,
    OLE_MAGIC,
    ZIP_MAGIC,
    Piece,
    Table,
    clean_header,
    header_key,
    is_blank,
    one_line,
    strings_table,
)
from importer.read._xlsx_formats import padded_columns, padding_format, zero_padded


def _open_workbook(path: Path) -> python_calamine.CalamineWorkbook:
    """The workbook, or an InputError that says why it cannot be read."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(OLE_MAGIC) and _is_encrypted_ooxml(path):
        raise InputError(_PASSWORD.format(path=path))
    if not head.startswith((ZIP_MAGIC, OLE_MAGIC)):
        if _looks_like_text(path):
            raise InputError(
                f"{path}: is a text file, not a workbook; rename it to .csv or pass "
                f"{mention(Setting.FORMAT, 'csv')}"
            )
        raise InputError(
            f"{path}: is not a workbook (it is damaged, or another kind of file); "
            "open it in Excel and save it again as .xlsx"
        )
    check_workbook(path)  # refuses what would make calamine allocate gigabytes
    try:
        with path.open("rb") as f:
            return python_calamine.CalamineWorkbook.from_filelike(f)
    except python_calamine.PasswordError:
        raise InputError(_PASSWORD.format(path=path)) from None
    except _PASSED_ON:
        raise
    except BaseException as e:  # calamine raises several unrelated types for a bad file
        raise InputError(
            f"{path}: cannot be read as a workbook ({one_line(e)}); the file is damaged or "
            "incomplete: open it in Excel and save it again"
        ) from None


# pyo3 turns a Rust panic into PanicException, a BaseException: still a bad file, but these
# are not.
_PASSED_ON = (KeyboardInterrupt, SystemExit, GeneratorExit)

_PASSWORD = (
    "{path}: the workbook is password-protected; open it in Excel, remove the password "
    "(File > Info > Protect Workbook) and save it again"
)


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
    return len(CONTROL_CHARS.findall(text)) < 0.01 * max(len(text), 1) and "\ufffd" not in text


def _worksheets(path: Path, book: python_calamine.CalamineWorkbook) -> list[tuple[str, bool]]:
    """(name, visible) of every worksheet (chart sheets have no cells)."""
    try:
        return [
            (m.name, m.visible == python_calamine.SheetVisibleEnum.Visible)
            for m in book.sheets_metadata
            if m.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
    except Exception as e:
        raise InputError(f"{path}: cannot list the sheets ({one_line(e)})") from None


def sheet_names(path: Path) -> list[str]:
    """The worksheet names of a workbook, in workbook order."""
    return [name for name, _ in _worksheets(path, _open_workbook(path))]


def open_excel(path: Path, sheet: str | None) -> Table:
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
    others = [n for n in names if n != name] if sheet is None else []
    # When the sheet was picked for the user, say which others there are.
    listed = ", ".join(repr(n) for n in others)
    hint = f"; other sheets: {listed} (pass {mention(Setting.SHEET, 'NAME')})"
    hint = hint if others else ""
    read_rows = _sheet_reader(path, book, name)
    rows = read_rows()
    header = next(rows, None)
    if header is None or is_blank(header):
        if header is None:
            raise InputError(f"{path}: sheet '{name}' is empty{hint}")
        raise InputError(
            f"{path}: row 1 of sheet '{name}' is empty; the column names must be in row 1 "
            f"(delete the rows above them){hint}"
        )
    top = tuple(itertools.islice(rows, 10))  # rows 2-11, to spot headers below row 1
    if all(is_blank(row) for row in top) and all(is_blank(row) for row in rows):
        raise InputError(f"{path}: sheet '{name}' has a header row but no data rows{hint}")
    headers = [clean_header(h) for h in header]

    def pieces() -> Iterator[Piece]:
        return _excel_pieces(read_rows(), len(headers))

    def sheet_with(column: str) -> str | None:
        key = header_key(column)
        for other in others:
            try:
                first = next(_sheet_reader(path, book, other)(), None)
            except InputError:
                continue
            if first and any(header_key(cell) == key for cell in first):
                return other
        return None

    return Table(path, "excel", headers, pieces, sheet=name, top_rows=top, sheet_with=sheet_with)


def _sheet_reader(
    path: Path, book: python_calamine.CalamineWorkbook, name: str
) -> Callable[[], Iterator[list[str]]]:
    """Something that reads the sheet's rows as text, row 1 first, from column A, each time."""
    try:
        sheet = book.get_sheet_by_name(name)  # parses the whole sheet, once
    except _PASSED_ON:
        raise
    except BaseException as e:
        raise InputError(_sheet_message(path, name, e)) from None
    if has_error_cells(path):
        height, width = (sheet.end[0] + 1, sheet.end[1] + 1) if sheet.end else (0, 0)
        return lambda: _openpyxl_rows(path, name, width, height)
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
    except _PASSED_ON:
        raise
    except BaseException as e:
        raise InputError(_sheet_message(path, sheet.name, e)) from None


def _whole_number(value: object) -> int | None:
    """A number cell's value when it is a whole number (not a bool, a date or text)."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _sheet_message(path: Path, name: str, e: BaseException) -> str:
    return (
        f"{path}: cannot read sheet '{name}' ({type(e).__name__}: {one_line(e)}); the file is "
        "damaged or incomplete: open it in Excel and save it again"
    )


def has_error_cells(path: Path) -> bool:
    """Does any .xlsx worksheet hold a formula error cell (``t="e"``)? calamine reads "".

    The preflight's byte scan of the sheet XML notes it on the way (a few milliseconds per
    100k rows, against seconds for reading every cell with openpyxl); a false hit only
    costs that time.
    """
    return check_workbook(path).error_cells


def _openpyxl_rows(path: Path, name: str, width: int, height: int) -> Iterator[list[str]]:
    """The rows through openpyxl, padded to the sheet width calamine found."""
    import openpyxl  # only for the rare sheet with error cells

    try:
        with warnings.catch_warnings(), path.open("rb") as f:
            warnings.simplefilter("ignore")  # openpyxl warns about unsupported extensions
            book = openpyxl.load_workbook(f, read_only=True, data_only=True)
            try:
                # bounded by what calamine found: openpyxl pads every row to the width the
                # sheet's <dimension> declares, which a hostile file sets to XFD1048576
                for row in book[name].iter_rows(max_row=max(height, 1), max_col=max(width, 1)):
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
    # (_xlsx_formats); in .xls and .ods, and without that format, the zero is gone for good.
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


def _excel_pieces(rows: Iterator[list[str]], width: int, size: int = 10_000) -> Iterator[Piece]:
    next(rows, None)  # row 1: the header
    batch: list[list[str]] = []
    problems: dict[int, str] = {}
    first = 2
    for number, row in enumerate(rows, start=2):
        if len(row) != width:  # cannot happen with calamine; openpyxl is less strict
            if len(row) > width and not is_blank(row[width:]):
                problems[number] = f"row has {len(row)} cells but the header has {width}"
            row = row[:width] + [""] * (width - len(row))
        batch.append(row)
        if len(batch) >= size:
            yield Piece(strings_table(batch, width), np.arange(first, number + 1), problems)
            first, batch, problems = number + 1, [], {}
    if batch:
        yield Piece(strings_table(batch, width), np.arange(first, first + len(batch)), problems)
