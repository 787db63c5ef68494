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


# --- Lead sources (docs/sources.md): each export's own shape, with invented people ---
# Phones are all 555-01xx (reserved for fiction), emails at example.com.


def _write_rows(
    name: str, rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8",
    quote_all: bool = False, line_end: str = "\r\n",
) -> None:  # fmt: skip
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    csv.writer(out, delimiter=delimiter, lineterminator=line_end, quoting=quoting).writerows(rows)
    if encoding == "utf-16":
        (HERE / name).write_bytes(codecs.BOM_UTF16_LE + out.getvalue().encode("utf-16-le"))
    else:
        _write_text(name, out.getvalue(), encoding)


def facebook_lead_ads() -> None:
    """Meta Leads Center / Ads Manager "Download leads" as CSV: UTF-16 LE with a BOM,
    tab-separated (the export is TSV whatever its name), ids and phones with a type prefix
    (l:, ag:, as:, c:, f:, p:), created_time ISO 8601 with the offset of the account."""
    head = ["id", "created_time", "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id",
            "campaign_name", "form_id", "form_name", "is_organic", "platform",
            "full_name", "phone_number", "email", "i_agree_to_be_contacted_by_phone_or_text",
            "lead_status"]  # fmt: skip
    ad = ["ag:120210000000000011", "Fall promo - video", "as:120210000000000012",
          "US 25-54", "c:120210000000000013", "Fall promo 2026", "f:1029384756102938",
          "Free quote form"]  # fmt: skip
    people = [
        ("2026-11-02T14:05:11-05:00", "0", "fb", "Ann Smith", "p:+12125550142",
         "ann.smith@example.com", "yes"),
        ("2026-11-02T14:17:40-05:00", "0", "ig", "José Núñez", "p:+13125550199",
         "jose.nunez@example.com", "yes"),
        ("2026-11-02T15:02:03-05:00", "0", "fb", "Mary-Kate O'Brien", "p:+14155550123",
         "mk.obrien@example.com", "yes"),
        ("2026-11-02T16:45:59-05:00", "1", "fb", "Bob Jones", "p:+16175550111",
         "bob.jones@example.com", "yes"),
        ("2026-11-02T18:30:00-05:00", "0", "ig", "Chloé Lefèvre", "p:+17135550177",
         "chloe@example.com", "yes"),
        ("2026-11-03T08:01:12-05:00", "0", "fb", "Dan Brown", "p:+13035550105",
         "", "yes"),
        ("2026-11-03T09:12:45-05:00", "0", "ig", "Eve Adams", "p:+14045550166",
         "eve.adams@example.com", "yes"),
        ("2026-11-03T11:59:59-05:00", "0", "fb", "Nguyễn Thị Lan", "p:+12065550188",
         "lan.nguyen@example.com", "yes"),
        ("2026-11-03T13:20:31-05:00", "0", "fb", "Fay Green", "p:+18085550133",
         "fay.green@example.com", "yes"),
        ("2026-11-03T17:44:08-05:00", "0", "ig", "Gus Hill", "p:+13055550144",
         "gus.hill@example.com", "yes"),
    ]  # fmt: skip
    rows = [head]
    for n, (created, organic, platform, name, phone, email, consent) in enumerate(people, 1):
        ids = ["", "", "", "", "", "", ad[6], ad[7]] if organic == "1" else ad
        rows.append([f"l:{1234567890123400 + n}", created, *ids, organic, platform, name,
                     phone, email, consent, "CREATED"])  # fmt: skip
    _write_rows("facebook-lead-ads.csv", rows, delimiter="\t", encoding="utf-16")


