"""``report.html``: how a run went, at a glance, built from its folder's own files.

``write_report`` reads ``summary.json``, ``run.json`` and ``journal.jsonl`` when there are
any, and ``results.csv`` (streamed in blocks, only a few of its columns), and writes one
self-contained page: inline CSS and SVG, no script, nothing loaded from anywhere, so it
opens from disk or as an e-mail attachment and prints. It holds aggregates only: counts,
error *reasons* (their cell values elided, as in ``summary.json``) and row numbers, never
a cell value, and of the token only its fingerprint.

The charts are drawn by hand as SVG (``_timeline_svg``): three panels on one time axis
(requests per second against the rate limit, latency p50/p95, then 429s, 5xx, network
errors and retries). A charting library would bring a dependency for a few rectangles
and polylines, and the ones that draw SVG either load scripts from a CDN (pygal's
tooltips) or cost a second of import and tens of kB per chart (matplotlib).

``write_index`` writes the page that links the reports of a run of several files.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import markupsafe
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from importer.clean import WARNING_KINDS
from importer.errors import ConfigError, OutputError, printable
from importer.record._journal import JOURNAL_FILE, RUN_FILE, Journal
from importer.record._results import (
    ERROR_SEPARATOR,
    FAILURES_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    Block,
    any_control_byte,
    count_block,
    firsts,
)

REPORT_FILE = "report.html"
INDEX_FILE = "index.html"

STATUS_ORDER = ("success", "valid", "skipped", "failed", "invalid", "not_sent")
_EXAMPLE_ROWS = 5
_TOP_PROBLEMS = 10
_MAX_BINS = 120
_NICE_STEPS: tuple[float, ...] = (
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
)
_NICE_STEPS += tuple(3600 * h for h in (2, 3, 6, 12, 24))
_READ_BLOCK = 4 << 20  # small blocks, one at a time: the reader holds little at once

_JOURNAL_SCHEMA = pa.schema(
    [
        ("e", pa.string()),
        ("t", pa.float64()),
        ("row", pa.int64()),
        ("n", pa.int64()),
        ("command", pa.string()),
        ("rate", pa.float64()),
        ("status", pa.string()),
        ("http_status", pa.int64()),
        ("attempts", pa.int64()),
        ("ms", pa.float64()),
    ]
)
_RESULT_TYPES = {
    "row": pa.int64(),
    "status": pa.string(),
    "http_status": pa.string(),
    "error": pa.string(),
    "warnings": pa.string(),
    "trackdrive_number_plain": pa.string(),
    "sms_number_plain": pa.string(),
}


# ---------------------------------------------------------------- results.csv


@dataclass(slots=True)
class _Problems:
    """Counts of problems with the first few row numbers of each."""

    counts: Counter[str] = field(default_factory=Counter)
    rows: dict[str, list[int]] = field(default_factory=dict)

    @property
    def tallies(self) -> tuple[Counter[str], dict[str, list[int]], int]:
        """What ``count_firsts`` adds a block's keys and rows to."""
        return self.counts, self.rows, _EXAMPLE_ROWS

    def top(self, n: int) -> list[dict[str, Any]]:
        return [
            {"reason": key, "count": count, "rows": self.rows[key]}
            for key, count in self.counts.most_common(n)
        ]


@dataclass(slots=True)
class ResultFacts:
    """What ``results.csv`` adds up to."""

    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    http: Counter[str] = field(default_factory=Counter)
    numbers: int = 0  # trackdrive numbers assigned
    sms_numbers: int = 0
    reasons: _Problems = field(default_factory=_Problems)  # by row: its first problem
    skips: _Problems = field(default_factory=_Problems)  # skipped by design: not problems
    columns: _Problems = field(default_factory=_Problems)  # every problem, by column
    changed: _Problems = field(default_factory=_Problems)  # warnings, by kind

    def add(self, batch: pa.RecordBatch, block: Block | None = None) -> None:
        """Add up one block of results (the columns of ``_RESULT_TYPES``; ``block``: its
        ``count_block``, when already worked out)."""
        _add_results(self, batch, block)


