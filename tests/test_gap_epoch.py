"""Issue 16: developer-reported scores in the frontier table with their kinds, Epoch's lag-at-release quantity and
parameter thresholds, `meek frontier list/add`. Pure logic on hand-made frames, and the shipped table as a user reads it."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from harness.frontier.gap import DAYS_PER_MONTH, mean_release_lag, release_lags
from harness.frontier.reported import reported_rows
from tests.test_catalog import a_machine
from tests.test_gap_cli import hand_made_frame


def reported_table(rows) -> pd.DataFrame:
    columns = ["model", "release_date", "params_total_b", "benchmark", "score", "setting", "source_url", "figure_origin"]
    return pd.DataFrame([dict(zip(columns, row)) for row in rows])


def test_a_models_own_figure_wins_over_another_developers_rerun_and_variants_stay_apart():
    table = reported_table(
        [
            ("Own-8B", "2025-05-01", "8", "GPQA Diamond", "70.0", "thinking", "https://own/card", "own"),
            ("Own-8B", "2025-05-01", "8", "GPQA Diamond", "60.0", "reproduced", "https://rival/card", "other-developer table"),
            (
                "Only-Rerun-9B",
                "2025-06-01",
                "9",
                "GPQA Diamond",
                "55.0",
                "reproduced",
                "https://rival/card",
                "other-developer table",
            ),
            ("Own-8B", "2025-05-01", "8", "GPQA", "64.0", "subset not named", "https://own/card", "own"),
        ]
    )
    rows = reported_rows(table, "t.csv")
    assert set(zip(rows["model"], rows["benchmark"], rows["score"])) == {
        ("Own-8B", "gpqa_diamond", 70.0),
        ("Only-Rerun-9B", "gpqa_diamond", 55.0),
        ("Own-8B", "gpqa", 64.0),
    }
    assert set(rows["kind"]) == {"developer-reported"} and rows["open_weights"].all()
    assert rows.loc[rows["model"] == "Only-Rerun-9B", "source"].iloc[0].startswith("developer-reported (other-developer table")


def test_release_lags_are_epochs_quantity_under_its_parameter_threshold():
    frame = hand_made_frame().assign(kind="epoch-run")
    lags = release_lags(frame, "mmlu", "rtx-4090-epoch")  # up to 28B: open-big (400B) is not runnable
    assert list(lags["model"]) == ["open-small"]
    # open-small's 61 was first reached by closed-b (80, 2024-01-01): 366 days before its release on 2025-01-01
    assert lags["frontier_model"].iloc[0] == "closed-b" and lags["lag_months"].iloc[0] == pytest.approx(366 / DAYS_PER_MONTH)
    assert mean_release_lag(lags, "2023-01-01") == (pytest.approx(366 / DAYS_PER_MONTH), 1)
    assert mean_release_lag(lags, "2025-06-01")[1] == 0
    assert list(release_lags(frame, "mmlu", "128gb-unified")["model"]) == ["open-small"]  # 400B does not fit 128 GB either


def test_gap_on_gpqa_diamond_names_2025_developer_reported_models_and_the_lag_over_time(run_meek):
    code, stdout, stderr = run_meek("gap", "-b", "gpqa_diamond", "--classes", "24gb-gpu,rtx-4090-epoch,rtx-5090-epoch")
    assert code == 0, stderr
    behind = [line for line in stdout.splitlines() if line.startswith("- gpqa_diamond 24gb-gpu: ") and "months" in line]
    reported_2025 = [line for line in behind if "[developer-reported] 2025-" in line]
    assert reported_2025, behind  # e.g. gpt-oss-20b, Qwen3-14B: the models Epoch's Hub does not run
    assert "lag at release" in stdout and "Epoch's quantity" in stdout
    code, stdout, stderr = run_meek("gap", "-b", "gpqa_diamond", "--classes", "24gb-gpu", "--kinds", "epoch-run")
    assert code == 0 and "[developer-reported]" not in stdout and "scores of kind epoch-run;" in stdout, stderr


def test_a_benchmark_without_closed_models_or_with_stopped_data_says_so(run_meek):
    code, stdout, stderr = run_meek("gap", "-b", "mmlu_pro,mmlu", "--classes", "24gb-gpu")
    assert code == 0, stderr
    assert "mmlu_pro: no closed model has a score here" in stdout
    assert "mmlu: the frontier's newest score is from 2025-" in stdout and "the data has stopped" in stdout


def test_frontier_list_filters_and_explains_and_add_keeps_user_rows(run_meek, tmp_path):
    code, stdout, stderr = run_meek(
        "frontier",
        "list",
        "-b",
        "gpqa_diamond",
        "--kinds",
        "developer-reported",
        "--access",
        "open",
        "--format",
        "json",
        "--limit",
        "500",
    )
    assert code == 0, stderr
    rows = json.loads(stdout)
    assert rows and {r["kind"] for r in rows} == {"developer-reported"} and all(r["source_link"] for r in rows)
    assert any(r["model"] == "gpt-oss-20b" for r in rows)
    code, stdout, _ = run_meek("frontier", "list", "--model", "gpt-oss-20b", "-b", "gpqa_diamond")
    assert "- developer-reported: the model's developer published the figure" in stdout
    scores = tmp_path / "mine.csv"
    scores.write_text(
        "model,release_date,benchmark,score,open_weights,params_total_b,source_link\n"
        "MyModel-7B,2026-10-01,gpqa_diamond,88.5,true,7,https://example.org/card\n"
    )
    home = {"MEEK_HOME": str(tmp_path / "home")}
    code, stdout, stderr = run_meek("frontier", "add", str(scores), env=home)
    assert code == 0 and "added 1 row(s) of kind 'user'" in stdout, stderr
    code, stdout, _ = run_meek("frontier", "list", "--kinds", "user", "--format", "json", env=home)
    assert [r["model"] for r in json.loads(stdout)] == ["MyModel-7B"]
    code, stdout, _ = run_meek(
        "gap", "-b", "gpqa_diamond", "--classes", "16gb-gpu", "--kinds", "epoch-run,developer-reported,user", env=home
    )
    assert code == 0 and "MyModel-7B [user]" in stdout
    scores.write_text("model,release_date,benchmark,score\nX,not a date,mmlu,50\n")
    code, _, stderr = run_meek("frontier", "add", str(scores), env=home)
    assert code == 2 and "line(s) 2 lack" in stderr


def test_the_card_of_a_24gb_card_names_its_best_model_with_kinds():
    from pathlib import Path

    from harness.aggregate.tree import load_tree
    from harness.frontier.card import machine_card
    from harness.frontier.epoch import DEFAULT_KINDS, load_frontier

    shipped = Path(__file__).resolve().parent.parent / "results"
    runs = load_tree([p for p in shipped.iterdir() if p.name.startswith("rtx-4090-")]).runs
    rtx = {"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "memory_bytes": 24 * 2**30}
    facts = a_machine(64, cpu="AMD Ryzen 9 7950X", gpus=[rtx], machine_id="a-4090-box")
    frame = load_frontier()
    frame = frame[frame["kind"].isin(DEFAULT_KINDS)]
    card = machine_card(shipped, "gpqa_diamond", 20.0, frame, pd.Timestamp("2026-12-01"), facts=facts, runs=runs)
    lines = {line.label: line for line in card.lines}
    assert "for rtx-4090 (tg128, " in lines["speed"].kind and float(lines["speed"].value.split()[0]) >= 20
    assert lines["published gpqa_diamond"].kind in DEFAULT_KINDS
    assert float(lines["months behind at its release"].value) >= 0
    assert "no scores measured on this machine" in lines["meek eval"].value
    slow = machine_card(shipped, "gpqa_diamond", 10_000.0, frame, pd.Timestamp("2026-12-01"), facts=facts, runs=runs)
    assert slow.lines[0].value.startswith("no open model with a published gpqa_diamond score runs here at 10000")
    assert "the fastest that fits: " in slow.lines[0].value


def test_a_machine_class_with_a_selector_decides_alone():
    """One machine's selector (what runs there at a usable speed) decides the best model and the lags, not the memory
    model: the 400B model counts on a class of 8 GB because the selector says it runs."""
    from harness.frontier.gap import MachineClass, best_open_that_fits

    frame = hand_made_frame().assign(kind="epoch-run")
    classes = {"one-box": MachineClass(8, "gpu", "a box", selector=lambda rows: rows["model"] == "open-big")}
    assert best_open_that_fits(frame, "mmlu", "one-box", "2026-01-01", classes=classes)["model"] == "open-big"
    assert list(release_lags(frame, "mmlu", "one-box", classes)["model"]) == ["open-big"]
    nothing = {"one-box": MachineClass(8, "gpu", "a box", selector=lambda rows: rows["model"] == "none")}
    assert best_open_that_fits(frame, "mmlu", "one-box", "2026-01-01", classes=nothing) is None


@pytest.mark.parametrize("min_tg", [1.0, 10.0, 10_000.0])
def test_the_gap_row_and_the_card_of_a_machine_name_the_same_model(tmp_path, min_tg):
    """Issue 27: `meek gap --machine this` named Qwen3.5-9B as the best model while its card said no model ran at 10 t/s.
    Both now come from one selection: the model the gap names is the card's, at a speed of min_tg or more, or neither
    names one. A CPU box outside the hardware table: speeds predicted from its bandwidth measured by a copy test."""
    from harness.aggregate.tree import RUN_COLUMNS
    from harness.frontier.card import machine_card
    from harness.frontier.epoch import DEFAULT_KINDS, load_frontier
    from harness.frontier.gap import gap_table
    from harness.frontier.here import THIS_MACHINE, RunsHere

    frame = load_frontier()
    frame = frame[frame["kind"].isin(DEFAULT_KINDS)]
    facts = a_machine(24, cpu="Some Unlisted CPU 9000", machine_id="an-unlisted-box")
    here = RunsHere(facts, pd.DataFrame(columns=RUN_COLUMNS), min_tg)
    today = pd.Timestamp("2026-12-01")
    row = gap_table(frame, "gpqa_diamond", {THIS_MACHINE: here.machine_class()}, today).iloc[0]
    card = machine_card(tmp_path, "gpqa_diamond", min_tg, frame, today, facts=facts, here=here)
    lines = {line.label: line for line in card.lines}
    if min_tg == 1.0:
        assert isinstance(row["open_model"], str)  # at 1 t/s a 24 GiB box runs something
    if min_tg == 10_000.0:
        assert row["open_model"] is None
    if isinstance(row["open_model"], str):
        assert f"({row['open_model']}, " in lines["published gpqa_diamond"].value
        assert float(lines["published gpqa_diamond"].value.split()[0]) == pytest.approx(row["open_score"], abs=0.05)
        assert float(lines["speed"].value.split()[0]) >= min_tg
        assert "measured by a copy test" in lines["speed"].kind and "predicted" in lines["speed"].kind
    else:
        assert lines["best model"].value.startswith(f"no open model with a published gpqa_diamond score runs here at {min_tg:g}")
        assert math.isnan(row["release_lag_months"])


def test_gap_for_this_machine_agrees_with_its_card(run_meek, tmp_path):
    """The summary line's best model is the card's, with the speed that let it count; none in both at 10000 t/s."""
    for min_tg in ("10", "10000"):
        code, stdout, stderr = run_meek(
            "gap", "--machine", "this", "-b", "gpqa_diamond", "--results-dir", str(tmp_path), "--min-tg", min_tg
        )
        assert code == 0, stderr
        summary = next(line for line in stdout.splitlines() if line.startswith("- this-machine: "))
        card = [line for line in stdout.splitlines() if line.startswith("- best model") or line.startswith("- published ")]
        if "best now " in summary:
            name = summary.split("best now ", 1)[1].split(" [", 1)[0]
            assert f"({name}, " in card[1] and "runs here at " in summary and "t/s (" in summary, (summary, card)
        else:
            assert f"no open model runs here at {min_tg} t/s or more" in summary
            assert card[0].startswith(f"- best model: no open model with a published gpqa_diamond score runs here at {min_tg}")


def test_plot_meek_model_and_card_write_figures_that_say_what_is_model_and_what_is_data(run_meek, tmp_path):
    code, stdout, stderr = run_meek("plot", "meek-model", "--out", str(tmp_path))
    assert code == 0, stderr
    svg = (tmp_path / "meek-model.svg").read_text()
    assert "MODEL (not data)" in svg and "DATA:" in svg and "t* = 3.3 years" in svg
    code, _, stderr = run_meek("plot", "meek-model", "--g-alg", "0.9", "--out", str(tmp_path))
    assert code == 2 and "g_alg must be above 1" in stderr
    code, stdout, stderr = run_meek("plot", "card", "--out", str(tmp_path))
    assert code == 0 and (tmp_path / "card.png").stat().st_size > 5_000, stderr
    assert "- best model" in stdout and "meek card" in (tmp_path / "card.svg").read_text()
