"""The catalogue: facts present and sane, tiers line up, sources resolve the way a user needs."""

import datetime as dt

import pytest

from harness.catalogue.models import load_catalog, resolve
from harness.errors import MeekError
from harness.measure.backends.in_process import models_for_tier
from harness.results.schema import Machine


def a_machine(memory_gib: float, unified: bool = False, cpu: str = "a CPU", gpus=(), machine_id="a-test-machine") -> Machine:
    """A machine fingerprint with the memory, CPU and GPUs given (what the fit checks read); the rest made up."""
    return Machine.model_validate(
        {
            "machine_id": machine_id,
            "cpu": {"model": cpu, "arch": "x86_64", "simd": []},
            "memory_bytes": int(memory_gib * 2**30),
            "gpus": list(gpus),
            "unified_memory": unified,
            "os": {},
            "python": "3.11",
            "harness_version": "0",
            "llama_cpp": {},
        }
    )


def test_catalogue_covers_what_people_run():
    catalog = load_catalog()
    ids = [m.id for m in catalog.models]
    assert len(ids) == len(set(ids))
    assert {"smollm2-135m", "gemma3-270m"} <= set(ids)
    home_models = [m for m in catalog.models if m.tier != "tiny"]
    assert len(home_models) >= 15
    assert any(m.moe for m in home_models) and any(not m.moe for m in home_models)
    assert min(m.params_total_b for m in home_models) <= 1.5 and max(m.params_total_b for m in home_models) >= 100
    for model in catalog.models:
        assert dt.date(2023, 1, 1) <= model.release_date <= dt.date.today()
        low, high = catalog.tiers[model.tier].params_b
        assert low <= model.params_total_b <= high, model.id
        assert model.params_active_b <= model.params_total_b
        assert model.sources, f"{model.id} cites no source"


def test_every_tier_has_a_standard_model():
    catalog = load_catalog()
    for tier in catalog.tiers:
        assert catalog.standard_models(tier), tier


def test_tier_selection(monkeypatch):
    catalog = load_catalog()
    assert models_for_tier("tiny", catalog) == ["smollm2-135m", "gemma3-270m"]
    # a 16 GiB machine running on the CPU may use 60% (9.6 GiB): an 8B Q4_K_M (4.6 GiB weights + 1.5 GiB KV cache at 8k
    # + 0.5 GiB buffers) fits, gpt-oss-20b (11.3 GiB of weights) does not
    cpu_16 = a_machine(16)
    auto = models_for_tier("auto", catalog, cpu_16)
    assert {"smollm2-135m", "gemma3-270m", "llama-3.2-1b-q4_k_m", "llama-3.1-8b-q4_k_m", "qwen3-8b-q4_k_m"} == set(auto)
    unified_128 = a_machine(128, unified=True)
    assert "gpt-oss-120b-mxfp4" in models_for_tier("auto", catalog, unified_128)
    with pytest.raises(MeekError, match="unknown tier"):
        models_for_tier("huge", catalog)


def test_offline_hugging_face_model_names_the_file_to_fetch(monkeypatch, meek_home):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(meek_home / "hf"))
    import importlib

    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)
    catalog = load_catalog()
    entry = catalog.get("llama-3.1-8b-q4_k_m")
    with pytest.raises(MeekError) as error:
        resolve(entry.id, catalog)
    message = str(error.value)
    assert "not downloaded" in message and entry.source.hf_file in message and entry.source.hf_repo in message
    monkeypatch.undo()
    importlib.reload(huggingface_hub.constants)


def test_bundled_gemma_is_assembled_and_verified(meek_home):
    catalog = load_catalog()
    resolved = resolve("gemma3-270m", catalog)
    assert resolved.path.is_file() and resolved.path.stat().st_size == catalog.get("gemma3-270m").file_size_bytes