def read_results(path: Path) -> ResultFacts:
    """Add up ``results.csv`` block by block (never the whole file in memory)."""
    facts = ResultFacts()
    if not path.exists():
        return facts
    convert = pa_csv.ConvertOptions(
        column_types=_RESULT_TYPES,
        include_columns=list(_RESULT_TYPES),
        include_missing_columns=True,
        strings_can_be_null=False,
    )
    try:
        reader = pa_csv.open_csv(
            str(path),
            # Small blocks, one at a time: the report runs at the end of a run whose peak
            # memory it must not raise.
            read_options=pa_csv.ReadOptions(block_size=_READ_BLOCK, use_threads=False),
            convert_options=convert,
        )
        for batch in reader:
            _add_results(facts, batch)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    return facts


def _add_results(facts: ResultFacts, batch: pa.RecordBatch, block: Block | None = None) -> None:
    facts.rows += batch.num_rows
    for column, counter in (("status", facts.statuses), ("http_status", facts.http)):
        values = batch.column(column)
        if values.null_count == len(values):
            continue
        for item in pc.value_counts(values).to_pylist():
            if item["values"]:
                counter[item["values"]] += item["counts"]
    for column in ("trackdrive_number_plain", "sms_number_plain"):
        values = batch.column(column)
        filled = pc.sum(pc.greater(pc.binary_length(pc.fill_null(values, "")), 0)).as_py() or 0
        if column == "trackdrive_number_plain":
            facts.numbers += filled
        else:
            facts.sms_numbers += filled
    if block is None:
        block = count_block(batch, _EXAMPLE_ROWS)
    _add_warnings(facts, batch, block.warnings)
    if not len(block.rows):
        return
    block.skips.add_to(*facts.skips.tallies)
    block.problems.add_to(*facts.reasons.tallies)
    # Every problem of the rows that are not skipped, in order, by the column it is about.
    kept = block.kept
    take = pa.array(kept)
    problems = pc.split_pattern(pc.take(block.errors, take), ERROR_SEPARATOR)
    parents = np.asarray(pc.list_parent_indices(problems).to_numpy(zero_copy_only=False))
    flat = pc.list_flatten(problems)
    invalid = np.asarray(
        pc.equal(pc.take(block.statuses, take), "invalid").to_numpy(zero_copy_only=False)
    )[parents]
    # _problem_column's rule: the text before the first ": ", with no ' in it, ≤ 80 long
    # (a split and a substring test: a third of the cost of a regex extracting it)
    parts = pc.split_pattern(flat, ": ", max_splits=1)
    before = pc.list_element(parts, 0)
    split = pc.equal(pc.list_value_length(parts), 2)
    head = pc.if_else(
        pc.and_(split, pc.invert(pc.match_substring(before, "'"))),
        before,
        pa.scalar(None, before.type),
    )
    named = pc.and_(pc.is_valid(head), pc.less_equal(pc.utf8_length(head), 80))
    named = np.asarray(pc.fill_null(named, False).to_numpy(zero_copy_only=False))
    # Few distinct columns: a code per problem into them, not a Python string each.
    encoded = pc.dictionary_encode(pc.fill_null(head, ""))
    keys = [*encoded.dictionary.to_pylist(), _NOT_A_COLUMN, "(the row as a whole)"]
    codes = np.asarray(encoded.indices, dtype=np.int64)
    codes[~named] = len(keys) - 1
    codes[~invalid] = len(keys) - 2
    # A control character (a header with a line break, say): the rule itself, in Python.
    control = np.zeros(len(flat), dtype=bool)
    if any_control_byte(flat):
        control = np.asarray(pc.match_substring_regex(flat, r"[\x00-\x1f\x7f]"), dtype=bool)
    for i in np.flatnonzero(control):
        codes[i] = len(keys)
        keys.append(_problem_column(str(flat[i].as_py()), "invalid" if invalid[i] else ""))
    index: dict[str, int] = {}
    codes = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)[codes]
    firsts(codes, list(index), block.rows[kept][parents], _EXAMPLE_ROWS).add_to(
        *facts.columns.tallies
    )


def _add_warnings(facts: ResultFacts, batch: pa.RecordBatch, found: dict[str, np.ndarray]) -> None:
    """Count the block's warnings by kind, with the first few rows of each."""
    if not found:
        return
    rows = np.asarray(batch.column("row").to_numpy(zero_copy_only=False))
    for kind, per_row in found.items():
        facts.changed.counts[kind] += int(per_row.sum())
        listed = facts.changed.rows.setdefault(kind, [])
        for row in rows[per_row > 0][: max(_EXAMPLE_ROWS - len(listed), 0)]:
            listed.append(int(row))


