"""No silent default time zone: one rule for validate, run, rerun and reschedule.

A mapping that maps a time (a column or a constant), or a reschedule time written without an
offset, needs a zone: the mapping's ``timezone:``, ``--timezone``, or an offset in the value.
Without one, the command says so in one line (exit 2) before any row is read. Before this
rule, ``run``/``validate`` read such times as UTC and ``reschedule`` as New York.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import invoke

from importer.clean import parse_when

TOKEN = "tz-TOKEN-0042"


def leads(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Phone", "Callback"])
        w.writerow(["(212) 555-0101", "2026-12-01 09:30"])
        w.writerow(["(800) 555-0199", "2026-12-01 10:00 -0500"])  # toll-free: no zone
    return path


def mapping(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\nfields:\n  caller_id: Phone\n  schedule_callback_at: Callback\n" + extra,
        encoding="utf-8",
    )
    return path


NO_ZONE = (
    "timezone: fields.schedule_callback_at (column 'Callback') holds times, but the mapping "
    "names no time zone; add e.g. 'timezone: America/New_York', the zone the times are "
    "written in (times written with an offset, such as +0000, are read as written)"
)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_time_column_without_a_zone_is_refused_before_any_row(
    tmp_path: Path, command: str, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    m = mapping(tmp_path)
    extra = ["--endpoint", server.endpoint, "--lead-token", TOKEN] if command == "run" else []
    code, _, stderr = invoke(command, leads(tmp_path / "l.csv"), "-m", m, *extra)
    assert code == 2
    assert stderr == f"leadimport: error: {m}: {NO_ZONE}\n"
    assert server.requests() == []


def test_a_constant_time_needs_a_zone_too(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text(
        "version: 1\nfields:\n  caller_id: Phone\n  next_action_at: {value: '2026-12-01 09:30'}\n",
        encoding="utf-8",
    )
    code, _, stderr = invoke("validate", leads(tmp_path / "l.csv"), "-m", m)
    assert code == 2 and "fields.next_action_at (constant) holds times" in stderr, stderr


def test_with_a_zone_times_are_read_in_it(tmp_path: Path) -> None:
    m = mapping(tmp_path, "timezone: America/Chicago\n")
    out = tmp_path / "out"
    code, _, stderr = invoke("validate", leads(tmp_path / "l.csv"), "-m", m, "--out", out)
    assert code == 0, stderr
    with (out / "results.csv").open(newline="", encoding="utf-8") as fh:
        bodies = [r["payload"] for r in csv.DictReader(fh)]
    assert '"schedule_callback_at":"2026-12-01 15:30:00 +0000"' in bodies[0]  # CST -6
    assert '"schedule_callback_at":"2026-12-01 15:00:00 +0000"' in bodies[1]  # its own offset


def test_a_mapping_without_times_needs_no_zone(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text("version: 1\nfields:\n  caller_id: Phone\n", encoding="utf-8")
    code, _, stderr = invoke(
        "validate", leads(tmp_path / "l.csv"), "-m", m, "--out", tmp_path / "o"
    )
    assert code == 0, stderr


def resched(tmp_path: Path, server: Any, *extra: Any) -> tuple[int, str, str]:
    return invoke(
        "reschedule", leads(tmp_path / "l.csv"), "--endpoint", server.endpoint,
        "--lead-token", TOKEN, "--out", tmp_path / "r", *extra,
    )  # fmt: skip


def test_reschedule_at_without_a_zone_is_refused(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    code, _, stderr = resched(tmp_path, server, "--at", "2026-12-01 09:30")
    assert code == 2
    assert stderr == (
        "leadimport: error: --at: '2026-12-01 09:30' names no time zone; pass --timezone "
        "(e.g. America/New_York) or set timezone: in the mapping, or write the offset "
        "(e.g. '2026-12-01 09:30 -0500')\n"
    )
    assert server.requests() == [] and not (tmp_path / "r").exists()
    # A mapping without timezone: is no zone either (it used to mean New York here).
    m = tmp_path / "m.yaml"
    m.write_text("version: 1\nfields:\n  caller_id: Phone\n", encoding="utf-8")
    code, _, stderr = resched(tmp_path, server, "-m", m, "--at", "2026-12-01 09:30")
    assert code == 2 and "names no time zone" in stderr


@pytest.mark.parametrize(
    ("extra", "hour"),
    [
        (["--at", "2026-12-01 09:30 -0500"], 14),  # its own offset
        (["--at", "2026-12-01 09:30", "--timezone", "America/Denver"], 16),
    ],
)
def test_reschedule_with_a_zone_or_an_offset(
    tmp_path: Path, sandbox_factory: Any, extra: list[str], hour: int
) -> None:
    server = sandbox_factory()
    code, _, stderr = resched(tmp_path, server, *extra)
    assert code == 0, stderr
    want = datetime(2026, 12, 1, hour, 30, tzinfo=UTC)
    stored = {datetime.fromisoformat(lead["next_action_at"]) for lead in server.leads()}
    assert stored == {want}


def test_local_time_without_a_zone_only_refuses_numbers_that_have_none(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    code, _, stderr = resched(tmp_path, server, "--at", "2026-12-01 09:30", "--local-time")
    assert code == 1, stderr
    with (tmp_path / "r" / "results.csv").open(newline="", encoding="utf-8") as fh:
        rows = {r["row"]: r for r in csv.DictReader(fh)}
    assert rows["2"]["status"] == "success"
    assert rows["3"]["status"] == "invalid"
    assert rows["3"]["error"] == (
        "the number has no time zone of its own (toll-free or not geographic); give "
        "reschedule a time zone for such numbers"
    )
    (lead,) = server.leads()
    assert datetime.fromisoformat(lead["next_action_at"]) == datetime(
        2026, 12, 1, 14, 30, tzinfo=UTC
    )


def test_mapping_init_writes_a_zone(tmp_path: Path) -> None:
    out = tmp_path / "m.yaml"
    code, _, stderr = invoke("mapping", "init", leads(tmp_path / "l.csv"), "-o", out)
    assert code == 0, stderr
    assert "timezone: America/New_York" in out.read_text(encoding="utf-8")


MONDAY_NOON_UTC = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 07:00 in New York


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("tomorrow 9am", datetime(2026, 12, 1, 14, 0, tzinfo=UTC)),
        ("tomorrow 09:00", datetime(2026, 12, 1, 14, 0, tzinfo=UTC)),
        ("Tomorrow at 9 a.m.", datetime(2026, 12, 1, 14, 0, tzinfo=UTC)),
        ("today 17:30", datetime(2026, 11, 30, 22, 30, tzinfo=UTC)),
        ("monday 9:00", datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),  # today's is still ahead
        ("monday 6:00", datetime(2026, 12, 7, 11, 0, tzinfo=UTC)),  # today's has passed
        ("fri 8:15pm", datetime(2026, 12, 5, 1, 15, tzinfo=UTC)),
        ("9am", datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),  # the next 9 a.m.
        ("6am", datetime(2026, 12, 1, 11, 0, tzinfo=UTC)),  # today's has passed
        ("12am", datetime(2026, 12, 1, 5, 0, tzinfo=UTC)),
        ("12pm", datetime(2026, 11, 30, 17, 0, tzinfo=UTC)),
        ("2026-12-01 09:30", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
    ],
)
def test_the_times_people_type(text: str, want: datetime) -> None:
    assert parse_when(text, "America/New_York", now=MONDAY_NOON_UTC) == want


@pytest.mark.parametrize("text", ["tomorrow 13pm", "today 25:00", "9:75", "someday", "0am"])
def test_what_is_not_a_time_is_refused_never_guessed(text: str) -> None:
    with pytest.raises(ValueError, match="write e.g. tomorrow 9am, today 17:30"):
        parse_when(text, "America/New_York", now=MONDAY_NOON_UTC)


def test_reschedule_tomorrow_9am_in_each_leads_own_zone(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    code, _, stderr = resched(tmp_path, server, "--at", "tomorrow 9am", "--local-time")
    assert code == 1, stderr  # the toll-free row has no zone of its own
    (lead,) = server.leads()  # (212): New York
    when = datetime.fromisoformat(lead["next_action_at"]).astimezone(ZoneInfo("America/New_York"))
    assert (when.hour, when.minute) == (9, 0)
    today = datetime.now(ZoneInfo("America/New_York")).date()
    assert (when.date() - today).days == 1


def test_an_unusable_time_is_one_line_before_any_row(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    code, _, stderr = resched(tmp_path, server, "--at", "next tuesday-ish", "--local-time")
    assert code == 2
    assert stderr == (
        "leadimport: error: --at: 'next tuesday-ish' is not a time I can read; write e.g. "
        "tomorrow 9am, today 17:30, monday 9:00, 9am, or YYYY-MM-DD HH:MM\n"
    )
    assert not (tmp_path / "r").exists() and server.requests() == []
