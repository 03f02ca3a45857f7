"""Read Epoch AI's "Data on AI Benchmarking" download (zip or folder) into tidy score rows, and write/load the shipped table.

Epoch's data is CC BY 4.0: every table written here carries the attribution line, and every row keeps its own source link.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

import pandas as pd

from harness.errors import MeekError, UsageError
from harness.files import write_file
from harness.frontier.columns import (
    UNKNOWN_SETTING,
    as_dates,
    as_percent,
    bool_or_none,
    canonical_benchmark,
    first_column,
    require_columns,
    shots_label,
    source_name_from_link,
)
from harness.frontier.epoch_models import ModelFacts
from harness.frontier.reported import reported_rows
from harness.frontier.user_rows import MAX_PARAMS_B, REQUIRED, text_problem, user_row_problems
from harness.home import PACKAGE_DATA, meek_home
from harness.results.reading import read_text
from harness.text import one_line

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
    "kind",
]
# What a score is: Epoch's own run of the benchmark; a figure the developer published (its card or report, or collected
# by Epoch from one: the Hub's *_external files, simple-evals); measured here by `meek eval`; a row a user added.
KINDS = ("epoch-run", "developer-reported", "measured-here", "user")
DEFAULT_KINDS = ("epoch-run", "developer-reported")  # Epoch's mix in its consumer-GPU analysis: the Hub + developers' figures
DASHBOARD_URL = "https://epoch.ai/data/ai-benchmarking-dashboard"
MODELS_URL = "https://epoch.ai/data/ai-models"
SHIPPED_TABLE = PACKAGE_DATA / "frontier.csv"
EPOCH_RUN_SETTING = "Epoch AI run"

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
CORE_BENCHMARKS = (
    "mmlu",
    "gpqa_diamond",
    "hellaswag",
    "arc_challenge",
    "gsm8k",
    "math_level_5",
    "winogrande",
    "piqa",
    # developer-reported only (developer_reported_scores.csv): kept apart from their neighbours
    "mmlu_pro",
    "gpqa",
    "livecodebench",
    "aime_2024",
    "aime_2025",
    "ifeval",
    "math",
    "math_500",
)
_CAPABILITIES_STEM = "epoch_capabilities_index"
_CURATED_REQUIRED = ("model", "release_date", "benchmark", "score")
# A user's rows (`meek frontier add`) and the table they are kept in (each row checked in harness/frontier/user_rows.py)
USER_CSV_LIMIT = 2 * 2**20  # a CSV of scores to add: tens of thousands of rows
USER_TABLE_LIMIT = 20 * 2**20
_TEXT_COLUMNS = ("model", "organization", "benchmark", "setting", "source", "source_link")


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
    facts = ModelFacts()
    for path in map(Path, paths):
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        if path.is_file() and path.suffix.lower() == ".csv":
            table = _read_csv(path.read_bytes(), path.name)
            if "figure_origin" in table.columns:  # developer_reported_scores.csv: each figure with where it was printed
                score_frames.append(reported_rows(table, path.name))
            else:
                score_frames.append(_curated_rows(table, path.name))
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


def _read_download(path: Path, facts: ModelFacts) -> list[pd.DataFrame]:
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
            members.setdefault(csv.stem, functools.partial(_read_csv_file, csv))
        return members
    if not zipfile.is_zipfile(path):
        raise MeekError(f"{path}: not a zip file, a folder or a .csv")
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")]
        contents = {n: archive.read(n) for n in sorted(names, key=lambda n: (n.count("/"), n))}
    for name, data in contents.items():
        members.setdefault(Path(name).stem, functools.partial(_read_csv, data, name))
    return members


def _read_csv_file(path: Path) -> pd.DataFrame:
    """A CSV file's cells, read as `_read_csv` reads them."""
    return _read_csv(path.read_bytes(), path.name)


def _read_csv(data: bytes, name: str) -> pd.DataFrame:
    """All cells as stripped strings, blank cells as missing."""
    try:
        table = pd.read_csv(io.BytesIO(data), dtype=str, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MeekError(one_line(f"{name}: not a readable CSV ({exc})").strip()) from None
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda col: col.str.strip().mask(lambda s: s == ""))


