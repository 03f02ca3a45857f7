"""Developer-reported scores (../shared/data/frontier/developer_reported_scores.csv) as frontier rows of kind
`developer-reported`, each with its setting, where the figure was printed and the page it was read from.

A model's own figure wins over another developer's re-run: where the model's developer printed a score on a benchmark
(its own card, or a later card of the same developer), comparison columns in other developers' cards are left out for
that model and benchmark. Benchmark variants stay apart: 'GPQA' (the card did not say Diamond) is not 'GPQA Diamond',
MATH is not MATH-500, and a LiveCodeBench version is part of the setting.
"""

from __future__ import annotations

import pandas as pd

from harness.frontier.columns import as_dates, as_percent, canonical_benchmark, require_columns

REQUIRED = ("model", "release_date", "params_total_b", "benchmark", "score", "setting", "source_url", "figure_origin")
OWN = ("own", "same-developer table")


def reported_rows(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Tidy frontier rows (harness.frontier.epoch.COLUMNS) from the developer-reported CSV, own figures first."""
    require_columns(table, name, REQUIRED)
    benchmark = table["benchmark"].map(canonical_benchmark)
    own = table["figure_origin"].isin(OWN)
    has_own = own.groupby([table["model"], benchmark]).transform("any")
    keep = own | ~has_own
    table, benchmark = table[keep], benchmark[keep]
    origin = table["figure_origin"].fillna("origin not stated")
    by = table["source_developer"].fillna("") if "source_developer" in table.columns else pd.Series("", index=table.index)
    kind_of_page = table["source_kind"].fillna("page") if "source_kind" in table.columns else "page"
    return pd.DataFrame(
        {
            "model": table["model"],
            "name": None,
            "organization": table.get("organization"),
            "release_date": as_dates(table["release_date"]),
            "open_weights": True,  # the file holds open-weight models only (its README)
            "params_total_b": pd.to_numeric(table["params_total_b"], errors="coerce").astype(float),
            "params_active_b": pd.to_numeric(table.get("params_active_b"), errors="coerce").astype(float),
            "benchmark": benchmark,
            "setting": table["setting"].fillna("not stated").str.slice(0, 160),
            "score": as_percent(table["score"], name),
            "source": "developer-reported (" + origin + (", " + by).where(by != "", "") + "), " + kind_of_page,
            "source_link": table["source_url"],
            "kind": "developer-reported",
        }
    )
