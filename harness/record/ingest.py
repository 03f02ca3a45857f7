"""Taking a result file into the record: the checks of `meek validate` (harness/results/validate.py, on the bytes as
received, written to a private file and read back through the strict reader), then one insert under the unique keys.

The same file twice, or a copy of its raw samples, is stored once: the database refuses the second row (an
IntegrityError on a unique key) and the answer names the row already there. Nothing is looked up before the insert,
so concurrent submissions of one file cannot both pass a check and both be stored.

The same transaction stores what compare and advise read instead of the file (harness/record/tables.py): the result's
rows as JSON and its share of the run_groups and result_models aggregates, added with INSERT ... ON CONFLICT DO UPDATE
(each key's row is created or added to atomically, in key order, so concurrent ingests neither lose a count nor
deadlock). `rebuild` makes all of it again from the stored files (migration r0002, and a record whose rows were made by
another version of the code or the catalogue).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from harness.aggregate.tree import RUN_COLUMNS, SCORE_COLUMNS, SERVING_COLUMNS
from harness.record.rows import Catalogue, result_rows
from harness.record.tables import GROUP_KEY, RUN_FIELDS, result_models, results, run_groups, runs
from harness.results.reading import MAX_FILE_BYTES, Rejected, read_regular
from harness.results.schema import BenchResult, validate_document
from harness.results.validate import FileReport, result_files

STORED, EXISTING, REFUSED = "stored", "existing", "refused"


@dataclass
class Outcome:
    """What became of one submission: stored (a new id), existing (the id of the same measurement already there, and
    why it is the same), or refused (every reason, nothing stored)."""

    status: str
    id: int | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def samples_key(result: BenchResult) -> str | None:
    """sha256 over the raw samples of every run (what validate's copy check compares); None for summary-only runs."""
    samples = [run.samples_ns for run in result.runs if run.samples_ns]
    return hashlib.sha256(json.dumps(samples).encode()).hexdigest() if samples else None


class Ingestor:
    """Checks and stores result files; one per process, used from many threads (each check reads its own file)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.catalogue = Catalogue()
        self.folder = Path(tempfile.mkdtemp(prefix="meek-ingest-"))  # mode 0700: only this user reads what was sent

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def check(self, body: bytes) -> FileReport:
        """`meek validate`'s verdict on the bytes, as if they were a file of the tree (Validator.check, then finish)."""
        if len(body) > MAX_FILE_BYTES:
            report = FileReport(Path("submission.json"))
            report.failures.append(f"file is {len(body) / 2**20:.1f} MiB, over the {MAX_FILE_BYTES / 2**20:g} MiB limit")
            return report
        validator = self.catalogue.validator
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix="submission-", suffix=".json") as handle:
            handle.write(body)
            handle.flush()
            validator.now = dt.datetime.now(dt.timezone.utc)  # a long-running service checks dates against today
            return validator.finish([validator.check(Path(handle.name))])[0]

    def ingest(self, body: bytes, sender: str) -> Outcome:
        report = self.check(body)
        if not report.ok or report.result is None:
            return Outcome(REFUSED, reasons=report.failures, warnings=report.warnings)
        return self.store(report.result, report, body.decode("utf-8"), sender)

    def store(self, result: BenchResult, report: FileReport, text: str, sender: str) -> Outcome:
        assert report.content_sha256 is not None  # a file that validated carries its hash
        run_rows, score_rows, serving_rows = made = result_rows(result, Path("submission"), self.catalogue)
        content, samples = report.content_sha256, samples_key(result)
        row = {
            "content_sha256": content,
            "samples_sha256": samples,
            "schema_version": result.schema_version,
            "machine_id": result.machine.machine_id,
            "model": run_rows[0]["model"] if run_rows else self.catalogue.model_key(result),
            "created_utc": result.created_utc,
            "received_utc": dt.datetime.now(dt.timezone.utc),
            "sender": sender,
            "document": text,
            "rows": encode_rows(*made),
            "rows_key": rows_key(),
        }
        try:
            with self.engine.begin() as connection:
                key = connection.execute(sa.insert(results).values(**row)).inserted_primary_key
                assert key is not None
                new_id = int(key[0])
                if run_rows:
                    connection.execute(
                        sa.insert(runs), [{"result_id": new_id, **{name: r[name] for name in RUN_FIELDS}} for r in run_rows]
                    )
                add_aggregates(connection, [(new_id, run_rows, score_rows, serving_rows, result.model.label)])
        except IntegrityError:
            found = self.existing(content, samples)
            if found is None:  # a conflict on no key of ours: not a duplicate, so not to be hidden
                raise
            return Outcome(EXISTING, id=found[0], reasons=[found[1]], warnings=report.warnings)
        return Outcome(STORED, id=new_id, warnings=report.warnings)

    def existing(self, content: str, samples: str | None) -> tuple[int, str] | None:
        """The stored row holding either key, and which: the same file, or the same raw samples."""
        with self.engine.connect() as connection:
            same = connection.execute(sa.select(results.c.id).where(results.c.content_sha256 == content)).scalar()
            if same is not None:
                return same, "the same file is stored already"
            if samples is None:
                return None
            copy = connection.execute(sa.select(results.c.id).where(results.c.samples_sha256 == samples)).scalar()
            return (copy, "a file with the same raw samples is stored already") if copy is not None else None


