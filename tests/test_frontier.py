"""Meek models vs the frontier: the Epoch import, the shipped table, and the lag arithmetic, on hand-worked numbers."""

from __future__ import annotations

import math
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import MeekError
from harness.frontier.columns import shots_label
from harness.frontier.epoch import COLUMNS, SHIPPED_TABLE, import_epoch, load_frontier, write_table
from harness.frontier.epoch_models import params_from_name
from harness.frontier.gap import (
    MACHINE_CLASSES,
    best_so_far,
    fits,
    gap_table,
    lag_history,
    memory_needed_gb,
    months_behind,
)

SHARED_FRONTIER = Path(__file__).resolve().parents[2] / "shared" / "data" / "frontier"
GIB = 2**30


def frame(rows: list[tuple]) -> pd.DataFrame:
    """A score frame from (model, release_date, score, open_weights, params_total_b[, benchmark[, setting]]) tuples."""
    records = []
    for model, released, score, open_weights, params, *rest in rows:
        benchmark = rest[0] if rest else "mmlu"
        setting = rest[1] if len(rest) > 1 else "5-shot"
        records.append(
            {
                "model": model,
                "organization": None,
                "release_date": pd.Timestamp(released),
                "open_weights": open_weights,
                "params_total_b": params,
                "params_active_b": math.nan,
                "benchmark": benchmark,
                "setting": setting,
                "score": score,
                "source": "test",
                "source_link": f"https://example.org/{model}",
            }
        )
    result = pd.DataFrame(records, columns=COLUMNS)
    result["open_weights"] = result["open_weights"].astype("boolean")
    return result


# ---- months_behind --------------------------------------------------------------------------------------------------
CURVE = frame(
    [("A", "2023-01-01", 50.0, False, None), ("B", "2023-07-01", 70.0, False, None), ("C", "2024-01-01", 80.0, False, None)]
)


def test_months_behind_counts_from_the_first_release_at_or_above_the_score():
    # 60 was first reached by B on 2023-07-01; 2023-07-01 -> 2024-01-01 is 31+31+30+31+30+31 = 184 days; 184 / 30.4375.
    assert months_behind(CURVE, 60.0, "2024-01-01") == pytest.approx(184 / 30.4375)
    assert months_behind(CURVE, 60.0, "2024-01-01") == pytest.approx(6.045174, abs=1e-6)
    # 45 was first reached by A on 2023-01-01; one non-leap year is 365 days = 11.991786 months (a month is 365.25 / 12 days).
    assert months_behind(CURVE, 45.0, "2024-01-01") == pytest.approx(11.991786, abs=1e-6)


def test_months_behind_is_zero_on_the_day_and_above_the_frontier():
    assert months_behind(CURVE, 50.0, "2023-01-01") == 0.0
    assert months_behind(CURVE, 90.0, "2024-06-01") == 0.0  # nobody reached 90
    assert months_behind(CURVE, 75.0, "2023-12-31") == 0.0  # C (80) comes a day later: by 2023-12-31 the best was 70


def test_months_behind_is_none_before_the_frontier_has_any_release():
    assert months_behind(CURVE, 10.0, "2022-06-01") is None


# ---- best_so_far ----------------------------------------------------------------------------------------------------
SCORES = frame(
    [
        ("m1", "2023-01-01", 50.0, False, None),
        ("m2", "2023-03-01", 45.0, True, 7.0),
        ("m3", "2023-03-01", 60.0, False, None),  # same day as m2, higher: the record of that day
        ("m4", "2023-06-01", 60.0, False, None),  # ties the record: not a new one
        ("m6", "2023-05-01", math.nan, False, None),  # no score: ignored
        ("m5", "2023-09-01", 75.0, True, 70.0),
        ("other", "2023-02-01", 99.0, False, None, "gsm8k"),
        ("m7", "2023-04-01", 65.0, False, None, "mmlu", "0-shot"),
    ]
)


