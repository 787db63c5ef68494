"""How fast and lean is `leadimport validate`? Ratios against bare pandas, same run.

Goals (issues 2 and 14), on the project's 2-core machine:
  * 1M-row CSV validated in < 4x a bare ``pandas.read_csv(dtype=str, keep_default_na=False)``
    of the same file, both for a clean file and for a messy one where about 45 % of the
    phones are numbers libphonenumber refuses (``gen_leads --refused``: area codes that do
    not exist, as in a bought list)
  * peak RSS < 300 MB on the messy 1M file with each ``duplicates:`` rule (all, first, last),
    growing < 20 % from 100k to 1M rows
  * 100k-row .xlsx in < 3x a bare ``pandas.read_excel(engine="calamine")``

Both sides run as whole child processes (interpreter start and imports included), so the
ratios compare what a person waits for. Usage:

    python benchmarks/bench_validate.py [--rows 1000000] [--xlsx-rows 100000] [--rounds 3]

The 1M-row pairs (read_csv, then validate) run ``--rounds`` times and each ratio is the
median of its rounds': this shared machine's speed drifts within minutes, and one slow
minute should spoil one round, not the figure.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, PY, ROOT, Timed, timed  # noqa: E402
from gen_leads import write_leads_csv, write_leads_xlsx  # noqa: E402

EXAMPLE = ROOT / "mappings" / "example.yaml"
REFUSED = 0.45  # share of well-formed phones in the messy file given an unassigned area code
RULES = ("all", "first", "last")


def _dataset(kind: str, rows: int, messy: bool = False) -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"leads-{rows}{'-messy' if messy else ''}.{kind}"
    if not path.exists():
        print(f"generating {path} …", flush=True)
        if kind == "csv":
            write_leads_csv(path, rows, seed=42, refused=REFUSED if messy else 0.0)
        else:
            write_leads_xlsx(path, rows, seed=42)
    return path


def _mappings(work: Path) -> dict[str, Path]:
    """mappings/example.yaml once per duplicates rule."""
    text = EXAMPLE.read_text(encoding="utf-8")
    paths = {}
    for rule in RULES:
        path = work / f"mapping-{rule}.yaml"
        path.write_text(
            re.sub(r"(?m)^duplicates: *\w+", f"duplicates: {rule}", text), encoding="utf-8"
        )
        paths[rule] = path
    return paths


def _read_csv_cmd(path: Path) -> list[str]:
    code = "import pandas as pd, sys; pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)"
    return [PY, "-c", code, str(path)]


def _read_excel_cmd(path: Path) -> list[str]:
    code = "import pandas as pd, sys; pd.read_excel(sys.argv[1], engine='calamine', dtype=str)"
    return [PY, "-c", code, str(path)]


def _validate(path: Path, out: Path, mapping: Path = EXAMPLE) -> list[str]:
    return [
        PY,
        "-m",
        "importer",
        "validate",
        str(path),
        "-m",
        str(mapping),
        "--out",
        str(out),
        "-q",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times each 1M-row pair runs; its ratio is the median (default: 3)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    figures: dict[str, float] = {}
    try:
        mappings = _mappings(work)
        for rows, messy in ((args.small_rows, False), (args.rows, False), (args.rows, True)):
            csv_path = _dataset("csv", rows, messy)
            name = f"csv_{rows}{'_messy' if messy else ''}"
            pairs: list[tuple[Timed, Timed]] = []  # (read_csv, validate) per round
            for _ in range(max(args.rounds, 1) if rows == args.rows else 1):
                base = timed(_read_csv_cmd(csv_path))
                run = timed(_validate(csv_path, work / f"v{name}"))
                shutil.rmtree(work / f"v{name}", ignore_errors=True)
                if run.returncode not in (0, 1):
                    print(f"validate failed with exit {run.returncode}", file=sys.stderr)
                    return 2
                pairs.append((base, run))
                print(
                    f"{rows:>9,} rows CSV{' messy' if messy else '      '}: read_csv "
                    f"{base.seconds:6.2f} s ({base.peak_rss_mb:5.0f} MB) | "
                    f"validate {run.seconds:6.2f} s ({run.peak_rss_mb:5.0f} MB) | "
                    f"ratio {run.seconds / base.seconds:4.2f}x "
                    f"(CPU time {base.cpu_seconds:5.2f} s vs {run.cpu_seconds:5.2f} s: "
                    f"{run.cpu_seconds / base.cpu_seconds:4.2f}x)",
                    flush=True,
                )
            ratios = [v.seconds / b.seconds for b, v in pairs]
            figures[f"{name}_read_csv_s"] = round(statistics.median(b.seconds for b, _ in pairs), 2)
            figures[f"{name}_validate_s"] = round(statistics.median(v.seconds for _, v in pairs), 2)
            figures[f"{name}_ratio"] = round(statistics.median(ratios), 2)
            figures[f"{name}_read_csv_rss_mb"] = round(base.peak_rss_mb, 1)
            # The worst round's peak; the median round's CPU-time ratio.
            figures[f"{name}_validate_rss_mb"] = round(max(v.peak_rss_mb for _, v in pairs), 1)
            cpu_ratios = [v.cpu_seconds / b.cpu_seconds for b, v in pairs]
            figures[f"{name}_cpu_ratio"] = round(statistics.median(cpu_ratios), 2)
            if len(ratios) > 1:
                print(
                    f"{'':>9} median of {len(ratios)}: ratio {figures[f'{name}_ratio']:.2f}x "
                    f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}), "
                    f"CPU-time ratio {figures[f'{name}_cpu_ratio']:.2f}x",
                    flush=True,
                )
        messy_path = _dataset("csv", args.rows, messy=True)
        figures[f"csv_{args.rows}_messy_all_rss_mb"] = figures[
            f"csv_{args.rows}_messy_validate_rss_mb"
        ]
        for rule in RULES[1:]:
            run = timed(_validate(messy_path, work / f"v-{rule}", mappings[rule]))
            if run.returncode not in (0, 1):
                print(f"validate ({rule}) failed with exit {run.returncode}", file=sys.stderr)
                return 2
            figures[f"csv_{args.rows}_messy_{rule}_rss_mb"] = round(run.peak_rss_mb, 1)
            figures[f"csv_{args.rows}_messy_{rule}_s"] = round(run.seconds, 2)
        print(
            f"{args.rows:>9,} rows CSV messy, peak RSS by duplicates rule: "
            + ", ".join(
                f"{r} {figures[f'csv_{args.rows}_messy_{r}_rss_mb']:.0f} MB" for r in RULES
            ),
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
    big = f"csv_{args.rows}"
    goals = [
        ("CSV < 4x read_csv", figures[f"{big}_ratio"], "x", 4),
        ("messy CSV < 4x read_csv", figures[f"{big}_messy_ratio"], "x", 4),
        *(
            (f"peak RSS < 300 MB, duplicates: {r}", figures[f"{big}_messy_{r}_rss_mb"], " MB", 300)
            for r in RULES
        ),
        ("RSS growth < 20 %", figures["rss_growth_pct"], " %", 20),
        ("XLSX < 3x read_excel", figures["xlsx_ratio"], "x", 3),
    ]
    for goal, value, unit, limit in goals:
        print(f"  {'PASS' if value < limit else 'MISS'}  {goal}: {value:g}{unit}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