def google_ads_lead_form() -> None:
    """Google Ads lead form assets, "Download leads" (CSV): one column per question with its
    label, Submission time as yyyy-mm-dd hh:mm:ss with the account's offset, phones E.164."""
    head = ["Lead ID", "Campaign ID", "Campaign", "Ad group ID", "Form ID", "Form name",
            "Submission time", "Is test lead", "Full Name", "Email", "Phone Number",
            "Postal Code", "GCLID"]  # fmt: skip
    people = [
        ("2026-11-02 09:05:11-05:00", "Ann Smith", "ann.smith@example.com", "+12125550142",
         "10001"),
        ("2026-11-02 09:41:27-05:00", "Bob Jones", "bob.jones@example.com", "+13125550199",
         "60601"),
        ("2026-11-02 10:10:00-05:00", "Cara Lee", "cara.lee@example.com", "+13035550103",
         "80202"),
        ("2026-11-02 12:33:48-05:00", "Dan Brown", "dan.brown@example.com", "+16175550104",
         "02134"),
        ("2026-11-02 14:00:05-05:00", "Zoë Müller", "zoe.muller@example.com", "+17135550105",
         "77002"),
        ("2026-11-02 16:27:19-05:00", "Fay Green", "fay.green@example.com", "+14155550106",
         "94103"),
        ("2026-11-03 08:15:00-05:00", "Gus Hill", "gus.hill@example.com", "+12065550107",
         "98101"),
        ("2026-11-03 10:48:36-05:00", "Hana Ito", "hana.ito@example.com", "+18085550108",
         "96813"),
    ]  # fmt: skip
    rows = [head]
    for n, (when, name, email, phone, zip_code) in enumerate(people, 1):
        rows.append([f"TeSter-{n:03d}-AbCdEfGhIjKl", "20123456789", "Quotes - Search",
                     "150123456789", "9876543210", "Get a quote", when, "false", name, email,
                     phone, zip_code, f"Cj0KCQiA{n:04d}exampleGclid"])  # fmt: skip
    _write_rows("google-ads-lead-form.csv", rows)


def tiktok_leads() -> None:
    """TikTok Ads Manager Leads Center, "Download" as CSV: snake_case headers, create_time
    without an offset, phones with their country code."""
    head = ["lead_id", "create_time", "ad_id", "ad_name", "adgroup_id", "adgroup_name",
            "campaign_id", "campaign_name", "form_id", "form_name", "name", "phone_number",
            "email", "consent"]  # fmt: skip
    people = [
        ("2026-11-02 19:05:11", "Ann Smith", "+12125550142", "ann.smith@example.com"),
        ("2026-11-02 19:22:40", "Bob Jones", "+13125550199", ""),
        ("2026-11-02 20:01:09", "Cara Lee", "+13035550103", "cara.lee@example.com"),
        ("2026-11-02 21:14:55", "Dan Brown", "+16175550104", "dan.brown@example.com"),
        ("2026-11-03 14:30:00", "Eve Adams", "+14045550166", "eve.adams@example.com"),
        ("2026-11-03 15:45:21", "Fay Green", "+14155550106", ""),
        ("2026-11-03 16:02:33", "Gus Hill", "+12065550107", "gus.hill@example.com"),
        ("2026-11-03 18:59:59", "Hana Ito", "+18085550108", "hana.ito@example.com"),
    ]  # fmt: skip
    rows = [head]
    for n, (when, name, phone, email) in enumerate(people, 1):
        rows.append([f"7301234567890{n:06d}", when, "1780000000000001", "Spot 15s",
                     "1780000000000002", "US broad", "1780000000000003", "Lead gen Q4",
                     "7300000000000004", "Instant form", name, phone, email,
                     "I agree"])  # fmt: skip
    _write_rows("tiktok-leads.csv", rows, encoding="utf-8-sig")


