"""duplicates: first and last across chunks, against a plain dict of every key (issue 14:
the tracker keeps keys in compact arrays now, and must decide exactly as the dict did,
also when keys share a hash)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from importer.clean import DuplicateTracker, RowStatus
from importer.config import Duplicates


def chunks(seed: int, rows: int = 3000, size: int = 400) -> list[pd.DataFrame]:
    """Built chunks as build_rows returns them: row numbers, status, error, key."""
    rng = random.Random(seed)
    keys = [f"{rng.choice(['', 'f00d:', 'beef:'])}+1212555{rng.randint(0, 900):04d}"]
    frames, row = [], 2
    for _ in range(rows // size):
        index = list(range(row, row + size))
        row += size + rng.randint(0, 3)  # blank rows leave gaps
        status, error, key = [], [], []
        for _ in index:
            if rng.random() < 0.6:
                keys.append(
                    f"{rng.choice(['', 'f00d:', 'beef:'])}+1212555{rng.randint(0, 900):04d}"
                )
            k = rng.choice(keys)
            invalid = rng.random() < 0.1
            status.append(RowStatus.INVALID.value if invalid else RowStatus.VALID.value)
            error.append("Phone: bad" if invalid else "")
            key.append(k)
        frames.append(
            pd.DataFrame({"status": status, "error": error, "key": key}, index=index, dtype="str")
        )
    return frames


def expected(frames: list[pd.DataFrame], rule: Duplicates) -> list[tuple[int, str, str]]:
    """What the rule decides, with a dict of every key."""
    keeper: dict[str, int] = {}
    for frame in frames:
        for row, status, key in zip(frame.index, frame["status"], frame["key"], strict=True):
            new = rule is Duplicates.LAST or key not in keeper
            if status == RowStatus.VALID.value and new:
                keeper[key] = int(row)
    out = []
    for frame in frames:
        for row, status, error, key in frame[["status", "error", "key"]].itertuples():
            if status == RowStatus.VALID.value and keeper[key] != row:
                status, error = RowStatus.SKIPPED.value, f"duplicate of row {keeper[key]}"
            out.append((int(row), status, error))
    return out


def tracked(frames: list[pd.DataFrame], rule: Duplicates) -> list[tuple[int, str, str]]:
    tracker = DuplicateTracker(rule)
    if rule is Duplicates.LAST:
        for frame in frames:
            tracker.note_last(frame)
        tracker.number_keys()
    out = []
    for frame in frames:
        applied = tracker.apply(frame)
        out += [(int(r), s, e) for r, s, e in applied[["status", "error"]].itertuples()]
    return out


@pytest.mark.parametrize("rule", [Duplicates.FIRST, Duplicates.LAST])
@pytest.mark.parametrize("seed", range(3))
def test_the_tracker_decides_as_a_dict_of_every_key(rule: Duplicates, seed: int) -> None:
    frames = chunks(seed)
    result = tracked(frames, rule)
    assert result == expected(frames, rule)
    assert any(s == RowStatus.SKIPPED.value for _, s, _ in result)


@pytest.mark.parametrize("rule", [Duplicates.FIRST, Duplicates.LAST])
@pytest.mark.parametrize("sharing", ["one bucket", "seven buckets", "pairs"])
def test_keys_that_share_a_hash_stay_distinct(
    monkeypatch: pytest.MonkeyPatch, rule: Duplicates, sharing: str
) -> None:
    """A hash only points at a candidate: with keys made to share hashes (all of them, a
    few buckets, pairs) the decisions are still those of the dict."""
    real = pd.util.hash_array
    shared = {
        "one bucket": lambda values: real(values) % np.uint64(1),
        "seven buckets": lambda values: real(values) % np.uint64(7),
        "pairs": lambda values: real(
            np.array([v[:-1] + str(int(v[-1]) // 2) for v in values], dtype=object)
        ),
    }[sharing]
    monkeypatch.setattr(pd.util, "hash_array", lambda values, *a, **k: shared(values))
    frames = chunks(11, rows=1200, size=200)
    assert tracked(frames, rule) == expected(frames, rule)


def test_all_keeps_every_row() -> None:
    frames = chunks(5)
    tracker = DuplicateTracker(Duplicates.ALL)
    assert all(tracker.apply(f) is f for f in frames)
