"""`meek compare` names where every row comes from (measured here, submitted, imported with its source), never merges
rows of different provenance, and narrows to hardware-table devices with --devices (issue 15, first part)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
    from harness.machine.hardware import load_hardware

    by_name = {d.name: d.id for d in load_hardware()}
    wanted = sorted(by_name[name] for name in devices if name in by_name)[:2]
    code, stdout, stderr = run_meek("compare", "--results-dir", str(example_tree), "--format", "json", "--test", "tg128",
                                    "--devices", ",".join(wanted))  # fmt: skip
    assert code == 0, stderr
    assert {by_name[row["device"]] for row in json.loads(stdout)["speed"]} == set(wanted)
    code, _, stderr = run_meek("compare", "--results-dir", str(example_tree), "--devices", "rtx-409")
    assert code == 2 and "unknown device rtx-409" in stderr and "rtx-4090" in stderr


SHIPPED = Path(__file__).resolve().parent.parent / "results"


def test_advise_device_answers_the_reverse_question_and_says_measured_or_predicted(run_meek):
    code, stdout, stderr = run_meek("advise", "--device", "dgx-spark", "--results-dir", str(SHIPPED), "--format", "json")
    assert code == 0, stderr
    rows = {row["model"]: row for row in json.loads(stdout)}
    assert rows["gpt-oss-120b-mxfp4"]["basis"].startswith("measured") and "tg32" in rows["gpt-oss-120b-mxfp4"]["basis"]
    speeds = [row["tg t/s"] for row in json.loads(stdout)]
    assert speeds == sorted(speeds, reverse=True)  # fastest first
    code, stdout, stderr = run_meek("advise", "--device", "arc-b580", "--results-dir", str(SHIPPED), "--min-tg", "20")
    assert code == 0 and "0 model(s) measured on this device" in stdout, stderr  # no Arc card in the record
    assert "efficiency of" in stdout and "gpu device(s)" in stdout  # predicted from the GPUs the record holds
    code, stdout, stderr = run_meek("advise", "--device", "rtx-4090", "--results-dir", str(SHIPPED), "--format", "json")
    basis = {row["model"]: row["basis"] for row in json.loads(stdout)}
    assert code == 0 and "LocalScore" not in basis["llama-3.1-8b-q4_k_m"] and "localscore tg" in basis["llama-3.1-8b-q4_k_m"]
    assert "this device's own" in basis["qwen2.5-7b-q4_k_m"]  # predicted from the 4090's own measured efficiency
    code, _, stderr = run_meek("advise", "--device", "rtx-409")
    assert code == 2 and "Did you mean rtx-4090" in stderr
    code, _, stderr = run_meek("advise")
    assert code == 2 and "give -m MODEL" in stderr