_NOT_A_COLUMN = "(the endpoint or the run)"


def _problem_column(problem: str, status: str) -> str:
    """The column a problem is about ("Phone: '…' …"), or who raised it."""
    if status != "invalid":
        return _NOT_A_COLUMN
    head, sep, _ = problem.partition(": ")
    if sep and "'" not in head and len(head) <= 80:
        return head
    return "(the row as a whole)"


# ---------------------------------------------------------------- journal.jsonl


@dataclass(frozen=True, slots=True)
class Bin:
    """One slice of a run's time axis."""

    start_s: float
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    retries: int
    throttled: int  # 429s
    server_errors: int  # 5xx
    no_answer: int  # timeouts, dropped connections


@dataclass(frozen=True, slots=True)
class SendSegment:
    """What the endpoint did during one run (or rerun) of the folder."""

    n: int
    command: str
    started: float  # epoch seconds
    duration_s: float
    rate: float | None  # requests/s in force; 0: unlimited; None: not journaled (older run)
    requests: int
    retries: int
    throttled: int
    server_errors: int
    no_answer: int
    latency_known: bool
    p50_ms: float | None
    p95_ms: float | None
    http: dict[str, int]
    step_s: float
    bins: tuple[Bin, ...]


@dataclass(frozen=True, slots=True)
class SendFacts:
    """Every run of the journal, and how a rerun moved rows between statuses."""

    segments: tuple[SendSegment, ...]
    moves: tuple[tuple[str, str, int], ...]  # (from, to, rows) for the last rerun


def read_journal(path: Path) -> SendFacts:
    """The journal as time-binned aggregates per run."""
    table = _journal_table(path)
    if table is None or table.num_rows == 0:
        return SendFacts((), ())
    # Dictionaries become categories: millions of Python str would be slow and large.
    frame = table.to_pandas()
    del table
    segment = np.cumsum((frame["e"] == "run").to_numpy())
    frame["seg"] = segment
    # Runs follow one another in the file: each is a contiguous slice, not a filtered copy.
    bounds = np.searchsorted(segment, np.arange(1, int(segment.max()) + 2))
    segments = []
    for n in range(1, int(segment.max()) + 1):
        found = _segment(frame.iloc[bounds[n - 1] : bounds[n]], n)
        if found is not None:
            segments.append(found)
    return SendFacts(tuple(segments), _moves(frame, int(segment.max())))


def _journal_table(path: Path) -> pa.Table | None:
    """The journal's events as a compact table, read block by block.

    Each block is shrunk as it is read (texts to dictionaries, numbers to the narrowest
    type that holds them), so a 1M-row run's journal never sits in memory as text.
    """
    if not path.exists():
        return None
    try:
        reader = pa_json.open_json(
            str(path),
            read_options=pa_json.ReadOptions(block_size=_READ_BLOCK, use_threads=False),
            parse_options=pa_json.ParseOptions(
                explicit_schema=_JOURNAL_SCHEMA, unexpected_field_behavior="ignore"
            ),
        )
        blocks = [_compact(pa.Table.from_batches([batch])) for batch in reader]
    except (pa.ArrowInvalid, OSError):
        # A torn line (a crash mid-write) or text pyarrow refuses: the journal's own
        # tolerant reader, slower but never stopped by a bad line.
        return _compact(pa.Table.from_pylist(list(_events(path)), schema=_JOURNAL_SCHEMA))
    if not blocks:
        return None
    return pa.concat_tables(blocks, promote_options="permissive").unify_dictionaries()


_COMPACT = {
    "row": pa.int32(),
    "n": pa.int16(),
    "http_status": pa.int16(),
    "attempts": pa.int16(),
    "ms": pa.float32(),
}


def _compact(table: pa.Table) -> pa.Table:
    for name in ("e", "command", "status"):
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, pc.dictionary_encode(table.column(name)))
    for name, kind in _COMPACT.items():
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, pc.cast(table.column(name), kind, safe=False))
    return table


def _events(path: Path) -> Iterator[dict[str, Any]]:
    names = set(_JOURNAL_SCHEMA.names)
    for event in Journal(path.parent).events():
        kept = {k: v for k, v in event.items() if k in names}
        for number in ("t", "rate", "ms"):
            if not isinstance(kept.get(number, 0.0), (int, float)):
                kept.pop(number)
        for number in ("row", "n", "http_status", "attempts"):
            if not isinstance(kept.get(number, 0), int):
                kept.pop(number)
        for text in ("e", "command", "status"):
            if not isinstance(kept.get(text, ""), str):
                kept.pop(text)
        yield kept


