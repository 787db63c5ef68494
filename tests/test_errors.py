"""Core errors carry facts and settings; each face says them in its own words."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import EXAMPLE, invoke

from importer.cli._options import FLAGS, flag
from importer.errors import ConfigError, ExitStatus, InputError, Setting, mention


def test_a_setting_is_said_by_each_face_in_its_own_words() -> None:
    exc = InputError(
        f"leads.xlsx: sheet 'Leads' has the column; pass {mention(Setting.SHEET, repr('Leads'))}",
        path="leads.xlsx",
        column="Phone",
    )
    assert exc.settings == ((Setting.SHEET, "'Leads'"),)
    assert str(exc) == "leads.xlsx: sheet 'Leads' has the column; pass sheet 'Leads'"
    assert exc.render(flag) == "leads.xlsx: sheet 'Leads' has the column; pass --sheet 'Leads'"
    assert (exc.path, exc.column, exc.exit_code) == ("leads.xlsx", "Phone", ExitStatus.UNUSABLE)


def test_the_command_line_has_a_flag_for_every_setting() -> None:
    assert set(FLAGS) == set(Setting)


def test_a_core_message_reaches_the_terminal_with_its_flag(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "journal.jsonl").parent.mkdir()
    (out / "journal.jsonl").write_text("")
    code, _, stderr = invoke("validate", EXAMPLE.parent.parent / "samples" / "leads.csv",
                             "-m", EXAMPLE, "--out", out)  # fmt: skip
    assert code == 2
    assert stderr == (
        f"leadimport: error: {out}: holds the journal of a run but no run.json; "
        "choose another --out (a new folder for each run)\n"
    )


@pytest.mark.parametrize("status", list(ExitStatus))
def test_exit_statuses_are_documented_in_help(status: ExitStatus) -> None:
    code, stdout, _ = invoke("--help")
    exit_help = " ".join(stdout.split("Exit status:")[1].split())
    assert code == 0 and f" {status.value} " in f" {exit_help}"


def test_plain_words_never_spell_a_flag() -> None:
    for setting in Setting:
        assert "--" not in str(ConfigError(f"x: {mention(setting, 'v')}"))


def test_every_exit_status_has_its_words_in_help() -> None:
    from importer.cli._commands import EXIT_MEANINGS

    assert set(EXIT_MEANINGS) == set(ExitStatus)
