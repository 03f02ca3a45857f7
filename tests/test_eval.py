"""`meek eval` end to end: local task files, a golden accuracy, result file with scores, bad input."""

import json
from pathlib import Path

import pytest

from harness.results.store import read_result
from tests.conftest import SHARED_DATA

pytest.importorskip("lm_eval")
FIXTURES = Path(__file__).parent / "fixtures" / "bench"
GOLDEN_TINY_ARC_ACC = 8 / 12  # measured with SmolLM2-135M Q4_1 (both strategies), llama.cpp 0c1e570


def test_tiny_local_task_has_its_golden_accuracy(run_meek, tmp_path):
    code, stdout, stderr = run_meek("eval", "-m", "smollm2-135m", "--data-dir", str(FIXTURES), "--tasks", "tiny_arc", timeout=600)
    assert code == 0, stderr
    result = read_result(next((tmp_path / "results").glob("*/*.json")))
    scores = {s.metric: s for s in result.scores}
    assert scores["acc"].samples == 12 and scores["acc"].subset is False and scores["acc"].shots == 0
    assert scores["acc"].value == pytest.approx(GOLDEN_TINY_ARC_ACC, abs=1e-4)
    assert result.runs == [] and result.status == "complete"
    assert "| smollm2-135m | tiny_arc | acc |" in stdout


def test_unknown_task_suggests_near_names(run_meek):
    code, _, stderr = run_meek("eval", "--data-dir", str(FIXTURES), "--tasks", "tiny_ark")
    assert code != 0 and "Traceback" not in stderr
    assert "unknown task 'tiny_ark'" in stderr and "Did you mean tiny_arc" in stderr


def test_data_dir_without_the_needed_files(run_meek, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, stderr = run_meek("eval", "--data-dir", str(empty), "--tasks", "hellaswag")
    assert code != 0 and "Traceback" not in stderr and "unknown task 'hellaswag'" in stderr


def test_data_dir_without_the_needed_files_names_them(run_meek, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, stderr = run_meek("eval", "--data-dir", str(empty), "--tasks", "hellaswag")
    assert code == 2 and "DIR/hellaswag/hellaswag_val_full.txt.bz2" in stderr and "klosax/hellaswag_text_data" in stderr


def test_offline_without_data_dir_says_what_files_it_needs(run_meek):
    """A user of a public clone has no ../shared/data: the line names the files per task and where the sets come from."""
    code, stdout, stderr = run_meek("eval", "--suite", "quick", env={"HF_HUB_OFFLINE": "1"})
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "shared/data" not in lines[0]
    for needed in ("--data-dir", "DIR/arc-challenge/test.jsonl", "DIR/gsm8k/test.jsonl", "openai/grade-school-math"):
        assert needed in lines[0]


def test_model_that_cannot_load(run_meek, tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_text("nope")
    code, _, stderr = run_meek("eval", "-m", str(bogus), "--data-dir", str(FIXTURES), "--tasks", "tiny_arc")
    assert code != 0 and "not a GGUF file" in stderr and not list(tmp_path.glob("results/*/*.json"))


@pytest.mark.skipif(not (SHARED_DATA / "bench" / "arc-challenge").is_dir(), reason="../shared/data is not here")
def test_small_real_eval_from_shared_data(run_meek, tmp_path):
    code, _, stderr = run_meek(
        "eval",
        "-m",
        "smollm2-135m",
        "--data-dir",
        str(SHARED_DATA / "bench"),
        "--tasks",
        "arc_challenge,hellaswag",
        "--limit",
        "40",
        timeout=900,
    )
    assert code == 0, stderr
    result = read_result(next((tmp_path / "results").glob("*/*.json")))
    primary = {s.task: s for s in result.scores if s.primary}
    assert set(primary) == {"arc_challenge", "hellaswag"}
    for score in primary.values():
        assert score.subset and score.samples == 40 and 0.0 <= score.value <= 1.0
    assert primary["hellaswag"].value > 0.25  # above chance: a broken scorer lands at chance or below
    json.dumps(result.model_dump(mode="json"))


def test_second_run_is_served_from_the_request_cache(run_meek, tmp_path, meek_home):
    first = run_meek("eval", "--data-dir", str(FIXTURES), "--tasks", "tiny_arc", "--results-dir", "a")
    second = run_meek("eval", "--data-dir", str(FIXTURES), "--tasks", "tiny_arc", "--results-dir", "b")
    assert first[0] == second[0] == 0
    assert list((meek_home / "eval-cache").glob("*.db")), "requests are cached per model for resuming"
    values = [[s.value for s in read_result(next((tmp_path / d).glob("*/*.json"))).scores] for d in ("a", "b")]
    assert values[0] == values[1]


def test_bench_with_eval_puts_speed_and_scores_in_one_file(run_meek, tmp_path):
    code, _, stderr = run_meek(
        "bench", "-p", "16", "-n", "4", "-r", "2", "--eval", "tiny_arc", "--data-dir", str(FIXTURES), timeout=600
    )
    assert code == 0, stderr
    result = read_result(next((tmp_path / "results").glob("*/*.json")))
    assert {r.test for r in result.runs} == {"pp16", "tg4"}
    assert {s.task for s in result.scores} == {"tiny_arc"} and result.status == "complete"


def test_lm_eval_cli_finds_the_adapter(tmp_path, smollm2_path):
    """`lm_eval --model meek-llamacpp` works from lm-eval's own command line (registered by the installed .pth hook)."""
    import os
    import subprocess
    import sys

    task = {
        "task": "tiny_arc_cli",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(FIXTURES / "tiny-arc" / "test.jsonl")}},
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "Question: {{centerpiece}}\nAnswer:",
        "doc_to_target": "{{correct_options_idx[0]}}",
        "doc_to_choice": "{{options}}",
        "metric_list": [{"metric": "acc"}],
    }
    (tmp_path / "tiny_arc_cli.yaml").write_text(json.dumps(task))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "lm_eval",
            "--model",
            "meek-llamacpp",
            "--model_args",
            f"path={smollm2_path},n_ctx=512,n_threads=2",
            "--tasks",
            "tiny_arc_cli",
            "--include_path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    row = next(line for line in completed.stdout.splitlines() if "tiny_arc_cli" in line)
    assert f"{GOLDEN_TINY_ARC_ACC:.4f}" in row


def test_task_hash_ignores_where_the_data_lies(tmp_path):
    import shutil

    from harness.quality.evaluate import plan

    copy = tmp_path / "elsewhere"
    shutil.copytree(FIXTURES, copy)
    here = plan(["tiny_arc"], None, FIXTURES, None)[0]
    there = plan(["tiny_arc"], None, copy, None)[0]
    assert here.task_hash() == there.task_hash()
    (copy / "tiny-arc" / "test.jsonl").write_text((copy / "tiny-arc" / "test.jsonl").read_text().replace("blue", "azure"))
    assert plan(["tiny_arc"], None, copy, None)[0].task_hash() != here.task_hash()
