"""Read Epoch AI's "Data on AI Benchmarking" download (zip or folder) into tidy score rows, and write/load the shipped table.

Epoch's data is CC BY 4.0: every table written here carries the attribution line, and every row keeps its own source link.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

import pandas as pd

from harness.errors import MeekError
from harness.home import meek_home

log = logging.getLogger(__name__)

COLUMNS = [
    "model",
    "organization",
    "release_date",
    "open_weights",
    "params_total_b",
    "params_active_b",
    "benchmark",
    "setting",
    "score",
    "source",
    "source_link",
]
DASHBOARD_URL = "https://epoch.ai/data/ai-benchmarking-dashboard"
MODELS_URL = "https://epoch.ai/data/ai-models"
SHIPPED_TABLE = Path(__file__).parent.parent / "data" / "frontier.csv"
EPOCH_RUN_SETTING = "Epoch AI run"
UNKNOWN_SETTING = "not stated"

# Epoch file stem -> (our canonical benchmark name, accepted score columns in order of preference). Scores are accuracies.
BENCHMARK_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "mmlu_external": ("mmlu", ("EM", "Score", "Accuracy")),
    "gpqa_diamond": ("gpqa_diamond", ("mean_score", "Best score (across scorers)")),
    "hella_swag_external": ("hellaswag", ("Overall accuracy", "Accuracy", "Score")),
    "arc_ai2_external": ("arc_challenge", ("Challenge score",)),
    "gsm8k_external": ("gsm8k", ("EM", "Score", "Accuracy")),
    "math_level_5": ("math_level_5", ("mean_score", "Best score (across scorers)")),
    "wino_grande_external": ("winogrande", ("Accuracy", "Score")),
    "piqa_external": ("piqa", ("Score", "Accuracy")),
    "bbh_external": ("bbh", ("Average", "Score")),
    "trivia_qa_external": ("triviaqa", ("EM", "Score")),
    "lambada_external": ("lambada", ("Score", "Accuracy")),
    "open_book_qa_external": ("openbookqa", ("Accuracy", "Score")),
    "bool_q_external": ("boolq", ("Score", "Accuracy")),
    "otis_mock_aime_2024_2025": ("otis_mock_aime", ("mean_score",)),
    "simpleqa_verified": ("simpleqa_verified", ("mean_score",)),
    "hle_external": ("hle", ("Accuracy",)),
}
CORE_BENCHMARKS = ("mmlu", "gpqa_diamond", "hellaswag", "arc_challenge", "gsm8k", "math_level_5", "winogrande", "piqa")
_BENCHMARK_ALIASES = {"hella_swag": "hellaswag", "wino_grande": "winogrande", "trivia_qa": "triviaqa", "arc_c": "arc_challenge"}
_CAPABILITIES_STEM = "epoch_capabilities_index"
_CURATED_REQUIRED = ("model", "release_date", "benchmark", "score")


def canonical_benchmark(name: str) -> str:
    """Our benchmark name for a label such as 'GPQA Diamond' or 'ARC-Challenge' (lowercase, underscores)."""
    key = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    return _BENCHMARK_ALIASES.get(key, key)


def snapshot_label(path: Path) -> str | None:
    """The snapshot date in a download's name ('epoch_benchmarking_hub_2026-03' -> '2026-03'), if it has one."""
    found = re.search(r"(20\d\d-\d\d(?:-\d\d)?)", Path(path).name)
    return found.group(1) if found else None


def import_epoch(paths: Iterable[Path], benchmarks: Iterable[str] | None = None) -> pd.DataFrame:
    """Tidy rows (COLUMNS) from Epoch downloads: Benchmarking Hub zips/folders, "Data on AI Models" folders, curated CSVs.

    Model facts (open weights, parameters, missing dates) come from the capabilities index and the models data when given;
    parameter counts not found there are read from the model's name ('Qwen3-30B-A3B' -> 30 total, 3 active).
    Duplicate rows keep the best score per model/benchmark/setting, with that score's source.
    """
    score_frames: list[pd.DataFrame] = []
    facts = _ModelFacts()
    for path in map(Path, paths):
        if not path.exists():
            raise MeekError(f"{path}: no such file or folder")
        if path.is_file() and path.suffix.lower() == ".csv":
            score_frames.append(_curated_rows(_read_csv(path.read_bytes(), path.name), path.name))
            continue
        found = _read_download(path, facts)
        score_frames.extend(found)
    if not score_frames:
        raise MeekError("no benchmark scores found: pass an Epoch AI Benchmarking Hub download (zip or folder)")
    rows = pd.concat(score_frames, ignore_index=True)
    if benchmarks is not None:
        wanted = {canonical_benchmark(b) for b in benchmarks}
        rows = rows[rows["benchmark"].isin(wanted)]
    rows = facts.fill(rows)
    return _finish(rows)


