"""`meek quality`: KL divergence of real quants of the bundled SmolLM2 (made with the vendored llama-quantize) against the
bundled file, through real llama.cpp; checked against llama-perplexity itself, plus the math on its own and the refusals."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.quality.kld import Tally, compact, mean_and_uncertainty, percentile, summary
from harness.results.schema import validate_document

CTX, CHUNKS = 128, 3  # 3 x 63 = 189 scored positions: llama-perplexity prints its statistics from 100 on
QUANTS = ("Q8_0", "Q4_0", "Q2_K")


def _tool(name: str) -> Path:
    """A llama.cpp tool built from the vendored source: $MEEK_LLAMA_QUANTIZE / $MEEK_LLAMA_PERPLEXITY, else beside the
    llama-bench .ci/run names in $MEEK_LLAMA_BENCH (built in its folder if missing: the libraries are built already), else built
    in this session's MEEK_HOME (minutes); skipped when it cannot be built."""
    from harness.errors import MeekError
    from harness.measure import vendored

    given = os.environ.get("MEEK_" + name.upper().replace("-", "_"))
    if given and Path(given).is_file():
        return Path(given)
    bench = os.environ.get("MEEK_LLAMA_BENCH")
    if bench and (Path(bench).parent / name).is_file():
        return Path(bench).parent / name
    try:
        build = vendored.build_folder_of(Path(bench)) if bench else None
        return vendored.build_tool(name, say=lambda line: None, build=build)
    except (MeekError, OSError) as error:
        pytest.skip(f"{name} cannot be built here: {error}")


@pytest.fixture(scope="session")
def quants(tmp_path_factory, smollm2_path) -> dict[str, Path]:
    """Q8_0, Q4_0 and Q2_K requantized from the bundled SmolLM2 (Q4_1) by the vendored llama-quantize."""
    binary = _tool("llama-quantize")
    folder = tmp_path_factory.mktemp("quants")
    made = {}
    for kind in QUANTS:
        target = folder / f"smollm2-{kind}.gguf"
        subprocess.run(
            [str(binary), "--allow-requantize", str(smollm2_path), str(target), kind, "2"], check=True, capture_output=True
        )
        made[kind] = target
    return made


def _meek(meek_home: Path, cwd: Path, *args: str, timeout: float = 300) -> tuple[int, str, str]:
    env = {**os.environ, "MEEK_HOME": str(meek_home)}
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )
    return completed.returncode, completed.stdout, completed.stderr


def _quality(results: Path):
    (path,) = sorted(results.rglob("*.json"))
    result = validate_document(json.loads(path.read_text()), str(path))
    (quality,) = result.quality
    return result, quality


@pytest.fixture(scope="module")
def measured(meek_home, quants, tmp_path_factory) -> dict[str, tuple]:
    """`meek quality` of each quant against the bundled file: (result, quality block, stderr) by quant."""
    out = {}
    for kind, path in quants.items():
        cwd = tmp_path_factory.mktemp(f"quality-{kind}")
        code, stdout, stderr = _meek(
            meek_home,
            cwd,
            "quality",
            "-m",
            str(path),
            "--reference",
            "smollm2-135m",
            "--ctx",
            str(CTX),
            "--chunks",
            str(CHUNKS),
            "-t",
            "2",
        )
        assert code == 0, stderr
        result, quality = _quality(cwd / "results")
        out[kind] = (result, quality, stdout, stderr)
    return out


