"""advise's canonical figures (harness/aggregate/canonical.py, predict.py, advise.Record): which quantity is measured,
which transfer converts what, which level predicts, and in what order they answer. Pure logic on hand-made frames of
known efficiencies; the method's accuracy on the real record is bench/predict_loo.py's."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.aggregate.advise import Record
from harness.aggregate.canonical import normalizer, record_cells, runtime_of
from harness.aggregate.predict import ASSUMED_EFFICIENCY
from harness.catalogue.hardware import load_hardware
from harness.catalogue.models import load_catalog
from tests.test_compare_advise import run

MODELS = {m.id: m for m in load_catalog().models}
DEVICES = {d.id: d for d in load_hardware()}
SMALL, MEDIUM, LARGE = "llama-3.2-1b-q4_k_m", "llama-3.1-8b-q4_k_m", "qwen2.5-14b-q4_k_m"
LS_TG = "localscore tg (9-shape avg)"


def bpt(model: str) -> float:
    return normalizer(MODELS[model], "tg")


def at_efficiency(
    device: str, model: str, eff: float, machine: str | None = None, test: str = "tg128", runtime: str = "CUDA", **extra
) -> dict:
    """A generation row whose rate is `eff` of the device's bandwidth for this model's bytes per token."""
    rate = eff * DEVICES[device].bandwidth_gbs * 1e9 / bpt(model)
    row = run(machine or f"{device}-box", device, "tg128", rate, model=model, runtime=runtime, n_gpu_layers=99, **extra)
    row["test"] = test
    return row


def localscore(device: str, model: str, eff: float, machine: str | None = None) -> dict:
    return at_efficiency(
        device,
        model,
        eff,
        machine or f"{device}-ls",
        test=LS_TG,
        runtime="GPU",
        backend="localscore",
        source="imported: LocalScore leaderboard",
    )


SLOPE, OVERHEAD = 1.25, 1e-3  # the record below: 80% of bandwidth plus 1 ms per token


def roofline(device: str, model: str, share: float = 1.0) -> float:
    """The rate the fixed-cost roofline gives (times `share`)."""
    return share / (SLOPE * bpt(model) / (DEVICES[device].bandwidth_gbs * 1e9) + OVERHEAD)


def on_roofline(device: str, model: str, share: float = 1.0, runtime: str = "CUDA", **extra) -> dict:
    eff = roofline(device, model, share) * bpt(model) / (DEVICES[device].bandwidth_gbs * 1e9)
    return at_efficiency(device, model, eff, runtime=runtime, **extra)


def nvidia_record(**shares: float) -> list[dict]:
    """Three NVIDIA cards on three dense sizes, CUDA, on the roofline (a share of it where given)."""
    return [
        on_roofline(device, model, shares.get(f"{device}/{model}", 1.0))
        for device in ("rtx-3090", "rtx-4080", "rtx-4090")
        for model in (SMALL, MEDIUM, LARGE)
    ]


def answer(rows: list[dict], device: str, model: str, family: str = "tg", backend: str | None = None):
    return Record(pd.DataFrame(rows)).answer(DEVICES[device], MODELS[model], family, backend)


def test_runtime_names_the_offloading_backend():
    assert runtime_of("CPU,CUDA", 99) == "CUDA" and runtime_of("CPU,CUDA", 0) == "CPU"
    assert runtime_of("MTL,BLAS", -1) == "Metal" and runtime_of("ROCm,RPC", 99) == "ROCm" and runtime_of("GPU", None) == ""


def test_a_measured_tg128_answers_first_and_names_its_backend_and_machines():
    rows = [
        at_efficiency("rtx-4090", MEDIUM, 0.6, "a"),
        at_efficiency("rtx-4090", MEDIUM, 0.7, "b"),
        at_efficiency("rtx-4090", MEDIUM, 0.5, "c", runtime="Vulkan"),
    ]
    found = answer(rows, "rtx-4090", MEDIUM)
    rate = DEVICES["rtx-4090"].bandwidth_gbs * 1e9 / bpt(MEDIUM)
    assert found.kind == "measured" and found.runtime == "CUDA" and found.value == pytest.approx(0.65 * rate)
    assert found.basis.startswith("measured: llama-bench tg128 (CUDA), 2 machines")
    assert (found.low, found.high) == (pytest.approx(0.6 * rate), pytest.approx(0.7 * rate))
    vulkan = answer(rows, "rtx-4090", MEDIUM, backend="Vulkan")  # --backend picks the backend
    assert vulkan.kind == "measured" and vulkan.value == pytest.approx(0.5 * rate)


def test_own_device_ratio_is_carried_along_its_groups_fit():
    rows = [r for r in nvidia_record() if r["device_id"] != "rtx-4090"] + [on_roofline("rtx-4090", MEDIUM, 0.9)]
    target = "qwen2.5-7b-q4_k_m"
    found = answer(rows, "rtx-4090", target)
    assert found.kind == "predicted" and found.value == pytest.approx(roofline("rtx-4090", target, 0.9), rel=1e-6)
    assert f"its own measured tg128 on {MEDIUM} (CUDA," in found.basis and "80% of bandwidth + 1 ms per token" in found.basis


def test_a_device_nobody_measured_takes_its_vendor_and_kinds_fit_with_a_range():
    exact = answer(nvidia_record(), "rtx-3080", MEDIUM)
    assert exact.kind == "predicted" and "fitted on 3 nvidia gpu device(s) measured (CUDA, 3 model(s))" in exact.basis
    assert exact.value == pytest.approx(roofline("rtx-3080", MEDIUM), rel=1e-6)  # the fit recovers the roofline
    noisy = answer(nvidia_record(**{f"rtx-3090/{MEDIUM}": 0.9, f"rtx-4090/{LARGE}": 1.1}), "rtx-3080", MEDIUM)
    assert noisy.low < noisy.value < noisy.high  # each peer against the fit of the others


def test_other_vendors_fall_back_to_the_kind_and_no_data_to_the_assumed_efficiency():
    rows = [{**r, "runtime": "Vulkan"} for r in nvidia_record()]  # AMD runs Vulkan, not CUDA: peers on its backend
    amd = answer(rows, "rx-7900-xtx", MEDIUM)
    assert amd.kind == "predicted" and "nvidia" not in amd.basis and "3 gpu device(s)" in amd.basis and amd.runtime == "Vulkan"
    spark = answer(nvidia_record(), "dgx-spark", MEDIUM)  # no unified device on CUDA: every CUDA device's fit, named
    assert "fitted on 3 CUDA device(s)" in spark.basis and spark.value == pytest.approx(roofline("dgx-spark", MEDIUM), rel=1e-6)
    cpu = answer(nvidia_record(), "ryzen-9-9950x", MEDIUM)
    assert f"assumed {ASSUMED_EFFICIENCY:.0%}" in cpu.basis and math.isnan(cpu.low) and cpu.runtime == "CPU"


def test_a_mixture_of_experts_without_its_own_fit_takes_the_measured_moe_factor():
    rows = nvidia_record() + [on_roofline("dgx-spark", MEDIUM), on_roofline("dgx-spark", "gpt-oss-20b-mxfp4", 0.75)]
    record = Record(pd.DataFrame(rows))
    assert record.predictor.moe_factor() == (pytest.approx(0.75), 1)
    moe = MODELS["qwen3-30b-a3b-q4_k_m"]
    assert bpt(moe.id) == pytest.approx(moe.file_size_bytes * moe.params_active_b / moe.params_total_b)  # active bytes only
    found = record.answer(DEVICES["rtx-3080"], moe)
    assert "x0.75 for a mixture of experts" in found.basis and found.value == pytest.approx(roofline("rtx-3080", moe.id, 0.75))
    back = record.answer(DEVICES["dgx-spark"], MODELS["llama-3.2-3b-q4_k_m"], backend="CUDA")
    assert back.value == pytest.approx(roofline("dgx-spark", "llama-3.2-3b-q4_k_m"), rel=1e-6)  # carried from its dense figure


def test_an_own_record_far_below_its_peers_is_set_aside():
    rows = nvidia_record() + [on_roofline("rtx-5090", MEDIUM, 0.2)]  # likely ran on the CPU, not the card
    found = answer(rows, "rtx-5090", LARGE)
    assert "fitted on 3 nvidia gpu" in found.basis and "under a third of 3 peers' fit and set aside" in found.basis


def test_cells_keep_quantities_apart_and_drop_models_that_do_not_fit():
    rows = nvidia_record() + [
        at_efficiency("rtx-4090", "llama-3.3-70b-q4_k_m", 0.05),  # 42 GB on a 24 GB card: a spill, not the card's speed
        localscore("rtx-4090", MEDIUM, 0.5),
    ]
    cells = record_cells(pd.DataFrame(rows), MODELS, DEVICES)
    assert "llama-3.3-70b-q4_k_m" not in set(cells["model"])
    mine = cells[(cells["device_id"] == "rtx-4090") & (cells["model"] == MEDIUM)].set_index("quantity")
    rate = DEVICES["rtx-4090"].bandwidth_gbs * 1e9 / bpt(MEDIUM)
    assert mine["ts"].to_dict() == {
        "tg128": pytest.approx(roofline("rtx-4090", MEDIUM)),
        "LocalScore tg (9-shape avg)": pytest.approx(0.5 * rate),
    }
    assert mine["canonical"].to_dict() == {"tg128": True, "LocalScore tg (9-shape avg)": False}


def test_unstable_runs_give_way_to_stable_ones():
    rows = [at_efficiency("rtx-4090", MEDIUM, 0.6, "a"), at_efficiency("rtx-4090", MEDIUM, 0.2, "b", unstable=True)]
    assert answer(rows, "rtx-4090", MEDIUM).value == pytest.approx(0.6 * DEVICES["rtx-4090"].bandwidth_gbs * 1e9 / bpt(MEDIUM))
    alone = answer(rows[1:], "rtx-4090", MEDIUM)  # only a noisy run: it keeps its figure
    assert alone.kind == "measured" and alone.value == pytest.approx(0.2 * DEVICES["rtx-4090"].bandwidth_gbs * 1e9 / bpt(MEDIUM))


def both_ways() -> list[dict]:
    """Three NVIDIA cards measured both ways: llama-bench tg128 at 1.2x LocalScore's average (1.1x, 1.2x, 1.3x)."""
    rows = []
    for device, ratio in (("rtx-3090", 1.1), ("rtx-4080", 1.2), ("rtx-5080", 1.3)):
        rows += [localscore(device, MEDIUM, 0.5), at_efficiency(device, MEDIUM, 0.5 * ratio)]
    return rows


