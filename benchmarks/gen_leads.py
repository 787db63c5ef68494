"""Generate realistic lead spreadsheets (clean and dirty rows mixed) for samples and benchmarks.

    python benchmarks/gen_leads.py OUT.csv --rows 1000000 [--seed 0]
    python benchmarks/gen_leads.py OUT.xlsx --rows 100000
    python benchmarks/gen_leads.py OUT.csv --rows 1000000 --refused 0.5   # a bought list

Columns: First Name, Last Name, Phone, E-mail, Callback Time, Amount, State, ZIP, Source.
The mix (per row, roughly): 89 % valid North American phones in a dozen formats, 3 % invalid
phones (too short, words, scientific notation like ``8.00451E+09``, impossible numbers),
4 % no phone but an email, 0.5 % neither, 2 % repeats of an earlier phone (often written
differently), 2 % blank rows; callback times in mixed formats (35 % empty, 1 %
unparseable); ZIPs with leading zeros; names with accents, apostrophes, commas and ``Null``.
The .xlsx variant also stores some phones, ZIPs and amounts as numbers and some callback
times as real date cells, as Excel users do.

``--refused F`` makes a messy list, like one bought or scraped: each well-formed phone is,
with probability F, given an area code that does not exist (``_UNASSIGNED``), so
libphonenumber refuses it; everything else in the file stays the same as without it.
With F = 0.5 about 45 % of the phone cells are refused.
"""

from __future__ import annotations

import argparse
import csv
import functools
import random
import sys
import time
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

COLUMNS = [
    "First Name",
    "Last Name",
    "Phone",
    "E-mail",
    "Callback Time",
    "Amount",
    "State",
    "ZIP",
    "Source",
]

# area code -> (state, ZIP prefixes); ZIPs of MA, NJ and CT start with 0
_AREAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "212": ("NY", ("100", "101", "102")),
    "718": ("NY", ("112", "113", "114")),
    "312": ("IL", ("606",)),
    "773": ("IL", ("606",)),
    "303": ("CO", ("802",)),
    "213": ("CA", ("900",)),
    "415": ("CA", ("941",)),
    "808": ("HI", ("967", "968")),
    "617": ("MA", ("021", "022")),
    "508": ("MA", ("015", "017")),
    "713": ("TX", ("770",)),
    "214": ("TX", ("752",)),
    "201": ("NJ", ("070", "076")),
    "973": ("NJ", ("070", "071")),
    "860": ("CT", ("060", "061")),
    "305": ("FL", ("331",)),
    "404": ("GA", ("303",)),
    "206": ("WA", ("981",)),
}
_AREA_CODES = list(_AREAS)
# Area codes no North American number has (phonenumbers refuses every number in them): what
# a bought or scraped list is full of.
_UNASSIGNED = [
    "221", "222", "230", "232", "233", "237", "238", "241", "243", "244", "245", "247", "255",
    "258", "259", "261", "265", "266", "271", "275", "277", "278", "280", "282", "285", "286",
    "287", "288", "290", "293", "296", "299", "322", "328", "333", "335", "338", "342", "344",
    "348", "349", "355", "357", "359", "362", "366", "370", "373", "376", "379", "381", "383",
    "384", "387", "389", "390", "393", "396", "399",
]  # fmt: skip

_FIRST = [
    "John", "Mary", "James", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Maria", "José", "Zoë", "Renée", "Chloé", "André",
    "Siobhán", "Nguyễn", "Aaliyah", "Mohammed", "Wei", "Olga", "Kwame", "DeShawn", "Ana",
    "Juan", "Luis", "Sofía", "Émile", "Björn", "Anne-Marie", "Mary Ann", "JR", "",
]  # fmt: skip
_LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernández", "Lopez", "Gonzalez", "O'Brien", "O'Neil", "McDonald", "Nuñez",
    "Müller", "van der Berg", "Smith, Jr.", "Doe, III", "Null", "NULL", "N/A", "Lee", "Kim",
    "Nguyen", "Patel", "Okafor", "Zhang", "St. James", "",
]  # fmt: skip
_DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com", "EXAMPLE.COM"]
_SOURCES = ["web", "facebook", "google ads", "referral", "radio", "tv", "Web Form", "N/A", ""]

# how a person (or a CRM export) writes the number 212 555 0123; {a} area, {e} exchange, {l} line
_PHONE_FORMATS = [
    "({a}) {e}-{l}",
    "({a}) {e}-{l}",
    "{a}-{e}-{l}",
    "{a}-{e}-{l}",
    "{a}.{e}.{l}",
    "{a}{e}{l}",
    "{a}{e}{l}",
    "1{a}{e}{l}",
    "1-{a}-{e}-{l}",
    "+1 {a} {e} {l}",
    "+1{a}{e}{l}",
    "+1 ({a}) {e}-{l}",
    "{a} {e} {l}",
    "({a}){e}-{l}",
    "1 ({a}) {e}-{l}",
    " {a}-{e}-{l} ",
]
_BAD_PHONES = [
    "555-1234",  # too short
    "212-555-12",
    "call after 5pm",
    "n/a",
    "8.00451E+09",  # Excel's scientific notation: digits lost
    "2.12555E+09",
    "1.31255E+10",
    "(999) 999-9999",  # no such area code
    "000-000-0000",
    "123",
    "212-555-01234-99",  # too long
    "212-555-0123 / 312-555-0199",  # two numbers in one cell
]
_TIME_FORMATS = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "short",  # 12/1/2026 9:30 AM, without zero padding (strftime's %-m is not portable)
    "%m/%d/%Y %H:%M",
    "%Y-%m-%dT%H:%M:%S-05:00",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S",
]
_BAD_TIMES = ["tomorrow morning", "ASAP", "13/45/2026 10:00", "2026-02-30 10:00", "25:00", "soon"]
_EPOCH = datetime(2026, 12, 1, 8, 0)


