"""Reading score tables' cells: column lookup, dates, percentages, shot counts, source names, open-weights flags.

Shared by the Epoch importer (harness/frontier/epoch.py) and its model facts (harness/frontier/epoch_models.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import pandas as pd

from harness.errors import MeekError

log = logging.getLogger(__name__)
UNKNOWN_SETTING = "not stated"
_BENCHMARK_ALIASES = {"hella_swag": "hellaswag", "wino_grande": "winogrande", "trivia_qa": "triviaqa", "arc_c": "arc_challenge"}


def canonical_benchmark(name: str) -> str:
    """Our benchmark name for a label such as 'GPQA Diamond' or 'ARC-Challenge' (lowercase, underscores)."""
    key = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    return _BENCHMARK_ALIASES.get(key, key)


def require_columns(table: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MeekError(f"{name}: missing column(s) {', '.join(missing)} (found: {', '.join(table.columns)})")


def first_column(table: pd.DataFrame, *names: str) -> pd.Series:
    """The first of `names` that the table has, else a column of missing values."""
    found = next((n for n in names if n in table.columns), None)
    return table[found] if found else pd.Series(None, index=table.index, dtype=object)


def source_name_from_link(link: object) -> str | None:
    """A short source name for a link: 'openai/simple-evals (GitHub)' or the web site's host."""
    if not isinstance(link, str):
        return None
    github = re.match(r"https?://github\.com/([^/]+/[^/]+)", link)
    if github:
        return f"{github.group(1)} (GitHub)"
    host = re.match(r"https?://([^/]+)", link)
    return host.group(1) if host else link


def shots_label(shots: object) -> str:
    """'5', '5.0' or '5-shot' -> '5-shot'; 'few' -> 'few-shot'; blank -> 'not stated'."""
    if not isinstance(shots, str) or not shots.strip():
        return UNKNOWN_SETTING
    text = shots.strip()
    number = re.fullmatch(r"(\d+)(?:\.0+)?(?:[- ]?shots?)?", text, flags=re.IGNORECASE)
    if number:
        return f"{int(number.group(1))}-shot"
    if text.lower() in ("few", "few-shot"):
        return "few-shot"
    return text


def as_percent(values: pd.Series, name: str) -> pd.Series:
    """Scores as 0-100: a column whose scores all lie within 0-1 is read as fractions. Values outside 0-100 become missing."""
    numbers = pd.to_numeric(values.astype("string").str.rstrip("%"), errors="coerce").astype(float)
    if numbers.notna().any() and numbers.max() <= 1.0:
        numbers = numbers * 100
    bad = numbers.notna() & ((numbers < 0) | (numbers > 100))
    if bad.any():
        log.warning("%s: %d score(s) outside 0-100 dropped", name, int(bad.sum()))
    return numbers.mask(bad)


def as_dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce", format="ISO8601").dt.normalize()


def bool_or_none(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text)


def open_weights_from_accessibility(accessibility: object) -> bool | None:
    """Epoch's 'Model accessibility' -> True for 'Open weights (...)', False for API/hosted/unreleased, None when blank."""
    if not isinstance(accessibility, str) or not accessibility.strip():
        return None
    return accessibility.strip().lower().startswith("open weights")