def test_another_tools_figure_converts_through_a_transfer_learned_on_devices_measured_both_ways():
    rows = both_ways() + [localscore("rtx-4090", MEDIUM, 0.5, "x"), localscore("rtx-4090", MEDIUM, 0.4, "y")]
    record = Record(pd.DataFrame(rows))
    (transfer,) = [t for t in record.transfers if t.source == "LocalScore tg (9-shape avg)"]
    assert transfer.factor == pytest.approx(1.2) and transfer.devices == ("rtx-3090", "rtx-4080", "rtx-5080")
    found = record.answer(DEVICES["rtx-4090"], MODELS[MEDIUM])
    best = 0.5 * DEVICES["rtx-4090"].bandwidth_gbs * 1e9 / bpt(MEDIUM)  # the best of its two LocalScore machines
    assert found.kind == "converted" and found.runtime == "CUDA" and found.value == pytest.approx(best * 1.2)
    assert "LocalScore tg (9-shape avg) x 1.20 to llama-bench tg128 (CUDA), learned on 3 nvidia gpu devices" in found.basis
    assert found.low == pytest.approx(best * transfer.low) and found.high == pytest.approx(best * transfer.high)
    pp = record.answer(DEVICES["rtx-4090"], MODELS[MEDIUM], "pp")
    assert pp is None  # no prompt figures: prompt speed is measured or converted, never predicted


