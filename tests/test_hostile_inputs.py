"""Hostile mappings and spreadsheets (issue 11): one line, exit 2, bounded memory and time.

The memory- and time-heavy inputs (benchmarks/hostile_inputs.py makes them, small on disk)
run through the real `leadimport` in a child process under an address-space limit and a
timeout, so that a regression fails by construction: an alias bomb, a header of a million
columns, a 100 MB cell, a FIFO named as the input. The others run in-process through the
CLI, against the sandbox where something is sent.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import HEADER, ROOT, invoke, load_benchmark, read_results

LIMIT = 3 << 29  # 1.5 GiB of address space: a plain validate needs about 0.75 GiB
TIMEOUT_S = 60


hostile = load_benchmark("hostile_inputs")


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    """The usual umask, whatever the test runner's: modes below are then the code's doing."""
    old = os.umask(0o022)
    yield
    os.umask(old)


# --- in a child process, under the limits --------------------------------------------------


@pytest.mark.parametrize("name", sorted(hostile.CASES))
def test_a_hostile_input_ends_in_one_line_under_the_limits(name: str, tmp_path: Path) -> None:
    case = hostile.CASES[name]
    path, got = hostile.run_case(name, tmp_path, limit_bytes=LIMIT, timeout_s=TIMEOUT_S)
    assert path.stat().st_blocks * 512 < 16 << 20  # small on disk
    assert got.status == f"exit {case.code}", got  # not killed, no MemoryError
    expected = case.line(path)
    assert got.stderr.splitlines() == ([expected] if expected else []), got.stderr
    if name == "long-host-label":  # refused before a run folder is made
        assert not (tmp_path / "run").exists()


def test_a_huge_cell_makes_its_row_invalid_and_the_file_goes_on(tmp_path: Path) -> None:
    path, got = hostile.run_case("huge-cell", tmp_path, limit_bytes=LIMIT, timeout_s=TIMEOUT_S)
    assert path.stat().st_size > hostile.CELL_MB << 20  # 100 MB as read, a hole on disk
    assert got.status == "exit 1", got
    rows = read_results(tmp_path / "run")
    assert len(rows) == 2 * (hostile.HUGE_ROW - 2) + 1
    bad = [r for r in rows if r["status"] != "valid"]
    assert [(r["row"], r["status"], r["error"]) for r in bad] == [
        (
            str(hostile.HUGE_ROW),
            "invalid",
            "cell too large: 100 MB in column 'Source' (at most 1 MB a cell); shorten it",
        )
    ]
    assert rows[-1]["row"] == str(2 * hostile.HUGE_ROW - 2)  # every row after it was read


# --- in-process, through the CLI ----------------------------------------------------------


def _csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _lead(phone: str) -> list[str]:
    return ["Ann", "Lee", phone, "", "", "", "NY", "10001", "web"]


MAPPING = hostile.MAPPING


def _mapping(path: Path, text: str = MAPPING) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mapping_token", "option", "accepted"),
    [
        ("lead_token: mapping-token", [], "mapping-token"),  # the env var does not beat it
        ("lead_token: mapping-token", ["--lead-token", "cli-token"], "cli-token"),
        ("", [], "env-token"),  # no token in the mapping: the env var fills in
    ],
)
def test_the_mapping_token_beats_the_environment(
    tmp_path: Path, sandbox_factory: Any, mapping_token: str, option: list[str], accepted: str
) -> None:
    server = sandbox_factory(tokens=(accepted,))
    mapping = _mapping(
        tmp_path / "m.yaml", MAPPING.replace("lead_token: mapping-token", mapping_token)
    )
    src = _csv(tmp_path / "leads.csv", HEADER, _lead("212-555-0147"), _lead("212-555-0148"))
    code, _, stderr = invoke(
        "run", src, "-m", mapping, "--endpoint", server.endpoint, "--out", tmp_path / "run",
        "-q", *option, env={"TRACKDRIVE_LEAD_TOKEN": "env-token"},
    )  # fmt: skip
    assert (code, stderr) == (0, "")
    assert len(server.leads()) == 2


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("lead_token: ${AWS_SECRET_ACCESS_KEY}", "lead_token: ${AWS_SECRET_ACCESS_KEY}"),
        ("endpoint: ${SECRET_URL}\nlead_token: x", "endpoint: ${SECRET_URL}"),
    ],
)
def test_a_mapping_reads_only_trackdrive_variables(tmp_path: Path, key: str, line: str) -> None:
    mapping = _mapping(tmp_path / "m.yaml", MAPPING.replace("lead_token: mapping-token", key))
    src = _csv(tmp_path / "leads.csv", HEADER, _lead("212-555-0147"))
    env = {"AWS_SECRET_ACCESS_KEY": "secret", "SECRET_URL": "http://127.0.0.1:9/x"}
    code, stdout, stderr = invoke("validate", src, "-m", mapping, env=env)
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"leadimport: error: {mapping}: {line}: a mapping may read only environment "
        "variables named TRACKDRIVE_* (like ${TRACKDRIVE_LEAD_TOKEN}); export the value "
        "under such a name\n"
    )


def test_a_single_alias_is_refused_where_it_is(tmp_path: Path) -> None:
    text = MAPPING.replace("data:\n  source: Source\n", "data:\n  source: Source\n  again: *x\n")
    mapping = _mapping(tmp_path / "m.yaml", text)
    code, _, stderr = invoke("validate", ROOT / "samples" / "leads.csv", "-m", mapping)
    assert code == 2
    assert stderr == (
        f"leadimport: error: {mapping}: line 8, column 10: YAML anchors and aliases (*x) are "
        "not allowed in a mapping file; write each value out\n"
    )


def test_the_token_column_cannot_be_a_field_either(tmp_path: Path) -> None:
    text = MAPPING.replace("lead_token: mapping-token", "lead_token: {column: Phone}")
    mapping = _mapping(tmp_path / "m.yaml", text)
    code, _, stderr = invoke("validate", ROOT / "samples" / "leads.csv", "-m", mapping)
    assert code == 2
    assert stderr == (
        f"leadimport: error: {mapping}: fields.caller_id: column 'Phone' holds the lead token "
        "(lead_token: {column: Phone}); a token is sent only as the lead token, never in a "
        "lead's body or results: remove this key\n"
    )


@pytest.mark.parametrize(("extra", "code"), [(16_384 - len(HEADER), 0), (16_385 - 9, 2)])
def test_excel_s_widest_sheet_is_read_one_more_column_is_not(
    tmp_path: Path, extra: int, code: int
) -> None:
    header = HEADER + [f"x{i}" for i in range(extra)]
    src = _csv(tmp_path / "wide.csv", header, _lead("212-555-0147") + [""] * extra)
    got, _, stderr = invoke("validate", src, "-m", _mapping(tmp_path / "m.yaml"), "-q")
    assert got == code
    if code == 2:
        assert stderr == (
            f"leadimport: error: {src}: row 1 has 16,385 columns; at most 16,384 can be read "
            "(Excel's limit); check that the file is a spreadsheet and its delimiter\n"
        )


def test_a_cell_of_one_mib_is_read_one_byte_more_is_not(tmp_path: Path) -> None:
    fits, over = "a" * (1 << 20), "b" * ((1 << 20) + 1)
    src = _csv(
        tmp_path / "cells.csv",
        HEADER,
        _lead("212-555-0147")[:-1] + [fits],
        _lead("212-555-0148")[:-1] + [over],
        _lead("212-555-0149"),
    )
    code, _, _ = invoke(
        "validate", src, "-m", _mapping(tmp_path / "m.yaml"), "--out", tmp_path / "r"
    )
    assert code == 1
    rows = read_results(tmp_path / "r")
    too_large = "cell too large: 1.0 MB in column 'Source' (at most 1 MB a cell); shorten it"
    assert [(r["row"], r["status"], r["error"]) for r in rows] == [
        ("2", "valid", ""),
        ("3", "invalid", too_large),
        ("4", "valid", ""),
    ]


def test_a_device_is_not_read(tmp_path: Path) -> None:
    code, _, stderr = invoke(
        "validate", "/dev/zero", "--format", "csv", "-m", _mapping(tmp_path / "m.yaml")
    )
    assert code == 2
    assert stderr == (
        "leadimport: error: /dev/zero: is not a regular file (a pipe, device or socket); "
        "save the spreadsheet as a file and name that\n"
    )


def test_a_fifo_is_not_read_as_a_mapping(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "m.yaml")  # opening it would wait for a writer for ever
    code, _, stderr = invoke("validate", ROOT / "samples" / "leads.csv", "-m", tmp_path / "m.yaml")
    assert code == 2
    assert stderr == (
        f"leadimport: error: {tmp_path / 'm.yaml'}: the mapping is not a regular file; name a "
        "mapping YAML file\n"
    )


def test_control_characters_in_a_file_name_are_neither_echoed_nor_folder_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mapping = _mapping(tmp_path / "m.yaml")
    src = _csv(tmp_path / "le\x1b[2Jads\x07.csv", HEADER, _lead("212-555-0147"))
    code, stdout, stderr = invoke("validate", src, "-m", mapping, "-q")
    assert code == 0 and "\x1b" not in stdout + stderr
    (folder,) = (tmp_path / "output").iterdir()
    assert folder.name.startswith("le_[2Jads_-")
    empty = tmp_path / "b\x1b]0;owned\x07.csv"
    empty.write_text("Phone\n", encoding="utf-8")
    code, _, stderr = invoke("validate", empty, "-m", mapping, "-q")
    assert code == 2
    assert stderr == (
        f"leadimport: error: {tmp_path}/b\\x1b]0;owned\\x07.csv: has a header row but no data "
        "rows\n"
    )


def test_run_folders_and_the_ledger_are_private(tmp_path: Path, sandbox: Any) -> None:
    src = _csv(tmp_path / "leads.csv", HEADER, _lead("212-555-0147"))
    ledger = tmp_path / "state" / "ledger.sqlite"
    code, _, stderr = invoke(
        "run", src, "-m", _mapping(tmp_path / "m.yaml"), "--endpoint", sandbox.endpoint,
        "--out", tmp_path / "run", "--skip-unchanged", "--ledger", ledger, "-q",
    )  # fmt: skip
    assert (code, stderr) == (0, "")
    run = tmp_path / "run"
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run.iterdir()}
    assert {"results.csv", "journal.jsonl", "run.json", "run.log"} <= set(modes)
    assert set(modes.values()) == {0o600}, modes
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
