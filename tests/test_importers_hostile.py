"""Hostile input to the importers (issue 25, round 2): a malformed or overflowing cell is one row refused with its reason,
never a traceback; one bad row never costs the good rows of its group; an import that could write nothing exits 1; and
an import reads the results tree once, not once per file it writes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

DATE, SOURCE = "2026-02-05", "a hostile test table"
TABLE_HEADER = "model,size,params,backend,ngl,test,t/s,build\n"
# six genuine rows of one model on a DGX Spark (273 GB/s): a 3.56 GiB model generates at most ~75 t/s
GENUINE = [
    f"llama 7B Q4_0,3.56 GiB,6.74 B,CUDA,99,{test},{rate} ± 0.5,11fb327bf (7941)"
    for test, rate in [("pp512", 1500.1), ("tg128", 40.2), ("pp2048", 1400.3), ("tg32", 41.7), ("pp1024", 1450.9), ("tg64", 40.9)]
]
DEPTH_HEADER = (
    "profile,toolbox,model,model_source,quant,series,starting_depth,ending_context,prompt_tokens,generation_tokens,"
    "batch,ubatch,mean,stddev,samples,build_commit,gpu_info\n"
)
DEPTH_GOOD = "default,llama-rocm,Qwen3-8B-Q4_K_M,q,Q4_K_M,generation,0,128,0,128,2048,512,30.0,0.1,30.1;29.9;30.0,c264f65ff,AMD\n"
LOCALSCORE_HEADER = (
    "test_num\ttest_date\tgen_tps\tttft\tttft_unit\tprompt_tps\tlocalscore\tmodel_name\tmodel_quant\tmodel_params\t"
    "model_params_unit\taccel_name\taccel_type\taccel_group\taccel_ram\taccel_ram_unit\tsystem_cpu\tsystem_ram\t"
    "system_ram_unit\tsystem_os\n"
)


def localscore_row(number: int, params: str = "8000", ttft: str = "358", ram: str = "125.64") -> str:
    return (
        f"{number}\t2025.03.19 21:50:00\t103.0\t{ttft}\tms\t3552\t1008\tMeta Llama 3.1 8B Instruct\tQ4_K - Medium\t{params}\t"
        f"M\tNVIDIA GeForce RTX 3090\tGPU\tNVIDIA GPU\t24\tGB\tAMD EPYC 7352 24-Core Processor\t{ram}\tGB\tLinux\n"
    )


GEERLING_HEADER = "model_section,system,cpu_gpu,eval_rate_tps,power_peak_w,runtime,details_link\n"
GEERLING_GOOD = (
    "Llama 3.2:3b,Custom PC (Nvidia RTX 4090),GPU,92.49,464.2,Ollama,https://github.com/geerlingguy/ai-benchmarks/issues/43\n"
)
SCOREBOARD_HEADER = (
    "scoreboard,backend,device_as_published,pp512_tps,pp512_std,tg128_tps,tg128_std,build_commit,copy_source,note\n"
)
SCOREBOARD_GOOD = (
    "ggml-org/llama.cpp discussions/15013,CUDA,NVIDIA GeForce RTX 4090,11992.70,107.99,186.21,0.13,2241453,copy-a,\n"
)


def llama_bench_record(**changes) -> dict:
    record = {
        "build_commit": "abc1234",
        "build_number": 1,
        "cpu_info": "AMD EPYC 7352 24-Core Processor",
        "gpu_info": "",
        "backends": "CPU",
        "model_filename": "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
        "model_type": "llama 135M Q4_1",
        "model_size": 90000000,
        "model_n_params": 134515008,
        "n_batch": 2048,
        "n_ubatch": 512,
        "n_threads": 8,
        "type_k": "f16",
        "type_v": "f16",
        "n_gpu_layers": 0,
        "flash_attn": 0,
        "n_prompt": 0,
        "n_gen": 16,
        "n_depth": 0,
        "test_time": "2025-06-01T10:00:00Z",
        "avg_ts": 100.0,
        "samples_ns": [160000000, 160000000],
    }
    return {**record, **changes}


def _command(kind: str, path: Path, tree: Path) -> list[str]:
    dated = ["--date", DATE, "--source", SOURCE]
    options = {
        "llama-bench": [],
        "llama-bench-table": ["--device", "dgx-spark", *dated],
        "depth-campaign": ["--device", "ryzen-ai-max-395", *dated],
        "geerling": dated,
        "scoreboard": dated,
        "localscore": ["--source", SOURCE],
    }[kind]
    return ["import", kind, str(path), *options, "--results-dir", str(tree)]


def _import(run_meek, tmp_path: Path, kind: str, text: str, name: str = "table.csv"):
    path = tmp_path / name
    path.write_text(text)
    return run_meek(*_command(kind, path, tmp_path / "results"))


def _runs(tree: Path) -> list[dict]:
    return [run for path in sorted(tree.glob("*/*.json")) for run in json.loads(path.read_text())["runs"]]


# --- 1. malformed and overflowing cells: the row is refused with its reason, the import goes on ----------------------

HOSTILE = {
    "llama-bench-table": (
        TABLE_HEADER
        + GENUINE[1]
        + "\n"
        + "huge 7B Q4_0,3.56 GiB,"
        + "9" * 400
        + " B,CUDA,99,tg128,40 ± 1,11fb327bf (7941)\n"  # 1e400 parameters
        + "big 7B Q4_0,"
        + "9" * 400
        + " GiB,6.74 B,CUDA,99,tg128,40 ± 1,11fb327bf (7941)\n"  # an overflowing size
        + "short 7B Q4_0,3.56 GiB\n",  # a row cut short: no test, no rate
        ["row 2", "row 3", "row 4"],
    ),
    "depth-campaign": (
        DEPTH_HEADER
        + DEPTH_GOOD
        + DEPTH_GOOD.replace("30.1;29.9;30.0", "1e-300;1e-300").replace(",0,128,0,128,", ",4096,4224,0,128,")
        + "default,llama-rocm\n",  # cut short: no model, no build
        ["row 2", "row 3"],
    ),
    "geerling": (
        GEERLING_HEADER + GEERLING_GOOD + "Llama 3.2:3b,Other PC (Nvidia RTX 3090),GPU,50.1\n",  # no runtime cell: None
        ["line 3"],
    ),
    "scoreboard": (
        SCOREBOARD_HEADER
        + SCOREBOARD_GOOD
        + SCOREBOARD_GOOD.replace("2241453", "9" * 400)  # a build no LlamaBuild holds
        + SCOREBOARD_GOOD.replace("copy-a", "x" * 200_000),  # a cell over the csv module's limit
        ["line 3", "line 4"],
    ),
    "localscore": (
        LOCALSCORE_HEADER
        + localscore_row(1)
        + localscore_row(2, params="1e400")
        + localscore_row(3, ttft="1e400")
        + localscore_row(4, ram="1e400"),
        ["result 2", "result 3", "result 4"],
    ),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_malformed_and_overflowing_cells_refuse_their_row_not_the_run(run_meek, tmp_path, kind):
    text, refused = HOSTILE[kind]
    code, stdout, stderr = _import(run_meek, tmp_path, kind, text, "table.tsv" if kind == "localscore" else "table.csv")
    assert code == 0 and "Traceback" not in stderr, stderr
    assert "1 result file(s) written" in stdout, stdout + stderr
    for label in refused:
        (line,) = [line for line in stderr.splitlines() if f"{label}:" in line or f"{label} (" in line]
        assert line.startswith("warning: skipped")


def test_a_jsonl_record_with_an_overflowing_number_or_a_key_twice_is_refused_alone(run_meek, tmp_path):
    good = json.dumps(llama_bench_record())
    lines = [
        good,
        json.dumps(llama_bench_record(build_commit="b2")).replace('"n_threads": 8', '"n_threads": ' + "9" * 5000),
        json.dumps(llama_bench_record(build_commit="b3")).replace('"n_threads": 8', '"n_threads": 8, "n_threads": 4'),
        '{"build_commit": ',  # cut short
    ]
    code, stdout, stderr = _import(run_meek, tmp_path, "llama-bench", "\n".join(lines) + "\n", "out.jsonl")
    assert code == 0 and "1 result file(s) written, 3 skipped" in stdout, stderr
    assert "record 2: n_threads" in stderr and "record 3: key 'n_threads' appears twice" in stderr
    assert "record 4: not JSON" in stderr


# --- 2. one bad row is refused alone; the good rows of its group are written ---------------------------------------


def test_one_impossible_row_does_not_cost_its_group_the_genuine_rows(run_meek, tmp_path):
    forged = GENUINE[1].replace("tg128,40.2", "tg256,99999")  # refused by the memory-bandwidth check
    code, stdout, stderr = _import(
        run_meek, tmp_path, "llama-bench-table", TABLE_HEADER + "\n".join([*GENUINE[:3], forged, *GENUINE[3:]])
    )
    assert code == 0 and "1 result file(s) written, 1 skipped" in stdout, stdout + stderr
    (line,) = [line for line in stderr.splitlines() if "skipped" in line]
    assert "row 4" in line and "memory bandwidth" in line
    assert sorted(run["test"] for run in _runs(tmp_path / "results")) == sorted(r.split(",")[5] for r in GENUINE)


def test_one_impossible_llama_bench_record_does_not_cost_its_group(run_meek, tmp_path):
    fast = llama_bench_record(n_gen=128, avg_ts=1e6, samples_ns=[128000, 128000])  # 1e6 t/s of a 90 MB model
    early = llama_bench_record(n_gen=32, avg_ts=100.0, samples_ns=[320000000, 320000000], test_time="1999-01-01T00:00:00Z")
    records = [llama_bench_record(), fast, llama_bench_record(n_prompt=64, n_gen=0, avg_ts=1000.0, samples_ns=[64000000]), early]
    code, stdout, stderr = _import(run_meek, tmp_path, "llama-bench", json.dumps(records), "out.json")
    assert code == 0 and "1 result file(s) written, 2 skipped" in stdout, stdout + stderr
    assert "record 2" in stderr and "record 4" in stderr and "before llama.cpp existed" in stderr
    (path,) = (tmp_path / "results").glob("*/*.json")
    document = json.loads(path.read_text())
    assert [run["test"] for run in document["runs"]] == ["tg16", "pp64"] and document["created_utc"].startswith("2025-06-01")


# --- 4. nothing written: exit 1 with a summary; nothing new because all was there: exit 0 ---------------------------

ALL_BAD = {
    "llama-bench": ("out.jsonl", json.dumps(llama_bench_record(avg_ts=5.0)) + "\n"),
    "llama-bench-table": ("t.csv", TABLE_HEADER + GENUINE[1].replace("40.2", "99999") + "\n"),
    "depth-campaign": ("t.csv", DEPTH_HEADER + DEPTH_GOOD.replace("generation,0", "generation,-5")),
    "geerling": ("t.csv", GEERLING_HEADER + GEERLING_GOOD.replace("92.49", "abc")),
    "scoreboard": ("t.csv", SCOREBOARD_HEADER + SCOREBOARD_GOOD.replace("186.21", "-1")),
    "localscore": ("t.tsv", LOCALSCORE_HEADER + localscore_row(1).replace("103.0", "x")),
}
ONE_GOOD = {
    "llama-bench": json.dumps(llama_bench_record()) + "\n",
    "llama-bench-table": TABLE_HEADER + GENUINE[1] + "\n",
    "depth-campaign": DEPTH_HEADER + DEPTH_GOOD,
    "geerling": GEERLING_HEADER + GEERLING_GOOD,
    "scoreboard": SCOREBOARD_HEADER + SCOREBOARD_GOOD,
    "localscore": LOCALSCORE_HEADER + localscore_row(1),
}


@pytest.mark.parametrize("kind", sorted(ALL_BAD))
def test_an_import_that_writes_nothing_exits_1_and_a_repeat_exits_0(run_meek, tmp_path, kind):
    name, text = ALL_BAD[kind]
    code, _, stderr = _import(run_meek, tmp_path, kind, text, name)
    assert code == 1 and "0 written, 1 refused" in stderr and "Traceback" not in stderr, stderr
    assert not list((tmp_path / "results").glob("*/*.json"))
    code, stdout, stderr = _import(run_meek, tmp_path, kind, ONE_GOOD[kind], name)
    assert code == 0 and "1 result file(s) written" in stdout, stderr
    code, stdout, stderr = _import(run_meek, tmp_path, kind, ONE_GOOD[kind], name)  # the same again: nothing new
    assert code == 0 and "nothing new: all 1 result file(s) already there" in stdout, stdout + stderr


def test_an_empty_table_exits_1(run_meek, tmp_path):
    code, _, stderr = _import(run_meek, tmp_path, "llama-bench-table", TABLE_HEADER)
    assert code == 1 and "0 written, 0 refused" in stderr, stderr


# --- 3. the tree is read once per import, not once per file written ---------------------------------------------------


def test_an_import_reads_each_existing_file_once(tmp_path, monkeypatch):
    from harness.output import Output
    from harness.results import submit
    from harness.results.import_tables import results_from_table

    rows = [f"model{n} 7B Q4_0,3.56 GiB,6.74 B,CUDA,99,tg128,{40 + n / 100:.2f} ± 0.5,11fb327bf (7941)" for n in range(40)]
    tree = tmp_path / "results"

    def imported(lines):
        return results_from_table(TABLE_HEADER + "\n".join(lines) + "\n", "dgx-spark", dt.date(2026, 2, 5), SOURCE, "t.csv")

    quiet = Output(stdout=open(tmp_path / "out", "w"), stderr=open(tmp_path / "err", "w"))
    assert submit.write_imported(imported(rows[:20]), tmp_path / "t.csv", tree, quiet) == 0
    reads = []
    real = submit.read_json
    monkeypatch.setattr(submit, "read_json", lambda path, *a: reads.append(path) or real(path, *a))
    assert submit.write_imported(imported(rows), tmp_path / "t.csv", tree, quiet) == 0
    assert len(list(tree.glob("*/*.json"))) == 40
    assert len(reads) == len(set(reads)) == 20  # the 20 files there before, each read once: not once per new file
