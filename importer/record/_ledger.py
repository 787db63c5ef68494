"""The nightly ledger: what was last sent successfully per lead, and the lock around it.

Runs that skip unchanged rows keep, per endpoint + token fingerprint + lead key (caller_id, or
email when there is none), the hash of the last body that Trackdrive accepted. A row whose
body hashes the same is not sent again. The token itself is never stored: only its
fingerprint (``mapping.token_fingerprint``).

The lock is an ``flock`` on ``<ledger>.lock``: the kernel drops it when its holder dies,
even by ``kill -9``, so a lock left by a killed run is taken over without guessing from
PIDs; the file's content (PID, start time) only serves the message for the second run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from importer.errors import LockError, OutputError, Setting, mention

DEFAULT_LEDGER = Path("output") / "ledger.sqlite"
_COMMIT_EVERY_S = 0.5


def body_hash(payload: str | bytes) -> str:
    """The hash the ledger keeps for a JSON body (as text, or as the UTF-8 bytes sent)."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """The ledger's memory of one lead."""

    body_hash: str
    sent_at: str
    run_dir: str


class Ledger:
    """SQLite table of the last successful body per (endpoint, token fingerprint, lead)."""

    def __init__(self, path: Path, endpoint: str) -> None:
        self.path = path
        self.endpoint = endpoint
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _private(path)
            self._db = sqlite3.connect(path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sent ("
                " endpoint TEXT NOT NULL, token_fp TEXT NOT NULL, lead TEXT NOT NULL,"
                " body_hash TEXT NOT NULL, sent_at TEXT NOT NULL, run_dir TEXT NOT NULL,"
                " PRIMARY KEY (endpoint, token_fp, lead))"
            )
            self._db.commit()
        except sqlite3.Error as exc:
            raise OutputError(f"{path}: cannot open the ledger ({exc})") from None
        except OSError as exc:  # mkdir: a regular file where a folder must be, no permission
            raise OutputError(f"{path}: cannot open the ledger ({_os_reason(exc)})") from None
        self._last_commit = time.monotonic()

    def lookup(self, key: str) -> Entry | None:
        """The last success recorded for row key ``key`` ("<token_fp>:<lead>")."""
        token_fp, _, lead = key.partition(":")
        row = self._db.execute(
            "SELECT body_hash, sent_at, run_dir FROM sent"
            " WHERE endpoint = ? AND token_fp = ? AND lead = ?",
            (self.endpoint, token_fp, lead),
        ).fetchone()
        return Entry(*row) if row else None

    def record(self, key: str, digest: str, run_dir: Path) -> None:
        """Remember a successful send (committed at most every half second, and on close)."""
        token_fp, _, lead = key.partition(":")
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
        self._db.execute(
            "INSERT OR REPLACE INTO sent VALUES (?, ?, ?, ?, ?, ?)",
            (self.endpoint, token_fp, lead, digest, now, str(run_dir)),
        )
        if time.monotonic() - self._last_commit >= _COMMIT_EVERY_S:
            self._db.commit()
            self._last_commit = time.monotonic()

    def close(self) -> None:
        """Commit and close."""
        self._db.commit()
        self._db.close()


def _private(path: Path) -> None:
    """Create the ledger 0600 (it names leads; SQLite gives its -wal file the same mode);
    an existing one loses any access by other users."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        with contextlib.suppress(OSError):
            mode = path.stat().st_mode
            if mode & 0o007:
                path.chmod(mode & 0o770)


def _os_reason(exc: OSError) -> str:
    # mkdir over a regular file says only "File exists", as if the ledger were there.
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return "a file stands where its folder should be"
    return exc.strerror or type(exc).__name__


class LedgerLock:
    """An exclusive lock so two runs never send with the same ledger at once."""

    def __init__(self, ledger_path: Path) -> None:
        self.path = ledger_path.with_name(ledger_path.name + ".lock")
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise LockError naming the holder."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            # An OutputError, not a LockError: nobody holds the lock, it cannot be made.
            raise OutputError(
                f"{self.path}: cannot create the ledger lock ({_os_reason(exc)}); "
                f"use another {mention(Setting.LEDGER)}"
            ) from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                holder = json.loads(fh.read() or "{}")
            except ValueError:  # not JSON, or not UTF-8
                holder = {}
            if not isinstance(holder, dict):  # null, a list: JSON, but not ours
                holder = {}
            fh.close()
            raise LockError(
                f"{self.path}: another leadimport run holds the ledger lock "
                f"(PID {holder.get('pid', '?')}, started {holder.get('started_at', '?')}); "
                f"wait for it to finish, or use another {mention(Setting.LEDGER)}"
            ) from None
        fh.seek(0)
        fh.truncate()
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        fh.write(json.dumps({"pid": os.getpid(), "started_at": started}))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Release the lock."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.truncate(0)
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> LedgerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
