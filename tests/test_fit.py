"""`meek fit`: the largest context that runs, found for real (the bundled SmolLM2 through llama.cpp, its worker's memory
limited so the failing edge is inside the search), recorded in the result file beside the memory model's prediction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import memory_fit
from harness.catalogue.gguf_file import read_gguf_facts
from harness.results.store import read_result

MIB = 2**20


def _fit_files(folder):
    return sorted(folder.glob("results/*/*.json"))


def test_largest_context_is_the_last_step_whose_need_fits(smollm2_path):
    """The memory model's largest context: its need fits, one KV step more does not; the trained context caps it."""
    facts = read_gguf_facts(smollm2_path)
    params_b = facts.n_params / 1e9

    def total(context: int) -> float:
        return memory_fit.need(params_b, facts.quant, facts.file_size_bytes, context, facts, flash_attn=True).total

    for usable in (256 * MIB, 300 * MIB, 350 * MIB):
        found = memory_fit.largest_context(usable, 8192, params_b, facts.quant, facts.file_size_bytes, facts, flash_attn=True)
        assert found % 256 == 0 and 0 < found < 8192
        assert total(found) <= usable < total(found + 256)
    assert memory_fit.largest_context(2**40, 8192, params_b, facts.quant, facts.file_size_bytes, facts) == 8192
    assert memory_fit.largest_context(50 * MIB, 8192, params_b, facts.quant, facts.file_size_bytes, facts) == 0
    # a trained context off the 256-cell grid is itself the answer when it fits
    assert memory_fit.largest_context(2**40, 1000, params_b, facts.quant, facts.file_size_bytes, facts) == 1000


def test_the_failing_edge_under_a_memory_limit(run_meek, tmp_path):
    """With the worker limited to 288 MiB beyond its start-up, SmolLM2 fails somewhere between 512 and 4,096 tokens:
    the search doubles into the failure, bisects to 256 tokens, records every probe (a failure with its reason) and
    prints the memory model's prediction and its error."""
    code, stdout, stderr = run_meek(
        "fit", "--memory-limit", "288M", "--fill", "0", "--max-ctx", "4096", "-n", "4", "-t", "2", timeout=240
    )
    assert code == 0, stderr
    assert "Traceback" not in stderr
    [path] = _fit_files(tmp_path)
    result = read_result(path)
    assert result.status == "complete" and not result.runs
    [fit] = result.fits
    assert fit.memory_limit_bytes == 288 * MIB and fit.trained_ctx == 4096 and fit.fill == 0 and fit.n_gen == 4
    assert fit.ctx_max is not None and fit.ctx_failed is not None
    assert 512 <= fit.ctx_max < fit.ctx_failed <= 4096 and fit.ctx_failed - fit.ctx_max <= 256
    ok = [p for p in fit.probes if p.ok]
    failed = [p for p in fit.probes if not p.ok]
    assert [p.ctx for p in fit.probes[:3]] == [512, 1024, 2048][: len(fit.probes[:3])]
    assert max(p.ctx for p in ok) == fit.ctx_max and min(p.ctx for p in failed) == fit.ctx_failed
    assert all(p.ctx < q.ctx for p in ok for q in failed)  # one edge: everything below it ran, nothing above it did
    assert all(p.tg_ts and p.tg_ts > 0 and p.peak_rss_bytes and p.peak_rss_bytes > 100 * MIB for p in ok)
    assert all(p.reason and p.tg_ts is None for p in failed)
    assert fit.tg_ts == next(p.tg_ts for p in ok if p.ctx == fit.ctx_max)
    # the prediction is the memory model's for the same limit, and the line gives its error against the measurement
    facts = read_gguf_facts(_model_path())
    predicted = memory_fit.largest_context(
        288 * MIB, 4096, facts.n_params / 1e9, facts.quant, facts.file_size_bytes, facts, flash_attn=True
    )
    assert fit.predicted_ctx == predicted and fit.usable_bytes == 288 * MIB
    error = (predicted - fit.ctx_max) / fit.ctx_max
    assert f"memory model: {predicted:,} (measured {fit.ctx_max:,}, {error:+.0%})" in stdout
    assert f"largest context: {fit.ctx_max:,} tokens ({fit.ctx_failed:,} failed)" in stdout
    assert stderr.count("  ctx ") == len(fit.probes)  # a progress line per probe


