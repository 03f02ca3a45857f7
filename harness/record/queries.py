"""Reading the record: a page of results with the total, one stored file, and the Trees compare and advise read.

RecordTree is the whole record as one Tree (the site's view), made of each result's rows as ingest stored them
(results.rows: what the row functions of `load_tree` made of the file, harness/record/rows.py) and kept up to date as
results arrive (only new rows are read). RecordQueries answers compare and advise without reading every result (ingest
keeps what they need: harness/record/tables.py): compare gets a Tree of only the asked model's rows (by the indexed
model key; kept in memory for the last few models asked, until a result of theirs arrives), advise a Tree of one run
per machine and canonical cell, with that machine's median (run_groups: the only figure advise's fits read).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import math
import statistics
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pydantic
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from harness.aggregate.tree import RUN_COLUMNS, SCORE_COLUMNS, SERVING_COLUMNS, Tree
from harness.record.ingest import STORED_COLUMNS, encode_rows, rebuild, rows_key
from harness.record.rows import Catalogue, result_rows
from harness.record.tables import GROUP_KEY, result_models, results, run_groups
from harness.results.schema import validate_document

SUMMARY_COLUMNS = ("id", "machine_id", "model", "created_utc", "received_utc", "sender")
DATES = {name: STORED_COLUMNS[name].index("created_utc") for name in ("runs", "scores")}  # stored as ISO 8601 text
DATE = pydantic.TypeAdapter(dt.datetime)
CHUNK = 500  # ids in one IN list
KNOWN = ["model", "model_label", "results", "runs", "scores", "serving"]  # result_models' figures
MODELS_KEPT = 8  # models whose compare Tree stays in memory until a result of theirs arrives


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
    """The record as a Tree, refreshed when results were added (any process may add them: the database says). Each
    result's rows are read as ingest stored them (results.rows); a result whose rows another version of the code or
    catalogue made is read from its file instead."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.catalogue = Catalogue()
        self.rows: dict[int, dict[str, list[list]]] = {}
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
            new = None if not self.rows else sorted(set(connection.execute(sa.select(results.c.id)).scalars()) - self.rows.keys())
            with _collector_paused():
                self.rows.update(_read_rows(connection, new, self.catalogue, where=sa.true()))
            self.seen = (state[0], state[1])
            self.cached = None

    def _build(self) -> Tree:
        with _collector_paused():
            return _tree([(key, self.rows[key]) for key in sorted(self.rows)])


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while many rows are made: they hold no cycles, and its passes over a heap that
    grows by a million objects would take as long as making them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_rows(connection: Connection, ids: list[int] | None, catalogue: Catalogue, where=None) -> list[tuple[int, dict]]:
    """The stored rows (see _stored_rows) of the results with these ids, or else of those `where` holds, with their ids,
    in id order."""
    found: dict[int, dict[str, list[list]]] = {}
    current = rows_key()
    conditions = [where] if ids is None else [results.c.id.in_(ids[at : at + CHUNK]) for at in range(0, len(ids), CHUNK)]
    for condition in conditions:
        stale = []
        query = sa.select(results.c.id, results.c.rows, results.c.rows_key).where(condition)
        for result_id, text, key in connection.execute(query):
            if text is None or key != current:
                stale.append(result_id)
            else:
                found[result_id] = _stored_rows(text)
        for at in range(0, len(stale), CHUNK):  # rows another version made: the file is read instead
            query = sa.select(results.c.id, results.c.document).where(results.c.id.in_(stale[at : at + CHUNK]))
            for result_id, text in connection.execute(query):
                result = validate_document(json.loads(text), f"result {result_id}")  # checked on the way in: parsed
                found[result_id] = _stored_rows(encode_rows(*result_rows(result, Path("submission"), catalogue)))
    return sorted(found.items())


def _stored_rows(text: str) -> dict[str, list[list]]:
    """A result's stored rows (results.rows: each row its values in the tree's column order, less the file), its dates
    datetimes again, as the schema reads them (pydantic's, its time zones included)."""
    tables = json.loads(text)
    for name, at in DATES.items():
        for row in tables[name]:
            row[at] = DATE.validate_python(row[at])
    return tables


def _tree(stored: list[tuple[int, dict[str, list[list]]]]) -> Tree:
    """A Tree of these results' rows, in this order: what load_tree makes of the same files, but for the file column
    (record/<id>.json)."""
    frames = {}
    for name, columns in (("runs", RUN_COLUMNS), ("scores", SCORE_COLUMNS), ("serving", SERVING_COLUMNS)):
        rows: list[list] = []
        files: list[str] = []
        for result_id, tables in stored:
            made = tables[name]
            if made:
                rows += made
                files += [f"record/{result_id}.json"] * len(made)
        frame = pd.DataFrame(rows, columns=STORED_COLUMNS[name])
        frame.insert(columns.index("file"), "file", pd.Series(files, dtype=object) if not files else files)
        frames[name] = frame
    return Tree(frames["runs"], frames["scores"], [], frames["serving"])


