"""The package's shape, checked rather than described (the import walls are in pyproject.toml).

- no module imports another module's underscore name;
- code in one part imports another part only through that part's ``__init__``;
- ``importer/`` stays a map: at most 14 entries;
- no command-line flag is spelled outside ``cli/``: the core's messages name settings, and
  each face says them in its own words.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "importer"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) for every ``from importer... import name`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and (node.module == "importer" or node.module.startswith("importer."))
        ):
            found += [(node.lineno, node.module, a.name) for a in node.names]
    return found


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


@pytest.mark.parametrize("tree", ["importer", "tests", "benchmarks"])
def test_no_module_imports_an_underscore_name(tree: str) -> None:
    offences = [
        f"{_where(path, line)}: from {module} import {name}"
        for path in sorted((ROOT / tree).rglob("*.py"))
        for line, module, name in _imports(path)
        if name.startswith("_") and name != "__version__"
    ]
    assert offences == []


def test_parts_are_entered_only_through_their_init() -> None:
    offences = []
    for path in SOURCES:
        here = _module(path).split(".")
        for line, module, _ in _imports(path):
            target = module.split(".")
            crosses = len(target) > 1 and (len(here) < 2 or here[1] != target[1])
            if crosses and any(segment.startswith("_") for segment in target[2:]):
                offences.append(f"{_where(path, line)}: from {module}")
    assert offences == []


def test_the_package_is_a_map_of_at_most_14_entries() -> None:
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= 14, entries


FLAG = re.compile(r"--[a-z][a-z0-9]+(?:-[a-z0-9]+)*")


def test_no_command_line_flag_is_spelled_outside_cli() -> None:
    offences = []
    for path in SOURCES:
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for flag in FLAG.findall(node.value):
                    offences.append(f"{_where(path, node.lineno)}: {flag}")
    assert offences == []
