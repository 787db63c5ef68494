"""Zero-padding number formats in .xlsx sheets: the ZIP 02134 that Excel stores as 2134.

A ZIP code typed into a cell formatted as Excel's "Zip Code" (``00000``) is stored as the
number 2134 and shown as 02134; "Zip Code + 4" (``00000-0000``) and "Social Security
Number" (``000-00-0000``) work the same way. calamine returns the number without its
format, and openpyxl, which has formats, reads cells ten times slower. So the formats are
read here straight from the workbook's XML: ``styles.xml`` (a few KB) says which cell
styles pad with zeros, and when one does, a byte scan of the sheet finds the columns that
use it. Written by hand because no library exposes cell formats at calamine's speed.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# Zeros, optionally in groups split by '-', ' ' or '/': 00000, 00000-0000, 000-00-0000.
_PADDING = re.compile(r"0{2,}(?:[-/ ]0+)*|0+(?:[-/ ]0+)+")
_BLOCK = 1 << 20


def padding_format(code: str) -> str | None:
    """``code`` without escapes when it is a zero-padding format (``00000``), else None."""
    if ";" in code or "[" in code:  # sections and conditions: not a plain padded number
        return None
    plain = re.sub(r'\\(.)|"([^"]*)"', lambda m: m.group(1) or m.group(2) or "", code)
    return plain if _PADDING.fullmatch(plain) else None


def zero_padded(number: int, fmt: str) -> str:
    """``number`` as Excel shows it in ``fmt``: zero_padded(2134, "00000") == "02134"."""
    if number < 0:
        return "-" + zero_padded(-number, fmt)
    places = fmt.count("0")
    digits = str(number).zfill(places)
    extra = len(digits) - places  # a number too long for the format: Excel widens group 1
    out, i = [digits[:extra]], extra
    for ch in fmt:
        if ch == "0":
            out.append(digits[i])
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def padded_columns(path: Path, sheet: str) -> dict[int, str]:
    """Column index (0 = A) -> zero-padding format, for the columns of ``sheet`` that have one.

    Empty for anything that is not a readable .xlsx/.xlsm (calamine reports those).
    """
    stat = path.stat()
    return dict(_padded_columns(str(path), sheet, stat.st_size, stat.st_mtime_ns, stat.st_ino))


@lru_cache(maxsize=16)  # the pipeline opens a workbook more than once; the scan is a pass
def _padded_columns(name: str, sheet: str, size: int, mtime_ns: int, inode: int) -> dict[int, str]:
    try:
        with zipfile.ZipFile(name) as book:
            styles = _padding_styles(book)
            if not styles:
                return {}
            part = _sheet_part(book, sheet)
            if part is None:
                return {}
            return _scan(book, part, styles)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, RuntimeError, ElementTree.ParseError):
        return {}


def _padding_styles(book: zipfile.ZipFile) -> dict[str, str]:
    """Cell style index (as written in ``s="3"``) -> padding format."""
    try:
        root = ElementTree.fromstring(book.read("xl/styles.xml"))
    except KeyError:
        return {}
    codes = {}
    for fmt in root.iter(f"{_MAIN}numFmt"):
        padding = padding_format(fmt.get("formatCode", ""))
        if padding is not None:
            codes[fmt.get("numFmtId")] = padding
    if not codes:
        return {}
    xfs = root.find(f"{_MAIN}cellXfs")
    if xfs is None:
        return {}
    return {
        str(index): codes[xf.get("numFmtId")]
        for index, xf in enumerate(xfs.iter(f"{_MAIN}xf"))
        if xf.get("numFmtId") in codes
    }


def _sheet_part(book: zipfile.ZipFile, name: str) -> str | None:
    """The zip member holding the worksheet called ``name``."""
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    rid = next(
        (s.get(f"{_REL}id") for s in workbook.iter(f"{_MAIN}sheet") if s.get("name") == name),
        None,
    )
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    for rel in rels.iter(f"{_PKG_REL}Relationship"):
        if rel.get("Id") == rid:
            target = rel.get("Target", "")
            if target.startswith("/"):
                return target.lstrip("/")
            return posixpath.normpath(posixpath.join("xl", target))
    return None


def _scan(book: zipfile.ZipFile, part: str, styles: dict[str, str]) -> dict[int, str]:
    """The columns whose cells use one of ``styles``: the first style found per column."""
    indices = b"|".join(re.escape(s.encode()) for s in styles)
    cell = re.compile(rb'<c r="([A-Z]{1,3})[0-9]+"[^>]*?\ss="(' + indices + rb')"')
    found: dict[int, str] = {}
    with book.open(part) as xml:
        tail = b""
        while block := xml.read(_BLOCK):
            text = tail + block
            for match in cell.finditer(text):
                column = _column_index(match.group(1))
                found.setdefault(column, styles[match.group(2).decode()])
            tail = text[-256:]  # a tag cut by the block boundary is matched next time
    return found


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + letter - 64
    return index - 1