def _segment(part: pd.DataFrame, n: int) -> SendSegment | None:
    # Masks over numpy columns, never filtered copies of the frame: a 1M-row run's
    # journal has 2M events, and each copy of them would cost another few hundred MB.
    kind = part["e"].astype("object").to_numpy()
    t = part["t"].to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(t)
    if not known.any():
        return None
    head = part.iloc[int(np.argmax(kind == "run"))]
    t0 = float(head["t"]) if pd.notna(head["t"]) else float(np.nanmin(t))
    duration = max(float(np.nanmax(t)) - t0, 0.0)
    ms = part["ms"].to_numpy(dtype="float64", na_value=np.nan)
    code = part["http_status"].to_numpy(dtype="float64", na_value=np.nan)
    status = part["status"].astype("object").to_numpy()
    is_start, is_retry, is_done = kind == "start", kind == "retry", kind == "done"
    latency_known = bool((~np.isnan(ms)).any())
    if latency_known:  # this version journals the latency of every attempt that ended
        ended = is_retry | (is_done & ~np.isnan(ms))
    else:  # an older journal: only each row's final answer
        attempts = part["attempts"].to_numpy(dtype="float64", na_value=np.nan)
        ended = is_retry | (is_done & (np.nan_to_num(attempts) > 0))
    ended &= known
    throttled = ended & (code == 429)
    server = ended & (code >= 500) & (code <= 599)
    no_answer = ended & np.isnan(code) & (is_retry | (status != "success"))
    step = _step(duration)
    width = max(1, math.ceil(duration / step + 1e-9)) if duration else 1
    slot = np.clip(((np.nan_to_num(t, nan=t0) - t0) / step).astype("int64"), 0, width - 1)

    def tally(mask: np.ndarray) -> np.ndarray:
        return np.bincount(slot[mask & known], minlength=width)

    p50: list[float | None] = [None] * width
    p95: list[float | None] = [None] * width
    timed = ended & ~np.isnan(ms)
    if latency_known and timed.any():
        grouped = pd.Series(ms[timed]).groupby(slot[timed])
        p50s, p95s = grouped.quantile(0.5), grouped.quantile(0.95)
        p50 = [_round(p50s.get(i)) for i in range(width)]
        p95 = [_round(p95s.get(i)) for i in range(width)]
    sent, retried, t429, t5xx, lost = (
        tally(m) for m in (is_start, is_retry, throttled, server, no_answer)
    )
    bins = tuple(
        Bin(
            start_s=i * step,
            requests=int(sent[i]),
            p50_ms=p50[i],
            p95_ms=p95[i],
            retries=int(retried[i]),
            throttled=int(t429[i]),
            server_errors=int(t5xx[i]),
            no_answer=int(lost[i]),
        )
        for i in range(width)
    )
    answered = code[ended & ~np.isnan(code)].astype("int64")
    values, counts = np.unique(answered, return_counts=True)
    http = {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}
    if no_answer.any():
        http["no answer"] = int(no_answer.sum())
    all_ms = ms[timed]
    rate = float(head["rate"]) if pd.notna(head["rate"]) else None
    return SendSegment(
        n=n,
        command=str(head["command"]) if pd.notna(head["command"]) else "run",
        started=t0,
        duration_s=round(duration, 3),
        rate=rate,
        requests=int(is_start.sum()),
        retries=int(is_retry.sum()),
        throttled=int(throttled.sum()),
        server_errors=int(server.sum()),
        no_answer=int(no_answer.sum()),
        latency_known=latency_known,
        p50_ms=_round(np.quantile(all_ms, 0.5)) if len(all_ms) else None,
        p95_ms=_round(np.quantile(all_ms, 0.95)) if len(all_ms) else None,
        http=dict(sorted(http.items())),
        step_s=step,
        bins=bins,
    )


def _round(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 1)


def _step(duration: float) -> float:
    for step in _NICE_STEPS:
        if duration / step <= _MAX_BINS:
            return float(step)
    return float(math.ceil(duration / _MAX_BINS))


