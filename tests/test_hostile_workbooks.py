"""Tiny hostile workbooks fail alone, with one line and exit 2, under a memory limit.

Each file is generated here (benchmarks/hostile_workbooks.py writes them) and run through
the real `leadimport` in a child process limited to 3 GiB of address space: before the
preflight, each one aborted the process (a Rust allocation failure) or took 2-10 GB.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE, ROOT, load_benchmark

from importer.sandbox import SandboxServer

LIMIT = 3 << 30  # bytes of address space for each child
TIMEOUT_S = 120


hostile = load_benchmark("hostile_workbooks")


def validate(path: Path, tmp_path: Path) -> tuple[int, list[str]]:
    """Exit status and stderr lines of `leadimport validate PATH` under the limit."""
    cmd = [sys.executable, "-m", "importer", "validate", str(path), "-m", str(EXAMPLE)]
    cmd += ["--out", str(tmp_path / "out"), "-q"]
    got = hostile.run_limited(cmd, limit_bytes=LIMIT, timeout_s=TIMEOUT_S, cwd=ROOT)
    assert got.status.startswith("exit "), got  # not killed, not aborted by a signal
    return int(got.status.split()[1]), got.stderr.splitlines()


# name -> words the one line must hold (besides the path)
EXPECTED = {
    "far-cell.xlsx": (
        "sheet 'Leads' declares a cell at XFD1048576 (16,384 columns x 1,048,576 rows)"
    ),
    "far-column.xlsx": "sheet 'Leads' declares a cell at XFD20000 (16,384 columns x 20,000 rows)",
    "counted-cells.xlsx": "sheet 'Leads' declares a cell at XFD1048576",
    "shared-string.xlsx": "xl/sharedStrings.xml expands from 1,019.3 KB to 1,024 MB",
    "whitespace.xlsx": "xl/worksheets/sheet1.xml expands from 2 MB to 2,048 MB",
    "long-text.xlsx": "sheet 'Leads' holds a single text or tag of over 64 MB",
    "unique-count.xlsx": "the shared strings declare 4,000,000,000 strings",
    "repeated-rows.ods": "sheet 'Leads' repeats its text into",
    "dimensions.xls": "sheet 'Leads' declares a cell at XFD1048576",
    "far-cell.xls": "sheet 'Leads' declares a cell at CRXP65536",
}


def test_every_hostile_workbook_is_checked() -> None:
    assert set(EXPECTED) == set(hostile.HOSTILE)


@pytest.mark.parametrize("name", sorted(hostile.HOSTILE))
def test_a_hostile_workbook_fails_alone_with_one_line(name: str, tmp_path: Path) -> None:
    path = hostile.write_hostile(name, tmp_path)
    assert path.stat().st_size < 3 << 20  # tiny on disk
    code, lines = validate(path, tmp_path)
    assert code == 2
    assert len(lines) == 1, lines
    (line,) = lines
    assert line.startswith(f"leadimport: error: {path}: ")
    assert EXPECTED[name] in line
    assert "Traceback" not in line and "panicked" not in line
    # the line says what to do
    assert "save it again" in line or "ask the sender" in line


@pytest.mark.parametrize("name", ["leads.xlsx", "leads.ods", "leads.xls"])
def test_a_normal_workbook_passes_under_the_same_limit(name: str, tmp_path: Path) -> None:
    code, lines = validate(ROOT / "samples" / name, tmp_path)
    assert code in (0, 1)  # the samples hold invalid rows on purpose
    assert not any("error" in line for line in lines), lines


def test_libreoffice_trailing_repeats_are_not_refused(tmp_path: Path) -> None:
    """LibreOffice writes 1,048,574 empty rows x 16,384 columns after the data: calamine
    never expands them, so neither may the preflight refuse them."""
    path = hostile.trailing_empty_ods(tmp_path / "trailing.ods")
    code, lines = validate(path, tmp_path)
    assert code in (0, 1), lines
    assert not any("error" in line for line in lines), lines


def test_a_stray_cell_within_the_limits_is_read(tmp_path: Path) -> None:
    """A stray cell at BL1048576 (64 columns x every row) is within the limits: read it."""
    path = hostile.far_cell_xlsx(tmp_path / "stray.xlsx", "BL1048576")
    from importer.read._preflight import MAX_CELLS, check_workbook

    assert MAX_CELLS >= 64 * 1_048_576
    assert not check_workbook(path).error_cells  # no InputError


class _Webhook(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        self.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A listener on 127.0.0.1 that keeps the JSON bodies POSTed to it."""
    bodies: list[dict[str, Any]] = []
    handler = type("Handler", (_Webhook,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    server.shutdown()
    server.server_close()


def test_a_batch_imports_the_good_file_and_names_the_hostile_one(
    tmp_path: Path, sandbox: SandboxServer, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = webhook
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    bad = hostile.far_cell_xlsx(incoming / "a-vendor.xlsx")
    good = incoming / "b-leads.csv"
    shutil.copy(ROOT / "samples" / "leads.csv", good)
    log = tmp_path / "nightly.log"
    cmd = [sys.executable, "-m", "importer", "run", f"{incoming}/*", "-m", EXAMPLE]
    cmd += ["--endpoint", sandbox.endpoint, "--lead-token", "tok-hostile", "--rate", "500"]
    cmd += ["--notify", url, "--log-file", log, "--out", tmp_path / "out", "--yes", "-q"]
    got = hostile.run_limited(
        [str(c) for c in cmd], limit_bytes=LIMIT, timeout_s=TIMEOUT_S, cwd=ROOT
    )

    assert got.status == "exit 2", got  # the worst of 2 (the workbook) and 1 (the CSV)
    reason = "declares a cell at XFD1048576"
    assert any(str(bad) in line and reason in line for line in got.stderr.splitlines())
    # the CSV's valid rows reached the endpoint
    (run_dir,) = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("b-leads")]
    with (run_dir / "results.csv").open(newline="", encoding="utf-8") as fh:
        sent = [r for r in csv.DictReader(fh) if r["status"] == "success"]
    assert sent and 0 < len(sandbox.leads()) <= len(sent)
    # the webhook and the log file say which file failed and why
    assert len(bodies) == 1
    assert "a-vendor.xlsx NOT IMPORTED" in bodies[0]["text"] and reason in bodies[0]["text"]
    assert "b-leads.csv" in bodies[0]["text"]
    assert any(u["input"] == str(bad) and reason in u["error"] for u in bodies[0]["unusable"])
    logged = log.read_text(encoding="utf-8")
    assert str(bad) in logged and reason in logged
