"""The arithmetic of `meek compare` and `meek advise` on small hand-made frames (pure logic; real files are in test_share)."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.aggregate.advise import advise
from harness.aggregate.compare import compare_table, markdown, shape_notes
from harness.aggregate.predict import ASSUMED_EFFICIENCY
from harness.aggregate.tree import RUN_COLUMNS
from harness.catalogue.hardware import load_hardware
from harness.catalogue.models import load_catalog
from harness.errors import MeekError

GB = 1e9


def run(machine: str, device: str | None, test: str, median: float, stddev: float = 1.0, file: str | None = None, **extra):
    hardware = {d.id: d for d in load_hardware()}
    facts = hardware[device] if device else None
    row = dict.fromkeys(RUN_COLUMNS)
    n_prompt, n_gen = (int(test[2:]), 0) if test.startswith("pp") else (0, int(test[2:]))
    row.update(
        file=file or f"{machine}-{test}-{median}.json",
        machine_id=machine,
        device_id=device,
        device=facts.name if facts else machine,
        device_kind=facts.kind if facts else None,
        bandwidth_gbs=facts.bandwidth_gbs if facts else None,
        price_usd=facts.launch_price_usd if facts else None,
        power_w=facts.power_w if facts else None,
        backend="llama-cpp-python",
        model="llama-3.1-8b-q4_k_m",
        model_label="llama-3.1-8b-q4_k_m",
        model_bytes=4.92 * GB,
        bytes_per_token=4.92 * GB,
        test=test,
        n_prompt=n_prompt,
        n_gen=n_gen,
        n_depth=0,
        settings="t8 ngl99",
        median_ts=median,
        stddev_ts=stddev,
        ttft_ms=None,
        peak_rss_bytes=2 * GB,
        peak_gpu_bytes=6 * GB,
    )
    row.update(extra)
    return row


def test_compare_medians_prices_power_and_bandwidth_use():
    runs = pd.DataFrame(
        [
            run("a", "rtx-4090", "tg128", 120.0, file="a1"),
            run("a", "rtx-4090", "tg128", 130.0, file="a2"),
            run("a", "rtx-4090", "tg128", 110.0, file="a3"),
            run("b", "rtx-3090", "tg128", 100.0),
        ]
    )
    table = compare_table(runs, "llama-3.1-8b-q4_k_m")
    first, second = table.iloc[0], table.iloc[1]
    assert (first["machine_id"], first["files"], first["t/s"], first["min"], first["max"]) == ("a", 3, 120.0, 110.0, 130.0)
    assert first["noise"] == 10.0  # half the spread across files beats the 1.0 sample stddev
    assert first["t/s per $1000"] == pytest.approx(120 / 1599 * 1000)
    assert first["t/s per W"] == pytest.approx(120 / 450)
    assert first["bandwidth use %"] == pytest.approx(120 * 4.92 / 1008 * 100)
    assert first["memory_gb"] == pytest.approx(6.0)
    assert second["note"].startswith("") and "within noise" not in second["note"]  # 20 t/s apart, noise 10


def test_compare_says_when_machines_are_within_noise():
    runs = pd.DataFrame([run("a", "rtx-4090", "tg128", 120.0, stddev=4.0), run("b", "rtx-3090", "tg128", 117.0, stddev=2.0)])
    table = compare_table(runs)
    assert table.iloc[1]["note"] == "within noise of the row above (3.0 < 4.0 t/s)"
    assert table.iloc[0]["note"] == ""


def test_compare_defaults_to_pp512_and_tg128_and_refuses_unknown_tests():
    runs = pd.DataFrame([run("a", None, "tg128", 10.0), run("a", None, "pp512", 90.0), run("a", None, "tg32", 11.0)])
    assert set(compare_table(runs)["test"]) == {"pp512", "tg128"}
    with pytest.raises(MeekError, match="no results for test"):
        compare_table(runs, tests=["pp4096"])


def test_markdown_escapes_pipes_and_keeps_numbers_right_aligned():
    text = markdown(pd.DataFrame([{"device": "a|b", "t/s": 12.345}]))
    assert text.splitlines()[1] == "|---|---:|" and "a\\|b" in text and "12.3" in text


def catalogue_model(model_id: str):
    return load_catalog().get(model_id)


def test_advise_prefers_measurements_and_labels_predictions():
    model = catalogue_model("llama-3.1-8b-q4_k_m")
    runs = pd.DataFrame(
        [
            run("a", "rtx-4090", "tg128", 150.0, runtime="CUDA", n_gpu_layers=99),
            run("b", "rtx-4090", "tg128", 140.0, runtime="CUDA", n_gpu_layers=99),
        ]
    )
    table, notes, apart = advise(runs, model, budget=2000, min_tg=None)
    measured = table[table["device"] == "NVIDIA GeForce RTX 4090"].iloc[0]
    assert (measured["tg128 t/s"], measured["tg128 is"], measured["backend"]) == (145.0, "measured", "CUDA")
    assert measured["basis"].startswith("measured: llama-bench tg128 (CUDA), 2 machines") and measured["tg128 range"] == "140-150"
    predicted = table[table["device"] == "NVIDIA GeForce RTX 3090"].iloc[0]
    # learned from the 4090's two machines: 145 t/s x the catalogue's file size over its 1008 GB/s
    efficiency = 145.0 * model.file_size_bytes / (1008 * GB)
    assert predicted["basis"] == (
        f"predicted: {efficiency:.0%} of bandwidth + 0 ms per token at its bandwidth, fitted on 1 nvidia "
        "gpu device(s) measured (CUDA, 1 model(s))"
    )  # one point: no fixed cost can be fitted
    assert predicted["tg128 t/s"] == pytest.approx(936 * GB * efficiency / model.file_size_bytes)
    assert predicted["tg128 is"] == "predicted" and predicted["backend"] == "CUDA"
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    assert table["tg128 t/s"].is_monotonic_decreasing
    assert any(note.startswith("over budget:") and "rtx-5090" not in note for note in notes)
    assert apart.empty


def test_advise_filters_budget_memory_and_min_tg():
    model = catalogue_model("llama-3.3-70b-q4_k_m")  # about 42 GB: no single consumer card holds it
    table, notes, _ = advise(pd.DataFrame(columns=RUN_COLUMNS), model, budget=5000, min_tg=3)
    kinds = set(table["kind"])
    assert "gpu" not in kinds and kinds <= {"unified", "cpu"}
    assert all(f"assumed {ASSUMED_EFFICIENCY:.0%} efficiency" in basis for basis in table["basis"])
    assert (table["tg128 t/s"] >= 3).all() and (table["price_usd"] <= 5000).all()
    assert any(note.startswith("too little memory:") and "rtx-4090" in note for note in notes)


def test_advise_moe_reads_only_active_weights():
    model = catalogue_model("qwen3-30b-a3b-q4_k_m")
    table, _, _ = advise(pd.DataFrame(columns=RUN_COLUMNS), model, budget=None, min_tg=None)
    spark = table[table["device"].str.contains("DGX Spark")].iloc[0]
    per_token = model.file_size_bytes * model.params_active_b / model.params_total_b
    assert spark["tg128 t/s"] == pytest.approx(273 * GB * ASSUMED_EFFICIENCY / per_token)


def test_advise_with_a_backend_leaves_out_devices_that_do_not_run_it():
    model = catalogue_model("llama-3.1-8b-q4_k_m")
    table, notes, _ = advise(pd.DataFrame(columns=RUN_COLUMNS), model, budget=None, min_tg=None, backend="ROCm")
    assert set(table["backend"]) == {"ROCm"} and not table["device"].str.contains("NVIDIA|Apple").any()
    assert any(note.startswith("no ROCm backend:") and "rtx-4090" in note for note in notes)


def test_a_machine_without_the_default_tests_keeps_its_own_shapes_side_by_side():
    runs = pd.DataFrame(
        [
            run("a", "rtx-4090", "tg128", 120.0),
            run("a", "rtx-4090", "pp512", 9000.0),
            run("b", "dgx-spark", "tg32", 50.0),
            run("b", "dgx-spark", "pp2048", 2000.0),
            run("a", "rtx-4090", "tg32", 118.0),
        ]
    )
    table = compare_table(runs)
    assert sorted(zip(table["machine_id"], table["test"])) == [("a", "pp512"), ("a", "tg128"), ("b", "pp2048"), ("b", "tg32")]
    notes = shape_notes(table)
    assert "NVIDIA GeForce RTX 4090: pp512, tg128" in notes and "NVIDIA DGX Spark (GB10, 128 GB): pp2048, tg32" in notes
    assert "never merged" in notes[-1]
    every = compare_table(runs, devices=["rtx-4090", "dgx-spark"])  # asked about these boxes: every test they have
    assert set(every["test"]) == {"pp512", "tg128", "tg32", "pp2048"}
    assert any("the same shape on every device (compare these rows directly): tg32" in note for note in shape_notes(every))
    assert shape_notes(compare_table(runs, tests=["tg32"])) == []


def test_advise_says_how_many_devices_min_tg_left_out():
    model = catalogue_model("qwen2.5-7b-q4_k_m")
    _, notes, _ = advise(pd.DataFrame(columns=RUN_COLUMNS), model, budget=None, min_tg=100)
    (slow,) = [note for note in notes if note.startswith("below --min-tg 100 t/s:")]
    count = int(slow.split(":")[1].split()[0])
    assert count > 1 and f"{count} devices left out (" in slow and slow.count(",") == count - 1
