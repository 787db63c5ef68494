"""Write a run folder's ``results.csv``, ``failures.csv`` and ``summary.json``.

Files are written under a temporary name and renamed into place when complete, so a
reader (or a rerun after a crash) never sees half a results file.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from importer.clean import (
    FAILURE_COLUMNS,
    ORIGINAL_ROW,
    TOKEN_HIDDEN,
    VALUE_HIDDEN,
    RowStatus,
    failure_columns,
    first_value,
    hide_values,
    join_text,
    text_array,
    text_bytes,
    text_series,
    utf8_buffers,
    warning_counts,
)
from importer.clean import TEXT as _TEXT
from importer.errors import OutputError, printable
from importer.record._xlsx import XlsxCopy

if TYPE_CHECKING:
    from importer.record._report import ResultFacts

RESULT_COLUMNS = [
    "row",
    "status",
    "http_status",
    "attempts",
    "error",
    "warnings",
    "caller_id",
    "email",
    "lead_id",
    "trackdrive_number_plain",
    "sms_number_plain",
    "payload",
]
RESULTS_FILE = "results.csv"
FAILURES_FILE = "failures.csv"
SUMMARY_FILE = "summary.json"
RESULTS_XLSX = "results.xlsx"
FAILURES_XLSX = "failures.xlsx"
# XlsxWriter writes ~160k cells/s (openpyxl, before it, ~110k): a copy of a big file would cost
# more than it helps (a 1M-row validate took twice as long with 50k failures copied)
RESULTS_XLSX_MAX_ROWS = 10_000
FAILURES_XLSX_MAX_ROWS = 10_000

_PLAIN_NUMBER = r"[+-]?\d+(?:[.,]\d+)?"
_ROW_NUMBER = re.compile(r"\brow \d+")
_SINCE = re.compile(r"unchanged since .*")
_SURROGATE = re.compile("[\ud800-\udfff]")
ERROR_SEPARATOR = " | "  # between the problems of one row; messages may contain "; "
# Every text cell of failures.csv is quoted (the row number is not), as pyarrow quotes those
# of results.csv: Python's csv writer quoting only when needed left a cell "Bob\r=cmd" bare,
# and a reader started a new record at the CR with a live formula. These are the bytes of
# pandas' to_csv(quoting=csv.QUOTE_NONNUMERIC), the writer it replaces, built a column at a
# time: pyarrow's CSV writer quotes all cells or only those that need it, never "all text".
_BETWEEN = pa.scalar('","', _TEXT)


def excel_safe_arrow(values: pa.Array) -> pa.Array:
    """Make text cells that Excel/LibreOffice would run as formulas show as text.

    A cell starting with = @ + - (or tab/CR) that is not a plain number gets a leading
    apostrophe (OWASP's advice for CSV injection); plain numbers such as an E.164
    ``+18004506787`` stay as they are so phones remain readable.
    """
    starts = np.flatnonzero(_formula_starts(values))
    if not len(starts):
        return values
    numbers = pc.match_substring_regex(values.take(starts), f"^{_PLAIN_NUMBER}$")
    risky = np.zeros(len(values), dtype=bool)
    risky[starts[~np.asarray(numbers, dtype=bool)]] = True
    if not risky.any():
        return values
    quoted = join_text("'", values)
    return pc.if_else(risky, quoted, values)


# The characters that start a formula, by byte: all are ASCII, so a cell's
# first byte is its first character.
_FORMULA_FIRST = np.zeros(256, dtype=bool)
_FORMULA_FIRST[list(b"=@+-\t\r")] = True


def _formula_starts(values: pa.Array) -> np.ndarray:
    """Which cells of a text column start with a formula character (never a missing one).

    Read from the Arrow buffers (each cell's first byte, one gather): pyarrow has no
    "first character in a set" kernel, and a regex or a slice per cell cost ~1 ms a column
    of 20k rows, run on every text column of every chunk.
    """
    n = len(values)
    at, data = utf8_buffers(values)
    first, filled = at[:-1], at[1:] > at[:-1]
    starts = np.zeros(n, dtype=bool)
    starts[filled] = _FORMULA_FIRST[data[first[filled]]]
    if values.null_count:
        starts &= np.asarray(values.is_valid(), dtype=bool)
    return starts


def excel_safe(values: pd.Series) -> pd.Series:
    """``excel_safe_arrow`` for a pandas column."""
    return text_series(excel_safe_arrow(text_array(values)), values.index)


def _utf8(value: object) -> object:
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


def _hide_tokens(tokens: pd.Series) -> pd.Series:
    """A token column as failures.csv shows it: every token hidden, an empty cell empty."""
    return tokens.where(tokens.str.strip() == "", TOKEN_HIDDEN)


def _csv_line(names: list[str]) -> bytes:
    """One line of quoted text cells (the header line)."""
    return (",".join('"' + n.replace('"', '""') + '"' for n in names) + os.linesep).encode()


def _csv_lines(numbers: pa.Array, cells: list[pa.Array]) -> pa.Buffer:
    """The lines of failures.csv: a bare row number, then the text columns quoted."""
    parts: list[pa.Array | pa.Scalar] = [numbers, pa.scalar(',"', _TEXT)]
    for column in cells:
        if (text_bytes(column) == ord('"')).any():  # a scan costs a third of a replace
            column = pc.replace_substring(column, '"', '""')
        parts += [column, _BETWEEN]
    parts[-1] = pa.scalar('"' + os.linesep, _TEXT)
    lines = join_text(*parts)
    # The cells of a text array lie back to back in its data buffer: the whole chunk's text.
    return pa.py_buffer(text_bytes(lines))


def error_reason(error: str) -> str:
    """Group errors by their shape: the first problem, its cell value and numbers elided.

    A reason holds no cell value and no control character: it goes to summary.json, the
    logs, the webhook and the report. Values are hidden before the split, as one may hold
    the separator.
    """
    first = hide_values(error).split(ERROR_SEPARATOR)[0]
    first = _ROW_NUMBER.sub("row N", _SINCE.sub("unchanged since the last run", first))
    return printable(first)


# error_reason's steps in RE2, for pyarrow: hide_values' look-behind becomes part of the
# match (": '…'" for ": 'value'"), the same places since a value's quotes are never bare.
_QUOTED_VALUE_RE2 = r": '(?:[^'\\]|\\.)*'"
_CONTROL_RE2 = r"[\x00-\x1f\x7f-\x9f]"


def error_reasons(errors: pa.Array) -> list[str]:
    """``error_reason`` of each of ``errors``, a column at a time (pyarrow's RE2).

    RE2's ``\b`` and ``\\d`` are ASCII-only where Python's are not, and ``printable``
    escapes control characters: a message with anything but printable ASCII in it (a
    header with an accent, say) goes through ``error_reason`` itself, so both agree.
    """
    codes, reasons = reason_codes(errors)
    return [reasons[c] for c in codes.tolist()]


def reason_codes(errors: pa.Array) -> tuple[np.ndarray, list[str]]:
    """``error_reasons`` as a code per message into the distinct reasons, in order of first
    appearance (as ``pandas.factorize``): a block's thousands of messages share a few
    reasons, so the steps after the first problem is cut out run on those few only."""
    errors = pc.cast(errors, _TEXT)
    first = pc.list_element(
        pc.split_pattern(
            pc.replace_substring_regex(errors, _QUOTED_VALUE_RE2, ": " + VALUE_HIDDEN),
            ERROR_SEPARATOR,
            max_splits=1,
        ),
        0,
    )
    encoded = pc.dictionary_encode(first)
    words = pc.replace_substring_regex(
        encoded.dictionary, _SINCE.pattern, "unchanged since the last run"
    )
    keys: list[str] = pc.replace_substring_regex(words, _ROW_NUMBER.pattern, "row N").to_pylist()
    codes = np.asarray(encoded.indices, dtype=np.int64)
    for i in np.flatnonzero(_odd(errors)):
        codes[i] = len(keys)
        keys.append(error_reason(str(errors[i].as_py())))
    # Two messages can differ only where a step above elided: one key each, renumbered in
    # order of first appearance.
    index: dict[str, int] = {}
    codes = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)[codes]
    present, first_at = np.unique(codes, return_index=True)
    ranked = present[np.argsort(first_at)]
    renumber = np.empty(len(index), dtype=np.int64)
    renumber[ranked] = np.arange(len(ranked))
    names = list(index)
    return renumber[codes], [names[c] for c in ranked]


def _odd(errors: pa.Array) -> np.ndarray:
    """Which messages are not all printable ASCII (``error_reasons``' exceptions)."""
    odd = np.asarray(pc.invert(pc.string_is_ascii(errors)), dtype=bool)
    if not any_control_byte(errors):  # C1 controls (\x80-\x9f) are not ASCII: odd already
        return odd
    return odd | np.asarray(pc.match_substring_regex(errors, _CONTROL_RE2), dtype=bool)


def any_control_byte(texts: pa.Array) -> bool:
    """Does any cell of ``texts`` hold a C0 control character or DEL (x00-x1f, x7f)?

    One look at the text's bytes, the usual answer being no, before a regex finds which
    cells: in UTF-8 those bytes stand for those characters only.
    """
    text = text_bytes(texts)
    return bool(((text < 0x20) | (text == 0x7F)).any())


@dataclass(frozen=True, slots=True)
class Firsts:
    """A block's keys in order of first appearance, each with its count and first rows."""

    keys: list[str]
    counts: list[int]
    rows: list[list[int]]

    def add_to(self, counts: Counter[str], firsts: dict[str, list[int]], limit: int = 5) -> None:
        """Add the block to running counts, keeping each key's first ``limit`` rows."""
        for key, count, rows in zip(self.keys, self.counts, self.rows, strict=True):
            counts[key] += count
            listed = firsts.setdefault(key, [])
            listed.extend(rows[: max(limit - len(listed), 0)])


def firsts(codes: np.ndarray, keys: list[str], rows: np.ndarray, limit: int = 5) -> Firsts:
    """Count ``codes`` (indices into ``keys``) and keep each one's first ``limit`` rows."""
    tally = np.bincount(codes, minlength=len(keys))
    order = np.argsort(codes, kind="stable")  # each key's rows together, in file order
    starts = np.concatenate(([0], np.cumsum(tally)))
    present = np.flatnonzero(tally)
    present = present[np.argsort(order[starts[present]], kind="stable")]
    at = np.asarray(rows, dtype=np.int64)[order]
    return Firsts(
        [keys[c] for c in present],
        tally[present].tolist(),
        [at[starts[c] : starts[c] + min(limit, tally[c])].tolist() for c in present],
    )


def count_firsts(
    keys: list[str],
    rows: np.ndarray,
    counts: Counter[str],
    firsts_of: dict[str, list[int]],
    limit: int = 5,
) -> None:
    """Count each key and keep its first ``limit`` rows, as a loop adding them one by one
    would (new keys enter ``counts`` in order of first appearance, which breaks
    most_common's ties), but per distinct key."""
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    firsts(codes, list(uniques), rows, limit).add_to(counts, firsts_of, limit)


@dataclass(frozen=True, slots=True)
class Block:
    """What both the summary's tally and the report's facts count in one block of results,
    worked out once: the warnings by kind, and the rows with an error by reason."""

    warnings: dict[str, np.ndarray]  # kind -> warnings of it per row
    warned_rows: int  # rows with any warning
    rows: np.ndarray  # the row numbers of the rows with an error
    errors: pa.Array  # their errors
    statuses: pa.Array
    codes: np.ndarray  # their first problem's reason, as an index into reasons
    reasons: list[str]
    skip_at: np.ndarray  # positions (among rows) of the rows skipped by design
    kept: np.ndarray  # and of the others
    skips: Firsts
    problems: Firsts


def count_block(batch: pa.RecordBatch, limit: int = 5) -> Block:
    """Work out a block's ``Block`` (columns row, status, error, warnings; text as text)."""
    warned = pc.fill_null(batch.column("warnings"), "")
    found = warning_counts(warned)
    errors = pc.fill_null(batch.column("error"), "")
    bad = pc.greater(pc.binary_length(errors), 0)
    rows = np.asarray(pc.filter(batch.column("row"), bad).to_numpy(zero_copy_only=False))
    errors = pc.cast(pc.filter(errors, bad), _TEXT)
    statuses = pc.filter(pc.fill_null(batch.column("status"), ""), bad)
    codes, reasons = reason_codes(errors)
    skipped = np.asarray(pc.equal(statuses, RowStatus.SKIPPED.value), dtype=bool)
    skip_at, kept = np.flatnonzero(skipped), np.flatnonzero(~skipped)
    return Block(
        found,
        pc.sum(pc.greater(pc.binary_length(warned), 0)).as_py() or 0,
        rows,
        errors,
        statuses,
        codes,
        reasons,
        skip_at,
        kept,
        firsts(codes[skip_at], reasons, rows[skip_at], limit),
        firsts(codes[kept], reasons, rows[kept], limit),
    )


def result_batch(frame: pd.DataFrame) -> pa.RecordBatch:
    """The columns ``count_block`` reads, from a chunk of results."""
    names = ["row", "status", "error", "warnings"]
    columns = [pa.array(frame["row"].to_numpy(dtype="int64"))]
    columns += [text_array(frame[name]) for name in names[1:3]]
    warned = frame["warnings"] if "warnings" in frame else pd.Series("", frame.index, dtype="str")
    columns.append(text_array(warned))
    return pa.RecordBatch.from_arrays(columns, names=names)


@dataclass(slots=True)
class Tally:
    """Counts per status and the most common failure reasons, gathered while writing."""

    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    reason_rows: dict[str, list[int]] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> a value, for a console
    rows: int = 0
    # Rows skipped by design (unchanged, superseded) are no problem: counted apart.
    skips: Counter[str] = field(default_factory=Counter)
    skip_rows: dict[str, list[int]] = field(default_factory=dict)
    # Values the tool changed in a way a person might not expect, by kind (WARNING_KINDS).
    warnings: Counter[str] = field(default_factory=Counter)
    warned_rows: int = 0

    def add(self, frame: pd.DataFrame, block: Block | None = None) -> None:
        """Count one chunk of results (``block``: its ``count_block``, when already known)."""
        if block is None:
            block = count_block(result_batch(frame))
        self.rows += len(frame)
        self.counts.update(frame["status"].value_counts().to_dict())
        self.warned_rows += block.warned_rows
        for kind, per_row in block.warnings.items():
            self.warnings[kind] += int(per_row.sum())
        block.skips.add_to(self.skips, self.skip_rows)
        block.problems.add_to(self.reasons, self.reason_rows)
        # An example value per reason: the first row that quotes one (few reasons per block,
        # and most have theirs from the first block on).
        kept = block.codes[block.kept]
        order = np.argsort(kept, kind="stable")
        bounds = np.searchsorted(kept[order], np.arange(len(block.reasons) + 1))
        found: list[tuple[int, str, str]] = []
        for code, reason in enumerate(block.reasons):
            if reason in self.examples:
                continue
            for i in block.kept[order[bounds[code] : bounds[code + 1]]].tolist():
                if value := first_value(str(block.errors[i].as_py())):
                    found.append((i, reason, value))  # already cut and escaped by clean
                    break
        self.examples.update((reason, value) for _, reason, value in sorted(found))

    def top_reasons(self, n: int = 5) -> list[dict[str, Any]]:
        """The ``n`` most common failure reasons with a few row numbers each."""
        return [
            {"reason": r, "count": c, "rows": self.reason_rows.get(r, [])}
            for r, c in self.reasons.most_common(n)
        ]

    def top_skips(self, n: int = 5) -> list[dict[str, Any]]:
        """The ``n`` most common reasons rows were skipped by design, as ``top_reasons``."""
        return [
            {"reason": r, "count": c, "rows": self.skip_rows.get(r, [])}
            for r, c in self.skips.most_common(n)
        ]


class ResultsWriter:
    """Stream result rows into ``results.csv`` and not-valid rows into ``failures.csv``."""

    def __init__(
        self,
        run_dir: Path,
        headers: list[str],
        hidden_columns: set[str],
        extra_columns: tuple[str, ...] = (),
        rows: int | None = None,
    ) -> None:
        """``rows``: how many the file has, when known (a copy that will not fit is given up
        at once, before its first rows are converted)."""
        self.run_dir = run_dir
        self.headers = headers
        # A failures.csv imported again: its old row and error columns give way to new ones,
        # and its rows are linked to the first file's by an original_row column.
        self._skip = failure_columns(headers)
        self._original_at = 2 if self._skip == 3 else 0
        carried = (ORIGINAL_ROW,) if self._skip else ()
        # The original headers head failures.csv: a header cell can be a formula too.
        self._failure_headers = excel_safe(pd.Series(headers[self._skip :], dtype="str")).tolist()
        self.hidden = hidden_columns
        self.columns = [*RESULT_COLUMNS, *extra_columns, *carried]
        self._ours = [*FAILURE_COLUMNS, *carried]
        self._results_xlsx = XlsxCopy(run_dir / RESULTS_XLSX, self.columns, RESULTS_XLSX_MAX_ROWS)
        self._failures_xlsx = XlsxCopy(
            run_dir / FAILURES_XLSX, [*self._ours, *headers[self._skip :]], FAILURES_XLSX_MAX_ROWS
        )
        if rows is not None:
            self._results_xlsx.takes(rows)
        self.tally = Tally()
        # What the run report shows of results.csv, gathered as it is written: reading the
        # file back at the end would raise a big run's peak memory (~170 MB at 1M rows).
        from importer.record._report import ResultFacts  # _report imports this module

        self.facts: ResultFacts = ResultFacts()
        self._results = run_dir / (RESULTS_FILE + ".tmp")
        self._failures = run_dir / (FAILURES_FILE + ".tmp")
        self._wrote_failures = False
        self._schema = pa.schema([("row", pa.int64()), *((c, _TEXT) for c in self.columns[1:])])
        try:
            self._failures.write_text("", encoding="utf-8")
            # pyarrow's writer: several times faster than DataFrame.to_csv on big files.
            self._csv = pa_csv.CSVWriter(
                str(self._results),
                self._schema,
                write_options=pa_csv.WriteOptions(quoting_style="needed"),
            )
        except OSError as exc:
            raise OutputError(f"{run_dir}: cannot write results ({exc.strerror})") from None

    def write(self, results: pd.DataFrame, original: pd.DataFrame, bad: pd.Series) -> None:
        """Append one chunk: ``results`` has the result columns; ``bad`` marks failure rows."""
        # The numbers come from the endpoint's answer like lead_id; a plain +1… stays as is.
        safe = {
            *RESULT_COLUMNS[RESULT_COLUMNS.index("error") :],
            *self.columns[len(RESULT_COLUMNS) :],
        }
        if self._skip:
            originals = original.iloc[:, self._original_at].astype("str").to_numpy()
            results = results.assign(**{ORIGINAL_ROW: originals})
        arrays: list[pa.Array] = [pa.array(results["row"].to_numpy(dtype="int64"))]
        raw: list[pa.Array] = [arrays[0]]
        for col in self.columns[1:]:
            try:
                arr = text_array(results[col])
            except UnicodeEncodeError:
                # A lone surrogate (see _journal._dumps): UTF-8 cannot hold it. Replaced
                # only here, on the rare chunk that has one; the journal keeps the original.
                results = results.assign(**{col: results[col].map(_utf8, na_action="ignore")})
                arr = text_array(results[col])
            raw.append(arr)
            arrays.append(excel_safe_arrow(arr) if col in safe else arr)
        if self._results_xlsx.takes(len(results)):  # converting cells to Python is costly
            self._results_xlsx.append(zip(*(a.to_pylist() for a in raw), strict=True))
        batch = self._report_batch(raw)
        block = count_block(batch)  # what the tally and the facts both count
        self.tally.add(results, block)
        self.facts.add(batch, block)
        try:
            self._csv.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        except OSError as exc:
            raise OutputError(f"{self._results}: cannot write results ({exc})") from None
        if not bad.any():
            return
        self._write_failures(results, arrays, original, bad.index[np.asarray(bad, dtype=bool)])

    def _write_failures(
        self, results: pd.DataFrame, arrays: list[pa.Array], original: pd.DataFrame, rows: pd.Index
    ) -> None:
        """Append the lead's own cells of ``rows`` (row labels) to failures.csv."""
        mine = results.index.get_indexer(rows)
        theirs = original.index.get_indexer(rows)
        hidden = [
            p for p in range(self._skip, original.shape[1]) if original.columns[p] in self.hidden
        ]
        if self._failures_xlsx.takes(len(rows)):
            failed = original.iloc[theirs, self._skip :]
            for p in hidden:
                failed.isetitem(p - self._skip, _hide_tokens(failed.iloc[:, p - self._skip]))
            linked = [results[ORIGINAL_ROW].iloc[mine]] if self._skip else []
            self._failures_xlsx.append(
                zip(
                    rows.tolist(),
                    results["error"].iloc[mine],
                    *linked,
                    *failed.to_numpy(dtype=object).T,
                    strict=True,
                )
            )
        take = pa.array(mine)
        cells = [arrays[self.columns.index("error")].take(take)]
        if self._skip:
            cells.append(arrays[self.columns.index(ORIGINAL_ROW)].take(take))
        for p in range(self._skip, original.shape[1]):
            column = original.iloc[:, p]
            if p in hidden:  # an empty cell stays empty: it was the row's problem
                cells.append(text_array(_hide_tokens(column.iloc[theirs])))
            else:
                cells.append(text_array(column).take(pa.array(theirs)))
            cells[-1] = excel_safe_arrow(cells[-1])
        numbers = pc.cast(pa.array(rows.to_numpy(dtype=np.int64)), _TEXT)
        try:
            with self._failures.open("ab") as out:
                if not self._wrote_failures:
                    out.write(self._failures_header())
                out.write(_csv_lines(numbers, cells))
        except OSError as exc:
            raise OutputError(f"{self._failures}: cannot write failures ({exc.strerror})") from None
        self._wrote_failures = True

    def _failures_header(self) -> bytes:
        return _csv_line([*self._ours, *self._failure_headers])

    def _report_batch(self, raw: list[pa.Array]) -> pa.RecordBatch:
        """The columns the report adds up, as results.csv holds them (text as text)."""
        names = ["row", "status", "http_status", "error", "warnings"]
        names += ["trackdrive_number_plain", "sms_number_plain"]
        return pa.RecordBatch.from_arrays([raw[self.columns.index(n)] for n in names], names=names)

    def finish(self) -> None:
        """Move the finished files into place."""
        self._csv.close()
        if not self._wrote_failures:  # still write the headers
            try:
                self._failures.write_bytes(self._failures_header())
            except OSError as exc:
                raise OutputError(
                    f"{self._failures}: cannot write failures ({exc.strerror})"
                ) from None
        os.replace(self._results, self.run_dir / RESULTS_FILE)
        os.replace(self._failures, self.run_dir / FAILURES_FILE)
        self._results_xlsx.finish()
        self._failures_xlsx.finish()


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``summary.json`` says about a run."""

    command: str
    run_dir: str
    input: str
    input_sha256: str
    mapping: str
    endpoint: str
    rows: int
    counts: dict[str, int]
    blank_rows: int
    top_reasons: list[dict[str, Any]]
    started_at: str
    finished_at: str
    duration_s: float
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    aborted: str | None = None
    interrupted: bool = False
    exit_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # Why rows were skipped by design (unchanged since the last run…): not problems.
    skipped_reasons: list[dict[str, Any]] = field(default_factory=list)
    # Values changed in a way a person might not expect: per kind, in all, rows with any.
    warnings: dict[str, int] = field(default_factory=dict)
    warnings_total: int = 0
    warned_rows: int = 0
    # The scheduled times the mapping maps without calling_hours: sent at any hour.
    unguarded: list[str] = field(default_factory=list)
    # An offending value per top reason (cut and escaped), for a console only: it is a
    # lead's personal data, so it is never written (to_json), logged or posted.
    examples: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> str:
        """The summary as pretty JSON (without ``examples``)."""
        data = asdict(self)
        del data["examples"]
        return json.dumps(data, indent=2, sort_keys=False) + "\n"


def write_summary(run_dir: Path, summary: Summary) -> Path:
    """Write ``summary.json`` atomically and return its path."""
    path = run_dir / SUMMARY_FILE
    tmp = run_dir / (SUMMARY_FILE + ".tmp")
    try:
        tmp.write_text(summary.to_json(), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the summary ({exc.strerror})") from None
    return path
