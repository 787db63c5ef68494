"""Spreadsheets (CSV, Excel) -> chunks of text cells with the row numbers Excel shows.

Every cell comes out as text, nothing inferred; workbooks are checked against what they
declare before they are parsed (``check_workbook``), since vendor files are untrusted.
"""

from __future__ import annotations

from importer.read._open import (
    CSV_SUFFIXES,
    EXCEL_SUFFIXES,
    SUPPORTED,
    find_column,
    list_sheets,
    open_table,
)
from importer.read._preflight import WorkbookFacts, check_workbook, last_row
from importer.read._table import Chunk, Table

__all__ = [
    "CSV_SUFFIXES",
    "Chunk",
    "EXCEL_SUFFIXES",
    "SUPPORTED",
    "Table",
    "WorkbookFacts",
    "check_workbook",
    "last_row",
    "find_column",
    "list_sheets",
    "open_table",
]
