"""`meek gap` by Epoch's method, checked against Epoch AI's published figures.

Epoch AI, "Frontier AI performance becomes accessible on consumer hardware within a year" (2025-08-15,
epoch.ai/data-insights/consumer-gpu-model-gap): open models up to 28B parameters (one RTX 4090) or 40B (one RTX 5090)
match the frontier after about 7 months on GPQA Diamond and 7 on MMLU-Pro (RTX 5090 class), from Epoch's Hub plus
developer-reported scores. This script computes the same quantity from the shipped frontier table: the mean lag at
release over the open models that set a new best for the class, for models released from 2023 up to Epoch's
publication date (the data Epoch could see) and up to the table's end, with Epoch's mix of kinds and with Epoch's own
runs only; and it prints the rows behind each figure.

    python bench/epoch_gap.py [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks_md import write_section  # noqa: E402

from harness.frontier.epoch import DEFAULT_KINDS, load_frontier  # noqa: E402
from harness.frontier.gap import EPOCH_PUBLISHED_LAG, release_lags  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = pd.Timestamp("2025-08-15")
SINCE = pd.Timestamp("2023-01-01")
CLASSES = ("rtx-4090-epoch", "rtx-5090-epoch", "24gb-gpu", "32gb-gpu")


def window(lags: pd.DataFrame, until: pd.Timestamp | None) -> pd.DataFrame:
    dates = pd.to_datetime(lags["release_date"])
    return lags[(dates >= SINCE) & (dates <= until)] if until is not None else lags[dates >= SINCE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = parser.parse_args()
    table = load_frontier()
    rows, evidence = [], []
    for benchmark in ("gpqa_diamond", "mmlu_pro"):
        closed = table[(table["benchmark"] == benchmark) & ~table["open_weights"].fillna(False).astype(bool)]
        for name, kinds in (("Hub + developer-reported", DEFAULT_KINDS), ("Hub runs only", ("epoch-run",))):
            frame = table[table["kind"].isin(kinds)]
            for machine_class in CLASSES:
                if closed.empty or benchmark not in set(frame["benchmark"]):
                    rows.append(
                        {
                            "benchmark": benchmark,
                            "kinds": name,
                            "class": machine_class,
                            "to 2025-08 (months)": "",
                            "models": 0,
                            "to the table's end": "",
                            "models ": 0,
                            "Epoch": EPOCH_PUBLISHED_LAG.get(benchmark, math.nan),
                            "within 3 months": "no data",
                            "note": "no closed model's score in the table: no frontier to lag behind"
                            if closed.empty
                            else f"no {name} scores",
                        }
                    )
                    continue
                lags = release_lags(frame, benchmark, machine_class)
                early, full = window(lags, PUBLISHED), window(lags, None)
                mean = float(early["lag_months"].mean()) if len(early) else math.nan
                epoch = EPOCH_PUBLISHED_LAG[benchmark]
                rows.append(
                    {
                        "benchmark": benchmark,
                        "kinds": name,
                        "class": machine_class,
                        "to 2025-08 (months)": f"{mean:.1f}",
                        "models": len(early),
                        "to the table's end": f"{full['lag_months'].mean():.1f}",
                        "models ": len(full),
                        "Epoch": epoch,
                        "within 3 months": "yes" if abs(mean - epoch) <= 3 else "no",
                        "note": "",
                    }
                )
                if name == "Hub + developer-reported" and machine_class in ("rtx-4090-epoch", "rtx-5090-epoch"):
                    for lag in early.to_dict("records"):
                        evidence.append(
                            f"- {benchmark} {machine_class}: {lag['model']} [{lag['kind']}] "
                            f"{lag['release_date']:%Y-%m-%d} {lag['score']:.1f} <- {lag['frontier_model']} "
                            f"[{lag['frontier_kind']}] {lag['frontier_date']:%Y-%m-%d}: {lag['lag_months']:.1f} months"
                        )
    frame = pd.DataFrame(rows)
    body = "\n".join(
        [
            f"Measured {dt.date.today()} with `python bench/epoch_gap.py --write` from the shipped frontier table "
            "(harness/data/frontier.csv: Epoch's Benchmarking Hub 2026-03 plus developer_reported_scores.csv). The lag is the "
            "mean, over the open models that set a new best for the class, of months from the frontier (any model) first "
            f"reaching that score to the open model's release; models released from {SINCE:%Y-%m} to Epoch's publication "
            "(2025-08-15), and to the table's end. Epoch's figures: GPQA Diamond 7 months, MMLU-Pro 7 months (RTX 5090 "
            "class, epoch.ai/data-insights/consumer-gpu-model-gap).",
            "",
            frame.to_markdown(index=False),
            "",
            "MMLU-Pro: the table holds no closed model's MMLU-Pro score (the Hub snapshot has no MMLU-Pro file, and "
            "developer_reported_scores.csv covers open models only; Epoch's analysis also draws on Artificial Analysis, per "
            "its Data section, which is not in ../shared/data), so no frontier lag can be computed here: the target is "
            "missed for want of data, not met.",
            "",
            "The rows behind the GPQA Diamond figures (Hub + developer-reported, to 2025-08):",
            "",
            *[line for line in evidence if line.startswith("- gpqa_diamond")],
        ]
    )
    print(body)
    if args.write:
        write_section(ROOT / "BENCHMARKS.md", "epoch-gap", "meek gap against Epoch AI's consumer-GPU lag", body)


if __name__ == "__main__":
    main()
