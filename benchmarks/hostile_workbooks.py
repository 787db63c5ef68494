"""Tiny hostile workbooks, and what `leadimport validate` does with each: time, peak memory, exit.

Each file is a few KB or MB on disk but declares gigabytes: a stray cell at XFD1048576, a
1 GiB shared string, 2 GiB of whitespace, an .ods whose repeated rows expand to 60M
cells, an .xls whose DIMENSIONS record declares Excel's whole grid. They are generated
here (with zipfile and xlwt), never stored. Each run is a child process under an
address-space limit and a timeout, so the machine survives the old code:

    python benchmarks/hostile_workbooks.py                      # this tree
    git archive HEAD~1 | tar -x -C /tmp/before                   # an older tree …
    python benchmarks/hostile_workbooks.py --tree /tmp/before    # … measured the same way
    python benchmarks/hostile_workbooks.py --limit-gb 3 --timeout 60 --only far-cell.xlsx

tests/test_hostile_workbooks.py builds its files with the writers below.
"""

from __future__ import annotations

import argparse
import io
import random
import struct
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_limited  # noqa: E402
from gen_leads import COLUMNS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "mappings" / "example.yaml"
HEADER = COLUMNS  # the columns of every sample and of mappings/example.yaml
LEAD = ["Ann", "Lee", "2125550123", "ann@example.com", "", "100", "NY", "10001", "web"]

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = (
    _XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
)
_ROOT_RELS = (
    _XML + f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
    f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    _XML + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
    '<sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    _XML + f'<Relationships xmlns="{_PKG}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_SHEET_START = _XML + f'<worksheet xmlns="{_MAIN}"><sheetData>'
_SHEET_END = "</sheetData></worksheet>"
_MB = 1 << 20


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _leads_rows() -> str:
    """Row 1 the header, row 2 one lead: a real list's top, above whatever is hostile."""
    rows = []
    for number, values in ((1, HEADER), (2, LEAD)):
        cells = "".join(_cell(f"{chr(65 + i)}{number}", v) for i, v in enumerate(values) if v)
        rows.append(f'<row r="{number}">{cells}</row>')
    return "".join(rows)


def write_xlsx(
    path: Path,
    sheet: Iterable[bytes],
    strings: Iterable[bytes] = (f'<sst xmlns="{_MAIN}"/>'.encode(),),
) -> Path:
    """An .xlsx with one sheet 'Leads' whose XML (and shared strings) are given in pieces."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        for name, pieces in (
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", strings),
        ):
            with book.open(name, "w", force_zip64=True) as member:
                for piece in pieces:
                    member.write(piece)
    return path


def _repeated(piece: bytes, size: int) -> Iterator[bytes]:
    block = piece * (_MB // len(piece))
    for _ in range(size // len(block)):
        yield block


def far_cell_xlsx(path: Path, ref: str = "XFD1048576") -> Path:
    """A lead list with one stray cell at ``ref``: calamine allocates up to that corner."""
    row = "".join(ch for ch in ref if ch.isdigit())
    stray = f'<row r="{row}">{_cell(ref, "x")}</row>'
    return write_xlsx(path, [(_SHEET_START + _leads_rows() + stray + _SHEET_END).encode()])


def far_column_xlsx(path: Path) -> Path:
    """A stray cell at XFD20000: 16,384 columns x 20,000 rows (10 GB before)."""
    return far_cell_xlsx(path, "XFD20000")


def counted_cells_xlsx(path: Path) -> Path:
    """Cells without a reference go after the previous one: XFC1048576 then one more."""
    stray = (
        f'<row r="1048576">{_cell("XFC1048576", "x")}<c t="inlineStr"><is><t>y</t></is></c></row>'
    )
    return write_xlsx(path, [(_SHEET_START + _leads_rows() + stray + _SHEET_END).encode()])


def shared_string_xlsx(path: Path, size: int = 1 << 30) -> Path:
    """One shared string of ``size`` bytes (1 GiB in a 1 MB file)."""
    sheet = _SHEET_START + '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + _SHEET_END
    strings = [
        f'<sst xmlns="{_MAIN}" count="1" uniqueCount="1"><si><t>'.encode(),
        *_repeated(b"a", size),
        b"</t></si></sst>",
    ]
    return write_xlsx(path, [sheet.encode()], strings)


def whitespace_xlsx(path: Path, size: int = 2 << 30) -> Path:
    """``size`` bytes of whitespace inside the sheet (2 GiB in a 2 MB file)."""
    pieces = [(_SHEET_START + _leads_rows()).encode(), *_repeated(b" ", size), _SHEET_END.encode()]
    return write_xlsx(path, pieces)


def long_text_xlsx(path: Path, size: int = 80 << 20) -> Path:
    """A cell text of ``size`` bytes that compresses only ~75 times: no zip bomb by its ratio,
    but one text that calamine's XML reader would hold whole."""
    block = bytearray(b" " * _MB)
    letters = random.Random(9).choices(b"abcdefghijklmnopqrstuvwxyz", k=len(block[::150]))
    block[::150] = bytes(letters)
    cell = '<row r="3"><c r="A3" t="inlineStr"><is><t>'
    pieces = [(_SHEET_START + _leads_rows() + cell).encode(), *[bytes(block)] * (size // _MB)]
    return write_xlsx(path, pieces + [("</t></is></c></row>" + _SHEET_END).encode()])


def unique_count_xlsx(path: Path) -> Path:
    """Shared strings that claim 4 billion entries: calamine reserves 96 GB for them."""
    sheet = _SHEET_START + '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + _SHEET_END
    strings = f'<sst xmlns="{_MAIN}" uniqueCount="4000000000"><si><t>First Name</t></si></sst>'
    return write_xlsx(path, [sheet.encode()], [strings.encode()])


_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest xmlns:manifest='
    '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)
_ODS_START = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content '
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
    '<office:body><office:spreadsheet><table:table table:name="Leads">'
)
_ODS_END = "</table:table></office:spreadsheet></office:body></office:document-content>"


def _ods_cell(text: str, repeat: int = 1) -> str:
    more = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    return (
        f'<table:table-cell office:value-type="string"{more}><text:p>{text}</text:p>'
        "</table:table-cell>"
    )


def write_ods(path: Path, rows: str) -> Path:
    """An .ods with one table 'Leads' of these table-row elements."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as book:
        mimetype = "application/vnd.oasis.opendocument.spreadsheet"
        book.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        book.writestr("content.xml", _ODS_START + rows + _ODS_END)
    return path


def repeated_rows_ods(path: Path, rows: int = 1_000_000, columns: int = 60) -> Path:
    """A row of ``columns`` text cells repeated ``rows`` times, in under 1 KB."""
    header = "<table:table-row>" + "".join(_ods_cell(h) for h in HEADER) + "</table:table-row>"
    repeated = (
        f'<table:table-row table:number-rows-repeated="{rows}">'
        f"{_ods_cell('x', columns)}</table:table-row>"
    )
    return write_ods(path, header + repeated)


def trailing_empty_ods(path: Path) -> Path:
    """What LibreOffice writes in a normal file: empty trailing rows and columns, repeated."""
    filler = '<table:table-cell table:number-columns-repeated="16375"/>'
    rows = "".join(
        "<table:table-row>" + "".join(_ods_cell(v) for v in values) + filler + "</table:table-row>"
        for values in (HEADER, LEAD)
    )
    rows += (
        '<table:table-row table:number-rows-repeated="1048574">'
        '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
    )
    return write_ods(path, rows)


def _xls_bytes() -> bytes:
    import xlwt  # a test dependency

    book = xlwt.Workbook()
    sheet = book.add_sheet("Leads")
    for row, values in enumerate((HEADER, LEAD)):
        for column, value in enumerate(values):
            sheet.write(row, column, value)
    sheet.write(1, 9, 2125550123.5)  # a NUMBER record (not RK) to move
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _patched(data: bytes, record: bytes, layout: str, *values: int) -> bytearray:
    at = data.find(record)
    if at < 0:
        raise RuntimeError(f"no record {record!r} in the generated .xls")
    out = bytearray(data)
    struct.pack_into(layout, out, at + 4, *values)
    return out


def dimensions_xls(path: Path) -> Path:
    """An .xls whose DIMENSIONS record declares 1,048,576 rows x 16,384 columns."""
    data = _patched(_xls_bytes(), b"\x00\x02\x0e\x00", "<IIHH", 0, 1 << 20, 0, 1 << 14)
    path.write_bytes(data)
    return path


def far_cell_xls(path: Path) -> Path:
    """An .xls with a number cell at row 65,536, column 65,536 (BIFF allows 256 columns)."""
    data = _patched(_xls_bytes(), b"\x03\x02\x0e\x00\x01\x00\x09\x00", "<HH", 0xFFFF, 0xFFFF)
    path.write_bytes(data)
    return path


# name -> (writer, what it declares)
HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "far-cell.xlsx": (far_cell_xlsx, "one cell at XFD1048576"),
    "far-column.xlsx": (far_column_xlsx, "one cell at XFD20000"),
    "counted-cells.xlsx": (counted_cells_xlsx, "a cell without reference after XFC1048576"),
    "shared-string.xlsx": (shared_string_xlsx, "a 1 GiB shared string"),
    "whitespace.xlsx": (whitespace_xlsx, "2 GiB of whitespace in the sheet"),
    "long-text.xlsx": (long_text_xlsx, "an 80 MB cell text, compressed 75 times"),
    "unique-count.xlsx": (unique_count_xlsx, '<sst uniqueCount="4000000000">'),
    "repeated-rows.ods": (repeated_rows_ods, "60 cells x 1,000,000 repeated rows"),
    "dimensions.xls": (dimensions_xls, "DIMENSIONS of 1,048,576 x 16,384"),
    "far-cell.xls": (far_cell_xls, "a cell at column 65,536"),
}


def write_hostile(name: str, folder: Path) -> Path:
    """Generate the hostile workbook ``name`` (a key of HOSTILE) into ``folder``."""
    writer, _ = HOSTILE[name]
    return writer(folder / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="the checkout to measure (default: this one)")
    parser.add_argument("--limit-gb", type=float, default=16, help="address-space limit")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a kill")
    parser.add_argument("--only", action="append", help="one workbook name (repeatable)")
    args = parser.parse_args()
    tree = (args.tree or ROOT).resolve()
    # `python -m` puts the working folder first on sys.path: run in the tree measured
    env = {"PYTHONPATH": str(tree), "RUST_BACKTRACE": "0"}
    names = args.only or list(HOSTILE)
    print(f"tree {tree}, RLIMIT_AS {args.limit_gb:g} GiB, timeout {args.timeout:g} s")
    print(f"| {'workbook':20} | {'on disk':>9} | {'time':>8} | {'peak RSS':>9} | outcome |")
    print(f"|{'-' * 22}|{'-' * 11}|{'-' * 10}|{'-' * 11}|---------|")
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        folder = Path(tmp)
        for name in names:
            path = write_hostile(name, folder)
            mapping = tree / "mappings" / "example.yaml"
            cmd = [sys.executable, "-m", "importer", "validate", str(path), "-m", str(mapping)]
            cmd += ["--out", str(folder / f"out-{name}"), "-q"]
            got = run_limited(
                cmd,
                limit_bytes=int(args.limit_gb * (1 << 30)),
                timeout_s=args.timeout,
                env=env,
                cwd=tree,
            )
            size = path.stat().st_size
            shown = f"{size / _MB:.1f} MB" if size >= _MB else f"{size / 1024:.1f} KB"
            print(
                f"| {name:20} | {shown:>9} | {got.seconds:6.2f} s | {got.peak_mb:6.0f} MB | "
                f"{got.status}: {got.message[:160]} |",
                flush=True,
            )
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
