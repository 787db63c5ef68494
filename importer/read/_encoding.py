"""The text encoding of a CSV file: checked or detected, and undecodable bytes found by row."""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

import charset_normalizer

from importer.errors import InputError, Setting, mention

_MARK = "\ufffe"  # a noncharacter: stands in for undecodable bytes when locating them
_MARK_ERRORS = "leadimport.mark"


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return _MARK, error.end


codecs.register_error(_MARK_ERRORS, _mark_undecodable)


def checked_encoding(path: Path, encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputError(
            f"{path}: unknown encoding '{encoding}'; "
            "use a name like utf-8, cp1252, latin-1 or utf-16"
        ) from None


def detect_encoding(path: Path, raw: bytes, size: int) -> str:
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
            row = undecodable_row(path, "utf-8", ",")
            where = f"row {row}" if row else "part of the file"
            raise InputError(
                f"{path}: {where} is not valid UTF-8 but rows before it are: the file mixes "
                f"encodings; re-save it as UTF-8, or pass {mention(Setting.ENCODING, 'cp1252')} "
                "to read it all as Windows-1252"
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
            f"workbook pass {mention(Setting.FORMAT, 'excel')}, otherwise export the sheet "
            "again as CSV"
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


def decode_sample(path: Path, raw: bytes, enc: str, eof: bool, delim: str | None) -> str:
    try:
        return codecs.getincrementaldecoder(enc)().decode(raw, final=eof)
    except UnicodeDecodeError:
        row = undecodable_row(path, enc, delim or ",")
        raise InputError(decode_message(path, enc, row)) from None


def decode_message(path: Path, enc: str, row: int | None) -> str:
    where = f"row {row}" if row else "part of the file"
    if enc in ("utf-8", "utf-8-sig"):
        return (
            f"{path}: {where} is not valid UTF-8 text (the file may mix encodings); "
            f"try {mention(Setting.ENCODING, 'cp1252')} (Excel on Windows), or re-save the "
            "file as UTF-8"
        )
    hint = "latin-1" if enc == "cp1252" else "cp1252"
    return (
        f"{path}: {where} cannot be decoded as {enc}; pass {mention(Setting.ENCODING)} with "
        f"the file's real encoding (e.g. utf-8, {hint})"
    )


def undecodable_row(path: Path, enc: str, delimiter: str) -> int | None:
    """The row holding the first undecodable bytes (slow: only on the error path)."""
    with path.open(encoding=enc, errors=_MARK_ERRORS, newline="") as f:
        for number, record in enumerate(csv.reader(f, delimiter=delimiter), start=1):
            if any(_MARK in cell for cell in record):
                return number
    return None