def _read_download(path: Path, facts: _ModelFacts) -> list[pd.DataFrame]:
    """Score frames from one zip or folder; model facts found there go into `facts`."""
    label = "Epoch AI Benchmarking Hub" + (f" {snapshot_label(path)}" if snapshot_label(path) else "")
    tables = _csv_members(path)
    frames: list[pd.DataFrame] = []
    for stem, read in tables.items():
        if stem in BENCHMARK_FILES:
            frames.append(_benchmark_rows(read(), stem, label))
        elif stem == _CAPABILITIES_STEM:
            facts.add_capabilities(read(), f"{path.name}/{stem}.csv")
        else:
            table = read()
            if {"Model", "Parameters"} <= set(table.columns):
                facts.add_ai_models(table, f"{path.name}/{stem}.csv")
    if not frames and facts.empty:
        raise MeekError(f"{path}: no Epoch AI benchmark or model CSVs found (expected e.g. mmlu_external.csv, gpqa_diamond.csv)")
    return frames


def _csv_members(path: Path) -> dict[str, Callable[[], pd.DataFrame]]:
    """Readers for the CSVs in a folder or zip, by file stem; nested folders (a zip's top-level folder) are searched too."""
    members: dict[str, Callable[[], pd.DataFrame]] = {}
    if path.is_dir():
        for csv in sorted(path.rglob("*.csv"), key=lambda p: (len(p.parts), str(p))):
            members.setdefault(csv.stem, lambda csv=csv: _read_csv(csv.read_bytes(), csv.name))
        return members
    if not zipfile.is_zipfile(path):
        raise MeekError(f"{path}: not a zip file, a folder or a .csv")
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")]
        contents = {n: archive.read(n) for n in sorted(names, key=lambda n: (n.count("/"), n))}
    for name, data in contents.items():
        members.setdefault(Path(name).stem, lambda data=data, name=name: _read_csv(data, name))
    return members