def test_a_file_against_itself_diverges_by_nothing(meek_home, tmp_path):
    code, stdout, stderr = _meek(
        meek_home, tmp_path, "quality", "-m", "smollm2-135m", "--reference", "smollm2-135m", "--ctx", str(CTX), "--chunks", "2"
    )
    assert code == 0, stderr
    result, quality = _quality(tmp_path / "results")
    assert result.model.id == "smollm2-135m" and result.status == "complete"
    assert abs(quality.kld_mean) < 1e-4 and quality.kld_p99 < 1e-3
    assert quality.same_top == 1.0
    assert quality.ppl_ratio == pytest.approx(1.0, abs=1e-4)
    assert quality.tokens_scored == 2 * (CTX - 1 - CTX // 2)
    assert "KL divergence, mean" in stdout and "same top token" in stdout and "100.000 %" in stdout


def test_divergence_grows_as_bits_fall(measured):
    kld = {kind: measured[kind][1].kld_mean for kind in QUANTS}
    assert kld["Q2_K"] > kld["Q4_0"] > kld["Q8_0"] > 0, kld
    same = {kind: measured[kind][1].same_top for kind in QUANTS}
    assert same["Q8_0"] > same["Q2_K"], same
    for kind in QUANTS:
        result, quality, _, _ = measured[kind]
        assert quality.reference == "smollm2-135m" and quality.reference_quant == "Q4_1"
        assert result.model.quant == kind and quality.chunks == CHUNKS and quality.ctx == CTX
        assert "pydoc_data.topics" in quality.text and "PSF License" in quality.text
        assert quality.kld_median <= quality.kld_p90 <= quality.kld_p99 <= quality.kld_max


def test_one_reference_pass_serves_every_quant(measured, meek_home):
    stderrs = [measured[kind][3] for kind in QUANTS]
    assert sum("read from the cache" in s for s in stderrs) == len(QUANTS) - 1 or all("read from the cache" in s for s in stderrs)
    folders = [f for f in (meek_home / "kld-cache").iterdir() if not f.name.startswith(".")]
    assert any(f"-c{CTX}-" in f.name for f in folders)
    assert not [f for f in (meek_home / "kld-cache").iterdir() if f.name.endswith(".partial")]


def test_figures_match_llama_perplexity(measured, quants, smollm2_path, tmp_path):
    """The same files, text, chunks, threads and repack through llama-perplexity --kl-divergence: the same figures."""
    from harness.quality import perplexity_tool
    from harness.quality.kld_text import default_text

    binary = _tool("llama-perplexity")
    text_file = tmp_path / "text.txt"
    text_file.write_text(default_text().text + "\n")
    repack = 1 if "repack 1" in measured["Q4_0"][1].tool else 0
    base = tmp_path / "base.kld"
    perplexity_tool.run(perplexity_tool.base_command(binary, smollm2_path, text_file, base, CTX, CHUNKS, 2, repack))
    printed = perplexity_tool.figures(
        perplexity_tool.run(perplexity_tool.kld_command(binary, quants["Q4_0"], text_file, base, CTX, CHUNKS, 2, repack))
    )
    ours = measured["Q4_0"][1]
    for name, value in printed.items():
        # same top: meek keeps the reference's top token before rounding; llama-perplexity reads it back rounded, where
        # two tokens can tie: at most a position apart
        close = 1.5 / ours.tokens_scored if name.startswith("same_top") else 2e-6
        assert getattr(ours, name) == pytest.approx(value, rel=2e-3, abs=close), name
    assert {"kld_mean", "kld_median", "kld_p90", "kld_p99", "same_top", "ppl_ratio", "ppl_ratio_stderr"} <= set(printed)


def test_refusals_are_one_line(meek_home, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("Only a few words here.\n")
    cases = [
        (["-m", "gemma3-270m", "--reference", "smollm2-135m"], "different vocabularies"),
        (["-m", "smollm2-135m", "--reference", "smollm2-135m", "--text", str(short)], "shorter than one chunk"),
        (["-m", str(tmp_path / "missing.gguf"), "--reference", "smollm2-135m"], "not found"),
        (["-m", "smollm2-135m", "--reference", "smollm2-135m", "--text", str(tmp_path)], "not a regular file"),
        (["-m", "smollm2-135m", "--reference", "smollm2-135m", "--ctx", "8"], "--ctx"),
    ]
    for args, words in cases:
        code, stdout, stderr = _meek(meek_home, tmp_path, "quality", *args, "--chunks", "1")
        assert code == 2, (args, stderr)
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and words in errors[0] and stderr.strip().endswith(errors[0]), (args, stderr)
        assert "Traceback" not in stderr
    assert not (tmp_path / "results").exists()


def test_an_interrupted_reference_pass_leaves_no_cache(meek_home, tmp_path):
    """Stopped halfway through the reference pass: exit 143, no result file, no cache folder (finished or partial)."""
    env = {**os.environ, "MEEK_HOME": str(meek_home)}
    args = ["quality", "-m", "smollm2-135m", "--reference", "smollm2-135m", "--ctx", "64", "--chunks", "400"]
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    for line in process.stderr:
        if "(reference): chunk" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143
    assert not [f for f in (meek_home / "kld-cache").iterdir() if "-c64-" in f.name]
    assert not (tmp_path / "results").exists()


def test_the_math_on_its_own():
    """compact() keeps llama-perplexity's uint16 log-probabilities (within half a step), Tally's divergence agrees with a
    float64 one, and the statistics follow llama-perplexity's formulas."""
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal((70, 300)) * 4).astype(np.float32)
    rows = compact(logits)
    exact = logits - logits.max(1, keepdims=True)
    exact = exact - np.log(np.exp(exact.astype(np.float64)).sum(1, keepdims=True))
    stored = rows.scale[:, None] * rows.dense(0, rows.rows).astype(np.float32) + rows.min_log_prob[:, None]
    kept = logits > np.maximum(logits.min(1, keepdims=True), logits.max(1, keepdims=True) - 16)
    assert np.all(np.abs(stored - exact)[kept] <= rows.scale[:, None].repeat(300, 1)[kept] * 0.5 + 1e-5)
    quant = logits + (rng.standard_normal(logits.shape) * 0.5).astype(np.float32)
    tokens = logits.argsort(1)[:, -3]  # a likely token: its stored log-probability is not the floor
    tally = Tally()
    tally.add(quant, rows, tokens)
    q = quant - quant.max(1, keepdims=True)
    q = q - np.log(np.exp(q.astype(np.float64)).sum(1, keepdims=True))
    p = np.exp(exact)
    direct = (p * (exact - q) * (exact > -16)).sum(1)
    assert np.concatenate(tally.klds) == pytest.approx(direct, rel=2e-3, abs=1e-4)
    figures = summary(tally)
    assert figures["same_top"] == pytest.approx(np.mean(quant.argmax(1) == logits.argmax(1)))
    assert figures["ppl_reference"] == pytest.approx(math.exp(-exact[np.arange(70), tokens].mean()), rel=1e-4)
    assert mean_and_uncertainty(10.0, 30.0, 5) == (2.0, 0.0)  # 10 values or fewer: no standard error, as llama.cpp
    mean, error = mean_and_uncertainty(55.0, 385.0, 11)
    assert mean == 5.0 and error == pytest.approx(math.sqrt((35.0 - 25.0) / 10))
    ordered = np.arange(11, dtype=np.float32)
    assert percentile(ordered, 0.9) == pytest.approx(9.0) and percentile(ordered, 0.99) == pytest.approx(9.9, rel=1e-5)


@pytest.fixture(scope="module")
def family_tree(measured, quants, meek_home, tmp_path_factory) -> Path:
    """A results tree of real files: the quality files of the three quants, `meek bench` of the bundled file and of the
    Q4_0 (pp512, tg128, one repetition), and the Q4_0's file again with a `fits` block in place of its quality block."""
    from harness.results.schema import ContextFit
    from harness.results.store import write_result

    tree = tmp_path_factory.mktemp("family") / "results"
    for kind in QUANTS:
        result = measured[kind][0]
        write_result(result, tree)
    for model in ("smollm2-135m", str(quants["Q4_0"])):
        code, _, stderr = _meek(meek_home, tree.parent, "bench", "-m", model, "-r", "1", "--results-dir", str(tree))
        assert code == 0, stderr
    fitted = measured["Q4_0"][0]
    fit = ContextFit(ctx_max=6144, ctx_failed=8192, trained_ctx=8192, n_gen=8)
    fitted = fitted.model_copy(update={"quality": [], "fits": [fit], "created_utc": fitted.created_utc + dt.timedelta(seconds=1)})
    write_result(fitted, tree)
    return tree


def test_compare_puts_a_familys_quants_side_by_side(family_tree, measured, meek_home):
    """`meek compare -m smollm2-135m`: one row per quant with its speed, size, KLD against the reference and largest
    context, each figure in a column of its own."""
    code, stdout, stderr = _meek(meek_home, family_tree.parent, "compare", "-m", "smollm2-135m", "--format", "json")
    assert code == 0, stderr
    rows = {row["quant"]: row for row in json.loads(stdout)["quants"]}
    assert set(rows) == {"Q4_1", *QUANTS}
    kld = "KLD vs smollm2-135m"
    for kind in QUANTS:
        assert rows[kind][kld] == pytest.approx(measured[kind][1].kld_mean)
        assert rows[kind]["same top % vs smollm2-135m"] == pytest.approx(100 * measured[kind][1].same_top)
    assert rows["Q4_1"][kld] is None  # the reference itself: no quality block of its own here
    for kind in ("Q4_1", "Q4_0"):
        assert rows[kind]["pp512 t/s"] > 0 and rows[kind]["tg128 t/s"] > 0 and rows[kind]["speed settings"]
    assert rows["Q2_K"]["pp512 t/s"] is None
    assert rows["Q4_0"]["largest ctx"] == 6144 and rows["Q8_0"]["largest ctx"] is None
    assert rows["Q8_0"]["size GiB"] > rows["Q4_0"]["size GiB"] > 0
    code, stdout, stderr = _meek(meek_home, family_tree.parent, "compare", "-m", "smollm2-135m")
    assert code == 0 and "Quants of this model" in stdout and "largest ctx" in stdout


def test_advise_shows_what_each_quant_costs(family_tree, measured, meek_home):
    """`meek advise -m smollm2-135m` ends with the same family table (md), or carries it under "quants" (json)."""
    code, stdout, stderr = _meek(meek_home, family_tree.parent, "advise", "-m", "smollm2-135m")
    assert code == 0, stderr
    assert "What each quant of this model costs" in stdout and "KLD vs smollm2-135m" in stdout and "Q2_K" in stdout
    code, stdout, stderr = _meek(meek_home, family_tree.parent, "advise", "-m", "smollm2-135m", "--format", "json")
    assert code == 0, stderr
    rows = {row["quant"]: row for row in json.loads(stdout)["quants"]}
    assert rows["Q4_0"]["KLD vs smollm2-135m"] == pytest.approx(measured["Q4_0"][1].kld_mean)


def test_compare_of_a_quant_with_quality_only(family_tree, meek_home):
    code, stdout, stderr = _meek(meek_home, family_tree.parent, "compare", "-m", "smollm2-Q2_K")
    assert code == 0, stderr
    assert "Quants of this model" in stdout and "Q2_K" in stdout and "Q8_0" in stdout


def test_different_references_or_settings_never_share_a_column(family_tree, measured, tmp_path):
    """A second KLD of the Q8_0 at another context size is another quantity: a column of its own."""
    import shutil

    from harness.aggregate.quants import quants_table
    from harness.aggregate.tree import load_tree
    from harness.results.store import write_result

    tree = tmp_path / "results"
    shutil.copytree(family_tree, tree)
    result, quality, _, _ = measured["Q8_0"]
    changed = quality.model_copy(update={"ctx": 256, "kld_mean": 0.5})
    other = result.model_copy(update={"quality": [changed], "created_utc": result.created_utc + dt.timedelta(seconds=2)})
    write_result(other, tree)
    table = quants_table(load_tree([tree]), "smollm2-135m")
    columns = [c for c in table.columns if c.startswith("KLD")]
    assert len(columns) == 2 and all("ctx" in c for c in columns), columns
    q8 = table[table["quant"] == "Q8_0"].iloc[0]
    assert sorted(q8[columns]) == sorted([quality.kld_mean, 0.5])


def test_the_machine_page_shows_the_quants(family_tree, measured, tmp_path):
    from harness.site.build import build_site

    build_site([family_tree], tmp_path / "site")
    (page,) = (tmp_path / "site" / "machines").glob("*.html")
    text = page.read_text()
    assert "<h2>Quants</h2>" in text and "KLD vs smollm2-135m" in text and "6,144" in text
    assert f"{measured['Q2_K'][1].kld_mean:.4g}" in text