def _moves(frame: pd.DataFrame, runs: int) -> tuple[tuple[str, str, int], ...]:
    """How the last rerun moved the rows it handled: (status before, status after, rows)."""
    if runs < 2:
        return ()
    done = frame[(frame["e"] == "done") & frame["row"].notna()][["seg", "row", "status"]]
    done = done.assign(status=done["status"].astype("object").fillna("?").astype(str))
    last = done[done["seg"] == runs].drop_duplicates("row", keep="last")
    before = done[done["seg"] < runs].drop_duplicates("row", keep="last")
    merged = last.merge(before, on="row", how="left", suffixes=("", "_before"))
    merged["status_before"] = merged["status_before"].fillna("not_sent")
    pairs = merged.groupby(["status_before", "status"]).size()
    return tuple((str(a), str(b), int(c)) for (a, b), c in pairs.items())


# ---------------------------------------------------------------- SVG


_COLORS = {
    "success": "#2e7d32",
    "valid": "#43a047",
    "skipped": "#90a4ae",
    "failed": "#c62828",
    "invalid": "#ef6c00",
    "not_sent": "#6d4c41",
}
_W, _LEFT, _RIGHT = 1100, 56, 12


def _timeline_svg(seg: SendSegment) -> str:
    """Three panels on one time axis; every mark carries its numbers as data attributes."""
    plot = _W - _LEFT - _RIGHT
    total = max(len(seg.bins) * seg.step_s, seg.step_s)
    bar = plot / len(seg.bins)

    def x(t: float) -> float:
        return _LEFT + plot * t / total

    out: list[str] = []
    panels = [(10, 90), (112, 70), (204, 56)]  # (top, height)
    rates = [b.requests / seg.step_s for b in seg.bins]
    top_rate = max([*rates, seg.rate or 0.0, 1.0])
    top, height = panels[0]
    out.append(_axis(top, height, top_rate, "requests/s"))
    for b, r in zip(seg.bins, rates, strict=True):
        if b.requests:
            h = height * r / top_rate
            out.append(
                f'<rect class="req" x="{x(b.start_s):.1f}" y="{top + height - h:.1f}" '
                f'width="{max(bar - 0.6, 0.6):.1f}" height="{h:.1f}" data-t="{b.start_s:g}" '
                f'data-count="{b.requests}"/>'
            )
    if seg.rate:
        y = top + height - height * seg.rate / top_rate
        out.append(
            f'<line class="limit" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'data-rate="{seg.rate:g}"/>'
            f'<text class="lbl limit-lbl" x="{_W - _RIGHT - 4}" y="{y + 11:.1f}" '
            f'text-anchor="end">rate limit {seg.rate:g}/s</text>'
        )
    top, height = panels[1]
    highest = max([b.p95_ms or 0.0 for b in seg.bins] + [1.0])
    out.append(_axis(top, height, highest, "latency ms"))
    if seg.latency_known:
        for name, values in (
            ("p95", [b.p95_ms for b in seg.bins]),
            ("p50", [b.p50_ms for b in seg.bins]),
        ):
            # One line per stretch with answers: a pause (a 429's Retry-After) is a gap.
            stretch: list[str] = []
            ends: list[tuple[Bin | None, float | None]] = [*zip(seg.bins, values, strict=True)]
            for at, v in [*ends, (None, None)]:
                if at is not None and v is not None:
                    y = top + height - height * v / highest
                    stretch.append(f"{x(at.start_s + seg.step_s / 2):.1f},{y:.1f}")
                    continue
                if len(stretch) == 1:
                    x1, y1 = stretch[0].split(",")
                    out.append(f'<circle class="{name}-dot" cx="{x1}" cy="{y1}" r="1.8"/>')
                elif stretch:
                    out.append(f'<polyline class="{name}" points="{" ".join(stretch)}"/>')
                stretch = []
    else:
        out.append(
            f'<text class="lbl" x="{_LEFT + 8}" y="{top + height / 2:.0f}">latency not '
            "recorded by the version that wrote this journal</text>"
        )
    top, height = panels[2]
    worst = max([b.throttled + b.server_errors + b.no_answer for b in seg.bins] + [1])
    out.append(_axis(top, height, worst, "errors"))
    for b in seg.bins:
        base = float(top + height)
        for cls, count in (("m429", b.throttled), ("m5xx", b.server_errors), ("mnet", b.no_answer)):
            if count:
                h = max(height * count / worst, 1.5)
                base -= h
                out.append(
                    f'<rect class="mark {cls}" x="{x(b.start_s):.1f}" y="{base:.1f}" '
                    f'width="{max(bar - 0.6, 0.6):.1f}" height="{h:.1f}" '
                    f'data-t="{b.start_s:g}" data-count="{count}"/>'
                )
        if b.retries:
            out.append(
                f'<circle class="retry" cx="{x(b.start_s + seg.step_s / 2):.1f}" '
                f'cy="{top - 5}" r="{min(1.5 + math.log2(1 + b.retries), 5):.1f}" '
                f'data-t="{b.start_s:g}" data-count="{b.retries}"/>'
            )
    axis_y = panels[2][0] + panels[2][1]
    for t in _ticks(total):
        out.append(
            f'<line class="tick" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{panels[0][0]}" '
            f'y2="{axis_y}"/><text class="lbl" x="{x(t):.1f}" y="{axis_y + 14}" '
            f'text-anchor="middle">{_duration(t)}</text>'
        )
    return (
        f'<svg class="timeline" viewBox="0 0 {_W} {axis_y + 22}" role="img" '
        f'aria-label="requests, latency and errors over time, run {seg.n}" '
        f'data-run="{seg.n}" data-requests="{seg.requests}" data-retries="{seg.retries}" '
        f'data-throttled="{seg.throttled}" data-server-errors="{seg.server_errors}" '
        f'data-no-answer="{seg.no_answer}" data-step="{seg.step_s:g}">' + "".join(out) + "</svg>"
    )


