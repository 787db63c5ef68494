"""Tests for importer.record's nightly ledger and its lock, on real SQLite and lock files."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from importer.errors import ExitStatus, ImporterError, LockError, OutputError, Setting
from importer.record import DEFAULT_LEDGER, Entry, Ledger, LedgerLock, body_hash

ENDPOINT = "https://acme.trackdrive.com/api/v1/leads/create_or_update"
OTHER_ENDPOINT = "https://other.trackdrive.com/api/v1/leads/create_or_update"


def test_the_default_ledger_lives_in_the_output_folder() -> None:
    assert Path("output/ledger.sqlite") == DEFAULT_LEDGER


@pytest.mark.parametrize(
    ("payload", "digest"),
    [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            '{"caller_id":"+13035550100"}',
            "70fc3b7f159e0a804b66bb14d93f869248bc10b134d716c0aa5a253863c6c0c6",
        ),
        # The hash of the UTF-8 bytes c3 a9 (Latin-1's e9 would give de2e331d…).
        ("é", "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c"),
    ],
    ids=["empty", "abc", "body", "non-ascii"],
)
def test_body_hash_is_the_sha256_of_the_utf8_body(payload: str, digest: str) -> None:
    assert body_hash(payload) == digest
    assert body_hash(payload.encode("utf-8")) == digest  # the bytes the sender sends


# -- the ledger --------------------------------------------------------------------------------


def test_a_new_ledger_knows_no_lead_and_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "ledger.sqlite"
    ledger = Ledger(path, ENDPOINT)
    try:
        assert ledger.lookup("fp1:+13035550100") is None
    finally:
        ledger.close()
    assert path.is_file()


def test_a_recorded_send_is_found_with_when_and_by_which_run(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", ENDPOINT)
    before = datetime.now(UTC).replace(microsecond=0)
    ledger.record("fp1:+13035550100", body_hash('{"a": 1}'), tmp_path / "run-1")
    after = datetime.now(UTC)
    entry = ledger.lookup("fp1:+13035550100")
    ledger.close()
    assert entry is not None
    assert (entry.body_hash, entry.run_dir) == (body_hash('{"a": 1}'), str(tmp_path / "run-1"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", entry.sent_at)
    sent = datetime.strptime(entry.sent_at, "%Y-%m-%d %H:%M:%S %z")
    assert before <= sent <= after
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.body_hash = "x"  # type: ignore[misc]


def test_recording_again_replaces_the_entry(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", ENDPOINT)
    ledger.record("fp1:+13035550100", "hash-monday", tmp_path / "monday")
    ledger.record("fp1:+13035550100", "hash-tuesday", tmp_path / "tuesday")
    entry = ledger.lookup("fp1:+13035550100")
    ledger.close()
    assert entry is not None and (entry.body_hash, entry.run_dir) == (
        "hash-tuesday",
        str(tmp_path / "tuesday"),
    )
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        assert db.execute("SELECT count(*) FROM sent").fetchone() == (1,)
    db.close()


@pytest.mark.parametrize(
    ("endpoint", "key", "found"),
    [
        (ENDPOINT, "fp1:+13035550100", "same lead, same token, same endpoint"),
        (OTHER_ENDPOINT, "fp1:+13035550100", None),  # another Trackdrive account
        (ENDPOINT, "fp2:+13035550100", None),  # another lead token
        (ENDPOINT, "fp1:+13035550101", None),  # another lead
        (ENDPOINT, "fp1:ann@example.com", None),
        (ENDPOINT, "+13035550100", None),  # no fingerprint: not the same key
        (ENDPOINT, "fp1:", None),
    ],
)
def test_entries_are_kept_per_endpoint_token_fingerprint_and_lead(
    tmp_path: Path, endpoint: str, key: str, found: str | None
) -> None:
    path = tmp_path / "ledger.sqlite"
    writer = Ledger(path, ENDPOINT)
    writer.record("fp1:+13035550100", "h1", tmp_path / "run")
    writer.close()
    reader = Ledger(path, endpoint)
    entry = reader.lookup(key)
    reader.close()
    assert (entry.body_hash if entry else None) == ("h1" if found else None)


def test_a_lead_key_may_itself_hold_colons(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", ENDPOINT)
    ledger.record("fp1:weird:lead@example.com", "h1", tmp_path / "run")
    entry = ledger.lookup("fp1:weird:lead@example.com")
    assert entry == Entry("h1", entry.sent_at if entry else "", str(tmp_path / "run"))
    assert ledger.lookup("fp1:weird") is None
    assert ledger.lookup("fp1weird:lead@example.com") is None
    ledger.close()


def test_the_ledger_keeps_what_it_recorded_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    first = Ledger(path, ENDPOINT)
    for n in range(50):
        first.record(f"fp1:+1303555{n:04d}", f"hash-{n}", tmp_path / "night-1")
    first.close()
    second = Ledger(path, ENDPOINT)
    found = {n: second.lookup(f"fp1:+1303555{n:04d}") for n in range(50)}
    second.record("fp1:+13035550000", "hash-new", tmp_path / "night-2")
    second.close()
    assert {n: (e.body_hash, e.run_dir) for n, e in found.items() if e} == {
        n: (f"hash-{n}", str(tmp_path / "night-1")) for n in range(50)
    }
    third = Ledger(path, ENDPOINT)
    latest = third.lookup("fp1:+13035550000")
    third.close()
    assert latest is not None and latest.body_hash == "hash-new"
    # The token itself is never stored: only what the key says (its fingerprint).
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT DISTINCT endpoint, token_fp FROM sent").fetchall() == [
            (ENDPOINT, "fp1")
        ]
    db.close()


def test_records_are_committed_within_half_a_second_without_closing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path, ENDPOINT)
    ledger.record("fp1:+13035550100", "h1", tmp_path / "run")
    time.sleep(0.55)
    ledger.record("fp1:+13035550101", "h2", tmp_path / "run")  # this one commits both
    other = Ledger(path, ENDPOINT)  # another connection: sees only what was committed
    try:
        assert [other.lookup(f"fp1:+1303555010{n}") is not None for n in (0, 1)] == [True, True]
    finally:
        other.close()
        ledger.close()


def test_a_file_that_is_not_a_ledger_is_an_output_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"this is a spreadsheet, not a database" * 100)
    with pytest.raises(OutputError) as caught:
        Ledger(path, ENDPOINT)
    assert str(caught.value) == f"{path}: cannot open the ledger (file is not a database)"
    assert caught.value.exit_code == ExitStatus.UNUSABLE


def test_a_folder_in_place_of_the_ledger_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as caught:
        Ledger(tmp_path, ENDPOINT)
    assert str(caught.value) == f"{tmp_path}: cannot open the ledger (unable to open database file)"


def test_a_ledger_under_a_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").touch()
    path = tmp_path / "a-file" / "ledger.sqlite"
    with pytest.raises(OutputError) as caught:
        Ledger(path, ENDPOINT)
    assert str(caught.value).startswith(f"{path}: cannot open the ledger (")


# -- the lock ----------------------------------------------------------------------------------


def holder_of(lock_file: Path) -> dict[str, object]:
    return dict(json.loads(lock_file.read_text(encoding="utf-8")))


def refusal(lock_file: Path, pid: object, started: object) -> str:
    return (
        f"{lock_file}: another leadimport run holds the ledger lock (PID {pid}, started "
        f"{started}); wait for it to finish, or use another ledger"
    )


def test_the_lock_is_a_file_beside_the_ledger_naming_its_holder(tmp_path: Path) -> None:
    ledger = tmp_path / "sub" / "ledger.sqlite"
    lock = LedgerLock(ledger)
    assert lock.path == tmp_path / "sub" / "ledger.sqlite.lock"
    before = datetime.now().astimezone().replace(microsecond=0)
    lock.acquire()
    try:
        holder = holder_of(lock.path)
        assert list(holder) == ["pid", "started_at"] and holder["pid"] == os.getpid()
        started = datetime.fromisoformat(str(holder["started_at"]))
        assert before <= started <= datetime.now().astimezone()
        assert started.utcoffset() is not None  # with its time zone, as people read it
    finally:
        lock.release()
    assert lock.path.read_text(encoding="utf-8") == ""  # no holder named after release
    assert not ledger.exists()  # the lock does not create the ledger


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with LedgerLock(ledger) as first:
        holder = holder_of(first.path)
        with pytest.raises(LockError) as caught:
            LedgerLock(ledger).acquire()
        assert holder_of(first.path) == holder  # the refused run wrote nothing
    error = caught.value
    assert str(error) == refusal(first.path, os.getpid(), holder["started_at"])
    assert error.exit_code == ExitStatus.UNUSABLE
    assert error.settings == ((Setting.LEDGER, ""),)
    assert error.render(lambda setting, value: "--ledger").endswith(
        "wait for it to finish, or use another --ledger"
    )


def test_a_released_lock_can_be_taken_again(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    first = LedgerLock(ledger)
    first.acquire()
    first.release()
    first.release()  # twice: nothing happens
    with LedgerLock(ledger) as second:
        assert holder_of(second.path)["pid"] == os.getpid()
    with LedgerLock(ledger):  # and after a with block too
        pass


def test_locks_on_different_ledgers_do_not_conflict(tmp_path: Path) -> None:
    with LedgerLock(tmp_path / "a.sqlite"), LedgerLock(tmp_path / "b.sqlite") as b:
        assert b.path.name == "b.sqlite.lock"


@pytest.mark.parametrize(
    ("content", "pid", "started"),
    [
        ("", "?", "?"),  # the holder is between truncating the file and writing its name
        ('{"pid": 4', "?", "?"),  # ... or half-way through writing it
        ('{"pid": 4242}', "4242", "?"),
        (
            '{"pid": 4242, "started_at": "2024-05-01T02:00:00+02:00"}',
            "4242",
            "2024-05-01T02:00:00+02:00",
        ),
    ],
    ids=["empty", "torn", "no-start", "whole"],
)
def test_the_refusal_names_what_it_can_of_the_holder(
    tmp_path: Path, content: str, pid: str, started: str
) -> None:
    lock_file = tmp_path / "ledger.sqlite.lock"
    with lock_file.open("w", encoding="utf-8") as held:  # another holder, as the kernel sees it
        held.write(content)
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockError) as caught:
            LedgerLock(tmp_path / "ledger.sqlite").acquire()
    assert str(caught.value) == refusal(lock_file, pid, started)


@pytest.mark.parametrize("content", ["null", "[4242]"])
def test_a_lock_file_holding_other_json_still_gives_the_refusal(
    tmp_path: Path, content: str
) -> None:
    lock_file = tmp_path / "ledger.sqlite.lock"
    with lock_file.open("w", encoding="utf-8") as held:
        held.write(content)
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockError) as caught:
            LedgerLock(tmp_path / "ledger.sqlite").acquire()
    assert str(caught.value) == refusal(lock_file, "?", "?")


def test_a_lock_under_a_file_is_an_importer_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").touch()
    with pytest.raises(ImporterError):
        LedgerLock(tmp_path / "a-file" / "ledger.sqlite").acquire()


_HOLDER = (
    "import sys, time; from pathlib import Path; "
    "from importer.record import LedgerLock; "
    # Held in a name: a LedgerLock nobody refers to closes its file, and the kernel's lock
    # goes with it.
    "lock = LedgerLock(Path(sys.argv[1])); lock.acquire(); "
    "print('locked', flush=True); time.sleep(60)"
)


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    lock_file = tmp_path / "ledger.sqlite.lock"
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(ledger)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == "locked\n"
        holder = holder_of(lock_file)
        assert holder["pid"] == child.pid
        with pytest.raises(LockError) as caught:  # alive: refused, and named
            LedgerLock(ledger).acquire()
        assert str(caught.value) == refusal(lock_file, child.pid, holder["started_at"])
    finally:
        child.kill()  # SIGKILL: no release, the file still names it
        child.wait()
        child.stdout.close()
    assert holder_of(lock_file) == holder
    with LedgerLock(ledger) as taken:  # the kernel dropped the dead holder's flock
        assert holder_of(taken.path)["pid"] == os.getpid()
        started = datetime.fromisoformat(str(holder_of(taken.path)["started_at"]))
        assert datetime.now().astimezone() - started < timedelta(seconds=5)
