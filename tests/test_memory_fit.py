"""The memory model (harness/memory_fit.py): calibrated against llama.cpp's own allocations for the bundled models (a real
load each), the usable memory per kind of device, the 32B-on-24-GB case people run, and the margin shown for it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from harness import memory_budget, memory_fit
from harness.catalogue.gguf_file import read_gguf_facts
from harness.catalogue.hardware import load_hardware
from harness.catalogue.models import load_catalog, resolve
from harness.errors import MeekError

GIB = memory_fit.GIB
BENCH = Path(__file__).resolve().parent.parent / "bench" / "memory_fit.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_memory_fit", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- calibration: the model against llama.cpp's own buffers, a real load each --------------------------------------------
# Tolerances: the KV cache is exact (same cell padding and sliding-window sizing as llama.cpp); weights within 3% (the file
# holds metadata; CPU repacking copies a few tensors); the compute buffer within 5% (llama.cpp's allocator adds a few small
# tensors); the total within 5%.
@pytest.mark.parametrize(
    ("model_id", "n_ctx", "cache", "flash_attn"),
    [
        ("smollm2-135m", 512, "f16", False),
        ("smollm2-135m", 2048, "q8_0", True),
        ("smollm2-135m", 8192, "f16", False),
        ("gemma3-270m", 2048, "f16", False),
    ],
)
def test_the_model_matches_llama_cpps_allocations(model_id, n_ctx, cache, flash_attn, repack_default):
    bench = _bench()
    path = resolve(model_id, load_catalog()).path
    want = bench.predicted(path, n_ctx, cache, flash_attn, False)
    got = bench.run_probe(path, n_ctx, cache, flash_attn, False, repack=bool(repack_default))
    assert want.kv_cache == pytest.approx(got["kv_cache"], rel=0.005)
    assert want.weights == pytest.approx(got["weights"], rel=0.03)
    assert want.compute == pytest.approx(got["compute"], rel=0.05)
    assert want.total == pytest.approx(got["weights"] + got["kv_cache"] + got["compute"] + got["output"], rel=0.05)
    assert not want.kv_estimated


def test_sliding_window_layers_keep_their_window(meek_home):
    facts = read_gguf_facts(resolve("gemma3-270m", load_catalog()).path)
    shape = memory_fit.Shape.from_facts(facts)
    assert shape is not None and (shape.sliding_window, shape.swa_layers) == (512, 15)  # llama.cpp: 5 of every 6 layers
    # llama.cpp logged 24 MiB (3 full layers x 8192 cells) + 15 MiB (15 layers x 1024 cells: 512 + a 512-token micro-batch)
    assert memory_fit.kv_cache_bytes(shape, 8192) == (24 + 15) * 2**20
    assert memory_fit.kv_cache_bytes(shape, 8192, swa_full=True) == 144 * 2**20  # llama-cpp-python's default
    per_layer_flags = dataclasses.replace(facts, sliding_window_pattern=(True, False) * 9)
    assert memory_fit.Shape.from_facts(per_layer_flags).swa_layers == 9  # type: ignore[union-attr]


def test_gguf_facts_cache_reads_the_old_entries_and_parses_again_what_it_cannot_read(monkeypatch, smollm2_path):
    from harness.catalogue import gguf_file

    # the entry as the version whose facts were a dict wrote it (its keys, in its order)
    old_entry = {
        "architecture": "llama",
        "name": "Smollm2 135M 8k Lc100K Mix1 Ep2",
        "quant": "Q4_1",
        "n_params": 134515008,
        "n_tensors": 272,
        "file_size_bytes": 98362432,
        "context_length": 8192,
        "block_count": 30,
        "embedding_length": 576,
        "head_count": 9,
        "head_count_kv": 3,
        "key_length": 64,
        "value_length": 64,
        "expert_count": None,
        "vocab_size": 49152,
        "sliding_window": None,
        "sliding_window_pattern": None,
        "expert_used_count": None,
    }
    facts = read_gguf_facts(smollm2_path)
    assert facts.to_json() == old_entry and list(facts.to_json()) == list(old_entry)
    cache_file = gguf_file._cache_file()
    cache = json.loads(cache_file.read_text())
    (key,) = [k for k in cache if k.startswith(f"{smollm2_path.resolve()}|") and k.endswith("|gguf-2")]
    cache[key] = old_entry
    cache_file.write_text(json.dumps(cache))
    with monkeypatch.context() as patched:  # read as it is, not parsed again
        patched.setattr(gguf_file, "_parse", lambda path, size: pytest.fail("parsed again"))
        assert read_gguf_facts(smollm2_path) == facts
    cache[key] = {"architecture": "llama"}  # an entry this version cannot read: parsed again and stored again
    cache_file.write_text(json.dumps(cache))
    assert read_gguf_facts(smollm2_path) == facts
    assert json.loads(cache_file.read_text())[key] == old_entry


def test_compute_buffer_grows_with_context_without_flash_attention():
    shape = memory_fit.Shape(30, 3, 64, 64, heads=9, embedding=576, vocab=49152)  # SmolLM2-135M
    assert memory_fit.compute_bytes(shape, 512) == 4 * 512 * (49152 + 2 * 576)  # the logits of one micro-batch
    assert memory_fit.compute_bytes(shape, 32768) > 6 * memory_fit.compute_bytes(shape, 512)  # 10 x 32768 x 512 scores
    assert memory_fit.compute_bytes(shape, 32768, flash_attn=True) == memory_fit.compute_bytes(shape, 512)
    assert memory_fit.compute_bytes(None, 8192) == memory_fit.COMPUTE_BYTES  # unknown shape: the flat figure at 8k
    assert memory_fit.compute_bytes(None, 32768) == 4 * memory_fit.COMPUTE_BYTES


# ---- usable memory per kind ---------------------------------------------------------------------------------------------
def test_usable_memory_per_kind():
    assert memory_budget.usable_bytes("gpu", 24 * GIB) == 22.5 * GIB  # a fixed reserve, not 10%
    assert memory_budget.usable_bytes("gpu", 8 * GIB) == 6.5 * GIB
    assert memory_budget.usable_bytes("gpu", 1 * GIB) == 0
    assert memory_budget.usable_bytes("unified", 32 * GIB) == pytest.approx(32 * GIB * 2 / 3)  # Apple up to 36 GB
    assert memory_budget.usable_bytes("unified", 64 * GIB) == 48 * GIB  # Apple above
    assert memory_budget.usable_bytes("unified", 128 * GIB, "amd") == 96 * GIB  # Ryzen AI Max: 96 of 128 GB to the GPU
    assert memory_budget.usable_bytes("unified", 128 * GIB, "nvidia") == pytest.approx(102.4 * GIB)  # DGX Spark
    assert memory_budget.usable_bytes("cpu", 16 * GIB) == pytest.approx(9.6 * GIB)
    with pytest.raises(MeekError, match="unknown device kind"):
        memory_budget.usable_bytes("tpu", GIB)
    assert "1.5 GiB" in memory_budget.usable_note()


# ---- the case people run: 32B Q4_K_M at 8k on a 24 GB card --------------------------------------------------------------
def test_a_32b_q4_k_m_fits_a_24_gb_card_at_8k_and_a_70b_does_not():
    catalog, hardware = load_catalog(), {d.id: d for d in load_hardware()}
    for card in ("rtx-3090", "rtx-4090"):
        for model_id in ("qwen2.5-32b-q4_k_m", "qwen3-32b-q4_k_m", "deepseek-r1-distill-qwen-32b-q4_k_m"):
            fit = memory_budget.device_margin(hardware[card], catalog.get(model_id))  # type: ignore[arg-type]
            assert fit.fits and fit.margin is not None and fit.margin > 0.5 * GIB, (card, model_id, fit.text())
            assert memory_budget.device_fits(hardware[card], fit.need.total)
        assert not memory_budget.device_margin(hardware[card], catalog.get("llama-3.3-70b-q4_k_m")).fits  # type: ignore[arg-type]
        long_context = memory_budget.device_margin(hardware[card], catalog.get("qwen2.5-32b-q4_k_m"), context=32768)  # type: ignore[arg-type]
        assert not long_context.fits
    # the same 32B known only by its file (KV cache estimated from the parameters) still fits
    estimated = memory_fit.need(32.5, "Q4_K_M", 19851336576)
    assert estimated.kv_estimated and estimated.total < memory_budget.usable_bytes("gpu", 24 * GIB)


def test_the_margin_says_how_much_is_left():
    need = memory_fit.Need(weights=18 * GIB, kv_cache=2 * GIB, compute=0.5 * GIB, kv_estimated=False)
    fit = memory_budget.margin_for(need, "gpu", 24 * GIB, 8192)
    assert fit.usable == 22.5 * GIB and fit.margin == 2 * GIB and fit.fits
    assert fit.text() == "margin +2.0 GiB at 8k"
    short = memory_budget.margin_for(need, "gpu", 16 * GIB, 32768)
    assert not short.fits and short.text() == "short by 6.0 GiB at 32k"
    cpu = memory_budget.margin_for(need, "cpu", None, 8192)  # RAM bought to suit
    assert cpu.fits and cpu.margin is None and cpu.text() == ""
    assert memory_budget.context_label(1000) == "1000"
