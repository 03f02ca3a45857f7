"""Reading the record: a page of results with the total, one stored file, and the Trees compare and advise read.

RecordTree is the whole record as one Tree, built from the stored files by the same row functions as `load_tree`
(harness/record/rows.py) and kept up to date as results arrive (only new files are read again): the site's view.
RecordQueries answers compare and advise without reading every file (ingest keeps what they need: harness/record/
tables.py): compare gets a Tree of only the asked model's rows (results.rows, by the indexed model key), advise a Tree
of one run per machine and canonical cell, with that machine's median (run_groups: the only figure advise's fits read).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from harness.aggregate.tree import RUN_COLUMNS, SCORE_COLUMNS, SERVING_COLUMNS, Tree
from harness.record.ingest import STORED_COLUMNS, rebuild, rows_key
from harness.record.rows import Catalogue, result_rows
from harness.record.tables import result_models, results, run_groups
from harness.results.schema import validate_document

SUMMARY_COLUMNS = ("id", "machine_id", "model", "created_utc", "received_utc", "sender")


@dataclass
class Page:
    total: int
    rows: list[dict]


def page(engine: Engine, limit: int, offset: int) -> Page:
    """Results in the order they were stored, `limit` from `offset`, with how many there are in all."""
    columns = [results.c[name] for name in SUMMARY_COLUMNS]
    with engine.connect() as connection:
        total = connection.execute(sa.select(sa.func.count()).select_from(results)).scalar_one()
        found = connection.execute(sa.select(*columns).order_by(results.c.id).limit(limit).offset(offset)).mappings().all()
    return Page(total, [dict(row) for row in found])


def document(engine: Engine, result_id: int) -> str | None:
    """The stored file's text, exactly as it was received; None when there is no such result."""
    with engine.connect() as connection:
        return connection.execute(sa.select(results.c.document).where(results.c.id == result_id)).scalar()


class RecordTree:
    """The record as a Tree, refreshed when results were added (any process may add them: the database says)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.catalogue = Catalogue()
        self.rows: dict[int, tuple[list[dict], list[dict], list[dict]]] = {}
        self.seen: tuple[int, int | None] = (0, None)  # (count, highest id) when last read: rows are never removed
        self.cached: Tree | None = None
        self.lock = threading.Lock()

    def tree(self) -> Tree:
        with self.lock:
            self._refresh()
            if self.cached is None:
                self.cached = self._build()
            return self.cached

    def _refresh(self) -> None:
        with self.engine.connect() as connection:
            state = connection.execute(sa.select(sa.func.count(), sa.func.max(results.c.id))).one()
            if (state[0], state[1]) == self.seen:
                return
            # ids are not committed in order (two writers), so the new ones are those not read yet, wherever they fall
            new = sorted(set(connection.execute(sa.select(results.c.id)).scalars()) - self.rows.keys())
            for start in range(0, len(new), 500):
                chunk = new[start : start + 500]
                query = sa.select(results.c.id, results.c.document).where(results.c.id.in_(chunk))
                for result_id, text in connection.execute(query):
                    self.rows[result_id] = self._rows(result_id, text)
            self.seen = (state[0], state[1])
            self.cached = None

    def _rows(self, result_id: int, text: str) -> tuple[list[dict], list[dict], list[dict]]:
        result = validate_document(json.loads(text), f"result {result_id}")  # checked on the way in: parsed, not judged
        return result_rows(result, Path(f"record/{result_id}.json"), self.catalogue)

    def _build(self) -> Tree:
        ordered = [self.rows[key] for key in sorted(self.rows)]
        return Tree(
            pd.DataFrame([row for runs, _, _ in ordered for row in runs], columns=RUN_COLUMNS),
            pd.DataFrame([row for _, scores, _ in ordered for row in scores], columns=SCORE_COLUMNS),
            [],
            pd.DataFrame([row for _, _, serving in ordered for row in serving], columns=SERVING_COLUMNS),
        )


def _stored_rows(result_id: int, text: str) -> dict[str, list[list]]:
    """A result's stored rows, each with its file name (record/<id>.json) first and its date a datetime again."""
    tables = json.loads(text)
    file = f"record/{result_id}.json"
    for name in ("runs", "scores"):
        at = STORED_COLUMNS[name].index("created_utc")
        for row in tables[name]:
            row[at] = dt.datetime.fromisoformat(row[at])
    return {name: [[file, *row] for row in rows] for name, rows in tables.items()}


