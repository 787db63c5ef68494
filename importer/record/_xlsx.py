"""Spreadsheet copies of the result files: ``.xlsx`` whose cells are text, never formulas.

A CSV opened in Excel is typed by guesswork: ``+14042433218`` becomes a number and loses its
``+``, and a cell starting with ``=`` runs, which is why the CSV files carry a leading
apostrophe on such cells. In an ``.xlsx`` every cell says what it is: written as a text cell,
``=HYPERLINK(…)`` is shown as those characters and ``+1 312 764 1395`` stays a phone, with
no apostrophe to remove before importing the fixed file again.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

EXCEL_MAX_ROWS = 1_048_575  # data rows below the header
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # characters an xlsx cannot hold


class XlsxCopy:
    """Collect rows for ``path``, written when the run finishes; give up past ``max_rows``.

    Rows wait in an unnamed temporary file inside the run folder (private, gone with the
    process), not in memory, and the workbook is built in one go by ``finish``: a run that
    stops half-way leaves no half-written workbook behind.
    """

    def __init__(self, path: Path, headers: Sequence[str], max_rows: int = EXCEL_MAX_ROWS):
        self.path = path
        self.headers = list(headers)
        self.max_rows = max_rows
        self.rows = 0
        self.given_up = False
        self._spool: IO[bytes] | None = None

    def takes(self, n: int) -> bool:
        """Do ``n`` more rows still fit? When not, give up for good (before any conversion)."""
        if self.given_up:
            return False
        if self.rows + n > self.max_rows:
            self._give_up()
            return False
        return True

    def append(self, rows: Iterable[Sequence[object]]) -> None:
        """Add rows: ints stay numbers, everything else is text."""
        if self.given_up:
            return
        try:
            if self._spool is None:
                self._spool = tempfile.TemporaryFile(dir=self.path.parent)  # noqa: SIM115
                weakref.finalize(self, self._spool.close)
            for row in rows:
                self.rows += 1
                if self.rows > self.max_rows:  # too big for a spreadsheet: the CSV holds it
                    self._give_up()
                    return
                self._spool.write(orjson.dumps([_plain(v) for v in row]) + b"\n")
        except OSError:  # the copy is a convenience: the CSV's own writes report the disk
            self._give_up()

    def _give_up(self) -> None:
        self.given_up = True
        if self._spool is not None:
            self._spool.close()

    def finish(self) -> bool:
        """Write the workbook into place; False (and none left behind) when given up."""
        if self.given_up:
            with contextlib.suppress(OSError):
                self.path.unlink()
            return False
        tmp = self.path.with_name(self.path.name + ".tmp")
        # Imported here: openpyxl costs ~25 MB and ~0.2 s, and a big run gives its copy up.
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(self.path.stem)
        try:
            sheet.append([_cell(sheet, h) for h in self.headers])
            if self._spool is not None:
                self._spool.seek(0)
                for line in self._spool:
                    sheet.append([_cell(sheet, v) for v in orjson.loads(line)])
                self._spool.close()
            book.save(tmp)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        return True


def _plain(value: object) -> object:
    if isinstance(value, int) or value is None:
        return value
    return str(value)


def _cell(sheet: WriteOnlyWorksheet, value: object) -> object:
    if isinstance(value, int) or value is None or value == "":
        return value if value != "" else None
    text = _ILLEGAL.sub("\ufffd", str(value))
    if not text.startswith("="):
        return text
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, text)  # openpyxl takes a str starting "=" for a formula
    cell.data_type = "s"
    return cell