def test_best_so_far_keeps_the_rows_that_set_a_record():
    records = best_so_far(SCORES, "mmlu", setting="5-shot")
    assert records["model"].tolist() == ["m1", "m3", "m5"]
    assert records["score"].tolist() == [50.0, 60.0, 75.0]
    assert records["source_link"].tolist() == ["https://example.org/m1", "https://example.org/m3", "https://example.org/m5"]


def test_best_so_far_mixes_settings_unless_told_and_takes_a_filter():
    assert best_so_far(SCORES, "mmlu")["model"].tolist() == ["m1", "m3", "m7", "m5"]
    assert best_so_far(SCORES, "mmlu", where=lambda rows: rows["open_weights"].eq(True))["model"].tolist() == ["m2", "m5"]
    assert best_so_far(SCORES, "mmlu", where=SCORES["params_total_b"] < 10)["model"].tolist() == ["m2"]


def test_best_so_far_names_the_known_benchmarks_for_an_unknown_one():
    with pytest.raises(MeekError, match="gsm8k, mmlu"):
        best_so_far(SCORES, "mmlu-pro")


# ---- memory_needed_gb / fits ----------------------------------------------------------------------------------------
def test_memory_needed_adds_weights_kv_cache_and_overhead():
    # 8B at Q4_K_M's 4.89 bits (llama.cpp's quantize README): 8e9 x 4.89 / 8 = 4.89e9 bytes = 4.554168 GiB; KV estimate
    # 192 KiB x sqrt(8/8) x 8192 tokens = 1.5 GiB; compute buffers 0.5 GiB -> 6.554168 GiB.
    assert memory_needed_gb(8) == pytest.approx(4.89e9 / GIB + 1.5 + 0.5)
    assert memory_needed_gb(8) == pytest.approx(6.554168, abs=1e-6)
    # 32B: 19.56e9 bytes = 18.216670 GiB; KV 192 KiB x sqrt(4) x 8192 = 3 GiB; + 0.5 -> 21.716670 GiB.
    assert memory_needed_gb(32) == pytest.approx(21.716670, abs=1e-6)
    # Known KV size: 8B at Q8_0 (8.5 bits) = 8.5e9 bytes = 7.916242 GiB; 4096 tokens x 128 KiB = 0.5 GiB; + 0.5 -> 8.916242.
    assert memory_needed_gb(8, bits_per_weight=8.5, context=4096, kv_bytes_per_token=128 * 1024) == pytest.approx(
        8.916242, abs=1e-6
    )


def test_fits_compares_with_the_usable_memory_of_the_class():
    assert MACHINE_CLASSES["24gb-gpu"].usable_gb == pytest.approx(22.5)  # 24 - 1.5 GiB (context, driver, desktop)
    assert fits(32, "24gb-gpu") and not fits(34, "24gb-gpu")  # 21.72 <= 22.5 < 22.95 GiB
    assert not fits(30, "16gb-gpu")  # 20.48 > 14.5
    # 70B: 42.7875e9 bytes = 39.849 GiB + KV 1.5 x sqrt(70/8) = 4.437 GiB + 0.5 = 44.79 GiB: inside 64 x 0.75 = 48, not 32 - 1.5.
    assert memory_needed_gb(70) == pytest.approx(44.786, abs=1e-3)
    assert fits(70, "64gb-unified") and not fits(70, "32gb-gpu")
    assert fits(8, "16gb-laptop") and not fits(14, "16gb-laptop")  # 6.55 and 10.45 GiB against 16 x 0.6 = 9.6


def test_fits_rejects_unknown_classes_and_parameter_counts():
    with pytest.raises(MeekError, match="unknown machine class"):
        fits(7, "4gb-phone")
    for bad in (0, -1, math.nan, None):
        with pytest.raises(MeekError, match="parameter count"):
            memory_needed_gb(bad)