def _axis(top: float, height: float, highest: float, label: str) -> str:
    bottom = top + height
    return (
        f'<line class="axis" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{bottom}" y2="{bottom}"/>'
        f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{top}" y2="{top}"/>'
        f'<text class="lbl" x="{_LEFT - 4}" y="{top + 8}" text-anchor="end">{_num(highest)}</text>'
        f'<text class="lbl" x="{_LEFT - 4}" y="{bottom}" text-anchor="end">0</text>'
        f'<text class="lbl ttl" x="{_LEFT + 4}" y="{top + 11}">{html.escape(label)}</text>'
    )


def _ticks(total: float) -> list[float]:
    step = next((s for s in _NICE_STEPS if total / s <= 8), math.ceil(total / 8))
    return [i * step for i in range(int(total / step) + 1)]


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


# ---------------------------------------------------------------- the page


def _printable_text(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return printable(value)
    return value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("importer.record", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # HTML escaping leaves control characters be: a file name, the endpoint's words or a
        # column's name can hold ESC sequences, which a terminal showing the page obeys.
        finalize=_printable_text,
    )
    env.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) else v
    env.filters["duration"] = _duration
    return env


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    return data if isinstance(data, dict) else None


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a run's ``summary.json``."""
    return (folder / SUMMARY_FILE).is_file()


def write_report(
    run_dir: Path, results: ResultFacts | None = None, sends: SendFacts | None = None
) -> Path:
    """Build ``report.html`` in ``run_dir`` from the folder's own files; return its path.

    ``results``: what results.csv adds up to, when the run that just wrote it gathered it
    (then the file is not read again); ``sends``: the journal's facts (``read_journal``),
    when they were read already.

    Raises ConfigError when ``run_dir`` is not a run folder (no ``summary.json``) or a file
    in it is unreadable, OutputError when the page cannot be written.
    """
    summary = _read_json(run_dir / SUMMARY_FILE) if run_dir.is_dir() else None
    if summary is None:
        raise ConfigError(
            f"{run_dir}: not a run folder (no {SUMMARY_FILE}); pass a folder that "
            "`leadimport run` or `leadimport validate` wrote"
        )
    info = _read_json(run_dir / RUN_FILE) or {}
    if results is None:
        results = read_results(run_dir / RESULTS_FILE)
    if sends is None:
        sends = read_journal(run_dir / JOURNAL_FILE)
    page = (
        _environment()
        .get_template("report.html")
        .render(**_page(run_dir, summary, info, results, sends))
    )
    return _write(run_dir / REPORT_FILE, page)


