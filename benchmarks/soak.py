"""Soak: import a big file through every sandbox fault at once, rerun until done, compare.

    python benchmarks/soak.py --rows 100000 [--seed 1] [--fail-rate 0.1] [--keep DIR]

Generates a lead file whose truth is known row by row (phones in several formats, some
repeated, times in several formats and zones, a few invalid rows), starts the sandbox with
5xx, dropped connections, commit-then-fail, a rate limit (429 + Retry-After) and latency,
runs ``leadimport run`` in a child process, then ``leadimport rerun`` until every row has
succeeded (or was invalid, or superseded by a later row of the same lead), and checks that
the sandbox's stored leads equal what the file says, field for field. Prints rows, faults
injected, retries, time, reruns needed, and the result of the comparison; exits 1 when the
stored leads differ from the file.

``tests/test_faults.py`` imports the generator and the checks from here, so the suite and
the soak prove the same thing at two sizes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

COLUMNS = ["Ref", "First Name", "Last Name", "Phone", "E-mail", "Callback Time", "Amount", "ZIP"]
TOKEN = "soak-token-7c1e"
CAMPAIGN = "soak"
ZONE = ZoneInfo("America/New_York")
MAPPING = """\
version: 1
region: US
timezone: America/New_York
date_order: MDY
duplicates: all
fields:
  caller_id: Phone
  email: E-mail
  schedule_callback_at: Callback Time
  lead_priority: {value: 3}
  assign_trackdrive_number: {value: true}
data:
  ref: Ref
  first_name: First Name
  last_name: Last Name
  loan_amount: Amount
  zip: ZIP
  campaign: {value: soak}
