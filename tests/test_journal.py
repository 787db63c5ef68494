"""Tests for importer.record's journal (journal.jsonl) and run.json, on real files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from importer.errors import AbortError, ConfigError, ExitStatus, OutputError
from importer.record import (
    JOURNAL_FILE,
    OUTCOME_COLUMNS,
    RUN_FILE,
    Journal,
    Outcome,
    Outcomes,
    read_run_info,
    write_run_info,
)


def lines(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of the journal as JSON, without its time stamp."""
    events = []
    for line in (run_dir / JOURNAL_FILE).read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        assert isinstance(event.pop("t"), float)
        events.append(event)
    return events


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    opened = Journal(tmp_path)
    yield opened
    opened.close()


def test_the_file_names_are_those_of_a_run_folder() -> None:
    assert (RUN_FILE, JOURNAL_FILE) == ("run.json", "journal.jsonl")


# -- writing -----------------------------------------------------------------------------------


def test_open_records_the_start_of_a_run_with_a_time_stamp(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.path == tmp_path / "journal.jsonl"
    before = time.time()
    journal.open("run")
    after = time.time()
    journal.close()
    text = (tmp_path / JOURNAL_FILE).read_text(encoding="utf-8")
    assert text.count("\n") == 1 and text.endswith("\n")
    event = json.loads(text)
    assert list(event) == ["e", "n", "command", "t"]
    assert (event["e"], event["n"], event["command"]) == ("run", 1, "run")
    assert round(before, 3) - 0.001 <= event["t"] <= round(after, 3) + 0.001


def test_events_are_appended_one_json_line_each(tmp_path: Path, journal: Journal) -> None:
    journal.open("run")
    journal.started(7, 1)
    journal.finished(Outcome(7, "failed", "fp:+13035550100", 503, 1, "HTTP 503"))
    journal.started(7, 2)
    journal.finished(Outcome(7, "success", "fp:+13035550100", 200, 2, lead_id="L7"))
    assert lines(tmp_path) == [
        {"e": "run", "n": 1, "command": "run"},
        {"e": "start", "row": 7, "attempt": 1},
        {
            "e": "done",
            "row": 7,
            "status": "failed",
            "key": "fp:+13035550100",
            "http_status": 503,
            "attempts": 1,
            "error": "HTTP 503",
        },
        {"e": "start", "row": 7, "attempt": 2},
        {
            "e": "done",
            "row": 7,
            "status": "success",
            "key": "fp:+13035550100",
            "http_status": 200,
            "attempts": 2,
            "lead_id": "L7",
        },
    ]


def test_an_outcome_is_on_disk_as_soon_as_it_is_recorded(tmp_path: Path, journal: Journal) -> None:
    journal.open("run")
    journal.started(3, 1)
    journal.finished(Outcome(3, "success", attempts=1))
    # Not closed: another reader (a rerun after kill -9) sees the start and the outcome.
    assert Journal(tmp_path).state() == ({3: Outcome(3, "success", attempts=1)}, set())


async def test_in_the_senders_loop_a_turns_outcomes_are_on_disk_at_the_next_turn(
    tmp_path: Path, journal: Journal
) -> None:
    journal.open("run")
    journal.flush_each_turn(asyncio.get_running_loop())
    journal.started(3, 1)
    journal.finished(Outcome(3, "success", attempts=1))
    journal.finished(Outcome(4, "failed", attempts=1, error="HTTP 422"))
    assert Journal(tmp_path).state() == ({}, set())  # still this turn: not flushed yet
    await asyncio.sleep(0)  # the next turn begins with one flush of both
    assert Journal(tmp_path).state() == (
        {
            3: Outcome(3, "success", attempts=1),
            4: Outcome(4, "failed", attempts=1, error="HTTP 422"),
        },
        set(),
    )
    journal.finished(Outcome(5, "success", attempts=1))
    journal.flush_each_turn(None)  # back to one flush per outcome, with what is pending
    assert 5 in Journal(tmp_path).state()[0]
    journal.finished(Outcome(6, "success", attempts=1))
    assert 6 in Journal(tmp_path).state()[0]


async def test_a_turns_events_are_the_lines_each_would_have_been_alone(tmp_path: Path) -> None:
    alone, per_turn = Journal(tmp_path / "alone"), Journal(tmp_path / "turn")
    for journal in (alone, per_turn):
        journal.path.parent.mkdir()
        journal.open("run", rate=0)
    per_turn.flush_each_turn(asyncio.get_running_loop())
    began = time.time()
    for journal in (alone, per_turn):
        journal.started(3, 1)
        journal.retried(3, 1, 503, 12.5, 0.25)
        journal.started(3, 2)
        journal.done(3, "success", "fp:+13035550100", 200, 2, "", "7", "+18005550100", ms=8.1)
        journal.finished(Outcome(4, "failed", http_status=422, attempts=1, error='HTTP 422: "é"'))
    await asyncio.sleep(0)
    ended = time.time()
    assert lines(per_turn.path.parent) == lines(alone.path.parent)
    assert len(lines(alone.path.parent)) == 6
    # The turn's events share one time stamp, to the millisecond, taken within the turn.
    stamps = {json.loads(line)["t"] for line in per_turn.path.read_bytes().splitlines()[1:]}
    assert len(stamps) == 1
    assert round(began, 3) <= stamps.pop() <= round(ended, 3)
    for journal in (alone, per_turn):
        journal.close()


async def test_a_turn_with_thousands_of_events_writes_them_as_they_pile_up(
    tmp_path: Path, journal: Journal
) -> None:
    journal.open("run")
    journal.flush_each_turn(asyncio.get_running_loop())
    for row in range(2, 5002):  # a stop reports every row left, all in one turn
        journal.finished(Outcome(row, "not_sent", error="not sent: interrupted"))
    written = len((tmp_path / JOURNAL_FILE).read_bytes().splitlines())
    assert 4096 <= written < 5001  # not all held in memory until the turn ends
    await asyncio.sleep(0)
    assert sorted(Journal(tmp_path).state()[0]) == list(range(2, 5002))


async def test_a_flush_that_fails_at_the_next_turn_stops_the_next_outcome(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path)
    journal.open("run")
    journal.flush_each_turn(asyncio.get_running_loop())
    with full_disk((tmp_path / JOURNAL_FILE).stat().st_size + 100):
        journal.finished(Outcome(1, "success", f"fp:+1303555{1:04d}", 200, 1, error="x" * 200))
        await asyncio.sleep(0)  # the flush fails in a loop callback, where nobody hears it…
        with pytest.raises(AbortError, match="cannot record what was sent"):
            journal.finished(Outcome(2, "success"))  # …so the next outcome raises it
    journal.close()
    assert Journal(tmp_path).state() == ({}, set())


def test_reopening_appends_and_counts_the_runs(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.open("run")
    first.finished(Outcome(1, "failed", error="HTTP 500"))
    first.close()
    before = (tmp_path / JOURNAL_FILE).read_bytes()
    for command in ("rerun", "rerun"):
        again = Journal(tmp_path)
        again.open(command)
        again.close()
    after = (tmp_path / JOURNAL_FILE).read_bytes()
    assert after.startswith(before)
    assert [(e["e"], e.get("n"), e.get("command")) for e in lines(tmp_path)] == [
        ("run", 1, "run"),
        ("done", None, None),
        ("run", 2, "rerun"),
        ("run", 3, "rerun"),
    ]


def test_close_is_safe_twice_and_before_open(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.close()  # never opened: nothing to do
    journal.open("run")
    journal.close()
    journal.close()
    assert len(lines(tmp_path)) == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "missing", "No such file or directory"),
        (lambda tmp: (tmp / "a-file").touch() or tmp / "a-file", "Not a directory"),
    ],
    ids=["missing-folder", "folder-is-a-file"],
)
def test_a_folder_that_cannot_hold_a_journal_is_an_output_error(
    tmp_path: Path, make: Any, reason: str
) -> None:
    run_dir = make(tmp_path)
    journal = Journal(run_dir)
    with pytest.raises(OutputError) as caught:
        journal.open("run")
    assert str(caught.value) == f"{run_dir / JOURNAL_FILE}: cannot write the journal ({reason})"
    assert caught.value.exit_code == ExitStatus.UNUSABLE


