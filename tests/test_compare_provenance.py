"""`meek compare` names where every row comes from (measured here, submitted, imported with its source), never merges
rows of different provenance, and narrows to hardware-table devices with --devices (issue 15, first part)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.forgeries import GENUINE, genuine

LLAMA_BENCH = Path(__file__).parent / "fixtures" / "llama-bench" / "smollm2-cpu.json"


def test_every_row_names_its_source(run_meek, tmp_path):
    tree = tmp_path / "results"
    (tree / genuine()["machine"]["machine_id"]).mkdir(parents=True)
    shutil.copy(GENUINE, tree / genuine()["machine"]["machine_id"] / "genuine.json")
    code, _, stderr = run_meek("import", "llama-bench", str(LLAMA_BENCH), "--results-dir", str(tree))
    assert code == 0, stderr
    code, stdout, stderr = run_meek("compare", "--results-dir", str(tree), "--model", "smollm2-135m", "--format", "json")
    assert code == 0, stderr
    sources = {row["source"] for row in json.loads(stdout)["speed"]}
    assert "submitted" in sources  # the golden file was measured on another machine
    assert any(s.startswith("imported: llama-bench -o json") for s in sources), sources


def test_devices_narrows_to_hardware_table_ids(run_meek, example_tree):
    code, stdout, stderr = run_meek("compare", "--results-dir", str(example_tree), "--format", "json", "--test", "tg128")
    assert code == 0, stderr
    devices = {row["device"] for row in json.loads(stdout)["speed"]}
    assert len(devices) > 2
    from harness.catalogue.hardware import load_hardware

    by_name = {d.name: d.id for d in load_hardware()}
    wanted = sorted(by_name[name] for name in devices if name in by_name)[:2]
    code, stdout, stderr = run_meek(
        "compare", "--results-dir", str(example_tree), "--format", "json", "--test", "tg128", "--devices", ",".join(wanted)
    )
    assert code == 0, stderr
    assert {by_name[row["device"]] for row in json.loads(stdout)["speed"]} == set(wanted)
    code, _, stderr = run_meek("compare", "--results-dir", str(example_tree), "--devices", "rtx-409")
    assert code == 2 and "unknown device rtx-409" in stderr and "rtx-4090" in stderr


SHIPPED = Path(__file__).resolve().parent.parent / "results"


def test_advise_device_answers_the_reverse_question_and_says_measured_converted_or_predicted(run_meek):
    code, stdout, stderr = run_meek("advise", "--device", "dgx-spark", "--results-dir", str(SHIPPED), "--format", "json")
    assert code == 0, stderr
    rows = {row["model"]: row for row in json.loads(stdout)}
    assert rows["llama-2-7b-q4_0"]["tg128 is"] == "measured" and "scoreboard" in rows["llama-2-7b-q4_0"]["basis"]
    spark = rows["gpt-oss-120b-mxfp4"]  # llama.cpp's DGX Spark bench runs tg32, not tg128: named apart, not called tg128
    assert spark["tg128 is"] == "predicted" and "tg32 (CUDA)" in spark["other tests, not converted"]
    speeds = [row["tg128 t/s"] for row in json.loads(stdout)]
    assert speeds == sorted(speeds, reverse=True)  # fastest first
    code, stdout, stderr = run_meek("advise", "--device", "arc-b580", "--results-dir", str(SHIPPED), "--min-tg", "20")
    assert code == 0 and "tg128" in stdout and "measured" not in stdout.split("- ")[-1].split("(")[0], stderr
    assert "of bandwidth +" in stdout and "device(s) measured" in stdout  # predicted from the devices the record measured
    code, stdout, stderr = run_meek("advise", "--device", "rtx-4090", "--results-dir", str(SHIPPED), "--format", "json")
    rows = {row["model"]: row for row in json.loads(stdout)}
    assert code == 0 and rows["llama-3.1-8b-q4_k_m"]["tg128 is"] == "converted"  # LocalScore's average, never "measured"
    assert "LocalScore tg (9-shape avg) x" in rows["llama-3.1-8b-q4_k_m"]["basis"]
    assert "learned on" in rows["llama-3.1-8b-q4_k_m"]["basis"] and "measured both ways" in rows["llama-3.1-8b-q4_k_m"]["basis"]
    assert rows["qwen2.5-7b-q4_k_m"]["tg128 is"] == "predicted" and "converted from" in rows["qwen2.5-7b-q4_k_m"]["basis"]
    code, _, stderr = run_meek("advise", "--device", "rtx-409")
    assert code == 2 and "Did you mean rtx-4090" in stderr
    code, _, stderr = run_meek("advise")
    assert code == 2 and "give -m MODEL" in stderr


def test_advise_device_says_how_many_models_min_tg_left_out(run_meek):
    code, every, stderr = run_meek("advise", "--device", "arc-b580", "--results-dir", str(SHIPPED), "--format", "csv")
    assert code == 0, stderr
    code, fast, stderr = run_meek("advise", "--device", "arc-b580", "--results-dir", str(SHIPPED), "--min-tg", "40", "-f", "csv")
    assert code == 0, stderr
    left = len(every.splitlines()) - len(fast.splitlines())
    assert left > 0 and f"{left} catalogue models that fit left out below --min-tg 40 t/s" in stderr


def test_advise_machine_this_outside_the_table_answers_from_its_own_memory_and_measured_bandwidth(run_meek):
    from harness.machine.facts import fingerprint
    from harness.results.facts import device_of

    machine = fingerprint(include_build=False)
    if device_of(machine, offload=bool(machine.gpus)) is not None:
        pytest.skip("this machine's device is in the hardware table")
    code, stdout, stderr = run_meek("advise", "--machine", "this", "--results-dir", str(SHIPPED), "--format", "json")
    assert code == 0 and "Traceback" not in stderr, stderr
    rows = json.loads(stdout)
    assert rows and all(row["tg128 is"] in ("measured", "predicted") for row in rows)
    assert all("bandwidth" in row["basis"] and "GB/s measured by a copy test" in row["basis"] for row in rows)
    assert all(row["margin"].startswith("margin +") for row in rows)  # this machine's own memory, not RAM to be bought
    assert "not in the hardware table" in stderr
