"""`meek import scoreboard`: llama.cpp's CUDA/ROCm/Vulkan scoreboard rows (Llama 2 7B Q4_0, pp512 and tg128, -ngl 99 -fa 0)
become one summary-only result file per row, on the hardware-table device the row names, with its backend and build."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

CSV = SHARED_DATA / "community" / "llama-cpp-scoreboards" / "llama2-7b-q4_0_scoreboards.csv"
needs_csv = pytest.mark.skipif(not CSV.is_file(), reason="../shared/data/community/llama-cpp-scoreboards is not here")
HEADER = "scoreboard,backend,device_as_published,pp512_tps,pp512_std,tg128_tps,tg128_std,build_commit,copy_source,note\n"


def _documents(tree: Path) -> dict[str, list[dict]]:
    """The written documents by hardware-table device id (the machine folder's prefix before '-imported-')."""
    by_device: dict[str, list[dict]] = {}
    for path in sorted(tree.glob("*/*.json")):
        by_device.setdefault(path.parent.name.split("-imported-")[0], []).append(json.loads(path.read_text()))
    return by_device


def _runs(document: dict) -> dict[str, dict]:
    return {run["test"]: run for run in document["runs"]}


@needs_csv
def test_each_scoreboard_row_becomes_one_file_on_its_device(run_meek, tmp_path):
    tree = tmp_path / "results"
    code, stdout, stderr = run_meek(
        "import",
        "scoreboard",
        str(CSV),
        "--date",
        "2026-09-30",
        "--source",
        "shared/data/community/llama-cpp-scoreboards",
        "--results-dir",
        str(tree),
    )
    assert code == 0 and "23 result file(s) written, 2 skipped" in stdout, stderr
    # the rows no single device fits, each with its reason
    assert "'H100 80GB' not placed: form factor not stated" in stderr
    assert "'Intel Core Ultra 200-series iGPU' not placed: SKU not stated" in stderr
    by_device = _documents(tree)
    assert sum(len(docs) for docs in by_device.values()) == 23

    # the RTX 5090 twice: CUDA and Vulkan are separate files with their own figures, backend and build
    cuda, vulkan = sorted(by_device["rtx-5090"], key=lambda d: d["machine"]["llama_cpp"]["backends"])
    assert cuda["machine"]["llama_cpp"] == {**cuda["machine"]["llama_cpp"], "backends": ["CUDA"], "commit": "8cf6b42"}
    assert _runs(cuda)["tg128"]["avg_ts"] == 290.02 and _runs(cuda)["pp512"]["avg_ts"] == 14073.41
    assert _runs(cuda)["tg128"]["stddev_ts"] == 1.10 and _runs(cuda)["pp512"]["stddev_ts"] == 115.16
    assert cuda["protocol"]["imported_from"] == "llama.cpp CUDA scoreboard (discussions/15013), CUDA, build 8cf6b42"
    assert cuda["protocol"]["source"].startswith("https://github.com/ggml-org/llama.cpp/discussions/15013; ")
    assert cuda["protocol"]["backend"] == "llama-bench" and cuda["created_utc"].startswith("2026-09-30")
    assert vulkan["machine"]["llama_cpp"]["backends"] == ["Vulkan"] and vulkan["machine"]["llama_cpp"]["commit"] == "ca71fb9"
    assert _runs(vulkan)["tg128"]["avg_ts"] == 263.63 and _runs(vulkan)["tg128"]["stddev_ts"] == 0
    assert "no sd published" in _runs(vulkan)["tg128"]["timing_source"]
    assert "discussions/10879" in vulkan["protocol"]["source"] and "RTX 5090 (Vulkan)" in vulkan["protocol"]["source"]

    # llama-bench's profile: -ngl 99 -fa 0, its defaults otherwise; the catalogue's model
    for run in cuda["runs"]:
        assert run["summary_only"] and not run["samples_ns"] and run["n_depth"] == 0
        assert run["settings"] == {
            **run["settings"],
            "n_gpu_layers": 99,
            "flash_attn": 0,
            "n_batch": 2048,
            "n_ubatch": 512,
            "type_k": "f16",
            "type_v": "f16",
        }
    assert (_runs(cuda)["pp512"]["n_prompt"], _runs(cuda)["tg128"]["n_gen"]) == (512, 128)
    assert cuda["model"]["id"] == "llama-2-7b-q4_0" and cuda["model"]["quant"] == "Q4_0"

    # names placed on exactly the right device
    assert [d["machine"]["llama_cpp"]["backends"] for d in by_device["rtx-pro-6000-blackwell-max-q"]] == [["CUDA"]]
    assert "rtx-pro-6000-blackwell" not in by_device  # the Max-Q is not the 600 W card
    assert sorted(d["machine"]["llama_cpp"]["backends"][0] for d in by_device["rx-9070"]) == ["ROCm", "Vulkan"]
    assert sorted(d["machine"]["llama_cpp"]["backends"][0] for d in by_device["rx-9070-xt"]) == ["ROCm", "Vulkan"]
    assert sorted(_runs(d)["tg128"]["avg_ts"] for d in by_device["radeon-ai-pro-r9700"]) == [93.84, 145.67]
    assert len(by_device["instinct-mi100"]) == len(by_device["rtx-pro-4000-blackwell"]) == len(by_device["dgx-spark"]) == 1
    assert _runs(by_device["rtx-4060-ti-8gb"][0])["tg128"]["avg_ts"] == 63.86  # "8GB" said: not the 16 GB card
    (v100,) = by_device["tesla-v100-sxm2-32gb"]
    assert "form factor not published" in v100["protocol"]["source"] and "900 GB/s" in v100["protocol"]["source"]
    assert "h100-pcie" not in by_device and "h100-sxm" not in by_device

    code, stdout, stderr = run_meek("validate", str(tree))
    assert code == 0 and "23 file(s): 23 valid" in stdout, stdout + stderr
    code, stdout, _ = run_meek(
        "import",
        "scoreboard",
        str(CSV),
        "--date",
        "2026-09-30",
        "--source",
        "shared/data/community/llama-cpp-scoreboards",
        "--results-dir",
        str(tree),
    )
    assert code == 0 and "0 result file(s) written" in stdout  # a second import writes nothing twice
    assert sum(1 for _ in tree.glob("*/*.json")) == 23


def test_rows_that_fit_no_device_or_break_physics_are_skipped_with_reasons():
    from harness.results.import_scoreboard import results_from_scoreboard

    text = (
        HEADER
        + "\n".join(
            [
                "ggml-org/llama.cpp discussions/15013,CUDA,NVIDIA GeForce RTX 4090,11992.70,107.99,186.21,0.13,2241453,copy-a,",
                "ggml-org/llama.cpp discussions/15013,CUDA,NVIDIA GeForce RTX 5060 Ti 8GB,3000,,80,,abc1234,copy-b,",
                "ggml-org/llama.cpp discussions/15013,CUDA,NVIDIA GeForce GTX 1080,1000,,50,,abc1234,copy-c,",
                "ggml-org/llama.cpp discussions/15021,ROCm,AMD Radeon RX 7900 XTX,3552.27,101.96,16711.0,0.5,2f0c2db,copy-d,forged",
                "ggml-org/llama.cpp discussions/10879,Vulkan,Intel Arc B580,620.94,,70.14,,,copy-e,no build",
                "ggml-org/llama.cpp discussions/10879,,Intel Arc B580,620.94,,70.14,,,copy-f,",
            ]
        )
        + "\n"
    )
    imported = results_from_scoreboard(text, dt.date(2026, 9, 30), "a test", "rows.csv")
    assert [r.machine.gpus[0].name for r in imported.results] == ["RTX 4090", "Arc B580"]
    rtx, arc = imported.results
    assert rtx.machine.llama_cpp.commit == "2241453" and arc.machine.llama_cpp.commit is None  # an empty build stays empty
    assert arc.protocol.imported_from == "llama.cpp Vulkan scoreboard (discussions/10879), Vulkan, build not given"
    assert "note: no build" in arc.protocol.source and arc.protocol.source.endswith("; a test")
    skipped = "\n".join(imported.skipped)
    assert "line 3 (NVIDIA GeForce RTX 5060 Ti 8GB): 'NVIDIA GeForce RTX 5060 Ti 8GB' states 8 GB" in skipped
    assert "line 4 (NVIDIA GeForce GTX 1080): no hardware-table device" in skipped
    assert "memory bandwidth" in skipped  # 16711 t/s of a 3.8 GB model on a 960 GB/s card
    assert "line 7 (Intel Arc B580): backend '' is not one llama.cpp backend" in skipped
    assert len(imported.skipped) == 4


def test_the_cli_is_thin_and_refuses_a_csv_of_other_columns(tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app

    good = tmp_path / "rows.csv"
    good.write_text(
        HEADER + "ggml-org/llama.cpp discussions/15013,CUDA,NVIDIA GeForce RTX 4090,11992.70,107.99,186.21,0.13,2241453,copy-a,\n"
    )
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "import",
            "scoreboard",
            str(good),
            "--date",
            "2026-09-30",
            "--source",
            "a test",
            "--results-dir",
            str(tmp_path / "results"),
        ],
    )
    assert result.exit_code == 0 and "1 result file(s) written" in result.stdout  # meek's output, not click's
    (path,) = (tmp_path / "results").glob("rtx-4090-imported-*/*.json")
    assert json.loads(path.read_text())["created_utc"] == "2026-09-30T00:00:00Z"
    other = tmp_path / "other.csv"
    other.write_text("model,test,t/s\nllama 7B Q4_0,tg128,186.21\n")
    result = runner.invoke(
        app,
        ["import", "scoreboard", str(other), "--date", "2026-09-30", "--source", "x", "--results-dir", str(tmp_path / "results")],
    )
    assert result.exit_code == 1 and "not a scoreboard CSV" in result.stderr
    result = runner.invoke(
        app,
        ["import", "scoreboard", str(good), "--date", "30/09/2026", "--source", "x", "--results-dir", str(tmp_path / "results")],
    )
    assert result.exit_code == 2 and "is not a date" in result.stderr