@contextlib.contextmanager
def full_disk(limit: int) -> Iterator[None]:
    """Files cannot grow past ``limit`` bytes (EFBIG), as on a full disk: the way to fill a
    'disk' when the tests run as root. Python ignores SIGXFSZ, so the write just fails."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_full_disk_stops_the_run_with_a_message_and_keeps_every_whole_line(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path)
    row = 0
    with full_disk(4096), pytest.raises(AbortError) as caught:
        journal.open("run")
        for row in range(1, 1000):
            journal.finished(Outcome(row, "success", f"fp:+1303555{row:04d}", 200, 1))
    assert str(caught.value) == (
        f"{tmp_path / JOURNAL_FILE}: cannot record what was sent (File too large); sending "
        f"stopped. Free some space, then `leadimport rerun {tmp_path}` finishes the run"
    )
    assert caught.value.exit_code == ExitStatus.ABORTED
    assert (tmp_path / JOURNAL_FILE).stat().st_size == 4096
    with pytest.raises(AssertionError, match="^journal not open$"):  # nothing after a failure
        journal.finished(Outcome(row + 1, "success"))
    journal.close()
    outcomes, in_flight = Journal(tmp_path).state()
    assert sorted(outcomes) == list(range(1, row))  # the torn line is ignored
    assert in_flight == set()
    # Every outcome before the failing one is on a whole line: the run's, then rows 1..row-1.
    assert (tmp_path / JOURNAL_FILE).read_bytes().count(b"\n") == row > 1


# -- reading -----------------------------------------------------------------------------------


def test_state_is_the_latest_outcome_per_row_and_the_rows_still_in_flight(
    tmp_path: Path, journal: Journal
) -> None:
    journal.open("run")
    journal.started(1, 1)
    journal.finished(Outcome(1, "failed", http_status=500, attempts=1, error="HTTP 500"))
    journal.started(2, 1)  # never answered
    journal.started(3, 1)
    journal.finished(Outcome(3, "success", http_status=200, attempts=1))
    journal.close()
    journal.open("rerun")
    journal.started(1, 1)
    journal.finished(Outcome(1, "success", http_status=200, attempts=1, lead_id="L1"))
    journal.started(3, 1)  # sent again and the process stopped: in flight, last known success
    journal.finished(Outcome(4, "invalid", error="no phone"))  # flushes the starts before it
    assert Journal(tmp_path).state() == (
        {
            1: Outcome(1, "success", http_status=200, attempts=1, lead_id="L1"),
            3: Outcome(3, "success", http_status=200, attempts=1),
            4: Outcome(4, "invalid", error="no phone"),
        },
        {2, 3},
    )


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(1, "success"),
        Outcome(2, "success", "a1b2c3:+13035550100", 201, 1, "", "L-2", "+18005550100", "+1800"),
        Outcome(3, "failed", "a1b2c3:x@example.com", None, 5, "HTTP 503 | timed out"),
        Outcome(4, "not_sent", error="not sent: the endpoint rejected the lead token (HTTP 401)"),
        Outcome(5, "failed", error='quote " backslash \\ newline \n tab \t émoji 🙂'),
    ],
    ids=["bare", "every-field", "no-http-status", "not-sent", "awkward-text"],
)
def test_an_outcome_reads_back_as_it_was_recorded(
    tmp_path: Path, journal: Journal, outcome: Outcome
) -> None:
    journal.open("run")
    journal.finished(outcome)
    journal.close()
    assert Journal(tmp_path).state() == ({outcome.row: outcome}, set())
    assert (tmp_path / JOURNAL_FILE).read_text(encoding="utf-8").count("\n") == 2


def test_an_outcome_with_a_lone_surrogate_reads_back(tmp_path: Path, journal: Journal) -> None:
    outcome = Outcome(9, "success", http_status=200, attempts=1, lead_id="L\ud800")
    journal.open("run")
    journal.finished(outcome)
    journal.close()
    assert Journal(tmp_path).state() == ({9: outcome}, set())


def test_no_journal_yet_means_no_events(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert list(journal.events()) == []
    assert journal.state() == ({}, set())
    assert not (tmp_path / JOURNAL_FILE).exists()


@pytest.mark.parametrize(
    "junk",
    [
        b'{"e":"done","row":5,"status":"succ',  # a torn last line: power loss mid-write
        b'{"e":"done","row":5,"status":"success"',
        b"\xff\xfe not UTF-8",
        b"[1, 2]",  # JSON, but not an event
        b'"done"',
        b"42",
        b"",
    ],
    ids=["mid-string", "no-closing-brace", "not-utf8", "array", "string", "number", "empty"],
)
def test_lines_that_are_not_events_are_skipped(tmp_path: Path, junk: bytes) -> None:
    good = b'{"e":"run","n":1,"command":"run","t":1.0}\n{"e":"done","row":4,"status":"success"}\n'
    (tmp_path / JOURNAL_FILE).write_bytes(good + junk)
    assert list(Journal(tmp_path).events()) == [
        {"e": "run", "n": 1, "command": "run", "t": 1.0},
        {"e": "done", "row": 4, "status": "success"},
    ]
    assert Journal(tmp_path).state() == ({4: Outcome(4, "success")}, set())


def test_events_without_a_whole_row_number_are_ignored_by_state(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_FILE).write_text(
        '{"e":"start","row":"7","attempt":1}\n'
        '{"e":"done","row":7.0,"status":"success"}\n'
        '{"e":"done","status":"success"}\n'
        '{"e":"start","row":8,"attempt":1}\n'
        '{"e":"other","row":8}\n',
        encoding="utf-8",
    )
    assert Journal(tmp_path).state() == ({}, {8})


# -- reading column-wise (the second pass of a run) ------------------------------------------


def as_state(outcomes: Outcomes) -> tuple[dict[int, tuple[str, ...]], list[int]]:
    """``Outcomes`` back as rows: each row's texts, and the rows in flight."""
    at = np.arange(len(outcomes.rows))
    columns = [outcomes.take(name, at).tolist() for name in OUTCOME_COLUMNS]
    texts = {row: tuple(c[i] for c in columns) for i, row in enumerate(outcomes.rows.tolist())}
    return texts, outcomes.in_flight.tolist()


