"""Developer-reported scores (../shared/data/frontier/developer_reported_scores.csv) as frontier rows of kind
`developer-reported`, each with its setting, where the figure was printed and the page it was read from.

A model's own figure wins over another developer's re-run: where the model's developer printed a score on a benchmark
(its own card, or a later card of the same developer), comparison columns in other developers' cards are left out for
that model and benchmark. Benchmark variants stay apart: 'GPQA' (the card did not say Diamond) is not 'GPQA Diamond',
MATH is not MATH-500, and a LiveCodeBench version is part of the setting.

Each row's page names its model, or the row says why not (SOURCE_WHY): a comparison column in another card says whose
card it is; a model's own figure read on a sibling's Hugging Face card (the family's cards print one shared table: Qwen3.5
small, Gemma 3 and 4, Ministral 3, ...) cites the model's own card (hf_repo) and names the card it was read on; a family's
one page (a GitHub README, a blog, a technical report) says so.
"""

from __future__ import annotations

import re

import pandas as pd

from harness.frontier.columns import as_dates, as_percent, canonical_benchmark, require_columns

REQUIRED = ("model", "release_date", "params_total_b", "benchmark", "score", "setting", "source_url", "figure_origin")
OWN = ("own", "same-developer table")
HF = "https://huggingface.co/"
READ_ON_SIBLING = "the figure was read on {url}, a sibling's card printing the family's shared table"
FAMILY_PAGE = "the family's one page for all its models"


def model_key(text: object) -> str:
    """A model name or link as a key: lower case, letters and digits only, a bracketed variant left out."""
    return re.sub(r"[^a-z0-9]", "", re.sub(r"\(.*?\)", "", str(text)).lower())


def names_model(model: object, link: object) -> bool:
    """Whether a page's address names the model ('Gemma 4 31B' in .../google/gemma-4-31B-it; a version's date in
    brackets stands for its number: 'Magistral Small 1.2 (2509)' in .../Magistral-Small-2509)."""
    if not isinstance(link, str):
        return False
    address = model_key(link.split("://", 1)[-1])
    dated = re.match(r"(.*?)\s+[\d.]+\s*\((\d{4})\)$", str(model))
    keys = {model_key(model)} | ({model_key(dated.group(1) + dated.group(2))} if dated else set())
    return any(key and key in address for key in keys)


def cited_pages(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(the page each row cites, why it does not name the model, '' where it does): a model's own figure read on a
    sibling's Hugging Face card cites the model's own card (hf_repo) and names the card it was read on."""
    link = table["source_url"].astype("string")
    repo = (
        table["hf_repo"].astype("string") if "hf_repo" in table.columns else pd.Series(pd.NA, index=table.index, dtype="string")
    )
    origin = table["figure_origin"].fillna("")
    own_card = HF + repo
    single_repo = repo.notna() & ~repo.fillna("").str.contains(" ")
    named = pd.Series([names_model(m, u) for m, u in zip(table["model"], link)], index=table.index, dtype=bool)
    named_by_repo = pd.Series(
        [
            isinstance(r, str) and isinstance(u, str) and model_key(r.rsplit("/", 1)[-1]) in model_key(u)
            for r, u in zip(repo, link)
        ],
        index=table.index,
        dtype=bool,
    )
    sibling = (origin == "own") & single_repo & link.fillna("").str.startswith(HF) & ~named & ~named_by_repo
    why = pd.Series("", index=table.index, dtype=object)
    why[sibling] = [READ_ON_SIBLING.format(url=u) for u in link[sibling]]
    family = (origin == "own") & ~sibling & ~named & ~named_by_repo
    why[family] = FAMILY_PAGE
    return link.where(~sibling, own_card).astype(object), why


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
    link, why = cited_pages(table)
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
            "source": "developer-reported ("
            + origin
            + (", " + by).where(by != "", "")
            + "), "
            + kind_of_page
            + ("; " + why).where(why != "", ""),
            "source_link": link,
            "kind": "developer-reported",
        }
    )
