"""Run every benchmark in turn (`make bench`); each prints its own table and goals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_validate.py",
    "bench_run.py",
    "bench_send_core.py",
    "bench_sandbox.py",
    "bench_report.py",
    "bench_journal.py",
    "bench_web.py",
]


def main() -> int:
    worst = 0
    for script in SCRIPTS:
        if not (HERE / script).exists():
            continue
        print(f"== {script}", flush=True)
        worst = max(worst, subprocess.call([sys.executable, str(HERE / script), *sys.argv[1:]]))
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
