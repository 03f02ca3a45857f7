"""Regenerate the shipped frontier table from Epoch AI downloads, so that it is reproducible.

    python -m harness.frontier.build_table <Benchmarking Hub zip/folder> [<"Data on AI Models" folder>] [<curated.csv>...]

The table shipped in harness/data/frontier.csv was built from the 2026-03 Benchmarking Hub snapshot, the 2025-12
"Data on AI Models" snapshot, frontier_scores_supplement.csv (simple-evals README scores, each row with its link) and
developer_reported_scores.csv (model-card scores of home-runnable open models, each row with its page):

    python -m harness.frontier.build_table ../shared/data/frontier/epoch_benchmarking_hub_2026-03 \
        ../shared/data/frontier/epoch_ai_models_2025-12 ../shared/data/frontier/frontier_scores_supplement.csv \
        ../shared/data/frontier/developer_reported_scores.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

import pandas as pd

from harness.errors import MeekError
from harness.frontier.epoch import CORE_BENCHMARKS, MODELS_URL, SHIPPED_TABLE, import_epoch, snapshot_label, write_table

# Parameter counts (billions) of open-weight models that Epoch's data lists without one, from each model's own card.
PARAMS_FROM_MODEL_CARDS: dict[str, tuple[float, str]] = {
    "mistral-small-2503": (24.0, "https://huggingface.co/mistralai/Mistral-Small-3.1-24B-Instruct-2503"),
    "magistral-small-2506": (24.0, "https://huggingface.co/mistralai/Magistral-Small-2506"),
    "open-mistral-nemo-2407": (12.0, "https://huggingface.co/mistralai/Mistral-Nemo-Instruct-2407"),
    "Phi-3.5-mini-instruct": (3.8, "https://huggingface.co/microsoft/Phi-3.5-mini-instruct"),
}
NOTES = (
    (
        f'Open weights and parameter counts: Epoch AI, "Data on AI Models" (CC BY 4.0), {MODELS_URL}; '
        "else read from the model name (7B, A3B) or its model card (harness/frontier/build_table.py)."
    ),
    "Scores in percent. Each row cites its own source and source_link; rows whose source is not Epoch AI come from that link.",
    "kind: epoch-run (Epoch's own run), developer-reported (a developer's published figure, from its page or collected by "
    "Epoch); developer-reported rows from developer_reported_scores.csv keep where each figure was printed in source.",
    "Regenerate with: python -m harness.frontier.build_table <Epoch Benchmarking Hub download> [<Data on AI Models folder>] [<curated.csv>]",
)


def fill_params_from_model_cards(frame: pd.DataFrame) -> pd.DataFrame:
    """Parameter counts from PARAMS_FROM_MODEL_CARDS where the Epoch data has none."""
    known = frame["model"].map(lambda m: PARAMS_FROM_MODEL_CARDS.get(m, (None,))[0]).astype(float)
    return frame.assign(params_total_b=frame["params_total_b"].fillna(known))


def build(
    paths: Sequence[Path], out: Path, benchmarks: Iterable[str] = CORE_BENCHMARKS, retrieved: str | None = None
) -> pd.DataFrame:
    """Import, complete and write the table; returns the rows written."""
    frame = fill_params_from_model_cards(import_epoch(paths, benchmarks=benchmarks))
    if retrieved is None:
        retrieved = next((label for label in map(snapshot_label, paths) if label), date.today().isoformat())
    write_table(frame, out, retrieved=retrieved, notes=NOTES)
    return frame


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows per benchmark: all, open, closed, unknown access, with parameters, first and last release."""
    grouped = frame.groupby("benchmark")
    return pd.DataFrame(
        {
            "rows": grouped.size(),
            "open": grouped["open_weights"].apply(lambda s: int(s.eq(True).sum())),
            "closed": grouped["open_weights"].apply(lambda s: int(s.eq(False).sum())),
            "unknown": grouped["open_weights"].apply(lambda s: int(s.isna().sum())),
            "with_params": grouped["params_total_b"].apply(lambda s: int(s.notna().sum())),
            "first": grouped["release_date"].min().dt.date,
            "last": grouped["release_date"].max().dt.date,
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.frontier.build_table", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="Epoch downloads (zip or folder) and curated CSVs")
    parser.add_argument("--out", type=Path, default=SHIPPED_TABLE, help=f"where to write (default {SHIPPED_TABLE})")
    parser.add_argument("--benchmarks", default=",".join(CORE_BENCHMARKS), help="comma-separated canonical names")
    parser.add_argument("--retrieved", help="retrieval date for the attribution line (default: the snapshot date in the name)")
    args = parser.parse_args(argv)
    try:
        frame = build(args.paths, args.out, [b.strip() for b in args.benchmarks.split(",") if b.strip()], args.retrieved)
    except MeekError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(frame).to_string())
    print(f"wrote {len(frame)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