# ---- gap_table ------------------------------------------------------------------------------------------------------
GAP = frame(
    [
        ("F1", "2023-01-01", 60.0, False, None),
        ("F2", "2024-01-01", 80.0, False, None),
        ("F3", "2025-01-01", 90.0, False, None),
        ("O1-7B", "2023-07-01", 55.0, True, 7.0),
        ("O2-7B", "2024-07-01", 65.0, True, 7.0),
        ("O3-70B", "2024-01-01", 78.0, True, 70.0),
        ("unsized", "2024-02-01", 85.0, True, None),  # open but no parameter count: cannot be placed in a class
    ]
)


def test_gap_table_finds_the_best_open_model_that_fits_and_its_lag():
    table = gap_table(GAP, "mmlu", today="2025-01-01").set_index("machine_class")
    small = table.loc["8gb-gpu"]  # 7B needs 3.91 + 1.40 + 0.5 = 5.81 GiB <= 7.2; 70B does not fit
    assert (small["open_model"], small["open_score"], small["frontier_model"]) == ("O2-7B", 65.0, "F2")
    assert small["frontier_date"] == pd.Timestamp("2024-01-01")
    assert small["lag_at_release_months"] == pytest.approx(182 / 30.4375)  # 2024-01-01 -> 2024-07-01
    assert small["months_behind_today"] == pytest.approx(366 / 30.4375)  # 2024 is a leap year
    # Checkpoints: 2023-01 no open model yet; 2024-01 O1 (55, reached by F1 a year earlier: 365 days); 2025-01 O2 (366 days).
    assert math.isnan(small["lag_2023-01"])
    assert small["lag_2024-01"] == pytest.approx(365 / 30.4375)
    assert small["lag_2025-01"] == pytest.approx(366 / 30.4375)
    assert small["trend"] == "steady"  # (12.0246 - 11.9918) months over 1.002 years: 0.03 months per year
    big = table.loc["64gb-unified"]
    assert (big["open_model"], big["frontier_model"], big["lag_at_release_months"]) == ("O3-70B", "F2", 0.0)
    # 2024-01: 0 months (O3 came out with F2); 2025-01: 366 days behind. Slope: (366 / 30.4375) / (366 / 365.25) = 12 per year.
    assert big["trend"] == "widening" and big["trend_months_per_year"] == pytest.approx(12.0)


def test_lag_history_lists_the_rows_used_at_each_checkpoint():
    history = lag_history(GAP, "mmlu", "8gb-gpu", ["2024-01-01", "2025-01-01"])
    assert history["open_model"].tolist() == ["O1-7B", "O2-7B"]
    assert history["frontier_model"].tolist() == ["F1", "F2"]


def test_gap_table_leaves_out_checkpoints_after_the_data_ends():
    table = gap_table(GAP[GAP["release_date"] <= "2024-07-01"], "mmlu", today="2026-06-01")
    assert "lag_2024-01" in table.columns and "lag_2025-01" not in table.columns
    assert (table["data_until"] == pd.Timestamp("2024-07-01")).all()


# ---- Epoch import ---------------------------------------------------------------------------------------------------
def imported(*paths: Path) -> pd.DataFrame:
    return import_epoch(list(paths)).set_index(["benchmark", "model", "setting"])


def test_import_reads_epoch_csvs_into_tidy_percent_rows(epoch_sample):
    sample_hub, sample_models = epoch_sample
    rows = imported(sample_hub, sample_models)
    assert set(rows.index.get_level_values("benchmark")) == {"mmlu", "gpqa_diamond"}
    llama = rows.loc[("mmlu", "LLaMA-7B", "5-shot")]
    # Four 5-shot rows (35.1, 35.6, 35.1, ...): the best is kept with its own source.
    assert llama["score"] == pytest.approx(35.6)
    assert llama["source"] == "Epoch AI Benchmarking Hub; Qwen Technical Report"
    assert llama["source_link"] == "https://arxiv.org/pdf/2309.16609"
    assert llama["release_date"] == pd.Timestamp("2023-02-24")
    assert bool(llama["open_weights"]) is True and llama["params_total_b"] == 7.0
    assert rows.loc[("mmlu", "LLaMA-7B", "0-shot"), "score"] == pytest.approx(32.0)
    gpqa = rows.loc[("gpqa_diamond", "qwen3-235b-a22b", "Epoch AI run")]
    assert gpqa["score"] == pytest.approx(70.70707, abs=1e-4)
    assert (gpqa["params_total_b"], gpqa["params_active_b"]) == (235.0, 22.0)
    assert rows.loc[("gpqa_diamond", "phi-4", "Epoch AI run"), "params_total_b"] == 14.0  # from the models data
    assert bool(rows.loc[("gpqa_diamond", "gpt-4-0314", "Epoch AI run"), "open_weights"]) is False


