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
    from xlsxwriter.worksheet import Worksheet

EXCEL_MAX_ROWS = 1_048_575  # data rows below the header
EXCEL_MAX_UNITS = 32_767  # UTF-16 code units in a cell
# Characters XML 1.0, hence an xlsx, cannot hold (XlsxWriter would write most of them as
# _xHHHH_ escapes, which openpyxl and calamine do not all read back).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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
        # XlsxWriter, not openpyxl: it writes each cell as the type asked for (no guessing, no
        # cell objects), and imports in ~0.04 s against openpyxl's ~0.2 s. Imported here all
        # the same: a big run gives its copy up.
        import xlsxwriter
        from xlsxwriter.exceptions import XlsxWriterException

        try:
            # XlsxWriter's temporary files, in the private run folder rather than the
            # machine's /tmp, in a folder of their own: it leaves them behind when it fails.
            with (
                tempfile.TemporaryDirectory(dir=self.path.parent) as scratch,
                tmp.open("wb") as out,  # opened here: XlsxWriter's own try leaks its files
            ):
                book = xlsxwriter.Workbook(
                    out,
                    {
                        "constant_memory": True,  # a row goes to a file when the next starts
                        "tmpdir": scratch,
                        # Only write() guesses types, and it is not used: off should it be.
                        "strings_to_numbers": False,
                        "strings_to_formulas": False,
                        "strings_to_urls": False,
                    },
                )
                sheet = book.add_worksheet(self.path.stem)
                ok = _write_row(sheet, 0, self.headers)
                if self._spool is not None:
                    self._spool.seek(0)
                    for r, line in enumerate(self._spool, start=1):
                        ok = _write_row(sheet, r, orjson.loads(line)) and ok
                    self._spool.close()
                book.close()
            if not ok:  # a cell past the sheet's last column: not the whole file
                tmp.unlink()
                return False
            os.replace(tmp, self.path)
        except (OSError, XlsxWriterException):
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        return True


def _plain(value: object) -> object:
    if isinstance(value, int) or value is None:
        return value
    return str(value)


def _write_row(sheet: Worksheet, r: int, values: Sequence[object]) -> bool:
    """Write one row's cells as their types; False when one did not fit in the sheet."""
    ok = True
    for c, value in enumerate(values):
        if value is None or value == "":  # no cell at all, as openpyxl wrote it
            continue
        if isinstance(value, bool):
            got = sheet.write_boolean(r, c, value)
        elif isinstance(value, int):
            got = sheet.write_number(r, c, value)
        else:
            text = _ILLEGAL.sub("\ufffd", str(value))
            if len(text) > EXCEL_MAX_UNITS // 2:
                # Excel holds 32,767 UTF-16 units a cell: cut there (a pair left whole), as
                # openpyxl cut at 32,767 characters; the CSV beside it holds the whole cell.
                units = text.encode("utf-16-le")[: 2 * EXCEL_MAX_UNITS]
                text = units.decode("utf-16-le", "ignore")
            if text.startswith("<r>") and text.endswith("</r>"):
                # XlsxWriter takes such a string for rich-text XML and writes it unescaped:
                # as plain runs (it wants three at least) it is escaped and reads back whole.
                got = sheet.write_rich_string(r, c, text[:1], text[1:2], text[2:])
            else:
                got = sheet.write_string(r, c, text)
        ok = got != -1 and ok
    return ok
