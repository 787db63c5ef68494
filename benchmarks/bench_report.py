"""The report of a 1,000,000-row run: build time and size (goals: < 5 s, < 2 MB).

A run folder is generated synthetically, as a run to a local responder at 1,000 requests/s
would leave it: results.csv (every column, payloads included), a journal with a start and
a done per row plus 3 % retries (429s and 5xx) with their latencies, summary.json and
run.json. Then ``leadimport report DIR`` is timed as a whole process (start-up included),
and ``write_report`` in this process.

    python benchmarks/bench_report.py [--rows N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from common import leadimport, timed

from importer.record import write_report

GOAL_S = 5.0
GOAL_MB = 2.0


def make_run_folder(folder: Path, rows: int, seed: int = 1) -> dict[str, int]:
    """Write a synthetic run folder of ``rows`` rows; return the counts it holds."""
    rng = np.random.default_rng(seed)
    row = np.arange(2, rows + 2, dtype="int64")
    status = np.where(rng.random(rows) < 0.97, "success", "failed")
    invalid = rng.random(rows) < 0.01
    status = np.where(invalid, "invalid", status)
    phone = pd.Series(row).map("+1212{:07d}".format).to_numpy()
    error = np.full(rows, "", dtype=object)
    error[status == "failed"] = "HTTP 503: base: injected fault after 3 attempts"
    error[invalid] = "Phone: '8.00451E+09' is in scientific notation: digits were lost"
    sent = status != "invalid"
    http = np.where(status == "success", "200", np.where(sent, "503", ""))
    numbers = np.where(status == "success", "+18005550100", "")
    payload = pd.Series(phone).map('{{"caller_id":"{}","data":{{"first_name":"Ann"}}}}'.format)
    table = pa.table(
        {
            "row": row,
            "status": status,
            "http_status": http,
            "attempts": np.where(sent, "1", ""),
            "error": error.astype(str),
            "caller_id": phone,
            "email": np.full(rows, ""),
            "lead_id": np.where(status == "success", row.astype(str), ""),
            "trackdrive_number_plain": numbers,
            "sms_number_plain": np.full(rows, ""),
            "payload": payload.to_numpy(),
        }
    )
    pa_csv.write_csv(table, folder / "results.csv")

    # The journal: a start and a done per sent row, 1,000 requests/s, lognormal latency.
    t0 = 1_796_000_000.0
    sent_rows = row[sent]
    starts = t0 + np.arange(len(sent_rows)) / 1000.0
    ms = np.round(rng.lognormal(3.0, 0.5, len(sent_rows)), 1)
    retried = rng.random(len(sent_rows)) < 0.03
    codes = np.where(rng.random(len(sent_rows)) < 0.2, 429, 503)
    with (folder / "journal.jsonl").open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"e": "run", "n": 1, "command": "run", "rate": 1000, "t": t0}))
        fh.write("\n")
        ok = status[sent]
        block = 100_000
        for lo in range(0, len(sent_rows), block):
            hi = min(lo + block, len(sent_rows))
            lines = []
            for i in range(lo, hi):
                r, t = int(sent_rows[i]), round(float(starts[i]), 3)
                lines.append(f'{{"e":"start","row":{r},"attempt":1,"t":{t}}}')
                if retried[i]:
                    lines.append(
                        f'{{"e":"retry","row":{r},"attempt":1,"http_status":{codes[i]},'
                        f'"ms":{ms[i]},"delay":0.2,"t":{t + ms[i] / 1000:.3f}}}'
                    )
                if ok[i] == "success":
                    lines.append(
                        f'{{"e":"done","row":{r},"status":"success","key":"2a6c91e016b93df9:'
                        f'+1212{r:07d}","http_status":200,"attempts":1,"lead_id":"{r}",'
                        f'"trackdrive_number_plain":"+18005550100","ms":{ms[i]},'
                        f'"t":{t + ms[i] / 1000:.3f}}}'
                    )
                else:
                    lines.append(
                        f'{{"e":"done","row":{r},"status":"failed","http_status":503,'
                        f'"attempts":3,"error":"HTTP 503: base: injected fault after 3 '
                        f'attempts","ms":{ms[i]},"t":{t + ms[i] / 1000:.3f}}}'
                    )
            fh.write("\n".join(lines) + "\n")
    counts = {s: int(n) for s, n in zip(*np.unique(status, return_counts=True), strict=True)}
    summary = {
        "command": "run",
        "run_dir": str(folder),
        "input": "leads.csv",
        "input_sha256": "0" * 64,
        "mapping": "mapping.yaml",
        "endpoint": "http://127.0.0.1:9/api/v1/leads/create_or_update",
        "rows": rows,
        "counts": counts,
        "blank_rows": 0,
        "top_reasons": [],
        "started_at": "2026-11-30T12:00:00+00:00",
        "finished_at": "2026-11-30T12:17:00+00:00",
        "duration_s": float(starts[-1] - t0),
        "requests": int(len(sent_rows) + retried.sum()),
        "retries": int(retried.sum()),
        "throttled": int((retried & (codes == 429)).sum()),
        "aborted": None,
        "interrupted": False,
        "exit_code": 1,
        "extra": {},
    }
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (folder / "run.json").write_text(
        json.dumps({"command": "run", "rate": 1000.0, "token_fingerprint": "2a6c91e016b93df9"}),
        encoding="utf-8",
    )
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build the folder here and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        began = time.perf_counter()
        make_run_folder(folder, args.rows)
        journal_mb = (folder / "journal.jsonl").stat().st_size / 1e6
        results_mb = (folder / "results.csv").stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows in {time.perf_counter() - began:.1f} s: "
            f"results.csv {results_mb:.0f} MB, journal.jsonl {journal_mb:.0f} MB"
        )
        whole = timed(leadimport("report", folder))
        began = time.perf_counter()
        page = write_report(folder)
        inside = time.perf_counter() - began
        size_mb = page.stat().st_size / 1e6
        ok_time = whole.returncode == 0 and whole.seconds < GOAL_S
        print(
            f"leadimport report (whole process): {whole.seconds:.2f} s, "
            f"peak RSS {whole.peak_rss_mb:.0f} MB  "
            f"{'PASS' if ok_time else 'MISS'} (goal < {GOAL_S:g} s)"
        )
        print(f"write_report (in process):         {inside:.2f} s")
        print(
            f"report.html:                       {size_mb * 1000:.0f} kB  "
            f"{'PASS' if size_mb < GOAL_MB else 'MISS'} (goal < {GOAL_MB:g} MB)"
        )
        return 0 if ok_time and size_mb < GOAL_MB else 1
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
