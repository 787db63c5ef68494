"""The built wheel works outside the checkout: every sub-package and data file ships in it.

The wheel is built from this checkout and installed into a fresh venv; the command runs
from an empty folder. The wheel is installed without its dependencies, which come from the
test's own environment through a path entry, so the test needs no package registry; what
it proves is that nothing the tool needs is left out of the wheel or found through the
checkout.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel built from this checkout installed; returns its bin/."""
    tmp = tmp_path_factory.mktemp("install")
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, ROOT],
        check=True,
        capture_output=True,
        cwd=tmp,
    )
    (wheel,) = wheels.glob("leadimport-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
        cwd=tmp,
    )
    site = subprocess.run(
        [bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies, from this environment (appended after the venv's own packages).
    (Path(site) / "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return bin_dir


def test_the_wheel_holds_every_part_and_the_demo_files(installed: Path) -> None:
    (wheel,) = (installed.parent.parent / "wheels").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for part in ("cli", "config", "clean", "pipeline", "record", "sandbox", "send", "web"):
        assert f"importer/{part}/__init__.py" in names, part
    web_files = [
        "templates/base.html",
        "templates/index.html",
        "templates/map.html",
        "templates/check.html",
        "templates/run.html",
        "static/app.js",
        "static/app.css",
    ]
    for page in web_files:  # the browser face needs no CDN: every file ships
        assert f"importer/web/{page}" in names, page
    for data in ("leads.csv", "mapping.yaml", "expected.json"):
        assert f"importer/pipeline/demo/{data}" in names


def test_leadimport_demo_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [installed / "python", "-c", "import importer; print(importer.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    ).stdout
    assert where.startswith(str(installed.parent)), where  # the wheel's copy, not the checkout

    version = subprocess.run(
        [installed / "leadimport", "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stderr

    proc = subprocess.run(
        [installed / "leadimport", "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "output").iterdir()
    with (run_dir / "results.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    succeeded = [r for r in rows if r["status"] == "success"]
    assert len(succeeded) > 250 and {r["status"] for r in rows} <= {"success", "invalid"}
    leads = {r["caller_id"] or r["email"] for r in succeeded}  # one lead per phone (or email)
    assert f"sandbox:  {len(leads)} leads stored" in proc.stdout
