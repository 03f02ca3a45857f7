"""Epoch's model data: parameter counts read from names, name keys for matching, and the facts (open weights, parameters,
release dates, organisations) gathered from its capabilities index and AI-models tables."""

from __future__ import annotations

import re

import pandas as pd

from harness.frontier.columns import as_dates, first_column, open_weights_from_accessibility, require_columns

_MOE_SIZE = re.compile(r"(?<![A-Za-z0-9.])(\d+)\s*[xX]\s*(\d+(?:\.\d+)?)\s*[Bb](?![A-Za-z0-9])")
_SIZE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)\s*([BbMm])(?![A-Za-z0-9])")
_ACTIVE = re.compile(r"(?<![A-Za-z0-9])[Aa](\d+(?:\.\d+)?)[Bb](?![A-Za-z0-9])")
_ACTIVE_WITH_EXPERTS = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)[Bb]-\d+E(?![A-Za-z0-9])")


def params_from_name(name: object) -> tuple[float | None, float | None]:
    """(total, active) billions from a model name: '7B', '135M', '8x7B' (experts times size, an upper bound), 'A3B' (active).

    'Llama-4-Scout-17B-16E' names 17B active parameters and 16 experts: the total is not in the name.
    """
    if not isinstance(name, str):
        return None, None
    name = re.sub(r"(?<=\d)_(?=\d)", ".", name)  # 'Qwen-1_8B' is 1.8B
    experts = _ACTIVE_WITH_EXPERTS.search(name)
    if experts:
        return None, float(experts.group(1))
    active = _ACTIVE.search(name)
    active_b = float(active.group(1)) if active else None
    moe = _MOE_SIZE.search(name)
    if moe:
        return int(moe.group(1)) * float(moe.group(2)), active_b
    size = _SIZE.search(name)
    if not size:
        return None, active_b
    total = float(size.group(1)) / (1000 if size.group(2) in "Mm" else 1)
    return (total if 0.01 <= total <= 5000 else None), active_b


# ---- model facts: open weights, parameters, dates --------------------------------------------------------------------
_RUN_SUFFIX = re.compile(r"_(?:high|medium|low|minimal|xhigh|none|\d+k)$", re.IGNORECASE)
_LOOSE_DROP = {"instruct", "chat", "base", "it", "hf", "preview"}


def _base_name(name: str) -> str:
    """Lowercase name without provider prefix ('chutes/') or reasoning-effort suffix ('_high', '_32K'); '+' spelled 'plus'."""
    return _RUN_SUFFIX.sub("", name.strip().split("/")[-1]).lower().replace("+", "plus")


def exact_key(name: object) -> str | None:
    """A model name without provider prefix, effort suffix, case and punctuation (dots kept): 'chutes/Qwen3-8B_high' -> 'qwen38b'."""
    if not isinstance(name, str) or not name.strip():
        return None
    return re.sub(r"[^a-z0-9.]", "", _base_name(name)) or None


def loose_key(name: object) -> str | None:
    """exact_key without (parentheses), point versions (v0.1) and words that name a variant of the same weights (instruct, chat)."""
    if not isinstance(name, str) or not name.strip():
        return None
    text = re.sub(r"\([^)]*\)", " ", _base_name(name))
    tokens = [t for t in re.split(r"[^a-z0-9.]+", text) if t and t not in _LOOSE_DROP and not re.fullmatch(r"v\d+\.\d+", t)]
    return "".join(tokens) or None


_SIZE_TOKEN = re.compile(r"(?:\d+x)?\d+(?:\.\d+)?[bm]|a\d+(?:\.\d+)?b|\d+e")


def family_key(name: object) -> str | None:
    """loose_key without size words ('7b', 'a3b', '8x7b'): 'Qwen2.5-Coder-14B' -> 'qwen2.5coder'. Used for open weights only."""
    if not isinstance(name, str) or not name.strip():
        return None
    text = re.sub(r"\([^)]*\)", " ", _base_name(name).replace("_", "."))
    tokens = re.split(r"[^a-z0-9.]+", text)
    kept = [
        t for t in tokens if t and t not in _LOOSE_DROP and not re.fullmatch(r"v\d+\.\d+", t) and not _SIZE_TOKEN.fullmatch(t)
    ]
    return "".join(kept) or None


_KEYS = {"exact": exact_key, "loose": loose_key, "family": family_key}


