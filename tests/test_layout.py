"""The shape of the package: harness/ laid out as the pipeline under a command layer, small modules, imports one way
(checked by import-linter's contracts in pyproject.toml)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HARNESS = Path(__file__).resolve().parent.parent / "harness"
PYPROJECT = HARNESS.parent / "pyproject.toml"


def _modules() -> list[Path]:
    return sorted(p for p in HARNESS.rglob("*.py") if "__pycache__" not in p.parts)


def _layers() -> list[str]:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    return [name.strip() for layer in layers for name in layer.replace("|", ":").split(":")]


def test_every_package_and_loose_module_has_a_layer():
    """A new package or top-level module cannot slip past the import contracts: each is named in a layer."""
    named = set(_layers())
    found = {p.name for p in HARNESS.iterdir() if (p / "__init__.py").is_file()}
    found |= {p.stem for p in HARNESS.glob("*.py") if p.name != "__init__.py"}
    assert found == named


def test_the_import_contracts_hold():
    """The layers (CLI on top, then commands, then the pipeline in the order data flows), the thin CLI, and no import
    circle between modules: import-linter's check, which counts imports inside functions."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The contract is not vacuous: a domain module importing the command layer breaks it."""
    import shutil

    from importlinter.cli import lint_imports

    copy = tmp_path / "harness"
    shutil.copytree(HARNESS, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    (copy / "results" / "stats.py").write_text(
        (copy / "results" / "stats.py").read_text() + "\nfrom harness.commands import bench\n"
    )
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.read_text())
    monkey = os.getcwd()
    sys.path.insert(0, str(tmp_path))
    saved = {name: module for name, module in sys.modules.items() if name == "harness" or name.startswith("harness.")}
    for name in saved:
        del sys.modules[name]
    try:
        os.chdir(tmp_path)
        assert lint_imports(config_filename=str(tmp_path / "pyproject.toml"), no_cache=True, no_logo=True) == 1
    finally:
        os.chdir(monkey)
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "harness" or n.startswith("harness.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_no_module_over_500_lines():
    """Small modules. Counted on ruff-formatted code (one argument per line where a call does not fit), which runs about
    a tenth longer than the hand-packed lines the first limit of 400 was set on."""
    long = {str(p.relative_to(HARNESS)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 500}
    assert not long


def test_memory_fit_is_asked_and_not_retyped():
    """The usable shares live in memory_fit.py alone: no other module spells them."""
    for path in _modules():
        if path.name == "memory_fit.py":
            continue
        text = path.read_text()
        assert "USABLE_SHARE = " not in text and "MEMORY_OVERHEAD" not in text, path
