"""How well `meek advise` answers in llama-bench's terms: leave-one-out over the shipped record (results/).

The truth is every measured canonical cell: llama-bench tg128 at depth 0, a catalogue model, one device, one llama.cpp
backend (harness/aggregate/canonical.py). Each is answered on its own backend two ways:
  - device out: the device's whole record hidden (every run on it, every tool), the record's transfers and efficiency
    model rebuilt without it: the prediction comes from its vendor and kind's measured devices, else its kind's;
  - cell out: only that cell's runs hidden, so the device's other figures answer: its own measured tg128 on other
    models, else its LocalScore / Ollama figures converted through the transfers learned on the other devices.
The absolute error |answer / measured - 1| is summarised per vendor and kind: cells, median, 90th percentile, and how
often the 10-90% range holds the truth. Targets (issue 23): median <= 10%, p90 <= 20%, range coverage 70-90%.

    python bench/predict_loo.py [--results results] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks_md import write_section  # noqa: E402

from harness.aggregate.advise import Record  # noqa: E402
from harness.aggregate.tree import load_tree  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _row(way: str, cell: pd.Series, found) -> dict:
    inside = None if np.isnan(found.low) else bool(found.low <= cell["ts"] <= found.high)
    return {
        "way": way,
        "group": cell["group"],
        "device": cell["device_id"],
        "model": cell["model"],
        "backend": cell["runtime"],
        "measured": cell["ts"],
        "answer": found.value,
        "kind": found.kind,
        "error": abs(found.value / cell["ts"] - 1),
        "in range": inside,
        "basis": found.basis,
    }


def errors(runs: pd.DataFrame) -> pd.DataFrame:
    full = Record(runs)
    cells = full.predictor.cells  # measured canonical tg cells
    rows = []
    for device_id, own in cells.groupby("device_id"):
        device = full.devices[device_id]
        hidden = Record(runs[runs["device_id"] != device_id])
        for _, cell in own.iterrows():
            model = full.models[cell["model"]]
            rows.append(_row("device out", cell, hidden.answer(device, model, "tg", cell["runtime"])))
            mask = (
                (runs["device_id"] == device_id)
                & (runs["model"] == cell["model"])
                & (runs["test"] == "tg128")
                & (runs["n_depth"] == 0)
            )
            rows.append(_row("cell out", cell, Record(runs[~mask]).answer(device, model, "tg", cell["runtime"])))
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for way in ("device out", "cell out"):
        mine = frame[frame["way"] == way]
        for group, part in [*mine.groupby("group"), ("all", mine)]:
            inside = part["in range"].dropna()
            out.append(
                {
                    "hidden": way,
                    "vendor and kind": group,
                    "cells": len(part),
                    "devices": part["device"].nunique(),
                    "median error": f"{part['error'].median():.0%}",
                    "p90 error": f"{part['error'].quantile(0.9):.0%}",
                    "range holds the truth": f"{inside.mean():.0%} of {len(inside)}" if len(inside) else "no ranges",
                    "answered by": ", ".join(f"{k} {n}" for k, n in part["kind"].value_counts().items()),
                }
            )
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = parser.parse_args()
    runs = load_tree([args.results]).runs
    frame = errors(runs)
    table = summary(frame)
    worst = frame.sort_values("error", ascending=False).head(10)
    body = "\n".join(
        [
            f"Measured {dt.date.today()} with `python bench/predict_loo.py --write` over the shipped record: every measured "
            f"llama-bench tg128 cell at depth 0 ({len(frame) // 2} cells: device x catalogue model x backend, on "
            f"{frame['device'].nunique()} devices), answered on its own backend with the device's whole record hidden "
            "(device out) or only the cell hidden (cell out). Error = |answer / measured - 1|. Targets: median <= 10%, "
            "p90 <= 20%, the 10-90% range holding the truth 70-90% of the time.",
            "",
            table.to_markdown(index=False),
            "",
            "Largest errors:",
            "",
            worst[["way", "device", "model", "backend", "measured", "answer", "kind", "error"]].to_markdown(
                index=False, floatfmt=".3g"
            ),
        ]
    )
    print(body)
    if args.write:
        write_section(
            ROOT / "BENCHMARKS.md", "predict-loo", "meek advise: canonical answers against the record, leave one out", body
        )


if __name__ == "__main__":
    main()