def hubspot_contacts() -> None:
    """HubSpot contacts view, Export as CSV: property labels as headers, phones as people
    typed them (a contact may have only a mobile), Create Date in the account's zone."""
    rows = [
        ["Record ID", "First Name", "Last Name", "Email", "Phone Number",
         "Mobile Phone Number", "Contact owner", "Lifecycle Stage", "Lead Status",
         "Create Date", "Marketing contact status",
         "Legal basis for processing contact's data"],
        ["51234567801", "Ann", "Smith", "ann.smith@example.com", "+1 212-555-0142", "",
         "Sam Rep", "Lead", "New", "2026-11-02 14:05", "Marketing contact",
         "Freely given consent from contact"],
        ["51234567802", "Bob", "Jones", "bob.jones@example.com", "",
         "(312) 555-0199", "Sam Rep", "Lead", "New", "2026-11-02 14:17", "Marketing contact",
         "Freely given consent from contact"],
        ["51234567803", "Cara", "Lee", "cara.lee@example.com", "303.555.0103",
         "+1 (303) 555-0113", "Kim Rep", "Marketing Qualified Lead", "Open",
         "2026-11-02 15:30", "Non-marketing contact", ""],
        ["51234567804", "Dan", "Brown", "dan.brown@example.com", "6175550104", "",
         "Kim Rep", "Lead", "Attempted to contact", "2026-11-02 16:00", "Marketing contact",
         "Legitimate interest – prospect/lead"],
        ["51234567805", "Zoë", "Müller", "zoe.muller@example.com", "", "+17135550105",
         "Sam Rep", "Lead", "New", "2026-11-03 09:12", "Marketing contact",
         "Freely given consent from contact"],
        ["51234567806", "Fay", "Green", "", "(415) 555-0106", "", "Kim Rep", "Lead",
         "New", "2026-11-03 10:45", "Non-marketing contact", ""],
        ["51234567807", "Gus", "Hill", "gus.hill@example.com", "+1 206 555 0107",
         "+1 206 555 0117", "Sam Rep", "Opportunity", "In progress", "2026-11-03 11:20",
         "Marketing contact", "Freely given consent from contact"],
        ["51234567808", "Hana", "Ito", "hana.ito@example.com", "", "", "Kim Rep", "Lead",
         "New", "2026-11-03 12:00", "Marketing contact", "Freely given consent from contact"],
    ]  # fmt: skip
    _write_rows("hubspot-contacts.csv", rows)


def salesforce_leads() -> None:
    """Salesforce Data Loader export of Lead: API field names, every value quoted, UTF-8,
    CreatedDate in UTC with milliseconds (2026-11-02T19:05:11.000Z), booleans true/false."""
    rows = [
        ["Id", "FirstName", "LastName", "Company", "Email", "Phone", "MobilePhone",
         "LeadSource", "Status", "CreatedDate", "HasOptedOutOfEmail", "DoNotCall"],
        ["00Q5g00000AbCdEEA1", "Ann", "Smith", "Smith Bakery", "ann.smith@example.com",
         "(212) 555-0142", "", "Web", "Open - Not Contacted", "2026-11-02T19:05:11.000Z",
         "false", "false"],
        ["00Q5g00000AbCdFEA1", "Bob", "Jones", "Jones & Sons", "bob.jones@example.com", "",
         "+1 312 555 0199", "Phone Inquiry", "Open - Not Contacted",
         "2026-11-02T19:17:40.000Z", "false", "false"],
        ["00Q5g00000AbCdGEA1", "Cara", "Lee", "[not provided]", "cara.lee@example.com",
         "303-555-0103", "303-555-0113", "Partner Referral", "Working - Contacted",
         "2026-11-02T20:02:03.000Z", "true", "false"],
        ["00Q5g00000AbCdHEA1", "Dan", "Brown", "Brown LLC", "", "617.555.0104", "", "Web",
         "Open - Not Contacted", "2026-11-02T21:45:59.000Z", "false", "false"],
        ["00Q5g00000AbCdIEA1", "Renée", "Ågren", "Ågren AB", "renee.agren@example.com",
         "", "", "Trade Show", "Open - Not Contacted", "2026-11-03T13:01:12.000Z", "false",
         "false"],
        ["00Q5g00000AbCdJEA1", "Fay", "Green", "Green Co", "fay.green@example.com",
         "+1 (415) 555-0106", "", "Web", "Open - Not Contacted", "2026-11-03T14:12:45.000Z",
         "false", "true"],
        ["00Q5g00000AbCdKEA1", "Gus", "Hill", "Hill Farms", "gus.hill@example.com",
         "2065550107", "2065550117", "Advertisement", "Working - Contacted",
         "2026-11-03T16:59:59.000Z", "false", "false"],
        ["00Q5g00000AbCdLEA1", "Hana", "Ito", "Ito Design", "hana.ito@example.com", "",
         "808-555-0108", "Web", "Open - Not Contacted", "2026-11-03T18:20:31.000Z", "false",
         "false"],
    ]  # fmt: skip
    _write_rows("salesforce-leads.csv", rows, quote_all=True, line_end="\n")


