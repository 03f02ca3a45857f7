"""`meek import llama-bench-table`: a published llama-bench table (markdown as printed, or CSV) becomes summary-only
result files that validate, name their source, and line up in compare (issue 15, first part)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results.schema import SCHEMA_VERSION
from tests.conftest import SHARED_DATA

PASTED = """| model                          |       size |     params | backend    | ngl | n_ubatch | fa |            test |                  t/s |
| ------------------------------ | ---------: | ---------: | ---------- | --: | -------: | -: | --------------: | -------------------: |
| gpt-oss 20B MXFP4 MoE          |  11.27 GiB |    20.91 B | CUDA       |  99 |     2048 |  1 |          pp2048 |      4505.82 ± 12.90 |
| gpt-oss 20B MXFP4 MoE          |  11.27 GiB |    20.91 B | CUDA       |  99 |     2048 |  1 |            tg32 |         83.43 ± 0.59 |
| gpt-oss 20B MXFP4 MoE          |  11.27 GiB |    20.91 B | CUDA       |  99 |     2048 |  1 |  pp2048 @ d4096 |      4158.34 ± 18.84 |

build: 11fb327bf (7941)
"""


def _import(run_meek, path: Path, tree: Path, device: str = "dgx-spark"):
    return run_meek(
        "import",
        "llama-bench-table",
        str(path),
        "--device",
        device,
        "--date",
        "2026-02-05",
        "--source",
        "ggml-org/llama.cpp benches/dgx-spark/dgx-spark.md, build 11fb327bf (7941)",
        "--results-dir",
        str(tree),
    )


def test_a_pasted_table_becomes_summary_only_results_that_validate(run_meek, tmp_path):
    table = tmp_path / "pasted.md"
    table.write_text(PASTED)
    code, stdout, stderr = _import(run_meek, table, tmp_path / "results")
    assert code == 0 and "1 result file(s) written" in stdout, stderr
    (path,) = (tmp_path / "results").glob("*/*.json")
    document = json.loads(path.read_text())
    assert (
        document["schema_version"] == SCHEMA_VERSION and document["model"]["id"] == "gpt-oss-20b-mxfp4"
    )  # mapped onto the catalogue
    assert document["protocol"]["source"].startswith("ggml-org/llama.cpp") and document["protocol"]["repetitions"] is None
    runs = {run["test"]: run for run in document["runs"]}
    assert runs["tg32"]["summary_only"] and not runs["tg32"]["samples_ns"] and runs["tg32"]["avg_ts"] == 83.43
    assert runs["pp2048 @ d4096"]["n_depth"] == 4096 and runs["pp2048"]["settings"]["n_ubatch"] == 2048
    code, stdout, _ = run_meek("validate", str(tmp_path / "results"))
    assert code == 0, stdout
    code, stdout, stderr = run_meek("compare", "--results-dir", str(tmp_path / "results"), "--test", "tg32", "--format", "json")
    assert code == 0, stderr
    (row,) = json.loads(stdout)["speed"]
    assert row["t/s"] == 83.43 and row["source"].startswith("imported: llama-bench table")
    assert row["device"].startswith("NVIDIA DGX Spark")  # the machine maps back onto the hardware-table device


def test_an_impossible_table_is_refused_and_a_bad_device_is_a_usage_error(run_meek, tmp_path):
    table = tmp_path / "forged.md"
    table.write_text(PASTED.replace("83.43 ± 0.59", "83000.43 ± 0.59"))
    code, stdout, stderr = _import(run_meek, table, tmp_path / "results")
    assert code == 0 and "1 result file(s) written, 1 skipped" in stdout and "memory bandwidth" in stderr
    (path,) = (tmp_path / "results").glob("*/*.json")  # the impossible tg32 row is refused alone, its group kept
    assert [run["test"] for run in json.loads(path.read_text())["runs"]] == ["pp2048", "pp2048 @ d4096"]
    code, _, stderr = _import(run_meek, table, tmp_path / "results", device="dgx-spork")
    assert code == 2 and "unknown device 'dgx-spork'" in stderr


@pytest.mark.skipif(not (SHARED_DATA / "community").is_dir(), reason="../shared/data/community is not here")
def test_dgx_spark_and_strix_halo_side_by_side_from_their_sources(run_meek, tmp_path):
    community = SHARED_DATA / "community"
    tree = tmp_path / "results"
    code, _, stderr = _import(run_meek, community / "llama-cpp-benches" / "dgx-spark_b7941.csv", tree)
    assert code == 0, stderr
    code, _, stderr = run_meek(
        "import",
        "llama-bench-table",
        str(community / "strix-halo-kyuz0" / "results_flat.csv"),
        "--device",
        "ryzen-ai-max-395",
        "--date",
        "2026-05-18",
        "--source",
        "kyuz0/amd-strix-halo-toolboxes docs/results.json @ 08aa7bc026cb",
        "--results-dir",
        str(tree),
    )
    assert code == 0 and "the source marks it as an error" in stderr, stderr  # its failed runs are skipped with the reason
    code, stdout, stderr = run_meek(
        "compare",
        "--results-dir",
        str(tree),
        "-m",
        "gpt-oss-120b-mxfp4",
        "--devices",
        "dgx-spark,ryzen-ai-max-395",
        "--test",
        "pp512,tg128,pp2048,tg32",
        "--format",
        "json",
    )
    assert code == 0, stderr
    rows = json.loads(stdout)["speed"]
    assert {r["device"].split(" (")[0].split(",")[0] for r in rows} == {"NVIDIA DGX Spark", "AMD Ryzen AI Max+ 395"}
    assert {r["test"] for r in rows} == {"pp512", "tg128", "pp2048", "tg32"}  # each source's own shapes, never merged
    assert all(r["source"].startswith("imported: llama-bench table") for r in rows)
    assert len({r["source"] for r in rows if r["test"] == "tg128"}) >= 2  # ROCm and Vulkan toolboxes apart


def test_a_measured_file_may_not_drop_its_samples(run_meek, tmp_path):
    """summary_only is for imported tables: a file claiming to be a meek measurement keeps its raw samples."""
    from tests.forgeries import forged, run_named

    def strip_samples(d):
        run = run_named(d, "tg8")
        run.update(
            summary_only=True,
            samples_ns=[],
            samples_ts=[],
            median_ts=None,
            min_ts=None,
            max_ts=None,
            avg_ns=None,
            stddev_ns=None,
            ttft_ns=[],
        )

    path = tmp_path / "stripped.json"
    path.write_text(json.dumps(forged(strip_samples)))
    code, stdout, _ = run_meek("validate", str(path))
    assert code == 1 and "summary-only runs belong to imported tables" in stdout


@pytest.mark.skipif(not (SHARED_DATA / "community").is_dir(), reason="../shared/data/community is not here")
def test_localscore_rows_keep_their_own_shapes(run_meek, tmp_path):
    tsv = SHARED_DATA / "community" / "localscore" / "localscore_results.tsv"
    code, stdout, stderr = run_meek(
        "import",
        "localscore",
        str(tsv),
        "--source",
        "d893a/localscore-insights @ a4f81747b3e6",
        "--results-dir",
        str(tmp_path / "results"),
        timeout=600,
    )
    assert code == 0 and "result file(s) written" in stdout, stderr
    code, stdout, stderr = run_meek(
        "compare",
        "--results-dir",
        str(tmp_path / "results"),
        "-m",
        "llama-3.1-8b-q4_k_m",
        "--devices",
        "rtx-3090",
        "--format",
        "json",
    )
    assert code == 0, stderr
    rows = json.loads(stdout)["speed"]
    assert {r["test"] for r in rows} == {"localscore pp (9-shape avg)", "localscore tg (9-shape avg)"}  # never tg128
    assert all(r["source"].startswith("imported: LocalScore leaderboard") for r in rows)


def test_the_shipped_record_covers_a_hundred_devices_offline():
    """results/ ships the imported community record (python -m harness.results.community regenerates it)."""
    from harness.aggregate.tree import load_tree

    tree = load_tree([Path(__file__).resolve().parent.parent / "results"])
    imported = tree.runs[tree.runs["source"].str.startswith("imported")]
    assert imported["device_id"].nunique() >= 100
    assert not tree.rejected, [(r.path, r.failures[:1]) for r in tree.rejected[:3]]
    spark = imported[imported["device_id"] == "dgx-spark"]
    halo = imported[imported["device_id"] == "ryzen-ai-max-395"]
    assert not spark.empty and not halo.empty


def test_a_depth_campaign_keeps_its_repetitions_as_raw_samples(run_meek, tmp_path):
    csv_path = SHARED_DATA / "community" / "strix-halo-kyuz0" / "ryzen-ai-halo_depth.csv"
    if not csv_path.is_file():
        pytest.skip("../shared/data/community is absent")
    code, stdout, stderr = run_meek(
        "import",
        "depth-campaign",
        str(csv_path),
        "--device",
        "ryzen-ai-max-395",
        "--date",
        "2026-07-12",
        "--source",
        "kyuz0/amd-strix-halo-toolboxes @ a7c71e919172",
        "--results-dir",
        str(tmp_path / "results"),
    )
    assert code == 0 and "result file(s) written" in stdout, stderr
    document = json.loads(next((tmp_path / "results").glob("*/*.json")).read_text())
    runs = {run["test"]: run for run in document["runs"]}
    deep = runs["tg128 @ d65536"]
    assert not deep["summary_only"] and len(deep["samples_ns"]) == 3 and deep["n_depth"] == 65536
    assert deep["samples_ts"] == pytest.approx([128 / ns * 1e9 for ns in deep["samples_ns"]], rel=1e-6)
    assert "pp2048" in runs and runs["pp2048 @ d8192"]["n_prompt"] == 2048
    code, _, stderr = run_meek("validate", str(tmp_path / "results"))
    assert code == 0, stderr
    code, _, stderr = run_meek(
        "import",
        "depth-campaign",
        str(csv_path),
        "--device",
        "rtx-409",
        "--date",
        "2026-07-12",
        "--source",
        "x",
        "--results-dir",
        str(tmp_path / "other"),
    )
    assert code == 2 and "unknown device 'rtx-409'" in stderr


def test_geerling_findings_are_their_own_shape_with_peak_wall_power(run_meek, tmp_path):
    csv_path = SHARED_DATA / "community" / "geerlingguy-ai-benchmarks" / "readme_findings.csv"
    if not csv_path.is_file():
        pytest.skip("../shared/data/community is absent")
    code, stdout, stderr = run_meek(
        "import",
        "geerling",
        str(csv_path),
        "--date",
        "2025-12-18",
        "--source",
        "geerlingguy/ai-benchmarks @ bdf94413f5f2, README.md",
        "--results-dir",
        str(tmp_path / "results"),
    )
    assert code == 0 and "result file(s) written" in stdout, stderr
    assert "no hardware-table device for 'Pi 5 - 16GB'" in stderr  # a Raspberry Pi: skipped with its reason
    assert "split between devices" in stderr  # a model spilled from the GPU into system RAM: no one device
    code, stdout, stderr = run_meek(
        "compare",
        "--results-dir",
        str(tmp_path / "results"),
        "-m",
        "gpt-oss-20b-mxfp4",
        "--devices",
        "rtx-4090",
        "--format",
        "json",
    )
    assert code == 0, stderr
    rows = json.loads(stdout)["speed"]
    assert {r["test"] for r in rows} == {"geerling eval rate (lengths not stated)"}
    assert {r["runtime"] for r in rows} == {"Vulkan", "unknown"}  # the README's footnote 1 rows, and the Ollama ones
    assert all(r["measured W"] and r["source"].startswith("imported: Geerling findings") for r in rows)
    document = json.loads(next((tmp_path / "results").glob("rtx-4090-geerling-*/*gpt-oss*")).read_text())
    assert document["runs"][0]["power"][0]["kind"] == "wall, peak (not an average)"
    assert document["runs"][0]["timing_source"].startswith("Geerling README row: https://github.com/geerlingguy/")