def state_texts(journal: Journal) -> tuple[dict[int, tuple[str, ...]], list[int]]:
    """The reference: what ``state`` says, as the second pass wrote it row by row before."""
    outcomes, in_flight = journal.state()
    texts = {
        row: (
            o.status,
            "" if o.http_status is None else str(o.http_status),
            str(o.attempts) if o.attempts else "",
            o.error,
            o.lead_id,
            o.trackdrive_number_plain,
            o.sms_number_plain,
        )
        for row, o in sorted(outcomes.items())
    }
    return texts, sorted(in_flight)


def record_two_runs(run_dir: Path) -> None:
    """A run with retries and rows left in flight, then a rerun killed while sending."""
    journal = Journal(run_dir)
    record_one_run(journal, 400, lone_surrogate=False)
    journal.close()
    journal.open("rerun")
    for row in range(0, 400, 4):  # sent again: some answered, some in flight at the kill
        journal.started(row, 1)
        if row % 8:
            journal.finished(Outcome(row, "success", attempts=0 if row % 3 else 2, lead_id="N"))
    journal.close()


@pytest.mark.parametrize(
    "tail",
    [
        b"",
        b'{"e":"done","row":5,"status":"succ',  # torn last line
        b'{"e":"done","row":5,"status":"succ\n{"e":"start","row":6,"attempt":1}\n',
        b"\n\n   \n",  # blank lines
        b'{"e":"done","row":5,"status":"a"}{"e":"done","row":6,"status":"b"}\n',
        b'{"e":"done","row":5,"status":"a"}\r{"e":"done","row":6,"status":"b"}\n',
        b'\n{"e":"done","row":5,"status":"a"}{"e":"done","row":6,"status":"b"}\n',  # as many
        b'\xef\xbb\xbf{"e":"done","row":5,"status":"bom"}\n',
        b'{"e":"done","row":5,"status":"\xff"}\n',  # not UTF-8
        b'{"e":"done","row":5,"status":"x","ms":NaN}\n',
        b'{"e":"done","row":5,"status":"x","row":6}\n',
        b'{"e":"done","row":5.0,"status":"x"}\n{"e":"start","row":"6"}\n',
        b'{"e":"start","row":99999999999999999999}\n',
        b'{"e":"done","row":5,"status":"x","error":null,"http_status":null}\n',
        b'{"e":"done","row":5,"status":"x","attempts":null}\n',
        b'{"e":"done","row":5,"status":"x","lead_id":"L\\ud800"}\n',  # a lone surrogate
        b'{"e":"done","row":5,"status":5}\n',
        b'{"e":"done","row":true,"status":"x"}\n',
        b'{"e":5,"row":5}\n{"e":null,"row":6}\n{"row":7}\n[1]\n42\n',
        b'{"e":"done","row":-3,"status":"x","http_status":0,"extra":{"a":[1]}}\n',
    ],
)
def test_outcomes_column_wise_are_what_state_says(tmp_path: Path, tail: bytes) -> None:
    record_two_runs(tmp_path)
    with (tmp_path / JOURNAL_FILE).open("ab") as fh:
        fh.write(tail)
    journal = Journal(tmp_path)
    assert as_state(journal.outcomes()) == state_texts(journal)


