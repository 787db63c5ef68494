"""The browser face says what the core warns of (issue 13 on the pages of issues 16 and 17):
warnings per kind and the warned rows on the check and results screens, a scheduled time
sent without calling hours, and the live count of 429 answers while a run sends.

Over HTTP with aiohttp's test client (in Chromium: test_web_browser.py).
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from helpers import read_results
from test_web import TOKEN, to_check, wait_done

from importer.web import create_app

MAPPING = (
    "version: 1\ntimezone: America/New_York\nfields:\n  caller_id: Phone\n"
    "  schedule_callback_at: Callback\n  email: E-mail\n"
)
DST_GAP = (
    "Callback: '2026-03-08 02:30' does not exist in America/New_York (the clocks skip that "
    "hour), read as 03:00 EDT, the first time after the gap"
)
DROPPED = (
    "E-mail: 'josé@example.com' is not a valid email address, so the lead was sent without an email"
)
UNGUARDED = (
    "No calling hours are set, so the callback time (schedule_callback_at) is sent as "
    "written, at any hour of the lead's day: set Calling hours on the mapping screen "
    "(e.g. 08:00-21:00) to move times outside them to the next opening."
)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    out, mappings = tmp_path / "output", tmp_path / "mappings"
    mappings.mkdir()
    return out, mappings


def warned_csv(path: Path, n: int = 4) -> Path:
    """Row 2: a callback in the spring-forward gap and an accented email with a good phone;
    rows 3.. are plain (a callback in July, a plain email)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Phone", "Callback", "E-mail"])
        w.writerow(["(212) 555-0100", "2026-03-08 02:30", "josé@example.com"])
        for i in range(1, n):
            w.writerow([f"(212) 555-{100 + i:04d}", "2026-07-01 10:00", f"p{i}@example.com"])
    return path


def section(html: str, element_id: str, end: str = "</table>") -> str:
    """The markup after ``id="element_id"`` up to ``end``, its entities read."""
    assert f'id="{element_id}"' in html, f"no #{element_id}"
    return unescape(html.split(f'id="{element_id}"', 1)[1].split(end, 1)[0])


def kinds(html: str) -> dict[str, int]:
    table = section(html, "warnings")
    return {k: int(n) for k, n in re.findall(r'data-kind="(\w+)" data-count="(\d+)"', table)}