"""
FINAL_STATUSES = frozenset({"success", "skipped", "invalid"})
# Cells the importer must refuse: each would be a wrong number if guessed.
BAD_PHONES = (
    "8.00451E+09",
    "12345",
    "1-800-FLOWERS",
    "212-555-0188 x12",
    "212-555-0188 / 312-555-0199",
    "800450678712345",
)
_AREAS = ("212", "312", "303", "415", "617", "713", "305", "404", "206", "602", "808", "201")
_NAMES = ("Ann", "José", "Zoë", "O'Brien", "Smith, Jr.", 'Dan "D"', "Null", "N/A", "=1+1", "李")


@dataclass(frozen=True, slots=True)
class Lead:
    """What the sandbox must hold for one lead after the import."""

    key: str  # E.164 caller_id, or "email:<address>" for a lead without a phone
    caller_id: str | None
    email: str | None
    schedule_callback_at: str | None  # ISO 8601 UTC, as the sandbox stores it
    data: dict[str, str]


@dataclass(frozen=True, slots=True)
class Generated:
    """A generated lead file and its truth."""

    path: Path
    rows: tuple[int, ...]  # spreadsheet row numbers of the data rows (not blank), in order
    invalid: frozenset[int]  # rows the importer must call invalid
    row_key: dict[int, str]  # valid row -> its lead's key
    ref_row: dict[str, int]  # the Ref cell -> its row (a request's data.ref names its row)
    leads: dict[str, Lead]  # key -> the final lead (the last row of the lead wins)
    blank_rows: int = 0
    repeated: int = 0  # rows whose phone appeared on an earlier row


def _phone(rng: random.Random) -> tuple[str, str]:
    """A valid US number: (E.164, as written in the cell in one of the common formats)."""
    while True:
        area, exchange, line = rng.choice(_AREAS), rng.randint(200, 999), rng.randint(0, 9999)
        e164 = f"+1{area}{exchange}{line:04d}"
        if exchange % 100 != 11 and phonenumbers.is_valid_number(phonenumbers.parse(e164)):
            return e164, _written(e164, rng)


def _written(e164: str, rng: random.Random) -> str:
    a, x, n = e164[2:5], e164[5:8], e164[8:]
    return rng.choice(
        (
            f"({a}) {x}-{n}",
            f"{a}.{x}.{n}",
            f"1-{a}-{x}-{n}",
            f"+1 {a} {x} {n}",
            f"{a}{x}{n}",
            f"{a}-{x}-{n}",
        )
    )


def _time(rng: random.Random) -> tuple[str, str]:
    """A callback time: (as the sandbox stores it in UTC, as written in the cell)."""
    day = datetime(2026, 1, 1) + timedelta(days=rng.randint(0, 700))
    # 08:00-20:59 local: clear of the 01:00-02:59 daylight-saving gaps and overlaps.
    wall = day.replace(hour=rng.randint(8, 20), minute=rng.randint(0, 59))
    style = rng.randrange(4)
    if style == 0:  # naive, in the mapping's time zone
        moment = wall.replace(tzinfo=ZONE)
        text = wall.strftime("%Y-%m-%d %H:%M")
    elif style == 1:  # US style, 12-hour clock, mapping's time zone
        moment = wall.replace(tzinfo=ZONE)
        hour = wall.hour % 12 or 12
        text = f"{wall.month}/{wall.day}/{wall.year} {hour}:{wall:%M} {wall:%p}"
    elif style == 2:  # ISO 8601 with its own offset
        offset = timezone(timedelta(minutes=rng.choice((-480, -300, -240, 0, 60, 330))))
        moment = wall.replace(second=rng.randint(0, 59), tzinfo=offset)
        text = moment.isoformat()
    else:  # Trackdrive's own format
        moment = wall.replace(tzinfo=UTC)
        text = moment.strftime("%Y-%m-%d %H:%M:%S +0000")
    return moment.astimezone(UTC).isoformat(), text


def write_leads(
    path: Path,
    rows: int,
    seed: int = 0,
    repeat_share: float = 0.08,
    bad_share: float = 0.02,
    email_only_share: float = 0.03,
    blank_share: float = 0.002,
) -> Generated:
    """Write a CSV of ``rows`` data rows to ``path`` and return the truth about it.

    Repeated phones (``duplicates: all``) are written in another format on a later row
    with every cell filled, so the last row of the lead decides every stored value.
    """
    rng = random.Random(seed)
    phones: list[str] = []  # E.164 of the leads with a phone so far, for repeats
    used: set[str] = set()
    leads: dict[str, Lead] = {}
    row_key: dict[int, str] = {}
    ref_row: dict[str, int] = {}
    invalid: set[int] = set()
    data_rows: list[int] = []
    blank = repeated = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        number = 1  # spreadsheet row of the last written line (header = 1)
        for i in range(rows):
            number += 1
            if rng.random() < blank_share:
                writer.writerow([""] * len(COLUMNS))
                blank += 1
                number += 1
            ref = f"r{i}"
            first = rng.choice(_NAMES) if rng.random() < 0.1 else f"First{i}"
            if rng.random() < 0.005:
                first += "\nsecond line"  # a quoted cell over two lines is still one row
            last = f"Last{i}" if rng.random() < 0.9 else ""
            amount = str(rng.randint(100, 99999))
            zipcode = f"{rng.randint(0, 99999):05d}"
            callback_utc, callback = _time(rng) if rng.random() < 0.7 else (None, "")
            email: str | None = f"lead{i}@example.com" if rng.random() < 0.6 else None
            e164: str | None = None
            u = rng.random()
            if u < bad_share:
                phone = rng.choice(BAD_PHONES)
                invalid.add(number)
            elif u < bad_share + email_only_share:
                phone, email = "", f"only{i}@Example.COM"
            elif u < bad_share + email_only_share + repeat_share and phones:
                e164 = rng.choice(phones)
                phone = _written(e164, rng)
                repeated += 1
                # Every cell filled, so this row decides every stored value of the lead.
                last = last or f"Last{i}"
                email = email or f"lead{i}@example.com"
                if callback_utc is None:
                    callback_utc, callback = _time(rng)
            else:
                e164, phone = _phone(rng)
                while e164 in used:
                    e164, phone = _phone(rng)
                used.add(e164)
                phones.append(e164)
            writer.writerow([ref, first, last, phone, email or "", callback, amount, zipcode])
            data_rows.append(number)
            ref_row[ref] = number
            if number in invalid:
                continue
            if email is not None:  # the importer lowercases the domain, not the local part
                local, domain = email.split("@")
                email = f"{local}@{domain.lower()}"
            key = e164 or f"email:{email}"
            data = {"ref": ref, "first_name": first, "loan_amount": amount, "zip": zipcode}
            if last:
                data["last_name"] = last
            data["campaign"] = CAMPAIGN
            leads[key] = Lead(key, e164, email, callback_utc, data)
            row_key[number] = key
    return Generated(
        path=path,
        rows=tuple(data_rows),
        invalid=frozenset(invalid),
        row_key=row_key,
        ref_row=ref_row,
        leads=leads,
        blank_rows=blank,
        repeated=repeated,
    )


def write_mapping(path: Path) -> Path:
    """The mapping the generated files are imported with (``duplicates: all``)."""
    path.write_text(MAPPING, encoding="utf-8")
    return path


def read_results(run_dir: Path) -> list[dict[str, str]]:
    """The rows of a run folder's ``results.csv``."""
    with (run_dir / "results.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def done(results: Iterable[dict[str, str]]) -> bool:
    """True when no row is left to send (every row succeeded, was skipped or invalid)."""
    return all(r["status"] in FINAL_STATUSES for r in results)


def compare_leads(stored: Sequence[dict[str, Any]], truth: Generated) -> list[str]:
    """Differences between the sandbox's leads and the file's truth (empty when equal)."""
    problems: list[str] = []
    by_key: dict[str, dict[str, Any]] = {}
    for lead in stored:
        key = lead["caller_id"] or f"email:{lead['email']}"
        if key in by_key:
            problems.append(f"{key}: stored twice (ids {by_key[key]['id']} and {lead['id']})")
        by_key[key] = lead
    for key in sorted(by_key.keys() - truth.leads.keys()):
        problems.append(f"{key}: stored, but no valid row of the file has it")
    for key in sorted(truth.leads.keys() - by_key.keys()):
        problems.append(f"{key}: in the file, not stored")
    for key in sorted(truth.leads.keys() & by_key.keys()):
        want, got = truth.leads[key], by_key[key]
        expected = {
            "caller_id": want.caller_id,
            "email": want.email,
            "schedule_callback_at": want.schedule_callback_at,
            "lead_priority": 3,
            "data": want.data,
        }
        for name, value in expected.items():
            if got.get(name) != value:
                problems.append(f"{key}: {name} is {got.get(name)!r}, the file says {value!r}")
        if not got.get("trackdrive_number_plain"):
            problems.append(f"{key}: no tracking number assigned")
    return problems


def compare_results(
    results: Sequence[dict[str, str]], stored: Sequence[dict[str, Any]], truth: Generated
) -> list[str]:
    """Differences between ``results.csv`` (after the last rerun) and the truth."""
    problems: list[str] = []
    rows = [int(r["row"]) for r in results]
    if rows != list(truth.rows):
        problems.append(
            f"results.csv has rows {rows[:5]}… ({len(rows)}), "
            f"the file {list(truth.rows[:5])}… ({len(truth.rows)})"
        )
    by_key = {lead["caller_id"] or f"email:{lead['email']}": lead for lead in stored}
    status_of = {int(r["row"]): r["status"] for r in results}
    for r in results:
        row, status = int(r["row"]), r["status"]
        if row in truth.invalid:
            if status != "invalid" or not r["error"].startswith("Phone: "):
                problems.append(f"row {row}: {status} ({r['error']}), expected invalid Phone")
            continue
        key = truth.row_key.get(row)
        if status == "success":
            lead = by_key.get(key or "")
            if lead is None:
                problems.append(f"row {row}: success, but lead {key} is not stored")
            elif r["lead_id"] != str(lead["id"]):
                problems.append(f"row {row}: lead_id {r['lead_id']}, stored id {lead['id']}")
            elif r["trackdrive_number_plain"] != lead["trackdrive_number_plain"]:
                problems.append(f"row {row}: tracking number differs from the stored one")
        elif status == "skipped":
            # Only an earlier row of a lead whose later row already succeeded is skipped.
            later = r["error"].removeprefix("superseded by row ").split(",")[0]
            if not later.isdigit() or int(later) <= row:
                problems.append(f"row {row}: skipped for '{r['error']}'")
            elif truth.row_key.get(int(later)) != key or status_of.get(int(later)) != "success":
                problems.append(f"row {row}: superseded by row {later}, not a success of lead")
        else:
            problems.append(f"row {row}: {status}: {r['error']}")
    return problems


# --------------------------------------------------------------------------- the soak


def leadimport(*args: object) -> list[str]:
    """The command line of ``leadimport`` run by this interpreter."""
    return [sys.executable, "-m", "importer", *[str(a) for a in args]]


@dataclass(slots=True)
class Figures:
    """What one soak measured."""

    rows: int = 0
    invalid: int = 0
    repeated: int = 0
    passes: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    total_requests: int = 0
    seconds: float = 0.0
    lead_problems: list[str] = field(default_factory=list)
    result_problems: list[str] = field(default_factory=list)


def soak(args: argparse.Namespace, work: Path) -> Figures:
    """Generate, import through the faults, rerun until done; return the figures."""
    from importer.sandbox import SandboxConfig, SandboxServer

    figures = Figures()
    truth = write_leads(work / "leads.csv", args.rows, seed=args.seed)
    mapping = write_mapping(work / "mapping.yaml")
    figures.rows, figures.invalid = len(truth.rows), len(truth.invalid)
    figures.repeated = truth.repeated
    config = SandboxConfig(
        rate_limit=args.rate_limit,
        latency_ms=(0, args.latency_ms),
        fail_rate=args.fail_rate,
        drop_rate=args.drop_rate,
        commit_then_fail_rate=args.commit_then_fail_rate,
        seed=args.seed,
        request_log_limit=10,  # the log is not needed here; keep memory flat
    )
    out = work / "run"
    env = {**os.environ, "TRACKDRIVE_LEAD_TOKEN": TOKEN}
    started = time.monotonic()
    with SandboxServer(config) as server:
        cmd = leadimport(
            "run", truth.path, "-m", mapping, "--endpoint", server.endpoint, "--out", out,
            "--unlimited-rate", "--concurrency", args.concurrency,
            "--max-attempts", args.max_attempts, "--max-consecutive-failures", 10**9, "--quiet",
        )  # fmt: skip
        for n in range(args.max_reruns + 1):
            t0 = time.monotonic()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"pass {n}: exit {proc.returncode}: {proc.stderr.strip()}")
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            results = read_results(out)
            figures.passes.append(
                {
                    "command": summary["command"],
                    "seconds": round(time.monotonic() - t0, 1),
                    "requests": summary["requests"],
                    "retries": summary["retries"],
                    "throttled": summary["throttled"],
                    "left": sum(r["status"] not in FINAL_STATUSES for r in results),
                }
            )
            print(f"  pass {n}: {figures.passes[-1]}", flush=True)
            if done(results):
                break
            cmd = leadimport("rerun", out, "--max-attempts", args.max_attempts, "--quiet")
        figures.seconds = time.monotonic() - started
        stats = server.stats()
        stored = server.leads()
    figures.faults = dict(stats["faults_injected"])
    figures.rate_limited = int(stats["rate_limited"])
    figures.total_requests = int(stats["total_requests"])
    figures.lead_problems = compare_leads(stored, truth)
    figures.result_problems = compare_results(read_results(out), stored, truth)
    return figures


