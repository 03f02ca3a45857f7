"""`meek gap`, `meek plot frontier` and `meek frontier import` as a user runs them, and the frontier figure's content."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.frontier.gap import DAYS_PER_MONTH
from harness.plots.frontier import frontier_figure


def test_gap_prints_months_behind_for_24gb_gpu_and_128gb_unified_with_rows_used(run_meek):
    code, stdout, stderr = run_meek("gap")
    assert code == 0, stderr
    assert "scores of kind epoch-run, developer-reported (Epoch's mix" in stdout and "Rows used" in stdout and "http" in stdout
    code, stdout, stderr = run_meek("gap", "--format", "json")
    rows = {(r["benchmark"], r["machine_class"]): r for r in json.loads(stdout)}
    for benchmark in ("mmlu", "gpqa_diamond"):
        for machine_class in ("24gb-gpu", "128gb-unified"):
            row = rows[(benchmark, machine_class)]
            assert 0 < row["months behind today"] < 120 and 0 <= row["lag at release, mean (Epoch)"] < 60
            assert row["kind"] in ("epoch-run", "developer-reported")


def test_gap_json_months_follow_from_the_dates_it_names(run_meek):
    code, stdout, stderr = run_meek("gap", "--benchmark", "gpqa_diamond", "--classes", "24gb-gpu", "--format", "json")
    assert code == 0, stderr
    (row,) = json.loads(stdout)
    frontier_date = pd.Timestamp(row["frontier first there"].rsplit("(", 1)[1].rstrip(")") + "-01")
    months = (pd.Timestamp.today().normalize() - frontier_date).days / DAYS_PER_MONTH
    assert row["months behind today"] == pytest.approx(months, abs=1.1)  # the table names only the month
    assert row["rows used"].count("<http") == 2


def test_gap_bad_input_is_one_line(run_meek):
    code, _, stderr = run_meek("gap", "--classes", "7gb-toaster")
    assert code == 2 and stderr.startswith("error: unknown machine class 7gb-toaster")
    code, _, stderr = run_meek("gap", "--benchmark", "vibes")
    assert code == 2 and "scores for benchmark 'vibes'" in stderr
    code, _, stderr = run_meek("gap", "--kinds", "rumour")
    assert code == 2 and "unknown kind rumour" in stderr


def test_gap_for_this_machine_names_its_memory(run_meek):
    code, stdout, stderr = run_meek("gap", "--machine", "this", "--benchmark", "mmlu")
    assert code == 0, stderr
    assert "| mmlu | this-machine |" in stdout and "No scores measured on this machine" in stdout


@pytest.mark.parametrize("benchmark", ["mmlu", "gpqa_diamond"])
def test_plot_frontier_writes_png_and_svg(run_meek, tmp_path, benchmark):
    code, _, stderr = run_meek("plot", "frontier", "--benchmark", benchmark, "--out", str(tmp_path))
    assert code == 0, stderr
    for suffix in ("png", "svg"):
        assert (tmp_path / f"frontier-{benchmark}.{suffix}").stat().st_size > 20_000
    assert "Epoch AI" in (tmp_path / f"frontier-{benchmark}.svg").read_text()


def hand_made_frame() -> pd.DataFrame:
    rows = [
        ("closed-a", "2023-01-01", False, None, 60.0),
        ("closed-b", "2024-01-01", False, None, 80.0),
        ("open-big", "2024-06-01", True, 400.0, 78.0),
        ("open-small", "2025-01-01", True, 8.0, 61.0),
    ]
    return pd.DataFrame(
        [
            {
                "model": m,
                "organization": "x",
                "release_date": pd.Timestamp(d),
                "open_weights": o,
                "params_total_b": p,
                "params_active_b": p,
                "benchmark": "mmlu",
                "setting": "5-shot",
                "score": s,
                "source": "t",
                "source_link": "http://t",
            }
            for m, d, o, p, s in rows
        ]
    )


def test_frontier_figure_draws_three_curves_and_the_gap_in_months():
    figure = frontier_figure(hand_made_frame(), "mmlu", ["24gb-gpu"], today="2026-01-01")
    notes = figure.axes[1]  # under the plot: the legend and the gap lines
    labels = [text.get_text() for text in notes.get_legend().get_texts()]
    assert labels[:2] == ["frontier (best of any model so far)", "best open-weight model so far"]
    assert labels[2].startswith("best open model that fits 24gb-gpu")
    # open-small (61, fits 24 GB) beats closed-a's 60, so closed-b (80, 2024-01-01) first reached it:
    # 731 days before 2026-01-01 (24.0 months), 366 days before open-small's release (12.0 months).
    gap_text = next(t.get_text() for t in notes.texts if t.get_text().startswith("24gb-gpu:"))
    assert "open-small (61.0, 2025-01) = the frontier of 2024-01" in gap_text
    assert f"{731 / DAYS_PER_MONTH:.0f} months behind today, {366 / DAYS_PER_MONTH:.0f} months behind at its release" in gap_text
    assert "Epoch AI" in figure.texts[0].get_text()


def test_frontier_figure_marks_own_scores_and_survives_hostile_labels():
    own = pd.DataFrame(
        [
            {
                "model": "$x^2$ <b>",
                "quant": "Q4_1",
                "shots": 0,
                "subset": True,
                "value": 0.3,
                "created_utc": pd.Timestamp("2025-11-25", tz="UTC"),
            }
        ]
    )
    figure = frontier_figure(hand_made_frame(), "mmlu", ["24gb-gpu"], own_scores=own, today="2026-01-01")
    figure.canvas.draw()  # mathtext would raise on an unescaped '$'
    labels = [text.get_text() for text in figure.axes[1].get_legend().get_texts()]
    assert any(label.startswith("measured here:") and label.endswith("subset") for label in labels)


def test_frontier_import_refreshes_the_table_gap_uses(run_meek, tmp_path, epoch_sample):
    home = {"MEEK_HOME": str(tmp_path / "home")}
    code, stdout, stderr = run_meek("frontier", "import", str(epoch_sample[0]), env=home)
    assert code == 0, stderr
    written = tmp_path / "home" / "frontier.csv"
    assert written.read_text().startswith('# Source: Epoch AI, "Data on AI Benchmarking" (CC BY 4.0)')
    code, stdout, stderr = run_meek("gap", "--benchmark", "mmlu", "--classes", "24gb-gpu", env=home)
    assert code == 0, stderr
    assert str(written) in stdout.replace("\n", "")
    code, _, stderr = run_meek("frontier", "import", str(tmp_path / "nothing-here"), env=home)
    assert code == 2 and stderr.startswith("error: no such file or folder")
