"""How fast and lean is `leadimport validate`? Ratios against bare pandas, same run.

Goals (issue 2), on the project's 2-core machine:
  * 1M-row CSV validated in < 8x a bare ``pandas.read_csv(dtype=str, keep_default_na=False)``
  * peak RSS < 400 MB, growing < 20 % from 100k to 1M rows
  * 100k-row .xlsx in < 3x a bare ``pandas.read_excel(engine="calamine")``

Both sides run as whole child processes (interpreter start and imports included), so the
ratios compare what a person waits for. Usage:

    python benchmarks/bench_validate.py [--rows 1000000] [--xlsx-rows 100000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, PY, ROOT, timed  # noqa: E402
from gen_leads import write_leads_csv, write_leads_xlsx  # noqa: E402

EXAMPLE = ROOT / "mappings" / "example.yaml"


def _dataset(kind: str, rows: int) -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"leads-{rows}.{kind}"
    if not path.exists():
        print(f"generating {path} …", flush=True)
        (write_leads_csv if kind == "csv" else write_leads_xlsx)(path, rows, seed=42)
    return path


def _read_csv_cmd(path: Path) -> list[str]:
    code = "import pandas as pd, sys; pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)"
    return [PY, "-c", code, str(path)]


def _read_excel_cmd(path: Path) -> list[str]:
    code = "import pandas as pd, sys; pd.read_excel(sys.argv[1], engine='calamine', dtype=str)"
    return [PY, "-c", code, str(path)]


def _validate(path: Path, out: Path) -> list[str]:
    return [
        PY,
        "-m",
        "importer",
        "validate",
        str(path),
        "-m",
        str(EXAMPLE),
        "--out",
        str(out),
        "-q",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    figures: dict[str, float] = {}
    try:
        for rows in (args.small_rows, args.rows):
            csv_path = _dataset("csv", rows)
            base = timed(_read_csv_cmd(csv_path))
            run = timed(_validate(csv_path, work / f"v{rows}"))
            if run.returncode not in (0, 1):
                print(f"validate failed with exit {run.returncode}", file=sys.stderr)
                return 2
            figures[f"csv_{rows}_read_csv_s"] = round(base.seconds, 2)
            figures[f"csv_{rows}_validate_s"] = round(run.seconds, 2)
            figures[f"csv_{rows}_ratio"] = round(run.seconds / base.seconds, 2)
            figures[f"csv_{rows}_read_csv_rss_mb"] = round(base.peak_rss_mb, 1)
            figures[f"csv_{rows}_validate_rss_mb"] = round(run.peak_rss_mb, 1)
            print(
                f"{rows:>9,} rows CSV : read_csv {base.seconds:6.2f} s "
                f"({base.peak_rss_mb:5.0f} MB) | "
                f"validate {run.seconds:6.2f} s ({run.peak_rss_mb:5.0f} MB) | "
                f"ratio {run.seconds / base.seconds:4.2f}x",
                flush=True,
            )
        small = figures[f"csv_{args.small_rows}_validate_rss_mb"]
        big = figures[f"csv_{args.rows}_validate_rss_mb"]
        figures["rss_growth_pct"] = round((big - small) / small * 100, 1)
        print(
            f"peak RSS growth {args.small_rows:,} -> {args.rows:,} rows: "
            f"{figures['rss_growth_pct']} %"
        )

        xlsx = _dataset("xlsx", args.xlsx_rows)
        base = timed(_read_excel_cmd(xlsx))
        run = timed(_validate(xlsx, work / "vx"))
        figures["xlsx_read_excel_s"] = round(base.seconds, 2)
        figures["xlsx_validate_s"] = round(run.seconds, 2)
        figures["xlsx_ratio"] = round(run.seconds / base.seconds, 2)
        print(
            f"{args.xlsx_rows:>9,} rows XLSX: read_excel {base.seconds:6.2f} s | "
            f"validate {run.seconds:6.2f} s ({run.peak_rss_mb:5.0f} MB) | "
            f"ratio {run.seconds / base.seconds:4.2f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    goals = {
        "1M CSV < 8x read_csv": figures[f"csv_{args.rows}_ratio"] < 8,
        "peak RSS < 400 MB": figures[f"csv_{args.rows}_validate_rss_mb"] < 400,
        "RSS growth < 20 %": figures["rss_growth_pct"] < 20,
        "XLSX < 3x read_excel": figures["xlsx_ratio"] < 3,
    }
    for goal, ok in goals.items():
        print(f"  {'PASS' if ok else 'MISS'}  {goal}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