async def test_the_check_screen_shows_each_warning_with_its_count_and_row(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    _, html, _ = await to_check(client, warned_csv(tmp_path / "leads.csv"), MAPPING)
    assert "valid 4" in html
    assert kinds(html) == {"dst_gap_moved": 1, "email_dropped": 1}
    counts = section(html, "warnings")
    assert re.search(r"<td>1</td><td>a time that does not exist \(spring forward\)", counts)
    assert "<td>1</td><td>an unusable email left out, the lead sent by phone</td>" in counts
    said = " ".join(section(html, "warnings-said", "</p>").split())
    assert said.startswith(">2 warnings on 1 row: values the tool changed"), said
    rows = section(html, "warned-rows")
    assert re.findall(r'<th scope="row">(\d+)</th>', rows) == ["2"]  # the spreadsheet's row
    assert f'<td class="warned">{DST_GAP}; {DROPPED}</td>' in rows
    assert 'aria-labelledby="warned-heading"' in html and '<th scope="col">warning</th>' in html


async def test_a_check_without_warnings_shows_no_warnings(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    plain = tmp_path / "plain.csv"
    plain.write_text("Phone,Callback\n(212) 555-0101,2026-07-01 10:00\n", encoding="utf-8")
    mapping = MAPPING.replace("  email: E-mail\n", "")
    _, html, _ = await to_check(client, plain, mapping + "calling_hours: 08:00-21:00\n")
    assert "valid 1" in html
    assert 'id="warnings"' not in html and 'id="warned-rows"' not in html
    assert 'id="unguarded"' not in html


async def test_a_callback_without_calling_hours_is_said_in_one_sentence_with_the_fix(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    leads = warned_csv(tmp_path / "leads.csv")
    where, html, _ = await to_check(client, leads, MAPPING)
    sentence = section(html, "unguarded", "</p>")
    assert sentence.startswith(f">{UNGUARDED}"), sentence
    assert f'<a href="{where}#calling-hours">Set calling hours</a>' in sentence
    map_page = await (await client.get(where)).text()
    assert 'id="calling-hours"' in map_page  # the link lands on the field that fixes it

    # With calling hours set, the sentence is gone (and the gap's time is moved, said too).
    _, html, _ = await to_check(client, leads, MAPPING + "calling_hours: 08:00-21:00\n")
    assert 'id="unguarded"' not in html and "No calling hours" not in html
    assert kinds(html) == {"dst_gap_moved": 1, "moved_into_calling_hours": 1, "email_dropped": 1}


async def test_the_results_screen_shows_the_warnings_of_the_rows_sent(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path], sandbox_factory: Any
) -> None:
    out, mappings = folders
    server = sandbox_factory()
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html, token = await to_check(client, warned_csv(tmp_path / "leads.csv"), MAPPING)
    resp = await client.post(
        f"{where}/send",
        data={"csrf": token, "endpoint": server.endpoint, "token": TOKEN, "rate": "1000",
              "confirm": "yes"},
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status == 303, await resp.text()
    run_path = resp.headers["Location"]
    assert (await wait_done(client, run_path))["success"] == 4
    page = await (await client.get(run_path)).text()
    assert kinds(page) == {"dst_gap_moved": 1, "email_dropped": 1}
    rows = section(page, "warned-rows")
    assert f'<th scope="row">2</th><td>success</td><td class="warned">{DST_GAP}; {DROPPED}' in rows
    assert section(page, "unguarded", "</p>").startswith(f">{UNGUARDED}")
    assert "Set calling hours" not in page  # a run's page has no mapping screen to link to
    # What the page shows is results.csv's own column.
    results = read_results(out / run_path.rsplit("/", 1)[1])
    assert [r["warnings"] for r in results if r["warnings"]] == [f"{DST_GAP}; {DROPPED}"]


async def test_the_first_100_warned_rows_are_shown_and_all_are_counted(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    leads = tmp_path / "many.csv"
    with leads.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Phone", "Callback", "E-mail"])
        for i in range(130):
            w.writerow([f"(212) 555-{i:04d}", "2026-07-01 10:00", f"josé{i}@example.com"])
    _, html, _ = await to_check(client, leads, MAPPING)
    assert kinds(html) == {"email_dropped": 130}
    assert "Rows with warnings (the first 100 of 130)" in html
    rows = section(html, "warned-rows")
    assert re.findall(r'<th scope="row">(\d+)</th>', rows) == [str(r) for r in range(2, 102)]


async def test_status_json_counts_429s_while_the_run_sends(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path], sandbox_factory: Any
) -> None:
    out, mappings = folders
    # The first 2 requests get 429 with Retry-After: 1; then 20 rows at 100 ms each, one at
    # a time: the run is still sending for a while after its last 429.
    quota = sandbox_factory(throttle_first=2, latency_ms=(100, 100))
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, _, token = await to_check(client, warned_csv(tmp_path / "leads.csv", 20), MAPPING)
    resp = await client.post(
        f"{where}/send",
        data={"csrf": token, "endpoint": quota.endpoint, "token": TOKEN, "rate": "1000",
              "concurrency": "1", "confirm": "yes"},
        allow_redirects=False,
    )  # fmt: skip
    run_path = resp.headers["Location"]
    page = await (await client.get(run_path)).text()
    assert '<span id="throttled">0</span>' in page  # no "counted at the end"
    seen: list[int] = []
    for _ in range(1200):  # 60 s at most
        status = await (await client.get(f"{run_path}/status.json")).json()
        if status["state"] != "running":
            break
        seen.append(status["throttled"])
        await asyncio.sleep(0.05)
    assert seen, "the run ended before status.json was asked"
    assert seen == sorted(seen)  # it only goes up
    assert max(seen) == 2  # while the run still sent: both 429s, as they came
    final = await wait_done(client, run_path)
    assert (final["throttled"], final["retries"], final["success"]) == (2, 2, 20)
    assert len(quota.requests()) == 22
    assert "throttled 2" in await (await client.get(run_path)).text()


def test_the_command_line_progress_still_counts_the_retries_of_429s(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    """The core now tells a progress sink each retry's HTTP status: the CLI's sink takes it."""
    quota = sandbox_factory(throttle_first=2)
    leads = warned_csv(tmp_path / "leads.csv")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "importer", "run", str(leads), "-m", str(mapping),
         "--endpoint", quota.endpoint, "--lead-token", TOKEN, "--concurrency", "1",
         "--out", str(tmp_path / "run")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={**os.environ, "LEADIMPORT_PROGRESS_EVERY": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if " progress: " in line]
    assert lines and lines[-1].endswith("success 4 · failed 0 · invalid 0 · retries 2"), lines
    assert "  sent:     6 requests (2 retries, 2 throttled)" in done.stdout, done.stdout
