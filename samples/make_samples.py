"""Rebuild the sample spreadsheets in this folder: ``python samples/make_samples.py``.

Every file uses the columns of ``benchmarks/gen_leads.py`` (First Name, Last Name, Phone,
E-mail, Callback Time, Amount, State, ZIP, Source), so one mapping reads them all. The
contents are the same on every run; .xlsx/.xls/.ods files also carry the time they were
saved, so their bytes differ.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))

from gen_leads import COLUMNS, write_leads_csv, write_leads_xlsx  # noqa: E402


def _csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def _write_text(name: str, text: str, encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(text.encode(encoding))


def semicolon_cp1252() -> None:
    """What Excel writes on a French/German/Spanish Windows: ';' and Windows-1252."""
    rows = [
        COLUMNS,
        ["José", "Núñez", "(212) 555-0147", "jose.nunez@example.com", "12/01/2026 9:30 AM",
         "1200,50", "NY", "10001", "web"],
        ["Zoë", "Müller", "312.555.0188", "zoe.muller@example.com", "2026-12-01 14:00", "850",
         "IL", "60601", "référence"],
        ["Renée", "Ågren", "+1 303 555 0123", "", "", "2300", "CO", "80202", "radio"],
        ["François", "Lefèvre", "", "f.lefevre@example.com", "12/02/2026 10:15 AM", "€500",
         "MA", "02134", "salon"],
        ["Chloé", "O'Connor", "617-555-0199", "chloe@example.com", "", "", "MA", "02139", "web"],
    ]  # fmt: skip
    _write_text("semicolon-cp1252.csv", _csv_text(rows, ";"), "cp1252")


def excel_unicode() -> None:
    """Excel's "Unicode Text (*.txt)": UTF-16 LE with a BOM, tab-delimited, CRLF."""
    rows = [
        COLUMNS,
        ["王", "芳", "(415) 555-0134", "wang.fang@example.com", "2026-12-01 09:30", "700", "CA",
         "94103", "wechat"],
        ["Дмитрий", "Иванов", "212-555-0165", "", "12/01/2026 11:00 AM", "1500", "NY", "10002",
         "referral"],
        ["Nguyễn", "Thị Lan", "7135550172", "lan.nguyen@example.com", "", "320", "TX", "77002",
         "web"],
        ["Amélie", "Dupont", "", "amelie@example.com", "2026-12-03T10:00:00-05:00", "990", "MA",
         "02108", "tv\tspot"],
    ]  # fmt: skip
    (HERE / "excel-unicode.txt").write_bytes(
        codecs.BOM_UTF16_LE + _csv_text(rows, "\t").encode("utf-16-le")
    )


def multiline() -> None:
    """Quoted cells holding commas and line breaks; row numbers stay those Excel shows."""
    rows = [
        COLUMNS,
        ["Ann", "Smith, Jr.", "(212) 555-0101", "ann@example.com", "2026-12-01 09:30", "501",
         "NY", "10001", "web"],
        ["Bob", "Jones", "312-555-0102", "bob@example.com", "", "1200", "IL", "60601",
         "referral\nfrom Ann (row 2)"],
        [],  # a blank row: row 4 in Excel, skipped and counted
        ["Cara", "Lee", "303.555.0103", "cara@example.com", "12/01/2026 2:00 PM", "750", "CO",
         "80202", 'said "call me after 5",\nthen "no, before noon"'],
        ["Dan", "Brown, III", "+1 617 555 0104", "dan@example.com", "", "300", "MA", "02134",
         "line one\nline two\nline three"],
        ["Eve", "Adams", "713 555 0105", "", "2026-12-02 10:00", "900", "TX", "77002", "radio"],
    ]  # fmt: skip
    _write_text("multiline.csv", _csv_text(rows))


def ragged() -> None:
    """Rows with fewer cells than the header (padded) and more (kept, flagged invalid)."""
    lines = [
        ",".join(COLUMNS),
        "Ann,Smith,(212) 555-0101,ann@example.com,2026-12-01 09:30,501,NY,10001,web",
        "Bob,Jones,312-555-0102,bob@example.com",  # fewer cells: the rest are empty
        "Cara,Lee, Jr.,303.555.0103,cara@example.com,,750,CO,80202,web",  # unquoted comma
        "Dan,Brown,617-555-0104,dan@example.com,,300,MA,02134,web,",  # trailing empty cell: fine
        "Eve,Adams,713 555 0105,eve@example.com,,900,TX,77002,radio,extra,cells",
        "Fay,Green,(415) 555-0106,fay@example.com,2026-12-02 10:00,1000,CA,94103,tv",
    ]
    _write_text("ragged.csv", "\r\n".join(lines) + "\r\n")


def bom_headers() -> None:
    """UTF-8 with a BOM (Excel's "CSV UTF-8"), headers in odd case with spaces."""
    headers = [" first name ", "LAST NAME", " phone ", "E-MAIL", "callback time ", "AMOUNT",
               "state", " Zip", "source"]  # fmt: skip
    rows = [
        headers,
        ["Ann", "Smith", "(212) 555-0101", "ann@example.com", "2026-12-01 09:30", "501", "NY",
         "10001", "web"],
        ["Bob", "Jones", "312-555-0102", "", "", "1200", "IL", "60601", "radio"],
        ["Cara", "Lee", "", "cara@example.com", "12/01/2026 2:00 PM", "750", "CO", "80202", ""],
    ]  # fmt: skip
    _write_text("bom-headers.csv", _csv_text(rows), "utf-8-sig")