def zoho_crm_leads() -> None:
    """Zoho CRM Leads, Export as CSV: field labels as headers, Record Id with zcrm_, phones
    as typed, Created Time as MM/dd/yyyy HH:mm:ss in the user's zone, Email Opt Out."""
    rows = [
        ["Record Id", "Lead Owner", "First Name", "Last Name", "Company", "Email", "Phone",
         "Mobile", "Lead Source", "Lead Status", "Created Time", "Email Opt Out"],
        ["zcrm_5725767000001234001", "Sam Rep", "Ann", "Smith", "Smith Bakery",
         "ann.smith@example.com", "212-555-0142", "", "Web Download", "Not Contacted",
         "11/02/2026 14:05:11", "false"],
        ["zcrm_5725767000001234002", "Sam Rep", "Bob", "Jones", "Jones & Sons",
         "bob.jones@example.com", "", "312-555-0199", "Cold Call", "Not Contacted",
         "11/02/2026 14:17:40", "false"],
        ["zcrm_5725767000001234003", "Kim Rep", "Cara", "Lee", "Lee Studio",
         "cara.lee@example.com", "+1 303 555 0103", "+1 303 555 0113", "Advertisement",
         "Contacted", "11/02/2026 15:02:03", "true"],
        ["zcrm_5725767000001234004", "Kim Rep", "Dan", "Brown", "Brown LLC", "",
         "(617) 555-0104", "", "Web Download", "Not Contacted", "11/02/2026 16:45:59",
         "false"],
        ["zcrm_5725767000001234005", "Sam Rep", "Eve", "Adams", "Adams Inc",
         "eve.adams@example.com", "", "", "Chat", "Not Contacted", "11/03/2026 08:01:12",
         "false"],
        ["zcrm_5725767000001234006", "Sam Rep", "Fay", "Green", "Green Co",
         "fay.green@example.com", "4155550106", "", "Web Download", "Not Contacted",
         "11/03/2026 09:12:45", "false"],
        ["zcrm_5725767000001234007", "Kim Rep", "Gus", "Hill", "Hill Farms",
         "gus.hill@example.com", "", "206.555.0117", "Partner", "Contacted",
         "11/03/2026 11:59:59", "false"],
        ["zcrm_5725767000001234008", "Kim Rep", "Hana", "Ito", "Ito Design",
         "hana.ito@example.com", "808 555 0108", "", "Web Download", "Not Contacted",
         "11/03/2026 13:20:31", "false"],
    ]  # fmt: skip
    _write_rows("zoho-crm-leads.csv", rows)


