"""Busy and noisy runs are visible (issue 23, item 7): `meek bench` records the CPU other processes took during each
test, marks a busy or unstable test in the file and on stderr, and validate, compare and the site show the mark; compare
and the leaderboard take a group's figure from its stable runs where it has any.

The busy run is real: llama.cpp on the bundled SmolLM2 while busy-loop processes hold every core."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.aggregate.compare import compare_table
from harness.aggregate.tree import load_tree
from harness.measure.monitor import OtherCpuMeter
from harness.results.migrations import MIGRATIONS, migrate_4_to_5, migrate_6_to_7
from harness.results.schema import SCHEMA_VERSION, validate_document
from harness.results.stats import BUSY_OTHER_CPU_SHARE, busy_reasons, summarize
from harness.results.store import read_result, write_result

GOLDEN = Path(__file__).parent / "golden"
BUSY_LOOP = "while True: pass"


def busy_loops(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]


def stop(loops: list[subprocess.Popen]) -> None:
    for loop in loops:
        loop.kill()
        loop.wait()


@pytest.fixture(scope="module")
def busy_bench(tmp_path_factory, meek_home):
    """A real `meek bench` of tg32 while one busy loop per logical CPU runs: (completed process, its result file)."""
    cwd = tmp_path_factory.mktemp("busy")
    loops = busy_loops(os.cpu_count() or 2)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "harness.cli", "bench", "-p", "0", "-n", "32", "-r", "3"],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=cwd,
            env={**os.environ, "MEEK_HOME": str(meek_home)},
        )
    finally:
        stop(loops)
    assert completed.returncode == 0, completed.stderr
    return completed, next((cwd / "results").glob("*/*.json"))


def test_a_real_run_records_the_share_and_a_busy_one_is_marked_and_warned(busy_bench):
    completed, path = busy_bench
    run = read_result(path).runs[0]
    assert run.test == "tg32"
    assert run.other_cpu_share is not None and 0.0 <= run.other_cpu_share <= 1.0
    # busy loops on every core take at least their fair share of the machine: far above the threshold
    assert run.other_cpu_share >= max(BUSY_OTHER_CPU_SHARE, 0.3), run.other_cpu_share
    assert any(reason.startswith("busy: other processes took") for reason in run.unstable), run.unstable
    warning = next(line for line in completed.stderr.splitlines() if line.startswith("warning: tg32"))
    assert "busy or unstable" in warning and f"{run.other_cpu_share:.0%}" in warning
    assert "rerun on a quieter machine" in warning


def test_real_short_runs_record_a_share_in_range_or_none(real_results):
    """Tests of a few milliseconds are below the kernel's CPU clock: no share rather than a rounding error."""
    for path in real_results:
        for run in read_result(path).runs:
            assert run.other_cpu_share is None or 0.0 <= run.other_cpu_share <= 1.0
            if sum(run.samples_ns) < 0.2e9:  # the timed repetitions alone: the window is at most a little longer
                assert run.other_cpu_share is None, run
            assert (run.other_cpu_share or 0) < BUSY_OTHER_CPU_SHARE or any(r.startswith("busy") for r in run.unstable)


def test_the_meter_counts_other_processes_and_needs_a_long_enough_window():
    assert OtherCpuMeter().start().stop() is None  # too short to tell
    loops = busy_loops(os.cpu_count() or 2)
    try:
        time.sleep(0.3)  # the loops are running
        meter = OtherCpuMeter().start()
        time.sleep(1.0)  # this process sleeps: the machine's busy time is the loops' (and anyone else's)
        share = meter.stop()
    finally:
        stop(loops)
    assert share is not None and share >= 0.8, share


def test_busy_reason_starts_at_the_threshold():
    assert busy_reasons(None) == [] and busy_reasons(BUSY_OTHER_CPU_SHARE * 0.99) == []
    assert busy_reasons(BUSY_OTHER_CPU_SHARE) == [f"busy: other processes took {BUSY_OTHER_CPU_SHARE:.0%} of the machine's CPU"]