def _read_csv(data: bytes, name: str) -> pd.DataFrame:
    """All cells as stripped strings, blank cells as missing."""
    try:
        table = pd.read_csv(io.BytesIO(data), dtype=str, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MeekError(f"{name}: not a readable CSV ({exc})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda col: col.str.strip().mask(lambda s: s == ""))


def _require(table: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MeekError(f"{name}: missing column(s) {', '.join(missing)} (found: {', '.join(table.columns)})")


def _benchmark_rows(table: pd.DataFrame, stem: str, label: str) -> pd.DataFrame:
    """Tidy rows from one Epoch benchmark CSV; scores in percent."""
    benchmark, candidates = BENCHMARK_FILES[stem]
    name = f"{stem}.csv"
    score_column = next((c for c in candidates if c in table.columns), None)
    if score_column is None:
        raise MeekError(f"{name}: missing score column {' or '.join(candidates)} (found: {', '.join(table.columns)})")
    _require(table, name, ["Release date"])
    if "Model version" not in table.columns and "Name" not in table.columns:
        raise MeekError(f"{name}: missing column Model version (or Name)")
    model_version, display_name = _column(table, "Model version"), _column(table, "Name")
    if "Shots" in table.columns:
        setting = table["Shots"].map(shots_label)
    else:
        setting = pd.Series(EPOCH_RUN_SETTING if "Logs" in table.columns else UNKNOWN_SETTING, index=table.index)
    original, link = _column(table, "Source"), _column(table, "Source link", "Source Link")
    return pd.DataFrame(
        {
            "model": model_version.fillna(display_name),
            "name": display_name,
            "organization": _column(table, "Organization"),
            "release_date": _dates(table["Release date"]),
            "open_weights": None,
            "params_total_b": float("nan"),
            "params_active_b": float("nan"),
            "benchmark": benchmark,
            "setting": setting,
            "score": as_percent(table[score_column], name),
            "source": original.map(lambda s: f"{label}; {s}" if isinstance(s, str) else label),
            "source_link": link.fillna(DASHBOARD_URL),
        }
    )


def _curated_rows(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows from a curated CSV (model, release_date, benchmark, score, setting, source_url, ...), each citing its own source."""
    _require(table, name, _CURATED_REQUIRED)
    link = _column(table, "source_link", "source_url")
    source = _column(table, "source").fillna(link.map(source_name_from_link))
    return pd.DataFrame(
        {
            "model": table["model"],
            "name": None,
            "organization": _column(table, "organization"),
            "release_date": _dates(table["release_date"]),
            "open_weights": _column(table, "open_weights").map(_bool_or_none),
            "params_total_b": pd.to_numeric(_column(table, "params_total_b", "params_b"), errors="coerce").astype(float),
            "params_active_b": pd.to_numeric(_column(table, "params_active_b"), errors="coerce").astype(float),
            "benchmark": table["benchmark"].map(canonical_benchmark),
            "setting": _column(table, "setting").fillna(UNKNOWN_SETTING),
            "score": as_percent(table["score"], name),
            "source": source.fillna(name),
            "source_link": link,
        }
    )


def _column(table: pd.DataFrame, *names: str) -> pd.Series:
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


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce", format="ISO8601").dt.normalize()


def _bool_or_none(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text)


def open_weights_from_accessibility(accessibility: object) -> bool | None:
    """Epoch's 'Model accessibility' -> True for 'Open weights (...)', False for API/hosted/unreleased, None when blank."""
    if not isinstance(accessibility, str) or not accessibility.strip():
        return None
    return accessibility.strip().lower().startswith("open weights")


# ---- parameter counts read from names --------------------------------------------------------------------------------
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


class _ModelFacts:
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
        _require(table, name, ["Model version"])
        dates = _dates(_column(table, "Release date"))
        for i, row in table.iterrows():
            names = [n for n in (row.get("Model version"), row.get("Model name"), row.get("Display name")) if isinstance(n, str)]
            self._index(self.capabilities, names, self._fact(row, dates[i], None))
            version_key = exact_key(row.get("Model version"))
            if version_key:  # aliases point from a version to its names only: a shared name like 'GPT-3.5 Turbo' names several
                self.aliases.setdefault(version_key, set()).update(names)

    def add_ai_models(self, table: pd.DataFrame, name: str) -> None:
        _require(table, name, ["Model", "Parameters"])
        dates = _dates(_column(table, "Publication date"))
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
            for key in {key_of(n) for n in names} - {None}:
                known = store[kind].get(key)
                if known is None:
                    store[kind][key] = dict(fact)
                    continue
                for field in _ModelFacts.FIELDS:
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


def _finish(rows: pd.DataFrame) -> pd.DataFrame:
    """Drop undated or unscored rows, keep the best score per model/benchmark/setting, order by benchmark and date."""
    undated = rows["release_date"].isna() | rows["score"].isna() | rows["model"].isna()
    if undated.any():
        log.info("dropped %d row(s) without a model name, release date or score", int(undated.sum()))
    rows = rows[~undated]
    rows = rows.sort_values(["score", "source"], ascending=[False, True], kind="stable")
    rows = rows.drop_duplicates(["model", "benchmark", "setting"], keep="first")
    rows = rows.sort_values(["benchmark", "release_date", "model", "setting"], kind="stable").reset_index(drop=True)
    return rows[COLUMNS]


# ---- the shipped table -----------------------------------------------------------------------------------------------
def attribution_line(retrieved: str) -> str:
    """The CC BY 4.0 attribution that heads every table written from Epoch data."""
    return f'# Source: Epoch AI, "Data on AI Benchmarking" (CC BY 4.0), {DASHBOARD_URL}; retrieved {retrieved}'


def write_table(frame: pd.DataFrame, path: Path, retrieved: str | None = None, notes: Iterable[str] = ()) -> Path:
    """Write tidy rows as CSV under a '# Source: Epoch AI ...' attribution line (plus `notes`, each as a '# ' line)."""
    _require(frame, "frame", COLUMNS)
    out = frame[COLUMNS].copy()
    out["release_date"] = pd.to_datetime(out["release_date"]).dt.strftime("%Y-%m-%d")
    out["score"] = out["score"].astype(float).round(2)
    for column in ("params_total_b", "params_active_b"):
        out[column] = out[column].astype(float).round(3)
    out["open_weights"] = out["open_weights"].astype("boolean")
    header = [attribution_line(retrieved or date.today().isoformat()), *(f"# {note}" for note in notes)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("\n".join(header) + "\n")
        out.to_csv(handle, index=False, lineterminator="\n")
    return path


def frontier_table_path() -> Path:
    """$MEEK_HOME/frontier.csv when the user refreshed it, else the table shipped with the harness."""
    refreshed = meek_home() / "frontier.csv"
    return refreshed if refreshed.is_file() else SHIPPED_TABLE


def load_frontier(path: Path | None = None) -> pd.DataFrame:
    """The frontier table (COLUMNS) with parsed dates, nullable open-weights flags and float parameters/scores."""
    path = Path(path) if path else frontier_table_path()
    if not path.is_file():
        raise MeekError(f"{path}: no frontier table; rebuild it with `python -m harness.frontier.build_table <Epoch download>`")
    with path.open(encoding="utf-8") as handle:
        comment_lines = 0
        for line in handle:
            if not line.startswith("#"):
                break
            comment_lines += 1
    try:
        # Not comment="#": links such as https://crfm.stanford.edu/helm/lite/latest/#/leaderboard contain '#'.
        table = pd.read_csv(path, skiprows=comment_lines, dtype={"open_weights": "string"})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MeekError(f"{path}: not a readable frontier table ({exc})") from exc
    _require(table, str(path), COLUMNS)
    table["release_date"] = pd.to_datetime(table["release_date"], errors="coerce", format="ISO8601")
    table["open_weights"] = table["open_weights"].map(_bool_or_none).astype("boolean")
    for column in ("params_total_b", "params_active_b", "score"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table[COLUMNS]