def scientific() -> None:
    """Phones Excel showed as 8.00451E+09 and saved that way: the digits are gone."""
    rows = [
        COLUMNS,
        ["Ann", "Smith", "8.00451E+09", "ann@example.com", "", "501", "NY", "10001", "web"],
        ["Bob", "Jones", "2.12555E+09", "", "", "1200", "NY", "10002", "web"],
        ["Cara", "Lee", "3125550103", "cara@example.com", "", "750", "IL", "60601", "web"],
        ["Dan", "Brown", "1.31255E+10", "dan@example.com", "", "300", "IL", "60602", "web"],
        ["Eve", "Adams", "4.15555E+09", "", "2026-12-01 09:30", "900", "CA", "94103", "web"],
        ["Fay", "Green", "(415) 555-0106", "", "", "1000", "CA", "94104", "web"],
    ]  # fmt: skip
    _write_text("scientific.csv", _csv_text(rows))


def duplicates() -> None:
    """The same phone several times, written differently, with different data."""
    rows = [
        COLUMNS,
        ["Ann", "Smith", "(212) 555-0101", "ann@example.com", "2026-12-01 09:30", "501", "NY",
         "10001", "web"],
        ["Bob", "Jones", "312-555-0102", "bob@example.com", "", "1200", "IL", "60601", "radio"],
        ["Ann", "Smith", "212-555-0101", "ann.smith@example.com", "2026-12-02 10:00", "650",
         "NY", "10001", "referral"],
        ["Annie", "Smith", "+1 212 555 0101", "", "", "700", "NY", "10001", "tv"],
        ["Bob", "Jones", "3125550102", "bob@example.com", "", "1300", "IL", "60601", "web"],
        ["Cara", "Lee", "303.555.0103", "cara@example.com", "", "750", "CO", "80202", "web"],
        ["Ann", "Smith-Lee", "1-212-555-0101", "ann@example.com", "12/03/2026 9:00 AM", "800",
         "NY", "10001", "web"],
    ]  # fmt: skip
    _write_text("duplicates.csv", _csv_text(rows))


def tokens() -> None:
    """A token per row (mappings/per-row-token.yaml): two offers share one phone."""
    rows = [
        ["Token", "Phone", "E-mail", "First Name", "Plan"],
        ["offer-A-token", "(212) 555-0101", "ann@example.com", "Ann", "gold"],
        ["offer-B-token", "(212) 555-0101", "ann@example.com", "Ann", "silver"],
        ["offer-A-token", "312.555.0102", "", "Bo", "bronze"],
        ["offer-A-token", "(212) 555-0101", "", "Ann", "platinum"],
        ["", "303-555-0103", "cy@example.com", "Cy", "gold"],
    ]
    _write_text("tokens.csv", _csv_text(rows))


_TYPED_ROWS: list[list[object]] = [
    ["Ann", "Smith", 2125550101, "ann@example.com", datetime(2026, 12, 1, 9, 30), 501, "NY",
     "10001", "web"],
    ["Bob", "Jones", "(312) 555-0102", "bob@example.com", "12/01/2026 2:00 PM", 1200.5, "IL",
     "60601", "radio"],
    ["Cara", "Lee", 13035550103, "", date(2026, 12, 2), 750, "MA", 2134, "web"],
    [None] * 9,
    ["Dan", "Brown", "617.555.0104", "dan@example.com", None, "N/A", "MA", "02139", "N/A"],
    ["Eve", "Adams", None, "eve@example.com", "2026-12-03T10:00:00-05:00", 900, "TX", "77002",
     "tv"],
    ["Fay", "Green", 4155550106, "fay@example.com", None, 1000, "CA", "94103", "web"],
]  # fmt: skip


def leads_xls() -> None:
    """An old-style .xls (BIFF8) with number and date cells."""
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Leads")
    date_style = xlwt.easyxf(num_format_str="m/d/yyyy")
    datetime_style = xlwt.easyxf(num_format_str="m/d/yyyy h:mm")
    for col, name in enumerate(COLUMNS):
        sheet.write(0, col, name)
    for r, row in enumerate(_TYPED_ROWS, start=1):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime):
                sheet.write(r, col, value, datetime_style)
            elif isinstance(value, date):
                sheet.write(r, col, value, date_style)
            else:
                sheet.write(r, col, value)
    book.save(str(HERE / "leads.xls"))


def leads_ods() -> None:
    """An OpenDocument spreadsheet (LibreOffice) with number and date cells."""
    import pandas as pd

    frame = pd.DataFrame(_TYPED_ROWS, columns=COLUMNS, dtype=object)
    frame.to_excel(HERE / "leads.ods", engine="odf", index=False, sheet_name="Leads")


def main() -> None:
    write_leads_csv(HERE / "leads.csv", 300, seed=1)
    write_leads_xlsx(HERE / "leads.xlsx", 100, seed=1)
    semicolon_cp1252()
    excel_unicode()
    multiline()
    ragged()
    bom_headers()
    scientific()
    duplicates()
    tokens()
    leads_xls()
    leads_ods()


def copy_demo() -> None:
    """The demo's own copy ships inside the package (tests/test_examples.py keeps them equal)."""
    demo = HERE.parent / "importer" / "pipeline" / "demo"
    (demo / "leads.csv").write_bytes((HERE / "leads.csv").read_bytes())
    (demo / "mapping.yaml").write_bytes((HERE.parent / "mappings" / "example.yaml").read_bytes())


if __name__ == "__main__":
    main()
    copy_demo()