def pipedrive_people() -> None:
    """Pipedrive People, Export as CSV: one column per phone and email label ("Phone -
    Work", "Phone - Mobile"), names in Name/First name/Last name, Person created."""
    rows = [
        ["ID", "Name", "First name", "Last name", "Organization", "Phone - Work",
         "Phone - Mobile", "Phone - Home", "Email - Work", "Labels", "Person created",
         "Marketing status"],
        ["101", "Ann Smith", "Ann", "Smith", "Smith Bakery", "+1 212 555 0142", "", "",
         "ann.smith@example.com", "Hot lead", "2026-11-02 14:05:11", "Subscribed"],
        ["102", "Bob Jones", "Bob", "Jones", "Jones & Sons", "", "+1 312 555 0199", "",
         "bob.jones@example.com", "Warm lead", "2026-11-02 14:17:40", "Subscribed"],
        ["103", "Cara Lee", "Cara", "Lee", "Lee Studio", "", "", "303-555-0103",
         "cara.lee@example.com", "", "2026-11-02 15:02:03", "No consent"],
        ["104", "Dan Brown", "Dan", "Brown", "Brown LLC",
         "+1 617 555 0104, +1 617 555 0114", "", "", "dan.brown@example.com", "Cold lead",
         "2026-11-02 16:45:59", "Unsubscribed"],  # two numbers in one cell: refused
        ["105", "Eve Adams", "Eve", "Adams", "Adams Inc", "(404) 555-0166", "(404) 555-0176",
         "", "eve.adams@example.com", "Hot lead", "2026-11-03 08:01:12", "Subscribed"],
        ["106", "Fay Green", "Fay", "Green", "Green Co", "", "415.555.0106", "", "",
         "Warm lead", "2026-11-03 09:12:45", "Subscribed"],
        ["107", "Gus Hill", "Gus", "Hill", "Hill Farms", "206-555-0107", "", "",
         "gus.hill@example.com", "", "2026-11-03 11:59:59", "No consent"],
        ["108", "Hana Ito", "Hana", "Ito", "Ito Design", "", "", "",
         "hana.ito@example.com", "Cold lead", "2026-11-03 13:20:31", "Subscribed"],
    ]  # fmt: skip
    _write_rows("pipedrive-people.csv", rows)


def google_sheets() -> None:
    """A Google Form's responses sheet, File > Download > CSV: UTF-8 without a BOM,
    Timestamp as M/D/YYYY H:MM:SS, phones as people typed them, a consent checkbox."""
    rows = [
        ["Timestamp", "Email Address", "Full name", "Phone number", "Best time to call",
         "Time Zone",
         "I agree to be contacted by phone or text at the number above"],
        ["11/2/2026 9:05:11", "ann.smith@example.com", "Ann Smith", "212.555.0142",
         "11/3/2026 10:00", "Eastern", "I agree"],
        ["11/2/2026 9:41:27", "bob.jones@example.com", "Bob Jones", "(312) 555-0199",
         "11/3/2026 13:30", "Central", "I agree"],
        ["11/2/2026 10:10:00", "cara.lee@example.com", "Cara Lee", "303 555 0103",
         "", "Mountain", "I agree"],
        ["11/2/2026 12:33:48", "dan.brown@example.com", "Dan Brown", "1-617-555-0104",
         "11/4/2026 9:15", "", "I agree"],
        ["11/2/2026 14:00:05", "zoe.muller@example.com", "Zoë Müller", "+1 713 555 0105",
         "11/4/2026 17:45", "Central", "I agree"],
        ["11/2/2026 16:27:19", "fay.green@example.com", "Fay Green", "415-555-0106",
         "11/5/2026 11:00", "Pacific", "I agree"],
        ["11/3/2026 8:15:00", "", "Gus Hill", "206-555-010", "", "Pacific",
         "I agree"],  # a digit short and no email: invalid on purpose
        ["11/3/2026 10:48:36", "hana.ito@example.com", "Hana Ito", "(808) 555-0108",
         "11/5/2026 9:00", "Hawaii", "I agree"],
    ]  # fmt: skip
    _write_rows("google-sheets.csv", rows)