def test_import_fills_gaps_from_the_models_data_and_drops_undated_rows(epoch_sample):
    sample_hub, sample_models = epoch_sample
    rows = imported(sample_hub, sample_models)
    mixtral = rows.loc[("mmlu", "Mixtral-8x7B-v0.1", "5-shot")]
    assert mixtral["params_total_b"] == 46.7  # the models data, not 8 x 7 from the name
    gpt4 = rows.loc[("mmlu", "GPT-4", "5-shot")]  # a row without model version or date, dated by the models data
    assert gpt4["release_date"] == pd.Timestamp("2023-03-15") and bool(gpt4["open_weights"]) is False
    coder = rows.loc[("mmlu", "Qwen2.5-Coder-7B", "not stated")]  # blank Shots cell
    assert coder["params_total_b"] == 7.0 and bool(coder["open_weights"]) is True  # open like its 32B sibling
    assert "AquilaChat2 34B" not in rows.index.get_level_values("model")  # no date anywhere
    assert len(rows) == 9


def test_import_adds_curated_rows_with_their_own_source(tmp_path, epoch_sample):
    sample_hub, sample_models = epoch_sample
    curated = tmp_path / "supplement.csv"
    curated.write_text(
        "model,organization,release_date,open_weights,params_b,benchmark,score,setting,source_url\n"
        "o1,OpenAI,2024-12-17,False,,GPQA Diamond,75.7,0-shot CoT,https://github.com/openai/simple-evals/blob/x/README.md\n"
        "Llama 3.1 8B,Meta AI,2024-07-23,True,,MMLU,68.4,vendor-reported,https://github.com/openai/simple-evals/blob/x/README.md\n",
        encoding="utf-8",
    )
    rows = imported(sample_hub, sample_models, curated)
    o1 = rows.loc[("gpqa_diamond", "o1", "0-shot CoT")]
    assert o1["score"] == 75.7 and o1["source"] == "openai/simple-evals (GitHub)" and bool(o1["open_weights"]) is False
    llama = rows.loc[("mmlu", "Llama 3.1 8B", "vendor-reported")]
    assert llama["params_total_b"] == 8.0 and bool(llama["open_weights"]) is True  # size from the name
    assert len(rows) == 11


def test_import_reads_a_zip_with_a_top_level_folder(tmp_path, epoch_sample):
    sample_hub, sample_models = epoch_sample
    archive = tmp_path / "epoch_benchmarking_hub_2026-03.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for csv in sample_hub.glob("*.csv"):
            zipped.write(csv, f"benchmark_data/{csv.name}")
        zipped.writestr("__MACOSX/benchmark_data/._mmlu_external.csv", b"\x00\x05junk")
    from_zip = import_epoch([archive, sample_models])
    from_folder = import_epoch([sample_hub, sample_models])
    assert (
        from_zip["source"].str.startswith("Epoch AI Benchmarking Hub 2026-03; ").sum() == 6
    )  # the snapshot date from the zip name
    assert from_zip["source"].str.startswith("Epoch AI Benchmarking Hub 2026-03").all()
    pd.testing.assert_frame_equal(from_zip.drop(columns="source"), from_folder.drop(columns="source"))


