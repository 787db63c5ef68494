"""Shared test helpers: paths, the sample header, the CLI in-process, results files."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from click.testing import CliRunner

from importer.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "mappings" / "example.yaml"
HEADER = [
    "First Name",
    "Last Name",
    "Phone",
    "E-mail",
    "Callback Time",
    "Amount",
    "State",
    "ZIP",
    "Source",
]


def invoke(*args: Any, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``leadimport ARGS`` through the real click entry point: (exit, stdout, stderr)."""
    result = CliRunner(env=env).invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def read_results(run_dir: Path, name: str = "results.csv") -> list[dict[str, str]]:
    """The rows of a run folder's results.csv (or another CSV in it)."""
    with (run_dir / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_benchmark(name: str) -> ModuleType:
    """A script of benchmarks/ as a module, for the generators and runners tests share."""
    folder = str(ROOT / "benchmarks")
    if folder not in sys.path:  # the scripts import each other and common.py
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def on_terminal(
    args: list[Any], *, rows: int = 40, columns: int = 140, timeout: float = 60
) -> tuple[int, str]:
    """Run ``leadimport ARGS`` on a real pty of ROWS x COLUMNS: (exit status, the screen).

    The screen is everything the terminal received, decoded as it came (``\\r`` and
    ``\\r\\n`` included), for tests of what a person sees: progress bars, escapes.
    """
    import fcntl
    import os
    import struct
    import subprocess
    import termios

    controller, terminal = os.openpty()
    # rows, columns: 0 x 0 is what `script`, `docker exec -t` and some CI runners report
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", *map(str, args)],
        stdin=terminal, stdout=terminal, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    screen = b""
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        screen += data
    os.close(controller)
    return proc.wait(timeout=timeout), screen.decode("utf-8", errors="replace")


CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright's own download cannot work here
# Headless, and quiet on this closed network (no background fetches, no updates).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


# What strict: true adds to a warning that it makes an error (clean/_payload.py).
STRICT = " (not sent: the mapping says strict: true)"


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    """``rows`` (the header first) as a UTF-8 CSV file at ``path``."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_mapping(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    """A mapping file of ``text`` (without its ``version: 1`` line) in ``tmp_path``."""
    path = tmp_path / name
    path.write_text("version: 1\n" + text, encoding="utf-8")
    return path
