"""Reading the record: a page of results with the total, one stored file, and the Tree compare and advise read, built
from the stored files by the same row functions as `load_tree` (harness/record/rows.py) and kept up to date as results
arrive (only new files are read again)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from harness.aggregate.tree import RUN_COLUMNS, SCORE_COLUMNS, SERVING_COLUMNS, Tree
from harness.record.rows import Catalogue, result_rows
from harness.record.tables import results
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