def test_a_transfer_on_fewer_than_three_devices_converts_nothing_and_the_figure_stays_apart():
    rows = both_ways()[:4] + [localscore("rtx-4090", MEDIUM, 0.5)]  # two devices measured both ways
    record = Record(pd.DataFrame(rows))
    assert not any(t.usable for t in record.transfers)
    found = record.answer(DEVICES["rtx-4090"], MODELS[MEDIUM])
    assert found.kind == "predicted" and "LocalScore" not in found.basis  # from the two cards' measured tg128
    (apart,) = record.apart(DEVICES["rtx-4090"], MODELS[MEDIUM])
    assert apart["quantity"] == "LocalScore tg (9-shape avg)" and "no transfer" in apart["why apart"]


def test_a_devices_own_llama_bench_figure_outranks_a_conversion_of_another_tools():
    rows = both_ways() + [localscore("rtx-5090", MEDIUM, 0.2), at_efficiency("rtx-5090", LARGE, 0.6)]
    found = answer(rows, "rtx-5090", MEDIUM)  # LocalScore's upload says 0.2 x 1.2; its own llama-bench says ~0.6
    assert found.kind == "predicted" and f"its own measured tg128 on {LARGE}" in found.basis


def test_a_conversion_far_below_the_measured_devices_fit_is_set_aside():
    rows = both_ways() + [localscore("rtx-4090", MEDIUM, 0.2)]  # 0.24 converted, where the three measured cards say 0.6
    found = answer(rows, "rtx-4090", MEDIUM)
    assert found.kind == "predicted" and "converted figure" in found.basis and "set aside" in found.basis


def test_a_backend_its_vendor_measured_faster_is_preferred_for_predictions():
    rows = []
    for device in ("rx-9070", "rx-9070-xt", "radeon-ai-pro-r9700"):
        rows += [at_efficiency(device, MEDIUM, 0.5, runtime="ROCm"), at_efficiency(device, MEDIUM, 0.7, runtime="Vulkan")]
    record = Record(pd.DataFrame(rows))
    assert record.runtimes(DEVICES["rx-7900-xtx"])[0] == "Vulkan"  # three AMD cards measured faster on Vulkan
    found = record.answer(DEVICES["rx-7900-xtx"], MODELS[MEDIUM])
    assert found.runtime == "Vulkan" and found.value == pytest.approx(
        0.7 * DEVICES["rx-7900-xtx"].bandwidth_gbs * 1e9 / bpt(MEDIUM)
    )
    assert record.answer(DEVICES["rx-7900-xtx"], MODELS[MEDIUM], backend="ROCm").runtime == "ROCm"
    assert Record(pd.DataFrame(nvidia_record())).runtimes(DEVICES["rtx-3080"])[0] == "CUDA"  # else its native backend