@pytest.mark.parametrize("block", [64, 1000, 1 << 20])
def test_a_torn_line_sends_only_its_block_to_the_slow_reader(
    tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lines longer than a block, and blocks that end mid-line, read as a whole file does.
    monkeypatch.setattr("importer.record._outcomes._READ_BLOCK", block)
    record_two_runs(tmp_path)
    text = (tmp_path / JOURNAL_FILE).read_bytes()
    middle = text.index(b'{"e":"run","n":2')
    (tmp_path / JOURNAL_FILE).write_bytes(text[:middle] + b'{"e":"done","ro\n' + text[middle:])
    journal = Journal(tmp_path)
    outcomes = journal.outcomes()
    assert as_state(outcomes) == state_texts(journal)
    assert isinstance(outcomes.columns["status"], pa.Array)  # not read by ``state``


def test_a_well_formed_journal_is_read_by_arrow_not_by_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_two_runs(tmp_path)

    def refused(self: Journal) -> None:
        raise AssertionError("read row by row")

    monkeypatch.setattr(Journal, "state", refused)
    monkeypatch.setattr("importer.record._outcomes._block_by_line", refused)
    outcomes = Journal(tmp_path).outcomes()
    assert len(outcomes.rows) > 300 and len(outcomes.in_flight) > 10


def record_one_run(journal: Journal, rows: int = 300, lone_surrogate: bool = True) -> None:
    """A new run's events: retries, failures, odd texts, a skip, rows left in flight.

    ``lone_surrogate``: in the errors (Arrow cannot read such a journal: ``state`` does).
    """
    journal.open("run", rate=None)
    odd = "\ud800 " if lone_surrogate else "a, "
    for row in range(2, rows):
        journal.started(row, 1)
        if row % 7 == 0:
            journal.retried(row, 1, 503, 12.5, 0.5)
            journal.started(row, 2)
        if row % 11 == 0:
            continue  # in flight when the run stopped
        error = "" if row % 3 else f'HTTP 422 | row {row}: {odd}"quoted"\nline\r=+-@ émoji 🙂'
        journal.done(
            row,
            "success" if row % 3 else "failed",
            f"k{row}",
            None if row % 13 == 0 else 200 + row % 3,
            row % 3,
            error,
            f"L{row}" if row % 3 else "",
            "+18005550100" if row % 5 else "",
            "+18005550199" if row % 17 == 0 else "",
            ms=1.5,
        )
    journal.finished(Outcome(rows + 100, "skipped", error="unchanged since the last run"))


async def test_a_new_runs_outcomes_are_kept_as_the_file_has_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path)
    journal.flush_each_turn(asyncio.get_running_loop())  # as the sender records them
    record_one_run(journal)
    journal.flush_each_turn(None)
    journal.close()
    on_disk = as_state(Journal(tmp_path).outcomes())
    assert len(on_disk[0]) == 272 and len(on_disk[1]) == 27

    def refused(*args: Any) -> None:
        raise AssertionError("the journal was read again")

    monkeypatch.setattr(Journal, "state", refused)
    monkeypatch.setattr("importer.record._journal.read_outcomes", refused)
    assert as_state(journal.outcomes()) == on_disk