def stable_sibling(path: Path, speedup: float = 2.0, minutes: int = 1):
    """The same machine, model, test and settings, measured quietly: other samples, no mark, a later time."""
    document = copy.deepcopy(json.loads(path.read_text()))
    document.pop("content_sha256")
    for run in document["runs"]:
        samples = [max(1, int(ns / speedup)) for ns in run["samples_ns"]]
        summary = summarize(run["n_prompt"] + run["n_gen"], samples)
        run.update({k: v for k, v in summary.items() if k in run}, samples_ns=samples, unstable=[], other_cpu_share=0.01)
        run["ttft_ns"] = []
    created = dt.datetime.fromisoformat(document["created_utc"].replace("Z", "+00:00")) + dt.timedelta(minutes=minutes)
    document["created_utc"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return validate_document(document)


@pytest.fixture()
def trees(busy_bench, tmp_path):
    """(a tree with the busy file alone, a tree with it and a stable sibling, the stable sibling's result)."""
    _, path = busy_bench
    alone = tmp_path / "alone" / path.parent.name
    alone.mkdir(parents=True)
    shutil.copy(path, alone / path.name)
    both = tmp_path / "both"
    shutil.copytree(tmp_path / "alone", both)
    stable = stable_sibling(path)
    write_result(stable, both)
    return tmp_path / "alone", both, stable


def test_validate_names_busy_runs_per_file_and_counts_them(trees, run_meek):
    _, both, _ = trees
    code, stdout, _ = run_meek("validate", str(both))
    assert code == 0, stdout
    assert "2 file(s): 2 valid (0 with warnings, 1 with busy or unstable runs), 0 failed" in stdout
    assert "busy or unstable: tg32 t" in stdout and "busy: other processes took" in stdout
    code, stdout, _ = run_meek("validate", "--json", str(both))
    verdicts = json.loads(stdout)
    assert sorted(bool(v["noisy"]) for v in verdicts) == [False, True] and all(v["ok"] for v in verdicts)


def test_compare_takes_the_stable_median_and_marks_the_group(trees, busy_bench):
    alone, both, stable = trees
    busy = read_result(busy_bench[1]).runs[0]
    row = compare_table(load_tree([both]).runs, "smollm2-135m").iloc[0]
    assert row["files"] == 2
    assert row["t/s"] == pytest.approx(stable.runs[0].median_ts)  # never the busy figure while a stable one exists
    assert "1 busy or unstable run(s) left out" in row["note"] and "stable" in row["note"]
    row = compare_table(load_tree([alone]).runs, "smollm2-135m").iloc[0]
    assert row["t/s"] == pytest.approx(busy.median_ts)  # only noisy runs: the figure stays, marked
    assert row["note"].startswith("! busy or unstable")


def test_compare_command_shows_the_mark(trees, run_meek):
    alone, _, _ = trees
    code, stdout, _ = run_meek("compare", "-m", "smollm2-135m", "--results-dir", str(alone))
    assert code == 0 and "! busy or unstable" in stdout


def site_rows(folder: Path) -> list[dict]:
    """The leaderboard's rows, as `meek report` builds them (the device memory column is the site's own)."""
    import dataclasses

    from harness.site.data import leaderboard

    tree = load_tree([folder])
    return leaderboard(dataclasses.replace(tree, runs=tree.runs.assign(device_memory_gb=None)))


def test_tree_and_leaderboard_carry_the_flag(trees, busy_bench):
    alone, both, stable = trees
    busy = read_result(busy_bench[1]).runs[0]
    runs = load_tree([alone]).runs
    assert bool(runs.iloc[0]["unstable"]) and runs.iloc[0]["other_cpu_share"] == pytest.approx(busy.other_cpu_share)
    (row,) = site_rows(alone)
    assert row["tg_noisy"] is True and row["tg"] == pytest.approx(busy.median_ts, abs=1e-3)
    assert "tg32: busy or unstable" in row["noise"]
    (row,) = site_rows(both)
    assert row["tg_noisy"] is False and row["tg"] == pytest.approx(stable.runs[0].median_ts, abs=1e-3)
    assert row["noise"] == "tg32: 1 busy or unstable run(s) left out"


def test_site_pages_show_the_mark(trees, run_meek, tmp_path):
    alone, _, _ = trees
    code, _, stderr = run_meek("report", "--out", str(tmp_path / "site"), "--results-dir", str(alone))
    assert code == 0, stderr
    data = (tmp_path / "site" / "assets" / "data.js").read_text()
    assert '"tg_noisy": true' in data
    machine_page = next((tmp_path / "site" / "machines").glob("*.html")).read_text()
    assert "! busy or unstable" in machine_page and "other CPU %" in machine_page


def test_a_version_4_file_still_reads_and_migrates_by_name():
    document = json.loads((GOLDEN / "result-v4-serving-smollm2.json").read_text())
    assert document["schema_version"] == 4 and MIGRATIONS[4] is migrate_4_to_5
    assert validate_document(document).schema_version == SCHEMA_VERSION == 7
    runs_v3 = validate_document(json.loads((GOLDEN / "result-v3-smollm2.json").read_text())).runs
    assert runs_v3 and all(run.other_cpu_share is None for run in runs_v3)  # older files never measured it
    v5 = json.loads((GOLDEN / "result-v5-busy-smollm2.json").read_text())
    assert all(0 <= run.other_cpu_share <= 1 and run.unstable for run in validate_document(v5).runs)
    v6 = json.loads((GOLDEN / "result-v6-smollm2.json").read_text())
    assert v6["schema_version"] == 6 and MIGRATIONS[6] is migrate_6_to_7
    upgraded = validate_document(v6)
    assert upgraded.quality == [] and upgraded.fits == []  # a version 6 file measured neither
    v5["runs"][0]["other_cpu_share"] = 1.5
    with pytest.raises(Exception, match="other_cpu_share"):
        validate_document(v5)
