"""Shared fixtures: an isolated MEEK_HOME, the bundled model's path, and a way to run `meek` as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# The Ctrl-C tests send SIGINT to the `meek` they start. A shell that starts pytest in the background (`pytest &` in a
# script) ignores SIGINT for it, and an ignored signal stays ignored in every child, so those children would never see
# it (seen: four Ctrl-C tests failing that way). A handler here is reset to the default in each child on exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def meek_home(tmp_path_factory) -> Path:
    """The session's MEEK_HOME (a temporary folder): no test reads or writes the user's ~/.meek or their models.yaml."""
    home = tmp_path_factory.mktemp("meek-home")
    os.environ["MEEK_HOME"] = str(home)
    return home


@pytest.fixture(autouse=True)
def _isolated_meek_home(meek_home, monkeypatch) -> None:
    """Every test, even one run alone, sees the session's temporary MEEK_HOME (as simonw/llm's tests do for its user
    directory); a test may point it elsewhere with monkeypatch.setenv."""
    monkeypatch.setenv("MEEK_HOME", str(meek_home))


@pytest.fixture(scope="session")
def example_tree(tmp_path_factory) -> Path:
    """A results tree of signed, valid result files from several machines of the hardware table and several models,
    generated from a real result (tests/golden/result-v2-smollm2.json): what compare, report and the site read."""
    from tests.example_tree import generate

    tree = tmp_path_factory.mktemp("example") / "results"
    generate(tree, count=48, seed=7, machines_per_device=1)
    return tree


@pytest.fixture(scope="session")
def smollm2_path(meek_home) -> Path:
    from harness.catalogue.models import fetch, load_catalog

    return fetch(load_catalog().get("smollm2-135m"))


@pytest.fixture(scope="session")
def repack_default(meek_home, smollm2_path) -> int:
    """The repack setting that runs on this machine, from the real preflight probe (0 on a VM whose AMX path crashes).
    Tests that load llama.cpp in the pytest process itself use it: a crash there would end the whole session."""
    from harness.measure.preflight import default_repack

    return default_repack(smollm2_path, threads=2)


@pytest.fixture()
def run_meek(meek_home, tmp_path):
    """Run the real `meek` command in a child process; returns (exit code, stdout, stderr)."""

    def run(*args: str, timeout: float = 300, env: dict | None = None):
        full_env = {**os.environ, "MEEK_HOME": str(meek_home), **(env or {})}
        completed = subprocess.run(
            [sys.executable, "-m", "harness.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env=full_env,
        )
        return completed.returncode, completed.stdout, completed.stderr

    return run


@pytest.fixture(scope="session")
def real_results(meek_home, tmp_path_factory) -> list[Path]:
    """Result files written by a real, small `meek bench` of both bundled models (one file per model)."""
    cwd = tmp_path_factory.mktemp("real-bench")
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "bench", "-m", "smollm2-135m,gemma3-270m", "-p", "32", "-n", "8", "-r", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, "MEEK_HOME": str(meek_home)},
    )
    assert completed.returncode == 0, completed.stderr
    files = sorted((cwd / "results").glob("*/*.json"))
    assert len(files) == 2, completed.stderr
    return files


@pytest.fixture(scope="session")
def epoch_sample(tmp_path_factory) -> tuple[Path, Path]:
    """(Benchmarking Hub folder, Data on AI Models folder) in Epoch AI's CSV layout, written for this test session."""
    from tests.epoch_sample import write_epoch_sample

    return write_epoch_sample(tmp_path_factory.mktemp("epoch"))
