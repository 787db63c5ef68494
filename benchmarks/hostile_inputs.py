"""Hostile mappings and spreadsheets (issue 11), and what `leadimport` does with each.

Each input is generated here, small on disk (the 100 MB cell is a sparse file), and run
through the real command in a child process under an address-space limit and a timeout
(``run_limited`` of common.py), so the machine survives an old tree:

    python benchmarks/hostile_inputs.py                      # this tree: time, peak RSS
    python benchmarks/hostile_inputs.py --tree /tmp/before   # an older checkout
    python benchmarks/hostile_inputs.py --only alias-bomb --limit-gb 3

tests/test_hostile_inputs.py runs the same cases and asserts their exact one-line errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Outcome, run_limited  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "mappings" / "example.yaml"
HEADER = "First Name,Last Name,Phone,E-mail,Callback Time,Amount,State,ZIP,Source\n"
CELL_MB = 100
WIDE_COLUMNS = 1_000_000
HUGE_ROW = 30_000  # the row whose cell is CELL_MB MiB: after 1 MiB of ordinary rows

MAPPING = """version: 1
lead_token: mapping-token
timezone: America/New_York
fields:
  caller_id: Phone
data:
  source: Source
"""


def leads_csv(path: Path, rows: int = 3) -> Path:
    """A small valid CSV with the example's header."""
    lines = [f"Ann,Lee,212-555-{1000 + i:04d},,,,NY,10001,web\n" for i in range(rows)]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def alias_bomb(folder: Path) -> Path:
    """A billion-laughs mapping under 400 bytes: ``version`` holds 9 levels of 9 aliases.

    Loaded, it is nine nested lists; the old check formatted the value ("must be 1 (found
    [...])"): 387 million strings.
    """
    levels = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"&a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    text = "version: [" + ", ".join(levels) + "]\n" + MAPPING.replace("version: 1\n", "")
    path = folder / "bomb.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def long_number(folder: Path) -> Path:
    path = folder / "number.yaml"
    path.write_text(MAPPING.replace("data:\n", "data:\n  n: {value: " + "9" * 5000 + "}\n"))
    return path


def long_label(folder: Path) -> Path:
    path = folder / "host.yaml"
    host = "a" * 64 + ".example.com"
    path.write_text(f"endpoint: https://{host}/api/v1/leads/create_or_update\n" + MAPPING)
    return path


def other_variable(folder: Path) -> Path:
    path = folder / "env.yaml"
    path.write_text(MAPPING.replace("lead_token: mapping-token", "lead_token: ${HOME}"))
    return path


def token_as_data(folder: Path) -> Path:
    path = folder / "token-data.yaml"
    text = MAPPING.replace("lead_token: mapping-token", "lead_token: {column: Token}")
    path.write_text(text + "  token_again: token\n", encoding="utf-8")
    return path


def wide_csv(folder: Path, rows: int = 3) -> Path:
    """A header of 1,000,000 columns and ``rows`` full-width rows (about 2 MB a row)."""
    path = folder / "wide.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write(",".join(f"c{i}" for i in range(WIDE_COLUMNS)) + "\n")
        for _ in range(rows):
            f.write("1" + ",1" * (WIDE_COLUMNS - 1) + "\n")
    return path


def huge_cell_csv(folder: Path, megabytes: int = CELL_MB) -> Path:
    """Row HUGE_ROW's Source cell holds ``megabytes`` MiB of NUL bytes: a hole in a sparse
    file, so about 2 MB on disk. 1 MiB of ordinary rows comes first, so that the sample
    which detects the encoding is text."""
    path = folder / "huge-cell.csv"
    rows = "".join(f"Ann,Lee,212-555-{i % 10000:04d},,,,NY,10001,web\n" for i in range(2, HUGE_ROW))
    with path.open("wb") as f:
        f.write((HEADER + rows).encode())
        f.write(b"Cy,Ma,212-555-0102,,,,NY,10001,")  # the cell starts here
        f.seek(megabytes << 20, os.SEEK_CUR)
        f.write(b"\n" + rows.encode())
    return path


def fifo(folder: Path) -> Path:
    path = folder / "leads.csv"
    os.mkfifo(path)
    return path


@dataclass(frozen=True)
class Case:
    """One hostile input: how to make it, the command, and the line it must end with."""

    make: Callable[[Path], Path]
    command: Callable[[Path, Path], list[str]]  # (made file, folder) -> leadimport args
    code: int
    line: Callable[[Path], str]  # the made file -> the exact stderr line ("" for none)
    env: dict[str, str] = field(default_factory=dict)


