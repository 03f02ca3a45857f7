"""advise's predictions from the record (harness/aggregate/predict.py): which level answers, how the pieces combine,
what is set aside. Pure logic on hand-made frames of known efficiencies; the method's accuracy on the real record is
bench/predict_loo.py's."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.aggregate.predict import ASSUMED_EFFICIENCY, per_token_bytes, predictor, record_cells
from harness.catalogue.models import load_catalog
from harness.machine.hardware import load_hardware
from tests.test_compare_advise import run

MODELS = {m.id: m for m in load_catalog().models}
DEVICES = {d.id: d for d in load_hardware()}
SMALL, MEDIUM, LARGE = "llama-3.2-1b-q4_k_m", "llama-3.1-8b-q4_k_m", "qwen2.5-14b-q4_k_m"


def at_efficiency(device: str, model: str, eff: float, machine: str | None = None, test: str = "tg128", **extra) -> dict:
    """A generation row whose rate is `eff` of the device's bandwidth for this model's bytes per token."""
    rate = eff * DEVICES[device].bandwidth_gbs * 1e9 / per_token_bytes(MODELS[model])
    row = run(machine or f"{device}-box", device, "tg128", rate, model=model, **extra)
    row["test"] = test
    return row


def nvidia_record(**overrides: float) -> list[dict]:
    """Three NVIDIA cards on three dense sizes: 40% of bandwidth on the small model, 60% and 70% on the larger ones."""
    rows = []
    for device in ("rtx-3090", "rtx-4080", "rtx-4090"):
        for model, eff in ((SMALL, 0.4), (MEDIUM, 0.6), (LARGE, 0.7)):
            rows.append(at_efficiency(device, model, overrides.get(f"{device}/{model}", eff)))
    return rows


def test_own_device_efficiency_moves_along_its_groups_size_curve():
    rows = [r for r in nvidia_record(**{f"rtx-4090/{MEDIUM}": 0.66}) if not (r["device_id"] == "rtx-4090" and r["model"] == LARGE)]
    record = predictor(pd.DataFrame(rows))
    target = MODELS["qwen2.5-7b-q4_k_m"]  # between the small and medium sizes, nearest the medium one
    found = record.predict(DEVICES["rtx-4090"], target)
    log_sizes = np.log([per_token_bytes(MODELS[m]) for m in (SMALL, MEDIUM, LARGE)])
    curve = lambda bpt: np.interp(math.log(bpt), log_sizes, [0.4, 0.6, 0.7])  # noqa: E731  (medians over the three cards)
    bpt = per_token_bytes(target)
    expected = DEVICES["rtx-4090"].bandwidth_gbs * 1e9 / bpt * 0.66 * curve(bpt) / curve(per_token_bytes(MODELS[MEDIUM]))
    assert found.level == "own device" and found.tg == pytest.approx(expected, rel=1e-6)
    assert f"own 66% efficiency on {MEDIUM}" in found.basis


def test_a_device_nobody_measured_takes_its_vendor_and_kinds_curve_with_a_range():
    record = predictor(pd.DataFrame(nvidia_record(**{f"rtx-3090/{MEDIUM}": 0.5, f"rtx-4090/{MEDIUM}": 0.7})))
    found = record.predict(DEVICES["rtx-3080"], MODELS[MEDIUM])
    assert found.level == "vendor and kind" and "3 nvidia gpu device(s)" in found.basis
    expected = DEVICES["rtx-3080"].bandwidth_gbs * 1e9 * 0.6 / per_token_bytes(MODELS[MEDIUM])  # the median of 0.5, 0.6, 0.7
    assert found.tg == pytest.approx(expected, rel=1e-6)
    assert found.low < found.tg < found.high  # the 10th-90th percentile of the peers around their curve


def test_other_vendors_fall_back_to_the_kind_and_no_data_to_the_assumed_efficiency():
    record = predictor(pd.DataFrame(nvidia_record()))
    amd = record.predict(DEVICES["rx-7900-xtx"], MODELS[MEDIUM])
    assert amd.level == "kind" and "nvidia" not in amd.basis and "3 gpu device(s)" in amd.basis
    cpu = record.predict(DEVICES["ryzen-9-9950x"], MODELS[MEDIUM])
    assert cpu.level == "assumed" and f"assumed {ASSUMED_EFFICIENCY:.0%}" in cpu.basis and math.isnan(cpu.low)


def test_a_mixture_of_experts_without_its_own_curve_takes_the_measured_moe_factor():
    rows = nvidia_record() + [at_efficiency("dgx-spark", MEDIUM, 0.8), at_efficiency("dgx-spark", "gpt-oss-20b-mxfp4", 0.6)]
    record = predictor(pd.DataFrame(rows))
    assert record.moe_factor() == (pytest.approx(0.75), 1)
    moe = MODELS["qwen3-30b-a3b-q4_k_m"]
    found = record.predict(DEVICES["rtx-3080"], moe)
    bpt = per_token_bytes(moe)
    assert bpt == pytest.approx(moe.file_size_bytes * moe.params_active_b / moe.params_total_b)  # active bytes only
    dense = record.predict(DEVICES["rtx-3080"], MODELS[MEDIUM]).tg * per_token_bytes(MODELS[MEDIUM]) / bpt
    assert "x0.75 for a mixture of experts" in found.basis and found.tg < dense


def test_an_own_record_far_below_its_peers_is_set_aside():
    rows = nvidia_record() + [at_efficiency("rtx-5090", MEDIUM, 0.1)]  # likely ran on the CPU, not the card
    found = predictor(pd.DataFrame(rows)).predict(DEVICES["rtx-5090"], MODELS[LARGE])
    assert found.level == "vendor and kind" and "under a third of 3 peers' and set aside" in found.basis


def test_cells_keep_test_families_apart_and_drop_models_that_do_not_fit():
    rows = nvidia_record() + [
        at_efficiency("rtx-4090", "llama-3.3-70b-q4_k_m", 0.05),  # 42 GB on a 24 GB card: a spill, not the card's speed
        at_efficiency("rtx-4090", MEDIUM, 0.5, machine="ls", backend="localscore", test="localscore tg (9-shape avg)"),
    ]
    cells = record_cells(pd.DataFrame(rows), MODELS, DEVICES)
    assert "llama-3.3-70b-q4_k_m" not in set(cells["model"])
    families = cells[(cells["device_id"] == "rtx-4090") & (cells["model"] == MEDIUM)].set_index("family")["eff"]
    assert families.to_dict() == {"llama-bench tg": pytest.approx(0.6), "LocalScore tg": pytest.approx(0.5)}