def test_a_file_of_an_older_schema_counts_as_already_imported(tmp_path):
    """Regenerating the shipped record keeps its files (schema 3) rather than writing schema-4 copies beside them."""
    from harness.results.import_scoreboard import results_from_scoreboard
    from harness.results.store import write_result
    from harness.results.submit import already_there

    text = HEADER + "ggml-org/llama.cpp discussions/15013,CUDA,NVIDIA GeForce RTX 4090,11992.70,107.99,186.21,0.13,2241453,c,\n"
    (result,) = results_from_scoreboard(text, dt.date(2026, 9, 30), "a test", "rows.csv").results
    path = write_result(result, tmp_path)
    assert already_there(tmp_path, result) == path
    document = json.loads(path.read_text())
    older = {k: v for k, v in document.items() if k not in ("serving", "split")} | {"schema_version": 3}
    older["content_sha256"] = "0" * 64  # as a schema-3 file: no serving points, no split, a hash over other content
    path.write_text(json.dumps(older))
    assert already_there(tmp_path, result) == path
    changed = {**older, "runs": [{**older["runs"][0], "avg_ts": 1.0}, *older["runs"][1:]]}
    path.write_text(json.dumps(changed))
    assert already_there(tmp_path, result) is None  # other content is not a copy, whatever its version
    shutil.rmtree(path.parent)
