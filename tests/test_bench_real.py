"""`meek bench` end to end on the bundled SmolLM2 through real llama.cpp, small sizes."""

import json
import statistics
from pathlib import Path

import pytest

from harness.results.store import read_result


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, meek_home):
    import os
    import subprocess
    import sys

    cwd = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "bench",
            "-p",
            "64",
            "-n",
            "16",
            "-pg",
            "32,8",
            "-d",
            "0,64",
            "-r",
            "3",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, "MEEK_HOME": str(meek_home)},
    )
    return completed, cwd


def test_exit_code_and_saved_file(bench_run):
    completed, cwd = bench_run
    assert completed.returncode == 0, completed.stderr
    files = list((cwd / "results").glob("*/*-smollm2-135m.json"))
    assert len(files) == 1
    assert f"saved {Path('results') / files[0].parent.name / files[0].name}" in completed.stderr


def test_result_file_is_valid_and_complete(bench_run):
    _, cwd = bench_run
    result = read_result(next((cwd / "results").glob("*/*.json")))
    assert result.status == "complete" and result.errors == []
    assert result.model.id == "smollm2-135m"
    assert result.model.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert result.model.quant == "Q4_1" and result.model.architecture == "llama"
    assert result.machine.llama_cpp.commit
    assert sorted(r.test for r in result.runs) == sorted(
        ["pp64", "tg16", "pp32+tg8", "pp64 @ d64", "tg16 @ d64", "pp32+tg8 @ d64"]
    )
    assert len(result.loads) == 1 and result.loads[0].load_time_ms > 0


def test_figures_follow_from_their_own_samples(bench_run):
    _, cwd = bench_run
    result = read_result(next((cwd / "results").glob("*/*.json")))
    for run in result.runs:
        assert len(run.samples_ns) == 3 and len(run.warmup_ns) == 1
        n_tokens = run.n_prompt + run.n_gen
        rates = [n_tokens * 1e9 / ns for ns in run.samples_ns]
        assert run.samples_ts == pytest.approx(rates)
        assert run.avg_ts == pytest.approx(statistics.fmean(rates))
        assert run.median_ts == pytest.approx(statistics.median(rates))
        assert run.stddev_ts == pytest.approx(statistics.stdev(rates))
        assert 1 < run.avg_ts < 100_000
        if run.n_prompt:
            assert len(run.ttft_ns) == 3
            # the first token comes after the whole prompt was processed
            assert all(t >= p for t, p in zip(run.ttft_ns, run.samples_ns)) if not run.n_gen else True
        else:
            assert run.ttft_ns == []
        # weights are memory-mapped: resident memory must be at least a good part of the 94 MiB file
        assert run.peak_rss_bytes > 50 * 2**20


def test_stdout_json_matches_the_file(bench_run):
    completed, cwd = bench_run
    rows = json.loads(completed.stdout)
    result = read_result(next((cwd / "results").glob("*/*.json")))
    assert [r["test"] for r in rows] == [r.test for r in result.runs]
    assert [r["avg_ts"] for r in rows] == [r.avg_ts for r in result.runs]
    assert all(r["model_sha256"] == result.model.sha256 for r in rows)


def test_generation_is_slower_per_token_than_prompt_processing(bench_run):
    """A sanity check that the two timings measure different things: batched prompt tokens are cheaper than decoded ones."""
    _, cwd = bench_run
    runs = {r.test: r for r in read_result(next((cwd / "results").glob("*/*.json"))).runs}
    assert runs["pp64"].median_ts > runs["tg16"].median_ts


def test_depth_fill_is_restored_not_recomputed(smollm2_path, repack_default):
    """Repetitions at depth start from a snapshot of the filled context: the restored cache gives the same logits."""
    import numpy as np

    from harness.measure.protocol import LoadSettings
    from harness.measure.runtime.llamacpp import LlamaCppRuntime

    backend = LlamaCppRuntime()
    backend.load(str(smollm2_path), LoadSettings(repack=repack_default))
    backend.new_context(256, 2)
    backend.process_prompt(64, np.random.default_rng(1))
    snapshot = backend.snapshot()
    backend.process_prompt(8, np.random.default_rng(2))
    first = backend.first_token()
    backend.clear()
    backend.restore(snapshot)
    backend.process_prompt(8, np.random.default_rng(2))
    assert backend.first_token() == first
    backend.close()