@functools.cache
def _ascii_word(name: str) -> str:
    """José Nuñez -> josenunez: what people put before the @."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _format_time(when: datetime, fmt: str) -> str:
    if fmt == "short":
        hour = when.hour % 12 or 12
        return f"{when.month}/{when.day}/{when.year} {hour}:{when.minute:02d} {when:%p}"
    return when.strftime(fmt)


def lead_rows(
    rows: int, seed: int = 0, typed: bool = False, refused: float = 0.0
) -> Iterator[list[Any]]:
    """Yield ``rows`` lead rows (some blank); with ``typed`` some cells are numbers or datetimes;
    ``refused``: the share of well-formed phones given an unassigned area code."""
    rng = random.Random(seed)
    # Its own generator, so that a messy file differs from the clean one only in area codes.
    messy = random.Random(seed + 1)
    seen: list[str] = []  # recent valid phones, digits only, to repeat as duplicates
    rand, choice, randint = rng.random, rng.choice, rng.randint
    for i in range(rows):
        if rand() < 0.01 or i % 100 == 42:  # at least one blank row in any 100
            yield [] if rand() < 0.5 else [""] * len(COLUMNS)
            continue
        first, last = choice(_FIRST), choice(_LAST)
        area = choice(_AREA_CODES)
        state, zips = _AREAS[area]
        kind = rand()
        phone: Any
        email = ""
        if kind < 0.03:
            phone = choice(_BAD_PHONES)
        elif kind < 0.07:
            phone = ""
        elif kind < 0.075:
            phone = ""
            email = "none"  # marker: neither phone nor email
        else:
            if seen and rand() < 0.02:
                digits = choice(seen)
            else:
                exchange = randint(200, 999)
                if exchange % 100 == 11:  # N11 codes (411, 911) are not exchanges
                    exchange += 1
                digits = f"{area}{exchange}{randint(0, 9999):04d}"
                if refused and messy.random() < refused:
                    digits = messy.choice(_UNASSIGNED) + digits[3:]
                if len(seen) < 5000:
                    seen.append(digits)
                else:
                    seen[i % 5000] = digits
            if typed and rand() < 0.3:
                phone = int(digits)  # a number cell, read back as 2125550123.0
            else:
                phone = choice(_PHONE_FORMATS).format(a=digits[:3], e=digits[3:6], l=digits[6:])
        if email == "none":
            email = ""
        elif phone == "" or rand() < 0.85:
            local = ".".join(_ascii_word(w) for w in (first, last) if _ascii_word(w)) or "lead"
            email = f"{local}{randint(1, 9999)}@{choice(_DOMAINS)}"
            if rand() < 0.01:
                email = choice([email.replace("@", " at "), email.split("@")[0] + "@", " " + email])
        callback: Any = ""
        r = rand()
        if r < 0.01:
            callback = choice(_BAD_TIMES)
        elif r < 0.65:
            when = _EPOCH + timedelta(minutes=15 * randint(0, 4 * 24 * 60))
            typed_cell = typed and rand() < 0.4  # a real date cell
            callback = when if typed_cell else _format_time(when, choice(_TIME_FORMATS))
        r = rand()
        amount: Any = ""
        if r < 0.8:
            amount = randint(100, 5000) if typed and rand() < 0.5 else str(randint(100, 5000))
        elif r < 0.9:
            amount = f"{randint(100, 5000)}.{randint(0, 99):02d}"
        elif r < 0.91:
            amount = "N/A"
        zip_code: Any = f"{choice(zips)}{randint(0, 99):02d}"
        if rand() < 0.05:
            zip_code += f"-{randint(0, 9999):04d}"
        elif typed and rand() < 0.2:
            zip_code = int(zip_code)  # Excel drops the leading zero: 02134 -> 2134
        yield [first, last, phone, email, callback, amount, state, zip_code, choice(_SOURCES)]


def write_leads_csv(path: Path, rows: int, seed: int = 0, refused: float = 0.0) -> None:
    """Write a UTF-8 CSV with a header and ``rows`` generated rows."""
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")  # what Excel writes
        writer.writerow(COLUMNS)
        writer.writerows(lead_rows(rows, seed, refused=refused))


def write_leads_xlsx(path: Path, rows: int, seed: int = 0) -> None:
    """Write an .xlsx with a header and ``rows`` generated rows, some cells numbers or dates."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    sheet.append(COLUMNS)
    for row in lead_rows(rows, seed, typed=True):
        if row and isinstance(row[4], datetime):
            cell = WriteOnlyCell(sheet, value=row[4])
            cell.number_format = "m/d/yyyy h:mm"
            row[4] = cell
        if row and type(row[7]) is int:  # a ZIP typed into a column formatted "Zip Code"
            cell = WriteOnlyCell(sheet, value=row[7])
            cell.number_format = "00000"
            row[7] = cell
        sheet.append(row)
    book.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output file, .csv or .xlsx")
    parser.add_argument("--rows", type=int, default=1000, help="data rows to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same file)")
    parser.add_argument(
        "--refused",
        type=float,
        default=0.0,
        help="share of well-formed phones given an unassigned area code (0.5: a messy list)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() == ".xlsx":
        write_leads_xlsx(args.out, args.rows, args.seed)
    else:
        write_leads_csv(args.out, args.rows, args.seed, args.refused)
    took = time.perf_counter() - started
    print(f"wrote {args.rows} rows to {args.out} in {took:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