def test_outcomes_are_read_from_the_file_past_what_is_kept_or_after_earlier_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.record._journal as module

    reads: list[Path] = []
    read_outcomes = module.read_outcomes

    def counted(path: Path) -> Outcomes:
        reads.append(path)
        return read_outcomes(path)

    monkeypatch.setattr(module, "read_outcomes", counted)
    monkeypatch.setattr(module, "_KEEP_ROWS", 100)
    big = Journal(tmp_path / "big")
    (tmp_path / "big").mkdir()
    record_one_run(big)
    big.close()
    outcomes = big.outcomes()
    assert reads == [big.path]  # read back (by state: it has a lone surrogate)
    assert as_state(outcomes) == state_texts(big)

    record_two_runs(tmp_path)  # the rerun's journal held outcomes when it was opened
    journal = Journal(tmp_path)
    journal.open("rerun")
    journal.started(3, 1)
    journal.finished(Outcome(3, "success", attempts=1, lead_id="again"))
    journal.close()
    outcomes = journal.outcomes()
    assert reads == [big.path, journal.path]
    assert as_state(outcomes) == state_texts(Journal(tmp_path))
    assert as_state(outcomes)[0][3][4] == "again"


def test_no_journal_means_no_outcomes(tmp_path: Path) -> None:
    assert as_state(Journal(tmp_path).outcomes()) == ({}, [])
    (tmp_path / JOURNAL_FILE).write_bytes(b"")
    assert as_state(Journal(tmp_path).outcomes()) == ({}, [])