def _validate_with(mapping: Path, out: Path) -> list[str]:
    return ["validate", str(leads_csv(out / "leads.csv")), "-m", str(mapping), "-q"]


def _validate(path: Path, out: Path) -> list[str]:
    return ["validate", str(path), "-m", str(EXAMPLE), "--out", str(out / "run"), "-q"]


def _run_with(mapping: Path, out: Path) -> list[str]:
    src = leads_csv(out / "leads.csv")
    return ["run", str(src), "-m", str(mapping), "--out", str(out / "run"), "-q", "--yes"]


ERROR = "leadimport: error: "
CASES: dict[str, Case] = {
    "alias-bomb": Case(
        alias_bomb,
        _validate_with,
        2,
        lambda p: (
            f"{ERROR}{p}: line 1, column 11: YAML anchors and aliases (&a0) are not "
            "allowed in a mapping file; write each value out"
        ),
    ),
    "long-number": Case(
        long_number,
        _validate_with,
        2,
        lambda p: (
            f"{ERROR}{p}: line 7, column 14: a number of 5,000 characters is too long "
            "(at most 100); quote it if it is text"
        ),
    ),
    "long-host-label": Case(
        long_label,
        _run_with,
        2,
        lambda p: (
            f"{ERROR}{p}: endpoint: the host name is not valid: its part "
            "'aaaaaaaaaaaaaaaaaaaa…' has 64 characters (at most 63); check the URL"
        ),
    ),
    "other-variable": Case(
        other_variable,
        _validate_with,
        2,
        lambda p: (
            f"{ERROR}{p}: lead_token: ${{HOME}}: a mapping may read only environment "
            "variables named TRACKDRIVE_* (like ${TRACKDRIVE_LEAD_TOKEN}); export the value "
            "under such a name"
        ),
    ),
    "token-as-data": Case(
        token_as_data,
        _validate_with,
        2,
        lambda p: (
            f"{ERROR}{p}: data.token_again: column 'token' holds the lead token "
            "(lead_token: {column: Token}); a token is sent only as the lead token, never in a "
            "lead's body or results: remove this key"
        ),
    ),
    "wide-header": Case(
        wide_csv,
        _validate,
        2,
        lambda p: (
            f"{ERROR}{p}: row 1 has more than 16,384 columns; at most 16,384 can be "
            "read (Excel's limit); check that the file is a spreadsheet and its delimiter"
        ),
    ),
    "huge-cell": Case(huge_cell_csv, _validate, 1, lambda p: ""),  # row 3 invalid, file read
    "fifo": Case(
        fifo,
        _validate,
        2,
        lambda p: (
            f"{ERROR}{p}: is not a regular file (a pipe, device or socket); save the "
            "spreadsheet as a file and name that"
        ),
    ),
}


def run_case(
    name: str, folder: Path, *, limit_bytes: int, timeout_s: float, tree: Path = ROOT
) -> tuple[Path, Outcome]:
    """Make case ``name`` in ``folder`` and run its command under the limits."""
    case = CASES[name]
    folder.mkdir(parents=True, exist_ok=True)
    path = case.make(folder)
    cmd = [sys.executable, "-m", "importer", *case.command(path, folder)]
    # `python -m` puts the working folder first on sys.path: run in the tree measured
    env = {"PYTHONPATH": str(tree), **case.env}
    return path, run_limited(cmd, limit_bytes=limit_bytes, timeout_s=timeout_s, env=env, cwd=tree)


def main() -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="the checkout to measure (default: this one)")
    parser.add_argument("--limit-gb", type=float, default=8, help="address-space limit")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a kill")
    parser.add_argument("--only", action="append", help="one case name (repeatable)")
    args = parser.parse_args()
    tree = (args.tree or ROOT).resolve()
    print(f"{'case':<16} {'time':>8} {'peak RSS':>10}  outcome: last line")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(CASES):
            _, got = run_case(
                name,
                Path(tmp) / name,
                limit_bytes=int(args.limit_gb * (1 << 30)),
                timeout_s=args.timeout,
                tree=tree,
            )
            print(
                f"{name:<16} {got.seconds:>7.2f}s {got.peak_mb:>7.0f} MB  {got.status}: "
                f"{got.message[:110]}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