def test_import_reads_percent_scores_like_fractions(tmp_path, epoch_sample):
    sample_hub, sample_models = epoch_sample
    hub = tmp_path / "hub"
    shutil.copytree(sample_hub, hub)
    mmlu = pd.read_csv(hub / "mmlu_external.csv", dtype=str)
    mmlu["EM"] = (pd.to_numeric(mmlu["EM"]) * 100).round(2).astype(str)
    mmlu.to_csv(hub / "mmlu_external.csv", index=False)
    pd.testing.assert_frame_equal(import_epoch([hub, sample_models]), import_epoch([sample_hub, sample_models]))


def test_import_says_which_column_is_missing(tmp_path, epoch_sample):
    sample_hub, _ = epoch_sample
    hub = tmp_path / "hub"
    shutil.copytree(sample_hub, hub)
    pd.read_csv(hub / "mmlu_external.csv").drop(columns=["Release date"]).to_csv(hub / "mmlu_external.csv", index=False)
    with pytest.raises(MeekError, match="mmlu_external.csv: missing column.*Release date"):
        import_epoch([hub])
    pd.read_csv(sample_hub / "gpqa_diamond.csv").drop(columns=["mean_score", "Best score (across scorers)"]).to_csv(
        hub / "gpqa_diamond.csv", index=False
    )
    (hub / "mmlu_external.csv").unlink()
    with pytest.raises(MeekError, match="gpqa_diamond.csv: missing score column mean_score"):
        import_epoch([hub])


def test_import_rejects_paths_without_epoch_data(tmp_path):
    with pytest.raises(MeekError, match="no such file"):
        import_epoch([tmp_path / "absent.zip"])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(MeekError, match="no Epoch AI benchmark or model CSVs"):
        import_epoch([tmp_path])
    with pytest.raises(MeekError, match="not a zip file"):
        import_epoch([tmp_path / "notes.txt"])


def test_names_and_shots_are_read_as_written():
    assert params_from_name("Qwen3-30B-A3B") == (30.0, 3.0)
    assert params_from_name("SmolLM2-135M-Instruct") == (0.135, None)
    assert params_from_name("Qwen-1_8B") == (1.8, None)
    assert params_from_name("Mixtral-8x22B-v0.1") == (176.0, None)  # an upper bound: experts share attention weights
    assert params_from_name("Llama-4-Scout-17B-16E-Instruct") == (None, 17.0)
    assert params_from_name("gpt-4o-2024-05-13") == (None, None)
    assert [shots_label(s) for s in ("5", "5.0", "25-shot", "few", None, "0")] == [
        "5-shot",
        "5-shot",
        "25-shot",
        "few-shot",
        "not stated",
        "0-shot",
    ]


# ---- the table on disk ----------------------------------------------------------------------------------------------
def test_write_then_load_round_trips_with_the_attribution_line(tmp_path, monkeypatch, epoch_sample):
    sample_hub, sample_models = epoch_sample
    rows = import_epoch([sample_hub, sample_models])
    path = write_table(rows, tmp_path / "frontier.csv", retrieved="2026-03-15", notes=["a second line"])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == (
        '# Source: Epoch AI, "Data on AI Benchmarking" (CC BY 4.0), https://epoch.ai/data/ai-benchmarking-dashboard; '
        "retrieved 2026-03-15"
    )
    assert lines[1] == "# a second line" and lines[2] == ",".join(COLUMNS)
    loaded = load_frontier(path)
    assert loaded["model"].tolist() == rows["model"].tolist()
    assert loaded["score"].tolist() == pytest.approx(rows["score"].round(2).tolist())
    assert loaded["open_weights"].tolist() == rows["open_weights"].tolist()
    # A refreshed copy in $MEEK_HOME wins over the shipped table.
    monkeypatch.setenv("MEEK_HOME", str(tmp_path))
    assert len(load_frontier()) == len(rows)


def test_load_frontier_explains_a_missing_table(tmp_path):
    with pytest.raises(MeekError, match="no frontier table"):
        load_frontier(tmp_path / "absent.csv")