@functools.cache
def rows_key() -> str:
    """What stored rows were made by: the tree's columns, the catalogue and the hardware table (16 hex digits)."""
    from harness.catalogue.hardware import load_hardware
    from harness.catalogue.models import load_catalog

    made_by = repr((RUN_COLUMNS, SCORE_COLUMNS, SERVING_COLUMNS, load_catalog().models, load_hardware()))
    return hashlib.sha256(made_by.encode()).hexdigest()[:16]


STORED_COLUMNS = {
    "runs": [c for c in RUN_COLUMNS if c != "file"],
    "scores": [c for c in SCORE_COLUMNS if c != "file"],
    "serving": [c for c in SERVING_COLUMNS if c != "file"],
}


def _plain(value):
    return value.isoformat() if isinstance(value, dt.datetime) else value


def encode_rows(run_rows: list[dict], score_rows: list[dict], serving_rows: list[dict]) -> str:
    """A result's rows as JSON: each table a list of rows, each row its values in the tree's column order (less the file,
    which is the record's own name for it: record/<id>.json)."""
    tables = {"runs": run_rows, "scores": score_rows, "serving": serving_rows}
    return json.dumps({name: [[_plain(row[c]) for c in STORED_COLUMNS[name]] for row in tables[name]] for name in tables})


def _group_key(row: dict) -> tuple:
    return (
        row["model"],
        row["test"],
        row["device_id"] or "",
        row["machine_id"],
        row["backend"],
        row["runtime"] or "",
        row["n_gpu_layers"] if row["n_gpu_layers"] is not None else -1,
        row["n_prompt"],
        row["n_gen"],
        row["n_depth"],
        row["split"] or "",
        bool(row["unstable"]),
        row["source"],
    )


Made = tuple[int, list[dict], list[dict], list[dict], str]  # (result id, runs, scores, serving points, model label)


def _aggregates(made: Iterable[Made]) -> tuple[list[dict], list[dict]]:
    """The run_groups and result_models rows of these results, summed per key, in key order."""
    groups: dict[tuple, dict] = {}
    models: dict[tuple, dict] = {}
    for result_id, run_rows, score_rows, serving_rows, label in made:
        seen = set()
        for row in run_rows:
            key = _group_key(row)
            group = groups.get(key)
            if group is None:
                group = groups[key] = {
                    **dict(zip(GROUP_KEY, key)),
                    "runs": 0,
                    "results": 0,
                    "best_ts": None,
                    "medians": [],
                    "first_result_id": result_id,
                    "last_created_utc": row["created_utc"],
                }
            median = row["median_ts"]
            group["runs"] += 1
            group["results"] += key not in seen
            group["medians"].append(repr(float(median)) if median is not None else "nan")
            if median is not None and (group["best_ts"] is None or median > group["best_ts"]):
                group["best_ts"] = median
            group["first_result_id"] = min(group["first_result_id"], result_id)
            group["last_created_utc"] = max(group["last_created_utc"], row["created_utc"])
            seen.add(key)
        model = (run_rows or score_rows or serving_rows or [{"model": None}])[0]["model"]
        if model is None:
            continue
        counts = models.setdefault(
            (model, label), {"model": model, "model_label": label, "results": 0, "runs": 0, "scores": 0, "serving": 0}
        )
        counts["results"] += 1
        counts["runs"] += len(run_rows)
        counts["scores"] += len(score_rows)
        counts["serving"] += len(serving_rows)
    for group in groups.values():
        group["medians"] = ",".join(group["medians"])
    return [groups[k] for k in sorted(groups)], [models[k] for k in sorted(models)]


