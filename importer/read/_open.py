"""Spreadsheets (CSV, Excel) as chunks of text cells, each row keeping the number Excel shows.

Every cell comes out as ``str`` ("" when empty): nothing is inferred, so ``02134``, ``N/A``
and 19-digit numbers survive as written. Row numbers are the ones a person sees when the
file is opened in Excel: the header is row 1, a record whose quoted cell spans several lines
is still one row, and blank rows are dropped (and counted) without shifting later numbers.

The readers live in ``_csv`` (CSV) and ``_excel`` (workbooks), the ``Table`` they return in
``_table``; other parts import what they need from ``importer.read``.
"""

from __future__ import annotations

import stat
from pathlib import Path

from importer.errors import InputError, Setting, mention
from importer.read._csv import open_csv
from importer.read._excel import open_excel, sheet_names
from importer.read._table import Table, header_key

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SUPPORTED = ", ".join(CSV_SUFFIXES + EXCEL_SUFFIXES)


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
                f"{path}: a CSV file has no sheets; {mention(Setting.SHEET)} applies to workbooks "
                f"({', '.join(EXCEL_SUFFIXES)})"
            )
        return open_csv(path, size, encoding, delimiter)
    return open_excel(path, sheet)


def list_sheets(path: Path, *, fmt: str | None = None) -> list[str]:
    """The worksheet names of a workbook, in workbook order."""
    path = Path(path)
    if _format_of(path, fmt) == "csv":
        raise InputError(
            f"{path}: a CSV file has no sheets; {mention(Setting.LIST_SHEETS)} applies to "
            "workbooks "
            f"({', '.join(EXCEL_SUFFIXES)})"
        )
    _check_file(path)
    return sheet_names(path)


def find_column(table: Table, name: str) -> str | None:
    """The frame column for a header, ignoring case, surrounding spaces and a BOM."""
    wanted = header_key(name)
    for header, column in zip(table.headers, table.columns, strict=True):
        if header_key(header) == wanted:
            return column
    return name if name in table.columns else None


# --- helpers ----------------------------------------------------------------------------


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
        f"pass {mention(Setting.FORMAT, 'csv')} or {mention(Setting.FORMAT, 'excel')} to read "
        "it anyway"
    )


def _check_file(path: Path) -> int:
    """The file's size; an InputError when it is missing, unreadable or empty."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{path}: is a folder, not a spreadsheet file")
        if not stat.S_ISREG(info.st_mode):
            # Opening a FIFO waits for a writer, and a device never ends: both hang a run.
            raise InputError(
                f"{path}: is not a regular file (a pipe, device or socket); save the "
                "spreadsheet as a file and name that"
            )
        size = info.st_size
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