def _model_path():
    from harness.catalogue.models import fetch, load_catalog

    return fetch(load_catalog().get("smollm2-135m"))


def test_a_limit_too_small_to_load_the_model_is_one_line(run_meek, tmp_path):
    code, stdout, stderr = run_meek("fit", "--memory-limit", "40M", "--fill", "0", "-n", "4", timeout=120)
    assert code == 1
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: the model does not load within 40 MiB (--memory-limit)"), stderr
    assert "Traceback" not in stderr and not _fit_files(tmp_path)


def test_min_tg_counts_a_slow_probe_as_failing(run_meek, tmp_path):
    """No CPU generates a million tokens a second: every probe fails on the rate, none on memory; the file says so."""
    code, stdout, stderr = run_meek("fit", "--min-tg", "1e6", "--fill", "0", "-n", "4", "-t", "2", timeout=120)
    assert code == 1 and "Traceback" not in stderr
    assert "is below --min-tg 1e+06" in stderr
    [path] = _fit_files(tmp_path)
    [fit] = read_result(path).fits
    assert fit.min_tg == 1e6 and fit.ctx_max is None and [p.ctx for p in fit.probes] == [512, 256]
    assert all(not p.ok and p.tg_ts and "--min-tg" in (p.reason or "") for p in fit.probes)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--min-tg", "fast"], "--min-tg: expected a rate in tokens per second above 0, not 'fast'"),
        (["--min-tg", "0"], "--min-tg: expected a rate in tokens per second above 0, not '0'"),
        (["--min-tg", "nan"], "--min-tg: expected a rate"),
        (["--fill", "2"], "--fill: expected a share of the context from 0 to 1, not '2'"),
        (["--memory-limit", "lots"], "--memory-limit: expected a size such as 512M"),
        (["-m", "./no-such-model.gguf"], "-m: model file not found: ./no-such-model.gguf"),
        (["-m", "no-such-model"], "unknown model 'no-such-model'"),
        (["-fa", "maybe"], "-fa: expected 0/off, 1/on or -1/auto"),
    ],
)
def test_bad_options_are_one_line(run_meek, tmp_path, args, message):
    code, stdout, stderr = run_meek("fit", *args, timeout=60)
    assert code == 2, stderr
    assert stderr.strip().startswith("error: ") and len(stderr.strip().splitlines()) == 1 and message in stderr
    assert not _fit_files(tmp_path)


def test_sizes_parse_in_binary_and_decimal_units():
    from harness.commands.fit import parse_size

    assert parse_size("x", "256M") == parse_size("x", "256MiB") == 256 * MIB
    assert parse_size("x", "1.5G") == 3 * 2**29 and parse_size("x", "300MB") == 300 * 10**6
    assert parse_size("x", "4096") == 4096


def test_ctrl_c_keeps_the_finished_probes(tmp_path, meek_home):
    """Ctrl-C once a probe finished: the result file is written, marked interrupted, with that probe; exit code 130."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "fit", "--fill", "1", "-n", "4", "-t", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MEEK_HOME": str(meek_home)},
        start_new_session=True,
    )
    deadline, seen = time.monotonic() + 180, []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        if " ok " in line or not line:
            break
    time.sleep(1.5)  # into the next probe (it fills 1,024 tokens), not the instant its worker is being spawned
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, "".join(seen) + stderr
    assert "Traceback" not in stderr and "the finished probes were saved" in stderr
    [path] = _fit_files(tmp_path)
    result = read_result(path)
    assert result.status == "interrupted"
    [fit] = result.fits
    assert fit.probes and fit.probes[0].ctx == 512 and fit.probes[0].ok and fit.ctx_max == 512