def _benchmark_rows(table: pd.DataFrame, stem: str, label: str) -> pd.DataFrame:
    """Tidy rows from one Epoch benchmark CSV; scores in percent."""
    benchmark, candidates = BENCHMARK_FILES[stem]
    name = f"{stem}.csv"
    score_column = next((c for c in candidates if c in table.columns), None)
    if score_column is None:
        raise MeekError(f"{name}: missing score column {' or '.join(candidates)} (found: {', '.join(table.columns)})")
    require_columns(table, name, ["Release date"])
    if "Model version" not in table.columns and "Name" not in table.columns:
        raise MeekError(f"{name}: missing column Model version (or Name)")
    model_version, display_name = first_column(table, "Model version"), first_column(table, "Name")
    if "Shots" in table.columns:
        setting = table["Shots"].map(shots_label)
    else:
        setting = pd.Series(EPOCH_RUN_SETTING if "Logs" in table.columns else UNKNOWN_SETTING, index=table.index)
    original, link = first_column(table, "Source"), first_column(table, "Source link", "Source Link")
    return pd.DataFrame(
        {
            "model": model_version.fillna(display_name),
            "name": display_name,
            "organization": first_column(table, "Organization"),
            "release_date": as_dates(table["Release date"]),
            "open_weights": None,
            "params_total_b": float("nan"),
            "params_active_b": float("nan"),
            "benchmark": benchmark,
            "setting": setting,
            "score": as_percent(table[score_column], name),
            "source": original.map(lambda s: f"{label}; {s}" if isinstance(s, str) else label),
            "source_link": link.fillna(DASHBOARD_URL),
            "kind": setting.map(kind_of_setting),
        }
    )


def kind_of_setting(setting: object) -> str:
    """The kind of an Epoch row: its own run (setting 'Epoch AI run'), else a developer's figure that Epoch collected."""
    return "epoch-run" if setting == EPOCH_RUN_SETTING else "developer-reported"


