"""Scale check for the record behind `meek serve`: ingest rate, and compare and advise latency as the record grows.

1. Ingest: `--files` generated result files (tests/example_tree.py: signed, valid, machines from the hardware table,
   catalogue models) each through the service's own path, `Ingestor.ingest` on the file's bytes (validate's checks, then
   the insert with its rows and aggregates in one transaction), into a new SQLite file and a new database on a throwaway
   PostgreSQL cluster (tests/postgres.py); files per second, one writer. Again with `--late-files` other files once the
   record holds each size (ingest into a large record).
2. Latency: the record filled to each size in stored runs (`--sizes`, two runs a file) and compare and advise asked for
   the model with the most runs, through the service's query path (harness/record/queries.py RecordQueries, then the
   CLI's answer functions, as GET /api/v1/compare and /advise call them): the median of `--calls` calls, with the fastest
   and slowest. Each three ways: cold (the service's caches emptied before each call: its first question), after a
   result (one more result of that model stored before each call: the cache is brought up to date), warm (nothing
   arrived since the last call). Above the ingested files the record is filled by bulk inserts of copies of them (new
   hashes, each run's median scaled by a random 0.95-1.05, each on one of its device's 8 machines): the same rows,
   aggregates (the same upserts) and document text as ingest stores, without validating each copy again.
3. Reference: `meek compare -m MODEL --format json` over a file tree of `--tree-runs` runs (today's way: every file read
   and validated), a fresh process each round.

    python bench/record_service.py --sizes 10000,100000,1000000 [--skip-postgres] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from benchmarks_md import write_section

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's tests/ package
from harness.aggregate.advise import Record  # noqa: E402
from harness.aggregate.answers import advice, advice_json, comparison, comparison_json  # noqa: E402
from harness.catalogue.models import load_catalog  # noqa: E402
from harness.record.database import open_record  # noqa: E402
from harness.record.ingest import Ingestor, add_aggregates, encode_rows, rows_key  # noqa: E402
from harness.record.queries import RecordQueries  # noqa: E402
from harness.record.rows import Catalogue, result_rows  # noqa: E402
from harness.record.tables import RUN_FIELDS, results, runs  # noqa: E402
from harness.results.schema import validate_document  # noqa: E402
from tests.example_tree import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 5000


def spread(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f} ms ({min(times) * 1000:.0f}-{max(times) * 1000:.0f})"


def timed(call: Callable[[], object], count: int, before: Callable[[], None] | None = None) -> list[float]:
    times = []
    for _ in range(count):
        if before:
            before()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


@contextlib.contextmanager
def databases(folder: Path, postgres: bool) -> Iterator[dict[str, Callable[[str], str]]]:
    made = {"SQLite": lambda name: f"sqlite:///{folder}/{name}.db"}
    if not postgres:
        yield made
        return
    from tests.postgres import cluster, create_database

    with cluster() as base:
        made["PostgreSQL"] = lambda name: create_database(base, name)
        yield made


class Filler:
    """Copies of the ingested files, bulk-inserted with their rows and aggregates, up to a number of runs."""

    def __init__(self, files: list[Path], seed: int = 7):
        self.seed = seed
        self.rng = random.Random(seed)
        self.catalogue = Catalogue()
        self.pool = []
        for file in files:
            text = file.read_text()
            result = validate_document(json.loads(text))
            self.pool.append((text, result, result_rows(result, Path("submission"), self.catalogue)))
        self.copies = 0
        self.made = 0  # copies made in all: each a new hash

    def restart(self) -> None:
        """The same copies again, for another database."""
        self.rng, self.copies, self.made = random.Random(self.seed), 0, 0

    def copy(self, source: tuple, result_id: int) -> tuple[dict, list[dict], tuple]:
        """One copy of a pool file: its results row, runs rows and what add_aggregates takes."""
        text, result, (run_rows, score_rows, serving_rows) = source
        self.made += 1
        scale = self.rng.uniform(0.95, 1.05)
        # one of the device's 8 machines (tests/example_tree.py's MACHINES_PER_DEVICE), not always the file's own
        machine = f"{result.machine.machine_id.rsplit('-', 1)[0]}-{self.rng.randrange(8):03d}"
        copied = [
            {**r, "machine_id": machine, "median_ts": r["median_ts"] * scale, "avg_ts": r["avg_ts"] * scale} for r in run_rows
        ]
        key = hashlib.sha256(f"copy-{self.made}".encode()).hexdigest()
        row = {
            "id": result_id,
            "content_sha256": key,
            "samples_sha256": key,
            "schema_version": result.schema_version,
            "machine_id": machine,
            "model": copied[0]["model"],
            "created_utc": result.created_utc,
            "received_utc": dt.datetime.now(dt.timezone.utc),
            "sender": "bench",
            "document": text,
            "rows": encode_rows(copied, score_rows, serving_rows),
            "rows_key": rows_key(),
        }
        runs_rows = [{"result_id": result_id, **{name: r[name] for name in RUN_FIELDS}} for r in copied]
        return row, runs_rows, (result_id, copied, score_rows, serving_rows, result.model.label)

    def store(self, engine, made: list[tuple[dict, list[dict], tuple]]) -> None:
        with engine.begin() as connection:
            connection.execute(sa.insert(results), [m[0] for m in made])
            connection.execute(sa.insert(runs), [r for m in made for r in m[1]])
            add_aggregates(connection, [m[2] for m in made])
        if engine.dialect.name == "postgresql":  # ids were given: the sequence is moved past them
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('results', 'id'), (SELECT max(id) FROM results))"
                )

    def next_id(self, engine) -> int:
        with engine.connect() as connection:
            return (connection.execute(sa.select(sa.func.max(results.c.id))).scalar() or 0) + 1

    def fill(self, engine, target_runs: int) -> None:
        with engine.connect() as connection:
            stored = connection.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one()
        next_id = self.next_id(engine)
        while stored < target_runs:
            made = []
            while stored < target_runs and len(made) < CHUNK:
                made.append(self.copy(self.pool[self.copies % len(self.pool)], next_id))
                self.copies += 1
                next_id += 1
                stored += len(made[-1][1])
            self.store(engine, made)
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")

    def add(self, engine, model: str) -> None:
        """One more copy of a pool file of this model."""
        source = next(entry for entry in self.pool if entry[2][0] and entry[2][0][0]["model"] == model)
        self.store(engine, [self.copy(source, self.next_id(engine))])


def cpu_name() -> str:
    found = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    return next((line.split(":", 1)[1].strip() for line in found if line.startswith("Model name")), "unknown CPU")


def ingest_rate(engine, bodies: list[bytes]) -> tuple[float, float]:
    """(files per second, seconds) through Ingestor.ingest, every file stored."""
    with Ingestor(engine) as ingestor:
        started = time.perf_counter()
        outcomes = [ingestor.ingest(body, "bench") for body in bodies]
        seconds = time.perf_counter() - started
    refused = [o.reasons for o in outcomes if o.status != "stored"]
    assert not refused, refused[:3]
    return len(bodies) / seconds, seconds


def latencies(engine, filler: Filler, catalog, calls: int) -> tuple[list[str], str]:
    """compare and advise for the model with the most runs: cold, after a result, warm."""
    record = RecordQueries(engine)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one()
        top = connection.execute(
            sa.select(runs.c.model).group_by(runs.c.model).order_by(sa.func.count().desc(), runs.c.model).limit(1)
        ).scalar_one()
    entry = catalog.get(top)

    def compare() -> None:
        comparison_json(comparison(record.compare_tree(top), top, None, None, None))

    def advise() -> None:
        tree, figures = record.advise_record()
        advice_json(advice(tree, entry, None, None, None, 4096, record=figures))

    def forget() -> None:
        record.compare_cache.clear()
        record.advise_cache = record.record_cache = None
        record.group_medians, record.median_cache = {}, {}

    def arrive() -> None:
        filler.add(engine, top)

    rows = len(comparison_json(comparison(record.compare_tree(top), top, None, None, None))["speed"])
    figures = []
    for call in (compare, advise):
        figures += [spread(timed(call, calls, before=forget)), spread(timed(call, calls, before=arrive))]
        call()
        figures.append(spread(timed(call, calls)))
    parts: list[list[float]] = [[], [], []]  # advise after a result: the record's query, advise's Record, its first ranking
    for _ in range(calls):
        arrive()
        started = time.perf_counter()
        tree = record.advise_tree()
        built = time.perf_counter()
        figures_of = Record(tree.runs)
        ranked = time.perf_counter()
        advice_json(advice(tree, entry, None, None, None, 4096, record=figures_of))
        parts[0].append(built - started)
        parts[1].append(ranked - built)
        parts[2].append(time.perf_counter() - ranked)
    split = " / ".join(f"{statistics.median(p) * 1000:.0f}" for p in parts)
    return [f"{stored:,}", top, str(rows), *figures, split], top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000, help="files ingested through the real path (and copied above)")
    parser.add_argument("--late-files", type=int, default=100, help="files ingested again once the record holds each size")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="stored runs at which compare and advise are timed")
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--tree-runs", type=int, default=10000, help="runs in the file tree `meek compare` reads")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of `meek compare` over the file tree")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--write", action="store_true", help="put the figures in BENCHMARKS.md")
    parser.add_argument("--date", default=dt.date.today().isoformat())
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        generate(folder / "ingest", args.files, seed=3)
        files = sorted((folder / "ingest").rglob("*.json"))
        bodies = [f.read_bytes() for f in files]
        late = {}
        for size in sizes:  # other files (other seeds: other hashes and samples) for each size
            generate(folder / f"late-{size}", args.late_files, seed=size)
            late[size] = [f.read_bytes() for f in sorted((folder / f"late-{size}").rglob("*.json"))]
        filler = Filler(files)
        ingested: dict[str, str] = {}
        table: list[list[str]] = []
        with databases(folder, not args.skip_postgres) as made:
            for db, url_for in made.items():
                engine = open_record(url_for("bench"))
                rate, seconds = ingest_rate(engine, bodies)
                ingested[db] = f"{rate:.0f} files/s ({len(bodies)} files in {seconds:.1f} s)"
                print(db, "ingest into an empty record:", ingested[db], flush=True)
                filler.restart()
                for size in sizes:
                    started = time.perf_counter()
                    filler.fill(engine, size)
                    filled = time.perf_counter() - started
                    rate, _ = ingest_rate(engine, late[size])
                    row, _ = latencies(engine, filler, catalog, args.calls)
                    table.append([db, *row, f"{rate:.0f}"])
                    print(" | ".join(table[-1]), f"(filled in {filled:.0f} s)", flush=True)
                engine.dispose()
        tree = folder / "tree"
        generate(tree, args.tree_runs // 2, seed=3)
        from harness.aggregate.tree import load_tree

        top_tree = load_tree([tree]).runs["model"].value_counts().index[0]
        command = [sys.executable, "-m", "harness.cli", "compare", "--results-dir", str(tree), "-m", top_tree, "-f", "json"]
        rounds = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            rounds.append(time.perf_counter() - started)
        tree_line = f"`meek compare -m {top_tree} -f json` over a file tree of {args.tree_runs:,} runs: " + spread(rounds)
        print(tree_line, flush=True)
    shown = " ".join(sys.argv[1:])
    lines = [
        f"Measured {args.date} on {cpu_name()} (2 cores, shared with other work while it ran: timings are noisy; medians "
        "of each set of calls, the fastest and slowest in brackets).",
        "",
        f"Command: `python bench/record_service.py {shown}`",
        "",
        f"Ingest, one writer, {args.files} generated files each through `Ingestor.ingest` (validate's checks, the insert, "
        "its rows and aggregates, one transaction) into an empty record: "
        + "; ".join(f"{db} {rate}" for db, rate in ingested.items())
        + f". The last column below: {args.late_files} other files ingested the same way once the record held that many "
        "runs. Target: 200 files/s.",
        "",
        f"compare and advise (`-m MODEL`, nothing else) for the model with the most runs, through RecordQueries and the "
        f"CLI's answer functions (what GET /api/v1/compare and /api/v1/advise run), {args.calls} calls each: cold (the "
        "service's caches emptied before each call: its first question), after a result (one more result of that model "
        "stored before each call), warm (nothing new). Above the "
        f"{args.files} ingested files the record is filled with bulk-inserted copies of them (new hashes, medians scaled "
        "0.95-1.05, each on one of its device's 8 machines; the same rows, aggregates and document text as ingest stores, "
        "without the checks). advise after a result, in parts (medians): the record's query (RecordQueries.advise_tree: "
        "run_groups, only the groups whose count moved read again), advise's Record of it (harness/aggregate/advise.py: "
        "cells, transfers, fits) and the first ranking over it (harness/aggregate/predict.py: its spreads, computed once "
        "per Record). Target: under 1 s at 1,000,000 runs.",
        "",
        "| database | stored runs | model | compare rows | compare cold | compare after a result | compare warm "
        "| advise cold | advise after a result | advise warm | of which (ms): query / Record / ranking | ingest files/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *("| " + " | ".join(row) + " |" for row in table),
        "",
        f"Reference, today's file tree: {tree_line} (a fresh process each round, interpreter start included, "
        f"{args.rounds} rounds).",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(ROOT / "BENCHMARKS.md", "record-service", "The record's service at scale: ingest, compare and advise", body)


if __name__ == "__main__":
    main()