def report(f: Figures) -> None:
    """Print the figures as a small table."""
    sent = sum(p["requests"] for p in f.passes)
    print(f"rows                  {f.rows:>10,}  ({f.invalid:,} invalid, {f.repeated:,} repeats)")
    print(f"sandbox requests      {f.total_requests:>10,}  (importer counted {sent:,})")
    for name, count in f.faults.items():
        print(f"  fault {name:<15} {count:>10,}")
    print(f"  429 rate limited    {f.rate_limited:>10,}")
    print(f"retries               {sum(p['retries'] for p in f.passes):>10,}")
    print(f"reruns needed         {len(f.passes) - 1:>10}")
    print(f"time                  {f.seconds:>10.1f} s  ({f.rows / f.seconds:,.0f} rows/s)")
    equal = not f.lead_problems and not f.result_problems
    print(f"stored == file        {'yes' if equal else 'NO':>10}")
    for problem in (f.lead_problems + f.result_problems)[:20]:
        print(f"  {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 1 when the sandbox's leads differ from the file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fail-rate", type=float, default=0.10)
    parser.add_argument("--drop-rate", type=float, default=0.05)
    parser.add_argument("--commit-then-fail-rate", type=float, default=0.05)
    parser.add_argument("--rate-limit", type=float, default=400.0, help="sandbox 429s above N/s")
    parser.add_argument("--latency-ms", type=int, default=20, help="latency 0..N ms")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--max-reruns", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    print(
        f"soak: {args.rows:,} rows; faults: fail {args.fail_rate}, drop {args.drop_rate}, "
        f"commit-then-fail {args.commit_then_fail_rate}, 429 above {args.rate_limit}/s, "
        f"latency 0-{args.latency_ms} ms; concurrency {args.concurrency}, "
        f"max attempts {args.max_attempts}",
        flush=True,
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = soak(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            figures = soak(args, Path(tmp))
    report(figures)
    return 1 if figures.lead_problems or figures.result_problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