def vendor_aged_leads() -> None:
    """An aged-lead list from a vendor, saved by Excel on Windows: Windows-1252, phones
    with a leading apostrophe, Phone1/Phone2, opt-in proof (date, IP, URL, TCPA consent,
    TrustedForm certificate, Jornaya LeadiD) and the lead's time zone as EST/CST/PST."""
    head = ["First Name", "Last Name", "Address", "City", "State", "Zip", "Phone1", "Phone2",
            "Email", "Opt-In Date", "IP Address", "Source URL", "TCPA Consent",
            "TrustedForm Cert URL", "Jornaya LeadiD", "Time Zone"]  # fmt: skip
    people = [
        ("Ann", "Smith", "1 Main St", "New York", "NY", "10001", "'2125550142", "",
         "ann.smith@example.com", "10/02/2026 14:05:11", "EST"),
        ("Bob", "Jones", "2 Oak Ave", "Chicago", "IL", "60601", "", "'3125550199",
         "bob.jones@example.com", "10/02/2026 15:17:40", "CST"),
        ("Cara", "Lee", "3 Pine Rd", "Denver", "CO", "80202", "'3035550103", "'3035550113",
         "", "10/03/2026 09:02:03", "MST"),
        ("Dan", "Brown", "4 Elm St", "Boston", "MA", "02134", "'6175550104", "",
         "dan.brown@example.com", "10/03/2026 16:45:59", "EST"),
        ("Renée", "Núñez", "5 Cedar Ln", "Houston", "TX", "77002", "'7135550105", "",
         "renee.nunez@example.com", "10/04/2026 08:01:12", "CST"),
        ("Fay", "Green", "6 Birch Ct", "San Francisco", "CA", "94103", "'415555010", "",
         "", "10/04/2026 11:12:45", "PST"),  # a digit short, no Phone2, no email: invalid
        ("Gus", "Hill", "7 Maple Dr", "Seattle", "WA", "98101", "'2065550107",
         "'2065550117", "gus.hill@example.com", "10/05/2026 13:59:59", "PST"),
        ("Hana", "Ito", "8 Palm Way", "Honolulu", "HI", "96813", "", "'8085550108",
         "hana.ito@example.com", "10/05/2026 18:20:31", "HST"),
        ("Zoë", "O'Connor", "9 Ash Pl", "Atlanta", "GA", "30303", "'4045550166", "",
         "zoe.oconnor@example.com", "10/06/2026 10:00:00", "EST"),
    ]  # fmt: skip
    rows = [head]
    cert = "a1b2c3d4e5f60718293a4b5c6d7e8f90123456"  # a certificate id is 40 hex digits
    for n, person in enumerate(people, 1):
        *cells, zone = person
        rows.append([*cells, f"203.0.113.{n}", "https://quotes.example.com/auto", "Y",
                     f"https://cert.trustedform.com/{n:02d}{cert}",
                     f"{n:02d}9619FF-8B86-D011-B42D-00C04FC964FF", zone])  # fmt: skip
    _write_rows("vendor-aged-leads.csv", rows, encoding="cp1252")


SOURCES = (
    facebook_lead_ads, google_ads_lead_form, tiktok_leads, hubspot_contacts,
    salesforce_leads, zoho_crm_leads, pipedrive_people, google_sheets, vendor_aged_leads,
)  # fmt: skip


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
    for source in SOURCES:
        source()


def copy_demo() -> None:
    """The demo's own copy ships inside the package (tests/test_examples.py keeps them equal)."""
    demo = HERE.parent / "importer" / "pipeline" / "demo"
    (demo / "leads.csv").write_bytes((HERE / "leads.csv").read_bytes())
    (demo / "mapping.yaml").write_bytes((HERE.parent / "mappings" / "example.yaml").read_bytes())


if __name__ == "__main__":
    if sys.argv[1:] == ["sources"]:  # only the lead-source samples (docs/sources.md)
        for source in SOURCES:
            source()
    else:
        main()
        copy_demo()