def test_shipped_table_covers_the_core_benchmarks_open_and_closed():
    assert SHIPPED_TABLE.read_text(encoding="utf-8").startswith('# Source: Epoch AI, "Data on AI Benchmarking" (CC BY 4.0)')
    table = load_frontier(SHIPPED_TABLE)
    assert table["source_link"].notna().all() and table["source"].notna().all()
    assert table["score"].between(0, 100).all() and table["release_date"].notna().all()
    for benchmark in ("mmlu", "gpqa_diamond", "hellaswag", "arc_challenge", "gsm8k"):
        rows = table[table["benchmark"] == benchmark]
        assert len(rows) >= 50, benchmark
        assert rows["open_weights"].eq(True).any() and rows["open_weights"].eq(False).any(), benchmark
    years = table["release_date"].dt.year
    assert years.min() <= 2020 and years.max() >= 2026
    assert not table.duplicated(["model", "benchmark", "setting"]).any()


# ---- the real Epoch download, where this workplace has it ----------------------------------------------------------
def test_real_epoch_snapshot_imports():
    hub = SHARED_FRONTIER / "epoch_benchmarking_hub_2026-03"
    if not hub.is_dir():
        pytest.skip(f"{hub} is absent (reference data exists only in the workplace)")
    rows = import_epoch([hub, SHARED_FRONTIER / "epoch_ai_models_2025-12"], benchmarks=["mmlu", "gpqa_diamond", "gsm8k"])
    counts = rows["benchmark"].value_counts()
    assert counts["mmlu"] > 150 and counts["gpqa_diamond"] > 120 and counts["gsm8k"] > 100
    assert rows["score"].between(0, 100).all()
    gpqa = best_so_far(rows, "gpqa_diamond")
    assert gpqa["score"].is_monotonic_increasing and gpqa["score"].iloc[-1] > 90  # Epoch's own runs reach 90+ by 2026


WHY_ANOTHER_PAGE = ("other-developer table", "same-developer table", "the figure was read on", "the family's one page")


def _pages_that_do_not_name_their_model(rows: pd.DataFrame) -> list[str]:
    from harness.frontier.reported import names_model

    rows = rows[rows["source"].str.startswith("developer-reported (", na=False)]
    return [
        f"{row.model} ({row.benchmark}): {row.source_link}"
        for row in rows.itertuples()
        if not names_model(row.model, row.source_link) and not any(why in row.source for why in WHY_ANOTHER_PAGE)
    ]


def test_every_developer_reported_row_cites_its_models_page_or_says_why():
    """The shipped table: each row from developer_reported_scores.csv names its model in its page's address, or its
    source says why not (a comparison column in another card, a sibling's card, the family's one page)."""
    table = load_frontier(SHIPPED_TABLE)
    assert (table["source"].str.startswith("developer-reported (", na=False)).sum() > 300
    assert _pages_that_do_not_name_their_model(table) == []
    cited = table.drop_duplicates("model").set_index("model")["source_link"]
    assert cited["Qwen3.5-9B"] == "https://huggingface.co/Qwen/Qwen3.5-9B"
    assert cited["Gemma 4 31B"] == "https://huggingface.co/google/gemma-4-31B-it"
    assert cited["Ministral 3 8B Base (2512)"] == "https://huggingface.co/mistralai/Ministral-3-8B-Base-2512"


@pytest.mark.skipif(not (SHARED_FRONTIER / "developer_reported_scores.csv").is_file(), reason="../shared/data is not here")
def test_the_correction_layer_covers_every_row_of_the_developer_file():
    """Straight from ../shared/data (never copied into the repository): a model's own figure read on a sibling's card
    cites the model's own card and names the card it was read on."""
    from harness.frontier.reported import reported_rows

    source = pd.read_csv(SHARED_FRONTIER / "developer_reported_scores.csv")
    rows = reported_rows(source, "developer_reported_scores.csv")
    assert _pages_that_do_not_name_their_model(rows) == []
    qwen = rows[rows["model"] == "Qwen3.5-9B"].iloc[0]
    assert qwen["source_link"] == "https://huggingface.co/Qwen/Qwen3.5-9B"
    assert "read on https://huggingface.co/Qwen/Qwen3.5-4B" in qwen["source"]