def _curated_rows(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows from a curated CSV (model, release_date, benchmark, score, setting, source_url, ...), each citing its own source."""
    require_columns(table, name, _CURATED_REQUIRED)
    link = first_column(table, "source_link", "source_url")
    source = first_column(table, "source").fillna(link.map(source_name_from_link))
    return pd.DataFrame(
        {
            "model": table["model"],
            "name": None,
            "organization": first_column(table, "organization"),
            "release_date": as_dates(table["release_date"]),
            "open_weights": first_column(table, "open_weights").map(bool_or_none),
            "params_total_b": pd.to_numeric(first_column(table, "params_total_b", "params_b"), errors="coerce").astype(float),
            "params_active_b": pd.to_numeric(first_column(table, "params_active_b"), errors="coerce").astype(float),
            "benchmark": table["benchmark"].map(canonical_benchmark),
            "setting": first_column(table, "setting").fillna(UNKNOWN_SETTING),
            "score": as_percent(table["score"], name),
            "source": source.fillna(name),
            "source_link": link,
            "kind": first_column(table, "kind").where(lambda k: k.isin(KINDS)).fillna("developer-reported"),
        }
    )


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


def write_table(
    frame: pd.DataFrame, path: Path, retrieved: str | None = None, notes: Iterable[str] = (), attribution: bool = True
) -> Path:
    """Write tidy rows as CSV under a '# Source: Epoch AI ...' attribution line (plus `notes`, each as a '# ' line)."""
    text = table_text(frame, retrieved, notes, attribution)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return path


def table_text(frame: pd.DataFrame, retrieved: str | None = None, notes: Iterable[str] = (), attribution: bool = True) -> str:
    """Tidy rows as the CSV text `write_table` writes."""
    require_columns(frame, "frame", COLUMNS)
    out = frame[COLUMNS].copy()
    out["release_date"] = pd.to_datetime(out["release_date"]).dt.strftime("%Y-%m-%d")
    out["score"] = out["score"].astype(float).round(2)
    for column in ("params_total_b", "params_active_b"):
        out[column] = out[column].astype(float).round(3)
    out["open_weights"] = out["open_weights"].astype("boolean")
    header = [attribution_line(retrieved or date.today().isoformat())] if attribution else []
    header += [f"# {note}" for note in notes]
    return "\n".join(header) + "\n" + out.to_csv(index=False, lineterminator="\n")


def frontier_table_path() -> Path:
    """$MEEK_HOME/frontier.csv when the user refreshed it, else the table shipped with the harness."""
    refreshed = meek_home() / "frontier.csv"
    return refreshed if refreshed.is_file() else SHIPPED_TABLE


def user_table_path() -> Path:
    """Scores a user added with `meek frontier add` (kind `user`), read beside the frontier table."""
    return meek_home() / "frontier-user.csv"


def load_frontier(path: Path | None = None) -> pd.DataFrame:
    """The frontier table (COLUMNS) with parsed dates, nullable open-weights flags and float parameters/scores; with no
    path given, the rows a user added (`meek frontier add`) come with it (rows it would refuse today left out, with a
    warning)."""
    if path is not None:
        return _load_table(Path(path))
    table = _load_table(frontier_table_path())
    user = _load_user_table()
    return pd.concat([table, user], ignore_index=True) if len(user) else table


def add_user_rows(csv_path: Path) -> tuple[pd.DataFrame, int]:
    """Read a user's CSV of scores (model, release_date, benchmark, score; optional open_weights, params_total_b,
    params_active_b, setting, source, source_link) as rows of kind `user`, and add them to the user table; (the rows
    added, rows in the table). Any row it cannot take refuses the whole file, in one line naming the row: a date in the
    future, a parameter count that is not positive, a score outside 0-100, a control character or markup in a cell."""
    try:
        cells = _user_cells(read_text(csv_path, USER_CSV_LIMIT), str(csv_path), comments=0)
    except UsageError:
        raise
    except MeekError as error:  # not a regular file, too large, not UTF-8, not a CSV: the argument is refused
        raise UsageError(str(error)) from None
    if cells.empty:
        raise UsageError(f"{csv_path}: no rows below the header")
    problems = user_row_problems(cells)
    if problems:
        lines = ", ".join(str(line) for line, _ in problems[:10]) + (", ..." if len(problems) > 10 else "")
        line, reason = problems[0]
        raise UsageError(f"{csv_path}: line(s) {lines} lack what a score row needs (line {line}: {reason}); nothing was added")
    rows = _curated_rows(cells, csv_path.name).assign(kind="user")
    rows = rows.assign(source=rows["source"].where(rows["source"] != csv_path.name, f"added by the user from {csv_path.name}"))
    existing = _load_user_table()
    table = _finish(pd.concat([existing, rows[COLUMNS]], ignore_index=True) if len(existing) else rows[COLUMNS])
    note = "Rows added with `meek frontier add` (kind user); each keeps its source."
    write_file(user_table_path(), table_text(table, notes=[note], attribution=False))  # atomic; a planted link refused
    return rows, len(table)


def _user_cells(text: str, name: str, comments: int) -> pd.DataFrame:
    """The string cells of a user's CSV (leading '# ' lines skipped), with `line` holding each row's line number; the
    required columns present, every column name plain text."""
    lines = text.splitlines(keepends=True)
    skipped = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines)) if comments else 0
    table = _read_csv("".join(lines[skipped:]).encode("utf-8"), name)
    bad_names = [c for c in table.columns if text_problem(c)]
    if bad_names:
        raise UsageError(f"{name}: a column name has {text_problem(bad_names[0])}")
    if missing := [c for c in REQUIRED if c not in table.columns]:
        found = ", ".join(str(c)[:40] for c in table.columns)
        raise UsageError(f"{name}: missing column(s) {', '.join(missing)} (found: {found})")
    return table.assign(line=range(skipped + 2, skipped + 2 + len(table)))


def _load_user_table() -> pd.DataFrame:
    """The rows a user added, as `_load_table` gives them; rows that `add_user_rows` would refuse today (written by an
    older version) are left out with one warning line, and an unreadable table is left out whole, also with one."""
    path = user_table_path()
    if not (path.exists() or path.is_symlink()):
        return pd.DataFrame(columns=COLUMNS)
    try:
        cells = _user_cells(read_text(path, USER_TABLE_LIMIT), str(path), comments=1)
    except MeekError as error:
        log.warning("warning: %s; the rows added with meek frontier add are left out", error)
        return pd.DataFrame(columns=COLUMNS)
    problems = user_row_problems(cells)
    if problems:
        line, reason = problems[0]
        log.warning(
            "warning: %s: left out %d row(s) that meek frontier add refuses (line %d: %s)", path, len(problems), line, reason
        )
        cells = cells[~cells["line"].isin({line for line, _ in problems})]
    cells = cells.reindex(columns=COLUMNS)  # a column the table lacks (a hand-edited one) is blank
    return _typed(cells, str(path)).assign(kind="user")


def _load_table(path: Path) -> pd.DataFrame:
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
        raise MeekError(one_line(f"{path}: not a readable frontier table ({exc})").strip()) from None
    return _typed(table, str(path))


def _typed(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """A table's cells as COLUMNS: dates parsed, open-weights flags nullable, parameters and scores floats (a parameter
    count that is not positive, or a score outside 0-100, read as unknown), text on one line."""
    require_columns(table, name, [c for c in COLUMNS if c != "kind"])
    table = table.copy()
    if "kind" not in table.columns:  # a table written before kinds: Epoch's runs say so in their setting
        table["kind"] = table["setting"].map(kind_of_setting)
    table["release_date"] = pd.to_datetime(table["release_date"], errors="coerce", format="ISO8601")
    table["open_weights"] = table["open_weights"].map(bool_or_none).astype("boolean")
    for column in ("params_total_b", "params_active_b", "score"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    for column in ("params_total_b", "params_active_b"):
        table[column] = table[column].where((table[column] > 0) & (table[column] <= MAX_PARAMS_B))
    table["score"] = table["score"].where(table["score"].between(0, 100))
    for column in _TEXT_COLUMNS:
        table[column] = table[column].map(lambda v: one_line(v) if isinstance(v, str) else v)
    return table[COLUMNS]
