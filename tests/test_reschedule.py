"""`leadimport reschedule`: the times stored in the sandbox, checked lead by lead."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import invoke

TOKEN = "resched-TOKEN-5512"
# One number per zone: New York, Chicago, Denver, Los Angeles, Honolulu.
ZONES = {
    "+12125550101": "America/New_York",
    "+13125550101": "America/Chicago",
    "+13035550101": "America/Denver",
    "+12135550101": "America/Los_Angeles",
    "+18085550101": "Pacific/Honolulu",
}


def leads_file(path: Path, header: str = "Mobile") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Name", header])
        for n, e164 in enumerate(ZONES):
            w.writerow([f"Lead {n}", f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"])
    return path


def stored_times(server: Any) -> dict[str, datetime]:
    out = {}
    for lead in server.leads():
        out[lead["caller_id"]] = datetime.fromisoformat(lead["next_action_at"])
    return out


def resched(src: Path, server: Any, tmp_path: Path, *extra: Any) -> tuple[int, str, str]:
    return invoke(
        "reschedule", src, "--endpoint", server.endpoint, "--lead-token", TOKEN,
        "--out", tmp_path / "r", "--rate", "100", *extra,
    )  # fmt: skip


def test_in_duration_from_now(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    before = datetime.now(UTC)
    code, _, stderr = resched(leads_file(tmp_path / "l.csv"), server, tmp_path, "--in", "2h")
    assert code == 0, stderr
    times = stored_times(server)
    assert set(times) == set(ZONES)
    for when in times.values():
        assert before + timedelta(hours=2) - timedelta(seconds=2) <= when
        assert when <= datetime.now(UTC) + timedelta(hours=2)
    bodies = [r["body"] for r in server.requests()]
    assert all(set(b) == {"caller_id", "next_action_at"} for b in bodies)


def test_at_in_the_mapping_timezone(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    mapping = tmp_path / "m.yaml"
    mapping.write_text("version: 1\ntimezone: America/Chicago\nfields:\n  caller_id: Mobile\n")
    code, _, stderr = resched(
        leads_file(tmp_path / "l.csv"), server, tmp_path, "-m", mapping,
        "--at", "2026-12-01 09:30", "--update-all-matching",
    )  # fmt: skip
    assert code == 0, stderr
    want = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    assert set(stored_times(server).values()) == {want}
    assert all(r["body"]["update_all_matching_leads"] is True for r in server.requests())


@pytest.mark.parametrize(
    ("at", "utc_hours"),
    [
        # winter: EST -5, CST -6, MST -7, PST -8, HST -10
        ("2026-12-01 09:30", [14, 15, 16, 17, 19]),
        # 2026-03-08 is the US DST change: the next day is EDT -4 … PDT -7; Hawaii stays -10
        ("2026-03-09 09:30", [13, 14, 15, 16, 19]),
    ],
)
def test_local_time_per_lead_across_dst(
    tmp_path: Path, sandbox_factory: Any, at: str, utc_hours: list[int]
) -> None:
    server = sandbox_factory()
    code, _, stderr = resched(
        leads_file(tmp_path / "l.csv"), server, tmp_path, "--at", at, "--local-time"
    )
    assert code == 0, stderr
    times = stored_times(server)
    day = datetime.fromisoformat(at).date()
    for e164, hour in zip(ZONES, utc_hours, strict=True):
        assert times[e164] == datetime(day.year, day.month, day.day, hour, 30, tzinfo=UTC), e164


def test_calling_hours_move_night_times_to_the_next_morning(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    out = tmp_path / "r"
    # 23:00 in New York is 20:00 in Los Angeles (inside 08-21) but 23:00 in New York.
    code, _, stderr = resched(
        leads_file(tmp_path / "l.csv"), server, tmp_path, "--at", "2026-12-01 23:00",
        "--timezone", "America/New_York", "--calling-hours", "08:00-21:00",
    )  # fmt: skip
    assert code == 0, stderr
    times = stored_times(server)
    assert times["+12125550101"] == datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert times["+13125550101"] == datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # 08:00 CST
    assert times["+12135550101"] == datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 20:00 PST, kept
    with (out / "results.csv").open(newline="") as fh:
        rows = {r["caller_id"]: r for r in csv.DictReader(fh)}
    assert rows["+12125550101"]["note"].startswith(
        "moved from 2026-12-01 23:00 EST to 2026-12-02 08:00 EST"
    )
    assert rows["+12135550101"]["note"] == ""


def test_dry_run_shows_times_and_sends_nothing(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory()
    code, stdout, stderr = resched(
        leads_file(tmp_path / "l.csv"), server, tmp_path, "--at", "2026-12-01 09:30",
        "--timezone", "UTC", "--dry-run",
    )  # fmt: skip
    assert code == 0, stderr
    assert server.requests() == []
    assert stdout.count("2026-12-01 09:30:00 +0000") == 5


def test_a_results_csv_of_an_earlier_run_works_as_input(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    first = tmp_path / "first"
    code, _, stderr = invoke(
        "reschedule", leads_file(tmp_path / "l.csv"), "--endpoint", server.endpoint,
        "--lead-token", TOKEN, "--out", first, "--in", "1d",
    )  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = resched(first / "results.csv", server, tmp_path, "--in", "1s")
    assert code == 0, stderr
    assert len(server.requests()) == 10
    for when in stored_times(server).values():
        assert when < datetime.now(UTC) + timedelta(minutes=1)


def test_needs_exactly_one_of_at_and_in(tmp_path: Path) -> None:
    code, _, stderr = invoke("reschedule", leads_file(tmp_path / "l.csv"), "--lead-token", TOKEN)
    assert code == 2 and "give exactly one of --at TIME or --in DURATION" in stderr
    code, _, stderr = invoke(
        "reschedule", leads_file(tmp_path / "l.csv"), "--lead-token", TOKEN, "--in", "soon"
    )
    assert code == 2 and "--in: 'soon' is not a duration" in stderr