def _page(
    run_dir: Path,
    summary: dict[str, Any],
    info: dict[str, Any],
    results: ResultFacts,
    sends: SendFacts,
) -> dict[str, Any]:
    counts = {str(k): int(v) for k, v in (summary.get("counts") or {}).items()}
    total = sum(counts.values())
    order = [s for s in STATUS_ORDER if counts.get(s)] + sorted(
        s for s in counts if s not in STATUS_ORDER and counts[s]
    )
    outcome = [
        {
            "status": s,
            "count": counts[s],
            "percent": round(100 * counts[s] / total, 1) if total else 0.0,
            "color": _COLORS.get(s, "#757575"),
        }
        for s in order
    ]
    endpoint = str(summary.get("endpoint") or info.get("endpoint") or "")
    facts = [
        ("command", summary.get("command", "")),
        ("file", Path(str(summary.get("input", ""))).name),
        ("SHA-256", summary.get("input_sha256", "")),
        ("mapping", Path(str(summary.get("mapping", ""))).name),
        ("endpoint host", urlsplit(endpoint).netloc or endpoint),
        ("token fingerprint", info.get("token_fingerprint") or "—"),
        ("started", summary.get("started_at", "")),
        ("finished", summary.get("finished_at", "")),
        ("duration", f"{float(summary.get('duration_s') or 0):.1f} s"),
        ("rows", summary.get("rows", 0)),
        ("blank rows skipped", summary.get("blank_rows", 0)),
        ("requests", summary.get("requests", 0)),
        ("retries", summary.get("retries", 0)),
        ("throttled (429)", summary.get("throttled", 0)),
        ("exit status", summary.get("exit_code", "")),
    ]
    warnings = []
    if summary.get("aborted"):
        warnings.append(f"Sending was aborted: {summary['aborted']}")
    if summary.get("interrupted"):
        warnings.append("The run was interrupted: rows not sent are marked not_sent")
    if summary.get("blank_rows"):
        warnings.append(f"{summary['blank_rows']} blank rows were skipped")
    if results.rows != int(summary.get("rows") or 0):
        warnings.append(
            f"{RESULTS_FILE} holds {results.rows} rows, {SUMMARY_FILE} says {summary.get('rows')}"
        )
    failures = any(counts.get(s) for s in ("failed", "invalid", "not_sent"))
    if "rate" in info:  # what run.json says, for runs that journaled no rate
        fallback = float(info["rate"] or 0)
        sends = SendFacts(
            tuple(replace(s, rate=fallback) if s.rate is None else s for s in sends.segments),
            sends.moves,
        )
    segments = [
        {"seg": seg, "svg": _timeline_svg(seg), "started": _clock(seg.started)}
        for seg in reversed(sends.segments)
    ]
    return {
        "title": f"{Path(str(summary.get('input', ''))).name} · {summary.get('command', 'run')}",
        "folder": run_dir.name,
        "summary": summary,
        "total": total,
        "outcome": outcome,
        "facts": facts,
        "warnings": warnings,
        "problems": results.reasons.top(_TOP_PROBLEMS),
        "problem_rows": sum(results.reasons.counts.values()),
        "skips": results.skips.top(_TOP_PROBLEMS),
        "changed": [
            {**item, "meaning": WARNING_KINDS[item["reason"]][1]}
            for item in results.changed.top(len(WARNING_KINDS))
        ],
        "columns": results.columns.top(30),
        "failures_link": FAILURES_FILE if failures and (run_dir / FAILURES_FILE).exists() else "",
        "http": sorted(results.http.items()),
        "numbers": results.numbers,
        "sms_numbers": results.sms_numbers,
        "segments": segments,
        "moves": sends.moves,
        "colors": _COLORS,
    }


def _clock(epoch: float) -> str:
    return pd.Timestamp(epoch, unit="s", tz="UTC").tz_convert(None).strftime("%Y-%m-%d %H:%M:%S")


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the report ({exc.strerror})") from None
    return path


def write_index(folder: Path, run_dirs: Sequence[Path]) -> Path:
    """Write ``index.html`` in ``folder`` linking the report of each run folder."""
    runs = []
    for run_dir in run_dirs:
        summary = _read_json(run_dir / SUMMARY_FILE) or {}
        try:
            link = run_dir.resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            link = run_dir.resolve().as_uri()
        runs.append(
            {
                "href": f"{quote(link)}/{REPORT_FILE}",
                "name": run_dir.name,
                "file": Path(str(summary.get("input", ""))).name,
                "rows": summary.get("rows", 0),
                "counts": summary.get("counts", {}),
                "exit": summary.get("exit_code", ""),
            }
        )
    page = _environment().get_template("index.html").render(runs=runs, colors=_COLORS)
    return _write(folder / INDEX_FILE, page)