def test_reopening_after_a_torn_line_starts_the_new_run_on_a_line_of_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / JOURNAL_FILE
    path.write_bytes(
        b'{"e":"run","n":1,"command":"run","t":1.0}\n'
        b'{"e":"done","row":2,"status":"success","t":2.0}\n'
        b'{"e":"done","row":3,"sta'
    )
    journal = Journal(tmp_path)
    journal.open("rerun")
    journal.finished(Outcome(3, "success"))
    journal.close()
    raw = path.read_bytes().splitlines()
    assert raw[2] == b'{"e":"done","row":3,"sta'  # left as it was, on its own line
    assert [json.loads(line)["e"] for line in raw[3:]] == ["run", "done"]
    assert json.loads(raw[3])["n"] == 2
    assert Journal(tmp_path).state() == (
        {2: Outcome(2, "success"), 3: Outcome(3, "success")},
        set(),
    )


_KILLED = """
import sys
import time
from pathlib import Path
from importer.record import Journal, Outcome

journal = Journal(Path(sys.argv[1]))
journal.open("run")
journal.started(1, 1)
journal.finished(Outcome(1, "success", http_status=200, attempts=1))
journal.started(2, 1)
journal.started(3, 1)
journal.finished(Outcome(2, "failed", http_status=500, attempts=1, error="HTTP 500"))
print("recorded", flush=True)
time.sleep(60)
"""


def test_a_run_killed_with_sigkill_loses_nothing_it_recorded(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == "recorded\n"
    finally:
        child.kill()  # SIGKILL: no close(), no flush at exit
        child.wait()
        child.stdout.close()
    assert Journal(tmp_path).state() == (
        {
            1: Outcome(1, "success", http_status=200, attempts=1),
            2: Outcome(2, "failed", http_status=500, attempts=1, error="HTTP 500"),
        },
        {3},
    )


# -- run.json ----------------------------------------------------------------------------------


def test_run_info_round_trips_and_is_written_whole(tmp_path: Path) -> None:
    info = {
        "command": "run",
        "input": str(tmp_path / "leads.csv"),
        "rate": 10.0,
        "columns": ["Phone", "E-mail"],
        "window": {"start": 2, "end": None},
        "note": "émoji 🙂",
    }
    write_run_info(tmp_path, info)
    assert read_run_info(tmp_path) == info
    text = (tmp_path / RUN_FILE).read_text(encoding="utf-8")
    assert text == json.dumps(info, indent=2, sort_keys=True) + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # no .tmp left behind
    write_run_info(tmp_path, {"command": "rerun"})  # replaced, not merged
    assert read_run_info(tmp_path) == {"command": "rerun"}


def test_a_folder_without_run_json_is_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_run_info(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: not a run folder (no run.json); pass the folder that `leadimport run` printed"
    )
    assert caught.value.exit_code == ExitStatus.UNUSABLE


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("", "Expecting value: line 1 column 1 (char 0)"),
        (
            '{"command": "run",',
            "Expecting property name enclosed in double quotes: line 1 column 19 (char 18)",
        ),
        ('{"command": "run"} trailing', "Extra data: line 1 column 20 (char 19)"),
        ('["run"]', "not a JSON object"),
        ("null", "not a JSON object"),
        ('"run"', "not a JSON object"),
    ],
    ids=["empty", "cut-short", "trailing-text", "array", "null", "string"],
)
def test_a_broken_run_json_is_one_line_naming_the_file(
    tmp_path: Path, content: str, why: str
) -> None:
    (tmp_path / RUN_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_run_info(tmp_path)
    assert str(caught.value) == f"{tmp_path / RUN_FILE}: unreadable ({why})"


def test_a_run_json_that_is_a_folder_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / RUN_FILE).mkdir()
    with pytest.raises(ConfigError) as caught:
        read_run_info(tmp_path)
    path = tmp_path / RUN_FILE
    assert str(caught.value) == f"{path}: unreadable ([Errno 21] Is a directory: '{path}')"


def test_a_run_json_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / RUN_FILE).write_bytes(b'{"command": "r\xe9run"}')
    with pytest.raises(ConfigError) as caught:
        read_run_info(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / RUN_FILE}: unreadable (")
