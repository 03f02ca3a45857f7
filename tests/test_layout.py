"""The shape of the package (issue 13): harness/ laid out as the pipeline, small modules, imports one way."""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parent.parent / "harness"
PIPELINE = ["catalogue", "machine", "measure", "quality", "results", "aggregate", "frontier", "plots", "site", "cli"]


def _modules() -> list[Path]:
    return sorted(p for p in HARNESS.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_package_is_the_pipeline():
    packages = {p.name for p in HARNESS.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(PIPELINE)
    loose = {p.name for p in HARNESS.glob("*.py")}
    assert loose == {"__init__.py", "errors.py", "home.py", "memory_fit.py", "output.py"}  # shared by every stage


def test_no_module_over_400_lines():
    long = {str(p.relative_to(HARNESS)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 400}
    assert not long


def test_library_modules_never_import_the_command_layer():
    offenders = [
        str(p.relative_to(HARNESS))
        for p in _modules()
        if "cli" not in p.relative_to(HARNESS).parts and any(name.startswith("harness.cli") for name in _imports(p))
    ]
    assert not offenders


def test_memory_fit_is_asked_and_not_retyped():
    """The usable shares live in memory_fit.py alone: no other module spells them."""
    for path in _modules():
        if path.name == "memory_fit.py":
            continue
        text = path.read_text()
        assert "USABLE_SHARE = " not in text and "MEMORY_OVERHEAD" not in text, path
