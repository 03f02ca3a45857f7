"""Performance figures from small hand-made frames: what is drawn (bars, lines, points, bounds, fronts), not only that
something is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from harness.aggregate.tree import RUN_COLUMNS, SCORE_COLUMNS
from harness.errors import MeekError
from harness.plots import panels, style
from harness.plots import performance as perf

RTX = ("nvidia-geforce-rtx-4090-24g-a1b2c3", "NVIDIA GeForce RTX 4090", 1008.0)
MAC = ("apple-m2-max-32g-d4e5f6", "Apple M2 Max (Mac Studio, 32 GB)", 400.0)
BOX = ("mystery-box-16g-ffffff", "Mystery accelerator", None)


def run_row(machine: tuple = RTX, test: str = "tg128", median: float = 100.0, **overrides) -> dict:
    """One runs row with every RUN_COLUMNS column; shape (n_prompt, n_gen, n_depth) follows from the test name."""
    base, _, depth = test.partition(" @ d")
    prompt = int(base.split("+")[0][2:]) if base.startswith("pp") else 0
    gen = int(base.split("tg")[-1]) if "tg" in base else 0
    machine_id, device, bandwidth = machine
    row = dict.fromkeys(RUN_COLUMNS)
    row.update(
        file=f"results/{machine_id}/{overrides.get('model', 'qwen3-8b')}.json",
        machine_id=machine_id,
        cpu="cpu",
        device=device,
        device_id=device.lower() if bandwidth else None,
        bandwidth_gbs=bandwidth,
        backend="llama-cpp-python",
        model="qwen3-8b",
        model_label="Qwen3 8B Q4_K_M",
        quant="Q4_K_M",
        model_bytes=4.92e9,
        bytes_per_token=4.92e9,
        test=test,
        n_prompt=prompt,
        n_gen=gen,
        n_depth=int(depth or 0),
        n_threads=8,
        n_gpu_layers=99,
        settings="t8 ngl99",
        median_ts=median,
        avg_ts=median,
        stddev_ts=median * 0.02,
        n_samples=3,
        samples_ts=[median * 0.98, median, median * 1.03],
        unstable=False,
    )
    row.update(overrides)
    return row


def runs_frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=RUN_COLUMNS)


def score_row(model: str = "qwen3-8b", value: float = 0.5, task: str = "hellaswag", **overrides) -> dict:
    row = dict.fromkeys(SCORE_COLUMNS)
    row.update(
        file=f"results/x/{model}.json",
        machine_id=RTX[0],
        device=RTX[1],
        model=model,
        model_label=model.upper(),
        task=task,
        metric="acc_norm",
        value=value,
        stderr=0.01,
        primary=True,
        shots=0,
        samples=500,
        subset=False,
        scoring="loglikelihood",
    )
    row.update(overrides)
    return row


def scores_frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=SCORE_COLUMNS)


def saved(figure: Figure, tmp_path: Path, name: str) -> list[Path]:
    """Save through style.save and check both files are real images, not stubs."""
    paths = style.save(figure, tmp_path, name)
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert all(p.stat().st_size > 10_000 for p in paths), [p.stat().st_size for p in paths]
    return paths


def data_axes(figure: Figure) -> list:
    """The panels that hold data (not a legend-only row)."""
    return [axes for axes in figure.axes if axes.axison]


# ---- throughput ------------------------------------------------------------------------------------------------------


def fleet_runs() -> pd.DataFrame:
    return runs_frame(
        run_row(RTX, "pp512", 9000.0),
        run_row(RTX, "tg128", 140.0),
        run_row(MAC, "pp512", 3500.0),
        run_row(MAC, "tg128", 57.0),
        run_row(BOX, "pp512", 5000.0),
        run_row(BOX, "tg128", 20.0),
    )


def test_throughput_has_a_panel_per_kind_a_bar_per_machine_fastest_generation_first(tmp_path):
    figure = perf.throughput_figure(fleet_runs(), "Data: 3 result files from results")
    pp, tg = data_axes(figure)
    assert figure.get_suptitle() == "Throughput by machine: Qwen3 8B Q4_K_M"
    assert "prompt processing (pp512)" in pp.get_title() and "generation (tg128)" in tg.get_title()
    assert "tokens/s" in tg.get_xlabel() and "min–max of repetitions" in tg.get_xlabel()
    assert len(pp.patches) == 3 and len(tg.patches) == 3
    labels = [t.get_text() for t in pp.get_yticklabels()]
    assert labels == [f"{device} · {mid[-6:]} · llama-cpp-python" for mid, device, _ in (RTX, MAC, BOX)]
    assert sorted(bar.get_width() for bar in tg.patches) == [20.0, 57.0, 140.0]
    assert any("Data: 3 result files" in t.get_text() for t in figure.texts)
    saved(figure, tmp_path, "throughput")


def test_throughput_bars_are_median_of_runs_with_whiskers_from_every_sample():
    runs = runs_frame(
        run_row(RTX, "tg128", 100.0, samples_ts=[90.0, 100.0, 104.0]),
        run_row(RTX, "tg128", 120.0, samples_ts=[118.0, 120.0, 131.0]),
        run_row(RTX, "tg128", 110.0, samples_ts=[109.0, 110.0, 111.0]),
    )
    (axes,) = data_axes(perf.throughput_figure(runs, "test"))
    bars = next(c for c in axes.containers if isinstance(c, BarContainer))
    assert [bar.get_width() for bar in bars] == [110.0]
    (segment,) = bars.errorbar.lines[2][0].get_segments()
    assert segment[:, 0].tolist() == [90.0, 131.0]  # pooled min and max of all nine repetitions


def test_throughput_falls_back_to_the_tests_present_and_keeps_only_depth_zero():
    runs = runs_frame(run_row(RTX, "pp64", 800.0), run_row(RTX, "tg32", 150.0), run_row(RTX, "tg32 @ d512", 90.0))
    figure = perf.throughput_figure(runs, "test")
    titles = [axes.get_title() for axes in data_axes(figure)]
    assert titles == ["prompt processing (pp64)", "generation (tg32)"]
    assert [bar.get_width() for bar in data_axes(figure)[1].patches] == [150.0]


def test_throughput_one_row_of_panels_per_model_and_a_model_filter():
    small = [
        run_row(m, t, v / 10, model="gemma3-270m", model_label="Gemma 3 270M")
        for m, t, v in ((RTX, "pp512", 9000.0), (RTX, "tg128", 1400.0), (MAC, "tg128", 500.0))
    ]
    runs = pd.concat([fleet_runs(), runs_frame(*small)], ignore_index=True)
    figure = perf.throughput_figure(runs, "test")
    assert len(data_axes(figure)) == 4
    assert figure.get_suptitle() == "Throughput by machine"
    assert any(axes.get_title().startswith("Gemma 3 270M: ") for axes in data_axes(figure))
    only = perf.throughput_figure(runs, "test", model="gemma3-270m")
    assert len(data_axes(only)) == 2 and sum(len(axes.patches) for axes in data_axes(only)) == 3


# ---- depth -----------------------------------------------------------------------------------------------------------


def depth_runs() -> pd.DataFrame:
    rows = []
    for machine, scale in ((RTX, 1.0), (MAC, 0.4)):
        for depth in (0, 1024, 4096):
            suffix = f" @ d{depth}" if depth else ""
            rows.append(run_row(machine, "pp512" + suffix, 9000 * scale / (1 + depth / 4096)))
            rows.append(run_row(machine, "tg128" + suffix, 140 * scale / (1 + depth / 4096), stddev_ts=1.5))
    return runs_frame(*rows)


def test_depth_draws_a_line_per_machine_in_a_pp_and_a_tg_panel(tmp_path):
    figure = perf.depth_figure(depth_runs(), "test")
    pp, tg = data_axes(figure)
    assert figure.get_suptitle().startswith("Speed against context depth")
    assert pp.get_title() == "prompt processing (pp512)" and tg.get_title() == "generation (tg128)"
    assert "context depth" in tg.get_xlabel() and "tokens/s" in tg.get_ylabel() and "stddev" in pp.get_ylabel()
    for axes in (pp, tg):
        lines = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
        assert len(lines) == 2
        assert all(line.lines[0].get_xdata().tolist() == [0, 1024, 4096] for line in lines)
    rtx = next(c for c in tg.containers if c.get_label().startswith("NVIDIA"))
    assert rtx.lines[0].get_ydata()[0] == pytest.approx(140.0)
    (segments,) = [collection.get_segments() for collection in rtx.lines[2]]
    assert segments[0][:, 1].tolist() == pytest.approx([138.5, 141.5])  # ± stddev_ts
    legend_texts = [t.get_text() for axes in figure.axes if axes.get_legend() for t in axes.get_legend().get_texts()]
    assert len(legend_texts) == 2
    saved(figure, tmp_path, "depth")


def test_depth_without_several_depths_says_what_to_run():
    with pytest.raises(MeekError, match="meek bench -d 0,1024,4096"):
        perf.depth_figure(fleet_runs(), "test")


def test_depth_with_tg_only_notes_the_empty_pp_panel():
    runs = depth_runs()
    figure = perf.depth_figure(runs[runs["n_prompt"] == 0], "test")
    pp, tg = data_axes(figure)
    assert not pp.containers and "no pp results" in pp.texts[0].get_text()
    assert len(tg.containers) == 2


# ---- pareto ----------------------------------------------------------------------------------------------------------


def test_pareto_front_keeps_exactly_the_points_nothing_beats():
    points = pd.DataFrame({"speed": [10, 20, 30, 15, 30, 5, 20], "score": [80, 70, 50, 60, 40, 80, 70]})
    front = perf.pareto_front(points)
    assert list(zip(front["speed"], front["score"], strict=True)) == [(10, 80), (20, 70), (20, 70), (30, 50)]


def pareto_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for model, label, rtx, mac in (
        ("big", "Big 8B", 140.0, 57.0),
        ("mid", "Mid 3B", 210.0, 80.0),
        ("tiny", "Tiny", 2400.0, 900.0),
    ):
        rows += [
            run_row(RTX, "tg128", rtx, model=model, model_label=label),
            run_row(MAC, "tg128", mac, model=model, model_label=label),
        ]
    rows.append(run_row(MAC, "tg128 @ d4096", 5000.0, model="tiny", model_label="Tiny"))  # not depth 0: ignored
    scores = scores_frame(
        score_row("big", 0.52),
        score_row("big", 0.50, machine_id=MAC[0]),
        score_row("mid", 0.44),
        score_row("tiny", 0.28, subset=True),
        score_row("tiny", 0.9, task="arc_challenge"),
        score_row("mid", 0.99, primary=False),
    )
    return runs_frame(*rows), scores


def test_pareto_plots_a_point_per_machine_and_model_and_the_front(tmp_path):
    runs, scores = pareto_inputs()
    figure = perf.pareto_figure(runs, scores, "test")
    (axes,) = figure.axes
    assert figure.get_suptitle() == "Quality against speed: hellaswag"  # the task with the most scores
    assert "tokens/s" in axes.get_xlabel() and "tg128" in axes.get_xlabel() and "%" in axes.get_ylabel()
    offsets = np.concatenate([c.get_offsets() for c in axes.collections]).round(6)
    assert len(offsets) == 6
    assert sorted(map(tuple, offsets.tolist())) == sorted(
        [(140.0, 51.0), (57.0, 51.0), (210.0, 44.0), (80.0, 44.0), (2400.0, 28.0), (900.0, 28.0)]
    )  # median of the two big scores; the non-primary 0.99 ignored
    (front,) = [line for line in axes.lines if line.get_label() == "Pareto front"]
    assert list(zip(front.get_xdata(), front.get_ydata().round(6), strict=True)) == [(140.0, 51.0), (210.0, 44.0), (2400.0, 28.0)]
    assert front.get_drawstyle() == "steps-pre"
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert "subset score" in legend and any(text.startswith("Pareto front") for text in legend)
    saved(figure, tmp_path, "pareto")


def test_pareto_subset_scores_are_hollow_and_a_task_can_be_chosen():
    runs, scores = pareto_inputs()
    (axes,) = perf.pareto_figure(runs, scores, "test").axes
    hollow = [c for c in axes.collections if len(c.get_facecolors()) == 0 or c.get_facecolors()[0][3] == 0]
    assert sorted(c.get_offsets()[0][1] for c in hollow) == pytest.approx([28.0, 28.0])
    (axes,) = perf.pareto_figure(runs, scores, "test", task="arc_challenge").axes
    assert np.concatenate([c.get_offsets() for c in axes.collections])[:, 1].tolist() == pytest.approx([90.0, 90.0])
    with pytest.raises(MeekError, match="no scores for task 'gsm8k'"):
        perf.pareto_figure(runs, scores, "test", task="gsm8k")


def test_pareto_without_scores_or_speeds_says_what_to_run():
    runs, scores = pareto_inputs()
    with pytest.raises(MeekError, match="meek bench --eval"):
        perf.pareto_figure(runs, scores.iloc[0:0], "test")
    with pytest.raises(MeekError, match="no model has both"):
        perf.pareto_figure(runs, scores_frame(score_row("other-model", 0.5)), "test")


# ---- roofline --------------------------------------------------------------------------------------------------------


def test_roofline_bound_is_bandwidth_over_bytes_per_token(tmp_path):
    runs = runs_frame(run_row(RTX, "tg128", 143.0), run_row(MAC, "tg128", 57.0), run_row(BOX, "tg128", 20.0))
    figure = perf.roofline_figure(runs, "test")
    (axes,) = figure.axes
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
    assert "GB" in axes.get_xlabel() and "tokens/s" in axes.get_ylabel()
    assert sum(len(c.get_offsets()) for c in axes.collections) == 3
    bounds = {line.get_label(): line for line in axes.lines}
    assert set(bounds) == {"NVIDIA GeForce RTX 4090 bound (1008 GB/s)", "Apple M2 Max (Mac Studio, 32 GB) bound (400 GB/s)"}
    rtx = bounds["NVIDIA GeForce RTX 4090 bound (1008 GB/s)"]
    assert rtx.get_linestyle() == "--"
    at = list(rtx.get_xdata()).index(4.92)
    assert rtx.get_ydata()[at] == pytest.approx(204.9, abs=0.05)
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert "no bound line for Mystery accelerator: not in the hardware table" in legend
    assert any(text.get_text() == "70%" for text in axes.texts)  # 143 of 204.9 t/s
    saved(figure, tmp_path, "roofline")


def test_roofline_without_model_size_says_what_to_run():
    with pytest.raises(MeekError, match="known model size"):
        perf.roofline_figure(runs_frame(run_row(RTX, "tg128", bytes_per_token=None)), "test")


# ---- hostile and empty input -----------------------------------------------------------------------------------------


def test_dollar_signs_and_long_labels_from_result_files_render_as_text(tmp_path):
    hostile = ("x-$a-box-1g-$$$$$$", r"$\frac{1}{0}$ GPU $$ with a very long name that goes on and on", None)
    runs = pd.concat(
        [
            depth_runs(),
            runs_frame(
                *[run_row(hostile, t, 50.0, backend="$_{x}$") for t in ("pp512", "tg128", "pp512 @ d1024", "tg128 @ d1024")]
            ),
        ]
    )
    runs["model_label"] = r"_model $\sqrt{x$"
    scores = scores_frame(score_row(task="$task$"))
    figures = {
        "throughput": perf.throughput_figure(runs, "Data: from $HOME/results"),
        "depth": perf.depth_figure(runs, "test"),
        "pareto": perf.pareto_figure(runs, scores, "test"),
        "roofline": perf.roofline_figure(runs, "test"),
    }
    for name, figure in figures.items():
        texts = [t.get_text() for axes in figure.axes for t in [*axes.get_yticklabels(), *axes.texts]]
        assert all("$" not in text.replace(r"\$", "") for text in texts), name
        saved(figure, tmp_path, name)  # draws every text: mathtext would raise on these labels
    assert perf.safe_text("$" * 100).count(r"\$") == 39 and perf.safe_text("_hidden").startswith(" ")
    assert perf.safe_text("a\nb   c") == "a b c" and len(perf.safe_text("x" * 100)) == style.LABEL_CHARS


@pytest.mark.parametrize("draw", ["throughput", "depth", "pareto", "roofline"])
def test_empty_input_raises_a_meek_error(draw):
    empty_runs, empty_scores = pd.DataFrame(columns=RUN_COLUMNS), pd.DataFrame(columns=SCORE_COLUMNS)
    calls = {
        "throughput": lambda: perf.throughput_figure(empty_runs, "test"),
        "depth": lambda: perf.depth_figure(empty_runs, "test"),
        "pareto": lambda: perf.pareto_figure(empty_runs, empty_scores, "test"),
        "roofline": lambda: perf.roofline_figure(empty_runs, "test"),
    }
    with pytest.raises(MeekError, match="meek bench"):
        calls[draw]()


def test_unknown_model_and_source_text():
    with pytest.raises(MeekError, match="no results for model 'nope'"):
        perf.throughput_figure(fleet_runs(), "test", model="nope")
    assert panels.data_source("results", fleet_runs()) == "Data: 3 result files from results"
