"""`meek compare` never puts a ratio between different tests (issue 23, item 6): two devices side by side on the tests
both ran, the same test name only, the others listed apart by name; depths sort by number; and a serving file of one
model (a `meek bench --parallel` result) no longer breaks compare for every other model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.aggregate.compare import compare_table, in_shape_order, shape_key, shape_notes, side_by_side, side_figures
from harness.aggregate.tree import RUN_COLUMNS
from harness.catalogue.hardware import load_hardware

SHIPPED = Path(__file__).resolve().parent.parent / "results"
SERVING_GOLDEN = Path(__file__).parent / "golden" / "result-v4-serving-smollm2.json"
SPARK, STRIX = "NVIDIA DGX Spark (GB10, 128 GB)", "AMD Ryzen AI Max+ 395, 128 GB (e.g. Framework Desktop)"


def run(machine: str, device: str, test: str, median: float, runtime: str = "CUDA", **extra) -> dict:
    facts = {d.id: d for d in load_hardware()}[device]
    shape, _, depth = test.partition(" @ d")
    prompt, generation = (int(shape[2:]), 0) if shape.startswith("pp") else (0, int(shape[2:]))
    row = dict.fromkeys(RUN_COLUMNS)
    row.update(
        file=f"{machine}-{test}-{median}.json",
        machine_id=machine,
        device_id=device,
        device=facts.name,
        bandwidth_gbs=facts.bandwidth_gbs,
        price_usd=facts.launch_price_usd,
        power_w=facts.power_w,
        backend="llama-bench",
        runtime=runtime,
        model="gpt-oss-120b-mxfp4",
        model_label="gpt-oss-120b-mxfp4",
        test=test,
        n_prompt=prompt,
        n_gen=generation,
        n_depth=int(depth or 0),
        settings="ngl99 fa1",
        median_ts=median,
        stddev_ts=0.1,
        source="imported: a table",
        split="",
        **extra,
    )
    return row


def test_depths_sort_as_numbers_and_prompt_before_generation():
    tests = [
        "tg32 @ d32768",
        "localscore tg (9-shape avg)",
        "tg128",
        "tg32 @ d4096",
        "pp2048 @ d16384",
        "pp512",
        "tg32 @ d16384",
        "pp512+tg128",
        "pp2048",
        "pp2048 @ d4096",
        "tg32",
    ]
    assert in_shape_order(tests) == [
        "pp512",
        "pp2048",
        "pp512+tg128",
        "tg32",
        "tg128",
        "pp2048 @ d4096",
        "tg32 @ d4096",
        "pp2048 @ d16384",
        "tg32 @ d16384",
        "tg32 @ d32768",
        "localscore tg (9-shape avg)",
    ]
    assert shape_key("tg32 @ d4096") < shape_key("tg32 @ d16384") < shape_key("tg32 @ d32768")


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            run("spark-1", "dgx-spark", "tg32 @ d32768", 42.8),
            run("spark-2", "dgx-spark", "tg32 @ d32768", 41.4),
            run("spark-1", "dgx-spark", "tg32 @ d4096", 55.7),
            run("spark-1", "dgx-spark", "tg32 @ d16384", 49.5),
            run("spark-1", "dgx-spark", "pp2048", 2443.9),
            run("spark-1", "dgx-spark", "tg32", 58.7),
            run("strix-1", "ryzen-ai-max-395", "tg32 @ d32768", 40.0, "ROCm"),
            run("strix-2", "ryzen-ai-max-395", "tg32 @ d32768", 43.0, "Vulkan"),
            run("strix-2", "ryzen-ai-max-395", "tg32 @ d32768", 99.0, "Vulkan", unstable=True),  # a busy run: left out
            run("strix-1", "ryzen-ai-max-395", "pp512", 700.0, "ROCm"),
            run("strix-1", "ryzen-ai-max-395", "tg128", 50.0, "ROCm"),
        ]
    )


def test_compare_table_and_its_notes_list_depths_in_number_order():
    table = compare_table(frame(), devices=["dgx-spark", "ryzen-ai-max-395"])
    assert list(dict.fromkeys(table["test"])) == [
        "pp512",
        "pp2048",
        "tg32",
        "tg128",
        "tg32 @ d4096",
        "tg32 @ d16384",
        "tg32 @ d32768",
    ]
    assert f"{SPARK}: pp2048, tg32, tg32 @ d4096, tg32 @ d16384, tg32 @ d32768" in shape_notes(table)


def test_two_devices_pair_only_the_same_test_and_list_the_rest_by_name():
    shared, only = side_by_side(side_figures(frame()), "dgx-spark", "ryzen-ai-max-395")
    assert list(shared["test"]) == ["tg32 @ d32768"]  # never pp2048 beside pp512, nor tg32 beside tg128
    row = shared.iloc[0]
    assert (row["A t/s"], row["B t/s"]) == (42.8, 43.0) and row["B / A"] == pytest.approx(43.0 / 42.8)
    assert row["A via"] == "llama-bench, CUDA (fastest of 2)" and row["B via"] == "llama-bench, Vulkan (fastest of 2)"
    lists = {r.side_label: r.tests for r in only.itertuples()}
    assert lists == {SPARK: ["pp2048", "tg32", "tg32 @ d4096", "tg32 @ d16384"], STRIX: ["pp512", "tg128"]}


def test_compare_devices_with_a_serving_file_in_the_tree(tmp_path):
    """A `bench --parallel` result of smollm2 next to the shipped record: compare of another model works, and two devices
    show the tests both ran, with the ratio, and the others apart (the acceptance command of issue 23, item 6)."""
    from typer.testing import CliRunner

    from harness.cli import app

    extra = tmp_path / "results" / "serving-box"
    extra.mkdir(parents=True)
    shutil.copy(SERVING_GOLDEN, extra / SERVING_GOLDEN.name)
    record = [p for p in sorted(SHIPPED.iterdir()) if p.name.startswith(("dgx-spark-", "ryzen-ai-max-395-"))]
    dirs = [arg for path in [*record, tmp_path / "results"] for arg in ("--results-dir", str(path))]
    runner = CliRunner()

    result = runner.invoke(app, ["compare", *dirs, "-m", "gpt-oss-120b-mxfp4"])
    assert result.exit_code == 0, result.stderr
    assert "no results for model" not in result.stderr and "| gpt-oss-120b-mxfp4 |" in result.stdout

    result = runner.invoke(app, ["compare", *dirs, "-m", "gpt-oss-120b-mxfp4", "--devices", "dgx-spark,ryzen-ai-max-395"])
    text = result.stdout
    assert result.exit_code == 0, result.stderr
    side_by_side_table = text.split("The tests both ran, side by side")[1].split("Tests only one of them ran")[0]
    pairs = [line.split(" | ")[1] for line in side_by_side_table.splitlines() if line.startswith("| gpt-oss")]
    assert pairs == ["pp2048 @ d32768", "tg32 @ d32768"]  # the shapes both boxes ran, nothing else
    header = "| dgx-spark t/s | dgx-spark from | ryzen-ai-max-395 t/s | ryzen-ai-max-395 from | ryzen-ai-max-395 / dgx-spark |"
    assert header in text
    assert f"- only {SPARK}: pp2048, tg32, pp2048 @ d4096, tg32 @ d4096, pp2048 @ d8192, tg32 @ d8192, pp2048 @ d16384" in text
    assert f"- only {STRIX}: pp512, tg128" in text
    assert "smollm2" not in text  # the serving point is of another model (and on another device)

    result = runner.invoke(
        app, ["compare", *dirs, "-m", "gpt-oss-120b-mxfp4", "--devices", "dgx-spark,ryzen-ai-max-395", "--format", "json"]
    )
    answer = json.loads(result.stdout)
    assert result.exit_code == 0 and answer["serving"] == []
    assert {r["test"] for r in answer["side_by_side"]} == {"pp2048 @ d32768", "tg32 @ d32768"}
    only = {r["device"]: r["tests"] for r in answer["only"]}
    assert only["ryzen-ai-max-395"][:2] == ["pp512", "tg128"] and "pp512" not in only["dgx-spark"]

    result = runner.invoke(app, ["compare", *dirs, "-m", "smollm2-135m"])  # the serving file's own model still shows
    assert result.exit_code == 0 and "streams at >=" in result.stdout
