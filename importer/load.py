"""Spreadsheets (CSV, Excel) as chunks of text cells, each row keeping the number Excel shows.

Every cell comes out as ``str`` ("" when empty): nothing is inferred, so ``02134``, ``N/A``
and 19-digit numbers survive as written. Row numbers are the ones a person sees when the
file is opened in Excel: the header is row 1, a record whose quoted cell spans several lines
is still one row, and blank rows are dropped (and counted) without shifting later numbers.

The readers live in ``load_csv`` (CSV) and ``load_excel`` (workbooks), the ``Table`` they
return in ``table``; the rest of the package imports all of it from here.
"""

from __future__ import annotations

from pathlib import Path

from importer.errors import InputError
from importer.load_csv import _OPEN_QUOTE as _OPEN_QUOTE
from importer.load_csv import NON_ASCII_WORD as NON_ASCII_WORD
from importer.load_csv import _open_csv
from importer.load_excel import _has_error_cells as _has_error_cells
from importer.load_excel import _open_excel, _sheet_names
from importer.table import Chunk as Chunk
from importer.table import Table, _header_key

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
    return _sheet_names(path)


def find_column(table: Table, name: str) -> str | None:
    """The frame column for a header, ignoring case, surrounding spaces and a BOM."""
    wanted = _header_key(name)
    for header, column in zip(table.headers, table.columns, strict=True):
        if _header_key(header) == wanted:
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