class RecordQueries(RecordTree):
    """compare and advise over the database, each reading only what its answer needs (and the whole Tree for the
    site). Rows made by another version of the code or catalogue are made again once, when it opens."""

    def __init__(self, engine: Engine):
        super().__init__(engine)
        self.advise_cache: tuple[tuple, pd.DataFrame] | None = None
        self.record_cache: tuple[tuple, Tree, Any] | None = None
        self.compare_cache: OrderedDict[tuple[str, ...], ModelTree] = OrderedDict()
        self.group_medians: dict[tuple, tuple[int, list[float]]] = {}  # each group's run medians, with its count of runs
        self.median_cache: dict[tuple, float] = {}
        self.cache_lock = threading.RLock()
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
        models' keys too (what the whole record's error would name). The whole Tree for model None (every model).

        The last MODELS_KEPT models' Trees stay in memory while result_models says no result of theirs arrived; when
        some did, only those are read and added."""
        from harness.aggregate.compare import select_model

        if model is None:
            return self.tree()
        with self.cache_lock, self.engine.connect() as connection:
            known = pd.DataFrame(connection.execute(sa.select(*[result_models.c[name] for name in KNOWN])).all(), columns=KNOWN)
            keys = tuple(sorted(set(select_model(known, model, required=False)["model"]))) if not known.empty else ()
            mine = known[known["model"].isin(keys)].sort_values(["model", "model_label"])
            signature = tuple(mine.itertuples(index=False, name=None))
            tree = self._model_tree(connection, keys, signature)
        if tree.runs.empty:
            others = known[~known["model"].isin(keys)] if not known.empty else known
            tree = Tree(
                _named(others[others["runs"] > 0] if not others.empty else others, RUN_COLUMNS), tree.scores, [], tree.serving
            )
            if tree.runs.empty and tree.serving.empty:
                tree.serving = _named(others[others["serving"] > 0] if not others.empty else others, SERVING_COLUMNS)
        return tree

    def _model_tree(self, connection: Connection, keys: tuple[str, ...], signature: tuple) -> Tree:
        """The rows of the results of these model keys, in id order (from the cache while `signature`, their counts in
        result_models, is what it was)."""
        cached = self.compare_cache.pop(keys, None)
        if cached is not None and cached.signature == signature:
            self.compare_cache[keys] = cached
            return cached.tree
        with _collector_paused():
            tree = None
            if cached is not None:
                ids = sorted(connection.execute(sa.select(results.c.id).where(results.c.model.in_(keys))).scalars())
                if ids[: len(cached.ids)] == cached.ids:  # only later results arrived: add them
                    read = _read_rows(connection, ids[len(cached.ids) :], self.catalogue)
                    tree = _joined(cached.tree, _tree(read))
                    ids = cached.ids + [result_id for result_id, _ in read]
            if tree is None:
                read = _read_rows(connection, None, self.catalogue, where=results.c.model.in_(keys)) if keys else []
                tree = _tree(read)
                ids = [result_id for result_id, _ in read]  # what was read, whatever arrived since the counts
        self.compare_cache[keys] = ModelTree(signature, ids, tree)
        while len(self.compare_cache) > MODELS_KEPT:
            self.compare_cache.popitem(last=False)
        return tree

    def _state(self, connection) -> tuple:
        """What moves whenever a run is stored: the runs and results result_models counts (a few rows, where counting
        the results table itself is a scan on PostgreSQL)."""
        return tuple(connection.execute(sa.select(sa.func.sum(result_models.c.runs), sa.func.sum(result_models.c.results))).one())

    def advise_record(self) -> tuple[Tree, Any]:
        """advise_tree and advise's Record of it (harness/aggregate/advise.py: the cells, transfers and fits), built once
        per state of the record: every advise question until the next result reuses them."""
        from harness.aggregate.advise import Record

        tree = self.advise_tree()
        with self.cache_lock:
            state = self.advise_cache[0] if self.advise_cache else ()
            if self.record_cache is None or self.record_cache[0] != state or self.record_cache[1].runs is not tree.runs:
                self.record_cache = (state, tree, Record(tree.runs))
            return self.record_cache[1], self.record_cache[2]

    def advise_tree(self) -> Tree:
        """A Tree whose runs give advise's answer: per machine and canonical cell (harness/aggregate/canonical.py
        record_cells), one run with the machine's median over its runs, unstable ones left out where the cell has
        stable ones; the same cells, so the same fits and figures, from run_groups' few rows. Each group's medians are
        read again only when its count of runs moved."""
        from harness.aggregate.canonical import LLAMA_CPP_TOOLS, family_of, quantity_name, runtime_of

        with self.cache_lock, self.engine.connect() as connection:
            state = self._state(connection)
            if self.advise_cache is not None and self.advise_cache[0] == state:
                return Tree(self.advise_cache[1], pd.DataFrame(columns=SCORE_COLUMNS), [])
            columns = [run_groups.c[name] for name in ("id", *GROUP_KEY, "runs", "first_result_id")]
            eligible = (run_groups.c.n_depth == 0) & (run_groups.c.split == "") & (run_groups.c.device_id != "")
            found = connection.execute(sa.select(*columns).where(eligible)).all()
            medians = self._medians(connection, found)
        used: dict[tuple, float] = {}
        cells: dict[tuple, list] = {}
        for row in found:
            family = family_of(row.n_prompt, row.n_gen)
            if family is None:
                continue
            gpu_layers = row.n_gpu_layers if row.n_gpu_layers >= 0 else None
            runtime = runtime_of(row.runtime or None, gpu_layers) if row.backend in LLAMA_CPP_TOOLS else ""
            cell = (family, quantity_name(row.backend, row.test), runtime, row.device_id, row.model)
            cells.setdefault(cell, []).append(row)
        reduced = []
        for cell, rows in cells.items():
            stable = [row for row in rows if not row.unstable]
            kept = stable or rows  # prefer_stable: noisy runs only where the cell has no stable one
            machines: dict[str, list] = {}
            for row in kept:
                machines.setdefault(row.machine_id, []).append(row)
            for machine_id, parts in machines.items():
                first = min(parts, key=lambda part: part.first_result_id)
                reduced.append(
                    {
                        "machine_id": machine_id,
                        "device_id": cell[3],
                        "model": cell[4],
                        "backend": first.backend,
                        "test": first.test,
                        "runtime": first.runtime or None,
                        "n_gpu_layers": first.n_gpu_layers if first.n_gpu_layers >= 0 else None,
                        "n_prompt": first.n_prompt,
                        "n_gen": first.n_gen,
                        "n_depth": 0,
                        "split": "",
                        "unstable": not stable,
                        "source": first.source,
                        "median_ts": self._median(parts, medians, used),
                    }
                )
        frame = pd.DataFrame(reduced, columns=RUN_COLUMNS)
        with self.cache_lock:
            self.advise_cache = (state, frame)
            self.median_cache = used  # only this record's cells: the cache never outgrows them
        return Tree(frame, pd.DataFrame(columns=SCORE_COLUMNS), [])

    def _medians(self, connection: Connection, found: Sequence) -> dict[tuple, tuple[int, list[float]]]:
        """Every group's run medians, by its key: the cached ones where the group's count of runs is the same."""
        kept, stale = {}, {}
        for row in found:
            key = tuple(row[1 : len(GROUP_KEY) + 1])
            cached = self.group_medians.get(key)
            if cached is not None and cached[0] == row.runs:
                kept[key] = cached
            else:
                stale[row.id] = key
        ids = list(stale)
        for start in range(0, len(ids), CHUNK):
            query = sa.select(run_groups.c.id, run_groups.c.runs, run_groups.c.medians)
            for group_id, runs, text in connection.execute(query.where(run_groups.c.id.in_(ids[start : start + CHUNK]))):
                kept[stale[group_id]] = (runs, [float(v) for v in text.split(",")])
        self.group_medians = kept
        return kept

    def _median(self, parts: list, medians: dict[tuple, tuple[int, list[float]]], used: dict[tuple, float]) -> float:
        """pandas' median over the runs of these groups (NaN left out, NaN for none), kept while their counts are."""
        keys = tuple(sorted(tuple(part[1 : len(GROUP_KEY) + 1]) for part in parts))
        signature = (keys, tuple(medians[key][0] for key in keys))
        found = self.median_cache.get(signature)
        if found is None:
            values = [v for key in keys for v in medians[key][1] if not math.isnan(v)]
            found = statistics.median(values) if values else math.nan
        used[signature] = found
        return found


@dataclass
class ModelTree:
    signature: tuple  # the model keys' rows of result_models when read
    ids: list[int]  # the results read, in order
    tree: Tree


def _joined(tree: Tree, added: Tree) -> Tree | None:
    """`tree` with `added`'s rows after its own, as one Tree made of both results at once would be; None when a column's
    type would differ (a column of None in one and numbers in the other): then the caller reads them all again."""
    joined = {}
    for name in ("runs", "scores", "serving"):
        old, new = getattr(tree, name), getattr(added, name)
        if new.empty:
            joined[name] = old
            continue
        if old.empty:
            return None
        frame = pd.concat([old, new], ignore_index=True)
        if not frame.dtypes.equals(old.dtypes) or not new.dtypes.equals(old.dtypes):
            return None
        joined[name] = frame
    return Tree(joined["runs"], joined["scores"], [], joined["serving"])


def _named(known: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows that carry only a model's key and label: what select_model's error lists."""
    frame = pd.DataFrame(columns=columns)
    return pd.concat([frame, known[["model", "model_label"]]], ignore_index=True)[columns] if not known.empty else frame
