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
    text_array,
    text_series,
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
# openpyxl writes ~100k cells/s (about 0.2 s per 1,000 rows): a copy of a big file would cost
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
    quoted = pc.binary_join_element_wise(pa.scalar("'", _TEXT), values, pa.scalar("", _TEXT))
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
    if values.type != _TEXT:
        values = values.cast(_TEXT)  # 64-bit offsets
    _, offsets, data = values.buffers()
    if not n or data is None or not data.size:
        return np.zeros(n, dtype=bool)
    at = np.frombuffer(offsets, dtype=np.int64, count=n + 1, offset=values.offset * 8)
    first, filled = at[:-1], at[1:] > at[:-1]
    starts = np.zeros(n, dtype=bool)
    starts[filled] = _FORMULA_FIRST[np.frombuffer(data, dtype=np.uint8)[first[filled]]]
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
        parts += [pc.replace_substring(column, '"', '""'), _BETWEEN]
    parts[-1] = pa.scalar('"' + os.linesep, _TEXT)
    lines = pc.binary_join_element_wise(*parts, pa.scalar("", _TEXT))
    # The cells of a text array lie back to back in its data buffer: the whole chunk's text.
    _, offsets, data = lines.buffers()
    at = np.frombuffer(offsets, dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    return data.slice(int(at[0]), int(at[-1] - at[0]))


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
    errors = pc.cast(errors, _TEXT)
    first = pc.list_element(
        pc.split_pattern(
            pc.replace_substring_regex(errors, _QUOTED_VALUE_RE2, ": " + VALUE_HIDDEN),
            ERROR_SEPARATOR,
            max_splits=1,
        ),
        0,
    )
    first = pc.replace_substring_regex(first, _SINCE.pattern, "unchanged since the last run")
    first = pc.replace_substring_regex(first, _ROW_NUMBER.pattern, "row N")
    reasons: list[str] = first.to_pylist()
    odd = pc.or_(
        pc.invert(pc.string_is_ascii(errors)), pc.match_substring_regex(errors, _CONTROL_RE2)
    )
    for i in np.flatnonzero(np.asarray(odd.to_numpy(zero_copy_only=False))):
        reasons[i] = error_reason(str(errors[i].as_py()))
    return reasons


def count_firsts(
    keys: list[str],
    rows: np.ndarray,
    counts: Counter[str],
    firsts: dict[str, list[int]],
    limit: int = 5,
) -> None:
    """Count each key and keep its first ``limit`` rows, as a loop adding them one by one
    would (new keys enter ``counts`` in order of first appearance, which breaks
    most_common's ties), but per distinct key."""
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    tally = np.bincount(codes, minlength=len(uniques))
    order = np.argsort(codes, kind="stable")  # each key's rows together, in file order
    starts = np.concatenate(([0], np.cumsum(tally)))
    at = np.asarray(rows, dtype=np.int64)[order]
    for code, key in enumerate(uniques):
        counts[key] += int(tally[code])
        listed = firsts.setdefault(key, [])
        room = limit - len(listed)
        if room > 0:
            end = min(starts[code] + room, starts[code + 1])
            listed.extend(int(r) for r in at[starts[code] : end])


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

    def add(self, frame: pd.DataFrame) -> None:
        """Count one chunk of results."""
        self.rows += len(frame)
        self.counts.update(frame["status"].value_counts().to_dict())
        if "warnings" in frame:
            warned = text_array(frame["warnings"])
            self.warned_rows += int(pc.sum(pc.not_equal(warned, pa.scalar("", _TEXT))).as_py() or 0)
            for kind, per_row in warning_counts(warned).items():
                self.warnings[kind] += int(per_row.sum())
        bad = frame[frame["error"] != ""]
        if bad.empty:
            return
        reasons = error_reasons(text_array(bad["error"]))
        skipped = (bad["status"] == RowStatus.SKIPPED.value).to_numpy()
        rows = bad["row"].astype("int64").to_numpy()
        skip_at, kept = np.flatnonzero(skipped), np.flatnonzero(~skipped)
        count_firsts([reasons[i] for i in skip_at], rows[skip_at], self.skips, self.skip_rows)
        count_firsts([reasons[i] for i in kept], rows[kept], self.reasons, self.reason_rows)
        errors = bad["error"].tolist()
        for i in kept:  # an example value per reason: the first row that quotes one
            reason = reasons[i]
            if reason not in self.examples and (value := first_value(str(errors[i]))):
                self.examples[reason] = value  # already cut and escaped by clean

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
    ) -> None:
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
        self.tally.add(results)
        self.facts.add(self._report_batch(raw))
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
        columns = [raw[self.columns.index(name)] for name in names]
        texts = [pc.cast(column, pa.string()) for column in columns[1:]]
        return pa.RecordBatch.from_arrays([columns[0], *texts], names=names)

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