class ModelFacts:
    """Open weights, parameter counts, release dates and organisations by model name, from Epoch's index and models data."""

    FIELDS = ("open_weights", "params_total_b", "release_date", "organization")

    def __init__(self) -> None:
        self.capabilities: dict[str, dict[str, dict]] = {kind: {} for kind in _KEYS}
        self.models: dict[str, dict[str, dict]] = {kind: {} for kind in _KEYS}
        self.aliases: dict[str, set[str]] = {}  # exact key -> the other names the capabilities index gives that model

    @property
    def empty(self) -> bool:
        return not self.capabilities["exact"] and not self.models["exact"]

    def add_capabilities(self, table: pd.DataFrame, name: str) -> None:
        require_columns(table, name, ["Model version"])
        dates = as_dates(first_column(table, "Release date"))
        for i, row in table.iterrows():
            names = [n for n in (row.get("Model version"), row.get("Model name"), row.get("Display name")) if isinstance(n, str)]
            self._index(self.capabilities, names, self._fact(row, dates[i], None))
            version_key = exact_key(row.get("Model version"))
            if version_key:  # aliases point from a version to its names only: a shared name like 'GPT-3.5 Turbo' names several
                self.aliases.setdefault(version_key, set()).update(names)

    def add_ai_models(self, table: pd.DataFrame, name: str) -> None:
        require_columns(table, name, ["Model", "Parameters"])
        dates = as_dates(first_column(table, "Publication date"))
        params = pd.to_numeric(table["Parameters"], errors="coerce") / 1e9
        for i, row in table.iterrows():
            versions = row.get("Model versions (benchmarks)")
            names = [row.get("Model"), *(versions.split(",") if isinstance(versions, str) else [])]
            total = float(params[i]) if pd.notna(params[i]) and params[i] > 0 else None
            self._index(self.models, names, self._fact(row, dates[i], total))

    @staticmethod
    def _fact(row: pd.Series, release_date: object, params_total_b: float | None) -> dict:
        organization = row.get("Organization")
        return {
            "open_weights": open_weights_from_accessibility(row.get("Model accessibility")),
            "params_total_b": params_total_b,
            "release_date": release_date if pd.notna(release_date) else None,
            "organization": organization if isinstance(organization, str) else None,
        }

    @staticmethod
    def _index(store: dict[str, dict[str, dict]], names: list, fact: dict) -> None:
        """File a fact under each name's keys; a field that two facts under one key disagree on becomes ambiguous."""
        for kind, key_of in _KEYS.items():
            for key in {k for n in names if (k := key_of(n)) is not None}:
                known = store[kind].get(key)
                if known is None:
                    store[kind][key] = dict(fact)
                    continue
                for field in ModelFacts.FIELDS:
                    if known[field] is None:
                        known[field] = fact[field]
                    elif fact[field] is not None and known[field] is not _AMBIGUOUS and known[field] != fact[field]:
                        known[field] = _AMBIGUOUS

    def names_for(self, *names: object) -> list[str]:
        """The given names plus the other names the capabilities index lists for them ('mistral-small-2501' -> 'Mistral Small 3')."""
        found = [n for n in names if isinstance(n, str) and n.strip()]
        for n in list(found):
            found.extend(sorted(self.aliases.get(exact_key(n) or "", set()) - set(found)))
        return found

    def lookup(self, names: list[str], field: str, kind: str, stores: tuple[str, ...] = ("capabilities", "models")) -> object:
        """The first known, unambiguous value of `field` for any of `names` under `kind` of key, searching `stores` in order."""
        key_of = _KEYS[kind]
        for store in stores:
            for n in names:
                fact = getattr(self, store)[kind].get(key_of(n) or "")
                value = fact.get(field) if fact else None
                if value is not None and value is not _AMBIGUOUS:
                    return value
        return None

    def fill(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Fill open weights, parameters, missing release dates and organisations; rows keep the values they already had.

        Parameters: the models data by name, then by loose name, then the size written in the name ('7B', 'A3B').
        """
        filled: dict[str, list] = {
            f: [] for f in ("open_weights", "params_total_b", "params_active_b", "release_date", "organization")
        }
        for row in rows.itertuples(index=False):
            names = self.names_for(row.model, row.name)
            parsed_total, parsed_active = params_from_name(row.model)
            if parsed_total is None and parsed_active is None:
                parsed_total, parsed_active = params_from_name(row.name)
            models_only = ("models",)
            filled["params_total_b"].append(
                _first(
                    _known(row.params_total_b),
                    self.lookup(names, "params_total_b", "exact", models_only),
                    self.lookup(names, "params_total_b", "loose", models_only),
                    parsed_total,
                )
            )
            filled["params_active_b"].append(_first(_known(row.params_active_b), parsed_active))
            filled["open_weights"].append(
                _first(
                    row.open_weights if isinstance(row.open_weights, bool) else None,
                    self.lookup(names, "open_weights", "exact"),
                    self.lookup(names, "open_weights", "loose"),
                    self.lookup(names, "open_weights", "family")
                    or None,  # a sibling size being open says open; closed says nothing
                )
            )
            filled["release_date"].append(_first(_known(row.release_date), self.lookup(names, "release_date", "exact")))
            filled["organization"].append(
                _first(
                    row.organization if isinstance(row.organization, str) else None,
                    self.lookup(names, "organization", "exact"),
                    self.lookup(names, "organization", "loose"),
                )
            )
        result = rows.copy()
        for column in ("params_total_b", "params_active_b"):
            result[column] = pd.to_numeric(pd.Series(filled[column], index=rows.index, dtype=object), errors="coerce").astype(
                float
            )
        result["open_weights"] = pd.array(filled["open_weights"], dtype="boolean")
        result["release_date"] = pd.to_datetime(pd.Series(filled["release_date"], index=rows.index, dtype=object))
        result["organization"] = pd.Series(filled["organization"], index=rows.index, dtype=object)
        return result


def _known(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT else value


_AMBIGUOUS = object()


def _first(*values: object) -> object:
    return next((v for v in values if v is not None), None)