def _upsert(connection: Connection, table: sa.Table, key: list[str], updates: Callable) -> sa.Insert:
    insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)
    return insert.on_conflict_do_update(index_elements=key, set_=updates(table.c, insert.excluded))


def _larger(old, new):
    return sa.case((new.is_(None), old), (old.is_(None), new), (new > old, new), else_=old)


def _group_updates(old, new) -> dict:
    return {
        "runs": old.runs + new.runs,
        "results": old.results + new.results,
        "medians": old.medians + "," + new.medians,
        "best_ts": _larger(old.best_ts, new.best_ts),
        "first_result_id": sa.case((new.first_result_id < old.first_result_id, new.first_result_id), else_=old.first_result_id),
        "last_created_utc": _larger(old.last_created_utc, new.last_created_utc),
    }


def _model_updates(old, new) -> dict:
    return {name: old[name] + new[name] for name in ("results", "runs", "scores", "serving")}


def add_aggregates(connection: Connection, made: Iterable[Made]) -> None:
    """Add these results to run_groups and result_models, in the caller's transaction."""
    groups, models = _aggregates(made)
    if groups:
        connection.execute(_upsert(connection, run_groups, GROUP_KEY, _group_updates), groups)
    if models:
        connection.execute(_upsert(connection, result_models, ["model", "model_label"], _model_updates), models)


def rebuild(connection: Connection, chunk: int = 2000) -> int:
    """Make every result's rows and the aggregates again from the stored files, in the caller's transaction (other
    writers wait: PostgreSQL's results table is locked against inserts, SQLite's writer lock is taken by the first
    delete). How many results were read."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE results IN SHARE MODE")
    connection.execute(sa.delete(run_groups))
    connection.execute(sa.delete(result_models))
    catalogue, key, count = Catalogue(), rows_key(), 0
    ids = list(connection.execute(sa.select(results.c.id).order_by(results.c.id)).scalars())
    for start in range(0, len(ids), chunk):
        made, updates = [], []
        query = sa.select(results.c.id, results.c.document).where(results.c.id.in_(ids[start : start + chunk]))
        for result_id, text in connection.execute(query):
            result = validate_document(json.loads(text), f"result {result_id}")  # checked on the way in: parsed, not judged
            run_rows, score_rows, serving_rows = result_rows(result, Path("submission"), catalogue)
            made.append((result_id, run_rows, score_rows, serving_rows, result.model.label))
            updates.append({"key_id": result_id, "rows": encode_rows(run_rows, score_rows, serving_rows), "rows_key": key})
        if updates:
            statement = sa.update(results).where(results.c.id == sa.bindparam("key_id"))
            connection.execute(statement.values(rows=sa.bindparam("rows"), rows_key=sa.bindparam("rows_key")), updates)
        add_aggregates(connection, made)
        count += len(made)
    return count


@dataclass
class ImportSummary:
    stored: int = 0
    existing: int = 0
    refused: list[tuple[Path, list[str]]] = field(default_factory=list)

    @property
    def files(self) -> int:
        return self.stored + self.existing + len(self.refused)


def import_tree(
    ingestor: Ingestor, paths: Iterable[Path], sender: str = "import", progress: Callable[[int, Path], None] | None = None
) -> ImportSummary:
    """Every result file under the paths (validate's walk, in its order), each through the same ingest as a POST."""
    summary = ImportSummary()
    for number, path in enumerate(result_files(paths), start=1):
        try:
            outcome = ingestor.ingest(read_regular(path), sender)
        except Rejected as error:
            outcome = Outcome(REFUSED, reasons=[str(error)])
        if outcome.status == STORED:
            summary.stored += 1
        elif outcome.status == EXISTING:
            summary.existing += 1
        else:
            summary.refused.append((path, outcome.reasons))
        if progress:
            progress(number, path)
    return summary
