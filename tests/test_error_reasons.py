"""The column-wise error_reasons agrees with error_reason, message by message."""

from __future__ import annotations

import random

import pyarrow as pa
from helpers import ROOT

from importer.record import error_reason, error_reasons

TRICKY = [
    "",
    "Phone: '212555' is not a valid phone number for region US (too few digits)",
    "Phone: 'O\\'Brien: \\'x\\'' contains letters | E-mail: 'a | b' is not a valid email address",
    "Client's: phone: 'x' | same caller_id as row 12",
    "Callback: '2026-13-01' is not a date/time I can read; unchanged since 2026-11-29 10:00",
    "skipped: unchanged since the last import on 2026-11-29",
    "Téléphone: '0612' is not a valid phone number for region FR",
    "Borrow 5: 'x' is empty",
    "érow 5: row 7 is a duplicate",
    "Phone: '\\x1b[31m' contains letters",
    "Phone\x1b: 'x' contains letters",
    "row ٣: Arabic-Indic digits",
    "E-mail: '' is empty",
    "HTTP 422: caller_id: 'x' is invalid | HTTP 500",
    "a: 'x'y: 'z' and: 'w'",
    "Phone: 'a: \\'b\\'' | Phone: 'c'",
]


def _random_message(rng: random.Random) -> str:
    alphabet = "ab :'\\|row 0123456789é\x1b\u0663"
    parts = []
    for _ in range(rng.randint(1, 4)):
        head = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        value = value.replace("\\", "\\\\").replace("'", "\\'")
        parts.append(f"{head}: '{value}' {rng.choice(['is empty', 'row 3', 'unchanged since x'])}")
    return " | ".join(parts)


def test_error_reasons_agree_with_error_reason() -> None:
    rng = random.Random(14)
    messages = TRICKY + [_random_message(rng) for _ in range(3000)]
    assert error_reasons(pa.array(messages)) == [error_reason(m) for m in messages]


def test_error_reasons_agree_on_the_samples_failures() -> None:
    """Every message the example samples' validation writes (real wording)."""
    import csv
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    messages: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for sample in ("leads.csv", "ragged.csv", "duplicates.csv", "scientific.csv"):
            out = Path(tmp) / sample
            subprocess.run(
                [sys.executable, "-m", "importer", "validate", str(ROOT / "samples" / sample),
                 "-m", str(ROOT / "mappings" / "example.yaml"), "--out", str(out), "-q"],
                check=False, capture_output=True,
            )  # fmt: skip
            with (out / "results.csv").open(newline="", encoding="utf-8") as fh:
                messages += [r["error"] for r in csv.DictReader(fh) if r["error"]]
    assert len(messages) > 10
    assert error_reasons(pa.array(messages)) == [error_reason(m) for m in messages]


def test_count_firsts_adds_as_a_loop_one_by_one_would() -> None:
    """Same counts, same first rows per key (none past the limit), same key order."""
    from collections import Counter

    import numpy as np

    from importer.record import count_firsts

    rng = random.Random(5)
    loop_counts: Counter[str] = Counter()
    loop_rows: dict[str, list[int]] = {}
    counts: Counter[str] = Counter()
    rows: dict[str, list[int]] = {}
    row = 2
    for size in (0, 1, 7, 300, 40):  # chunks, as the writer gets them
        keys = [rng.choice("abcdefg") * rng.randint(1, 2) for _ in range(size)]
        numbers = list(range(row, row + size))
        row += size
        for key, number in zip(keys, numbers, strict=True):
            loop_counts[key] += 1
            listed = loop_rows.setdefault(key, [])
            if len(listed) < 5:
                listed.append(number)
        count_firsts(keys, np.array(numbers, dtype=np.int64), counts, rows)
        assert counts == loop_counts and rows == loop_rows
        assert list(counts) == list(loop_counts)  # most_common breaks ties by this order