def _median(values: list[float]) -> float:
    """pandas' median of a group: NaN left out, NaN for none."""
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else math.nan


class RecordQueries(RecordTree):
    """compare and advise over the database, each reading only what its answer needs (and the whole Tree for the
    site). Rows made by another version of the code or catalogue are made again once, when it opens."""

    def __init__(self, engine: Engine):
        super().__init__(engine)
        self.advise_cache: tuple[tuple, pd.DataFrame] | None = None
        self.record_cache: tuple[tuple, Tree, Any] | None = None
        with engine.connect() as connection:
            stale = sa.or_(results.c.rows_key.is_(None), results.c.rows_key != rows_key())
            found = connection.execute(sa.select(results.c.id).where(stale).limit(1)).first()
        if found is not None:
            with engine.begin() as connection:
                rebuild(connection)

    def models(self) -> list[dict]:
        """Every model with runs or points: its labels, results, and runs per test and device (from run_groups)."""
        with self.engine.connect() as connection:
            labels = connection.execute(sa.select(result_models).order_by(result_models.c.model, result_models.c.model_label))
            counted = connection.execute(
                sa.select(
                    run_groups.c.model,
                    run_groups.c.test,
                    run_groups.c.device_id,
                    sa.func.sum(run_groups.c.runs),
                    sa.func.sum(run_groups.c.results),
                    sa.func.count(sa.distinct(run_groups.c.machine_id)),
                    sa.func.max(run_groups.c.best_ts),
                )
                .group_by(run_groups.c.model, run_groups.c.test, run_groups.c.device_id)
                .order_by(run_groups.c.model, run_groups.c.test, run_groups.c.device_id)
            ).all()
            models: dict[str, dict] = {}
            for row in labels.mappings():
                entry = models.setdefault(
                    row["model"],
                    {"model": row["model"], "labels": [], "results": 0, "runs": 0, "scores": 0, "serving": 0, "tests": []},
                )
                entry["labels"].append(row["model_label"])
                for name in ("results", "runs", "scores", "serving"):
                    entry[name] += row[name]
        for model, test, device_id, runs, results_count, machines, best in counted:
            if model in models:
                models[model]["tests"].append(
                    {
                        "test": test,
                        "device_id": device_id or None,
                        "runs": int(runs),
                        "results": int(results_count),
                        "machines": int(machines),
                        "best_ts": best,
                    }
                )
        return list(models.values())

    def compare_tree(self, model: str | None) -> Tree:
        """A Tree that gives compare's answer for the model: the model's own rows; for a model without runs, the other
        models' keys too (what the whole record's error would name). The whole Tree for model None (every model)."""
        from harness.aggregate.compare import select_model

        if model is None:
            return self.tree()
        with self.engine.connect() as connection:
            known = pd.DataFrame(
                connection.execute(
                    sa.select(result_models.c.model, result_models.c.model_label, result_models.c.runs, result_models.c.serving)
                ).all(),
                columns=["model", "model_label", "runs", "serving"],
            )
            keys = sorted(set(select_model(known, model, required=False)["model"])) if not known.empty else []
            tables: dict[str, list[list]] = {"runs": [], "scores": [], "serving": []}
            if keys:
                query = sa.select(results.c.id, results.c.rows).where(results.c.model.in_(keys)).order_by(results.c.id)
                for result_id, text in connection.execute(query):
                    for name, rows in _stored_rows(result_id, text).items():
                        tables[name] += rows
        tree = Tree(
            pd.DataFrame(tables["runs"], columns=RUN_COLUMNS),
            pd.DataFrame(tables["scores"], columns=SCORE_COLUMNS),
            [],
            pd.DataFrame(tables["serving"], columns=SERVING_COLUMNS),
        )
        if tree.runs.empty:
            others = known[~known["model"].isin(keys)] if not known.empty else known
            tree.runs = _named(others[others["runs"] > 0] if not others.empty else others, RUN_COLUMNS)
            if tree.runs.empty and tree.serving.empty:
                tree.serving = _named(others[others["serving"] > 0] if not others.empty else others, SERVING_COLUMNS)
        return tree

    def _state(self, connection) -> tuple:
        return tuple(connection.execute(sa.select(sa.func.count(), sa.func.max(results.c.id))).one())

    def advise_record(self) -> tuple[Tree, Any]:
        """advise_tree and advise's Record of it (harness/aggregate/advise.py: the cells, transfers and fits), built once
        per state of the record: every advise question until the next result reuses them."""
        from harness.aggregate.advise import Record

        tree = self.advise_tree()
        state = self.advise_cache[0] if self.advise_cache else ()
        if self.record_cache is None or self.record_cache[0] != state or self.record_cache[1].runs is not tree.runs:
            self.record_cache = (state, tree, Record(tree.runs))
        return self.record_cache[1], self.record_cache[2]

    def advise_tree(self) -> Tree:
        """A Tree whose runs give advise's answer: per machine and canonical cell (harness/aggregate/canonical.py
        record_cells), one run with the machine's median over its runs, unstable ones left out where the cell has
        stable ones; the same cells, so the same fits and figures, from run_groups' few rows."""
        from harness.aggregate.canonical import LLAMA_CPP_TOOLS, family_of, quantity_name, runtime_of

        with self.engine.connect() as connection:
            state = self._state(connection)
            if self.advise_cache is not None and self.advise_cache[0] == state:
                return Tree(self.advise_cache[1], pd.DataFrame(columns=SCORE_COLUMNS), [])
            columns = [c for c in run_groups.c if c.name not in ("id", "runs", "results", "best_ts", "last_created_utc")]
            eligible = (run_groups.c.n_depth == 0) & (run_groups.c.split == "") & (run_groups.c.device_id != "")
            found = connection.execute(sa.select(*columns).where(eligible)).mappings().all()
        cells: dict[tuple, list] = {}
        for row in found:
            family = family_of(row["n_prompt"], row["n_gen"])
            if family is None:
                continue
            gpu_layers = row["n_gpu_layers"] if row["n_gpu_layers"] >= 0 else None
            runtime = runtime_of(row["runtime"] or None, gpu_layers) if row["backend"] in LLAMA_CPP_TOOLS else ""
            cell = (family, quantity_name(row["backend"], row["test"]), runtime, row["device_id"], row["model"])
            cells.setdefault(cell, []).append(row)
        reduced = []
        for cell, rows in cells.items():
            stable = [row for row in rows if not row["unstable"]]
            kept = stable or rows  # prefer_stable: noisy runs only where the cell has no stable one
            machines: dict[str, list] = {}
            for row in kept:
                machines.setdefault(row["machine_id"], []).append(row)
            for machine_id, parts in machines.items():
                first = min(parts, key=lambda part: part["first_result_id"])
                values = [float(v) for part in parts for v in part["medians"].split(",")]
                reduced.append(
                    {
                        "machine_id": machine_id,
                        "device_id": cell[3],
                        "model": cell[4],
                        "backend": first["backend"],
                        "test": first["test"],
                        "runtime": first["runtime"] or None,
                        "n_gpu_layers": first["n_gpu_layers"] if first["n_gpu_layers"] >= 0 else None,
                        "n_prompt": first["n_prompt"],
                        "n_gen": first["n_gen"],
                        "n_depth": 0,
                        "split": "",
                        "unstable": not stable,
                        "source": first["source"],
                        "median_ts": _median(values),
                    }
                )
        frame = pd.DataFrame(reduced, columns=RUN_COLUMNS)
        self.advise_cache = (state, frame)
        return Tree(frame, pd.DataFrame(columns=SCORE_COLUMNS), [])


def _named(known: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows that carry only a model's key and label: what select_model's error lists."""
    frame = pd.DataFrame(columns=columns)
    return pd.concat([frame, known[["model", "model_label"]]], ignore_index=True)[columns] if not known.empty else frame
