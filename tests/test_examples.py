"""Every file in mappings/ and samples/ is exercised, so the examples never rot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, invoke
from helpers import read_results as results

from importer.config import load_mapping

SAMPLES = sorted(
    p for p in (ROOT / "samples").iterdir() if p.suffix in (".csv", ".txt", ".xlsx", ".xls", ".ods")
)
MAPPINGS = sorted((ROOT / "mappings").glob("*.yaml"))
# The lead sources' exports (docs/sources.md) each have their own mapping, named like the
# sample; every other sample has the example's columns.
SOURCES = (
    "facebook-lead-ads", "google-ads-lead-form", "tiktok-leads", "hubspot-contacts",
    "salesforce-leads", "zoho-crm-leads", "pipedrive-people", "google-sheets",
    "vendor-aged-leads",
)  # fmt: skip


def _mapping_for(sample: Path) -> Path:
    name = sample.stem if sample.stem in SOURCES else "example"
    return ROOT / "mappings" / f"{name}.yaml"


def test_every_sample_and_mapping_is_covered() -> None:
    assert len(SAMPLES) >= 12 + len(SOURCES)
    assert {m.name for m in MAPPINGS} == {
        "example.yaml",
        "per-row-token.yaml",
        "reschedule.yaml",
        *(f"{name}.yaml" for name in SOURCES),
    }
    assert {f"{name}.csv" for name in SOURCES} <= {s.name for s in SAMPLES}
    for mapping in MAPPINGS:
        load_mapping(mapping)


def test_the_packaged_demo_is_the_sample_and_the_example_mapping() -> None:
    demo = ROOT / "importer" / "pipeline" / "demo"
    assert (demo / "leads.csv").read_bytes() == (ROOT / "samples" / "leads.csv").read_bytes()
    example = (ROOT / "mappings" / "example.yaml").read_bytes()
    assert (demo / "mapping.yaml").read_bytes() == example


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if s.name != "tokens.csv"], ids=lambda p: p.name
)
def test_every_sample_validates_with_its_mapping(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _, stderr = invoke("validate", sample, "-m", _mapping_for(sample), "--out", out)
    assert code in (0, 1), stderr
    rows = results(out)
    assert rows and all(r["status"] in ("valid", "invalid", "skipped") for r in rows)
    assert any(r["status"] == "valid" for r in rows)
    for r in rows:
        if r["status"] == "valid":
            body = json.loads(r["payload"])
            assert body.get("caller_id", "+").startswith("+")


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_mapping_init_makes_a_working_mapping_for_every_sample(
    sample: Path, tmp_path: Path
) -> None:
    mapping = tmp_path / "suggested.yaml"
    code, _, stderr = invoke("mapping", "init", sample, "-o", mapping)
    assert code == 0, stderr
    text = mapping.read_text()
    assert "caller_id:" in text.split("data:")[0].replace("# caller_id", "")
    code, _, stderr = invoke("validate", sample, "-m", mapping, "--out", tmp_path / "run")
    assert code in (0, 1), stderr
    assert any(r["status"] == "valid" for r in results(tmp_path / "run"))


def test_per_row_token_mapping(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(tokens=("offer-A-token", "offer-B-token"))
    out = tmp_path / "run"
    code, _, stderr = invoke(
        "run", ROOT / "samples" / "tokens.csv", "-m", ROOT / "mappings" / "per-row-token.yaml",
        "--endpoint", server.endpoint, "--out", out,
    )  # fmt: skip
    assert code == 1, stderr  # row 6 has no token
    rows = {r["row"]: r for r in results(out)}
    assert [rows[n]["status"] for n in "23456"] == [
        "skipped",
        "success",
        "success",
        "success",
        "invalid",
    ]
    assert rows["2"]["error"] == "duplicate of row 5"
    assert rows["6"]["error"] == "Token: no lead token in this row"
    leads = server.leads()
    assert len(leads) == 3 and len({lead["token_fingerprint"] for lead in leads}) == 2
    plans = sorted(lead["data"]["plan"] for lead in leads)
    assert plans == ["bronze", "platinum", "silver"]  # include_unmapped_columns: Plan is a token
    assert all("token" not in lead["data"] for lead in leads)
    for path in out.iterdir():
        assert b"offer-A-token" not in path.read_bytes(), path


def test_reschedule_mapping_dry_run(tmp_path: Path) -> None:
    code, stdout, stderr = invoke(
        "reschedule", ROOT / "samples" / "leads.csv", "-m", ROOT / "mappings" / "reschedule.yaml",
        "--in", "1s", "--dry-run", "--out", tmp_path / "r",
    )  # fmt: skip
    assert code in (0, 1), stderr
    assert "next_action_at" in stdout
    assert any(r["status"] == "valid" for r in results(tmp_path / "r"))
