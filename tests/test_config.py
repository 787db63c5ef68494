"""The mapping file: what it accepts, and the exact words of what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.config import (
    DEFAULT_ENDPOINT,
    Duplicates,
    FieldType,
    load_mapping,
    resolve_token,
    token_fingerprint,
)
from importer.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = "version: 1\nfields:\n  caller_id: Phone\n"


def test_example_mapping_loads_with_every_documented_key() -> None:
    m = load_mapping(ROOT / "mappings" / "example.yaml")
    assert m.endpoint == DEFAULT_ENDPOINT
    assert m.token.env == "TRACKDRIVE_LEAD_TOKEN"
    assert (m.region, m.timezone, m.date_order) == ("US", "America/New_York", "MDY")
    assert m.duplicates is Duplicates.ALL
    assert (m.send.rate, m.send.concurrency, m.send.max_attempts, m.send.timeout_s) == (
        10.0,
        8,
        5,
        30.0,
    )
    caller = m.field("caller_id")
    assert caller is not None and caller.column == "Phone" and caller.type is FieldType.PHONE
    priority = m.field("lead_priority")
    assert priority is not None and priority.value == "3" and priority.type is FieldType.INTEGER
    assign = m.field("assign_trackdrive_number")
    assert assign is not None and assign.value == "true"
    assert {d.name: d.column or d.value for d in m.data}["campaign"] == "fall-promo"
    assert m.include_unmapped_columns is False


def test_defaults(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, MINIMAL))
    assert (m.region, m.timezone, m.date_order, m.duplicates) == (
        "US",
        None,  # no silent default zone: a mapping that maps no time needs none
        "MDY",
        Duplicates.ALL,
    )
    assert m.token.env is None and m.token.literal is None


def test_data_token_type_and_required(tmp_path: Path) -> None:
    m = load_mapping(
        write(
            tmp_path,
            MINIMAL + "data:\n  alt_phone: {column: Alt, type: phone, required: true}\n",
        )
    )
    spec = m.data[0]
    assert (spec.type, spec.required, spec.column) == (FieldType.PHONE, True, "Alt")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nfields:\n  calller_id: Phone\n",
            "fields.calller_id: 'calller_id' is not a Trackdrive parameter; "
            "did you mean 'caller_id'?",
        ),
        ("version: 2\nfields:\n  caller_id: Phone\n", "version: must be 1 (found 2)"),
        (MINIMAL + "regoin: US\n", "regoin: unknown key; allowed:"),
        (MINIMAL + "region: XX\n", "region: 'XX' is not a region code"),
        (MINIMAL + "timezone: America/New_Yrok\n", "did you mean 'America/New_York'?"),
        (MINIMAL + "date_order: YMD\n", "date_order: 'YMD' is not allowed; use MDY or DMY"),
        (
            MINIMAL + "duplicates: some\n",
            "duplicates: 'some' is not allowed; use all, first or last",
        ),
        (MINIMAL + "send: {rate: -1}\n", "send.rate: must be a number greater than 0, not -1"),
        (MINIMAL + "send: {concurrency: 2.5}\n", "send.concurrency: must be a whole number"),
        (MINIMAL + "send: {retries: 3}\n", "send.retries: unknown key"),
        (
            MINIMAL + "data:\n  x: {column: A, type: money}\n",
            "data.x.type: 'money' is not a type; allowed: string, phone, time, integer, boolean",
        ),
        (
            "version: 1\nfields:\n  lead_priority: {value: high}\n  caller_id: P\n",
            "fields.lead_priority.value: 'high' is not a whole number",
        ),
        (
            "version: 1\nfields:\n  caller_id: P\n  apply_to: {value: sms}\n",
            "fields.apply_to.value: 'sms' is not allowed; use calls",
        ),
        ("version: 1\nfields:\n  lead_priority: P\n", "fields: map caller_id or email"),
        ("version: 1\nfields:\n  caller_id: {column: A, value: B}\n", "exactly one of"),
        (MINIMAL + "endpoint: ftp://x\n", "endpoint: 'ftp://x' is not an http(s) URL"),
        (
            MINIMAL + "endpoint: https://x.trackdrive.com/api?lead_token=abc\n",
            "the URL must not carry lead_token",
        ),
        ("- just\n- a list\n", "the mapping must be a YAML mapping"),
        ("", "the mapping file is empty"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_syntax_error_and_tabs(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nfields:\n\tcaller_id: Phone\n")
    with pytest.raises(ConfigError, match=r"line 3, column 1: not valid YAML .*tabs"):
        load_mapping(path)


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = write(tmp_path, "!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_mapping(path)


def test_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKDRIVE_LEAD_TOKEN", raising=False)
    monkeypatch.delenv("TRACKDRIVE_MY_TOKEN", raising=False)
    env = load_mapping(write(tmp_path, MINIMAL + "lead_token: ${TRACKDRIVE_MY_TOKEN}\n"))
    with pytest.raises(ConfigError, match="environment variable TRACKDRIVE_MY_TOKEN is not set"):
        resolve_token(env, None)
    assert resolve_token(env, "from-cli") == "from-cli"
    monkeypatch.setenv("TRACKDRIVE_MY_TOKEN", "from-env")
    assert resolve_token(env, None) == "from-env"
    literal = load_mapping(write(tmp_path, MINIMAL + "lead_token: abc123\n"))
    assert resolve_token(literal, None) == "abc123"
    column = load_mapping(write(tmp_path, MINIMAL + "lead_token: {column: Token}\n"))
    assert resolve_token(column, None) is None and column.token.column == "Token"
    none = load_mapping(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match="no lead token"):
        resolve_token(none, None)


def test_fingerprint_hides_the_token() -> None:
    fp = token_fingerprint("secret-token-123")
    assert len(fp) == 16 and "secret" not in fp
    assert fp == token_fingerprint("secret-token-123") != token_fingerprint("other")
