"""The record at scale (harness/record): what ingest keeps for compare and advise (each result's rows, the run_groups and
result_models aggregates) is right after ingests, concurrent ones included, on SQLite and PostgreSQL; a record made at
r0001 upgrades to the same; and compare and advise answered from it equal the answers over the whole Tree."""

from __future__ import annotations

import copy
import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from harness.aggregate.answers import advice, advice_json, comparison, comparison_json
from harness.aggregate.tree import load_tree
from harness.catalogue.models import load_catalog
from harness.errors import MeekError
from harness.record.database import MIGRATIONS, engine_for, open_record
from harness.record.ingest import Ingestor, import_tree, rebuild
from harness.record.queries import MODELS_KEPT, RecordQueries, RecordTree
from harness.record.tables import result_models, results, run_groups, runs
from tests.forgeries import resigned, with_rate
from tests.postgres import cluster, create_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def new_db(request, tmp_path_factory):
    names = iter(range(1000))
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("scale")
        yield lambda: f"sqlite:///{folder}/record-{next(names)}.db"
        return
    with cluster() as base:
        yield lambda: create_database(base, f"scale_{next(names)}")


def aggregates(engine) -> tuple[list, list]:
    """run_groups (medians in order: the order rows arrive in is not kept) and result_models, without their ids."""
    with engine.connect() as connection:
        groups = [
            {**row, "medians": sorted(row["medians"].split(",")), "last_created_utc": str(row["last_created_utc"])[:19]}
            for row in connection.execute(sa.select(*[c for c in run_groups.c if c.name != "id"])).mappings()
        ]
        models = [dict(row) for row in connection.execute(sa.select(*[c for c in result_models.c if c.name != "id"])).mappings()]
    return sorted(groups, key=repr), sorted(models, key=repr)


def rebuilt(engine) -> tuple[list, list]:
    with engine.begin() as connection:
        rebuild(connection)
    return aggregates(engine)


def copies(example_tree: Path, count: int) -> list[bytes]:
    """`count` files of one machine, model and tests at other rates: every one adds to the same aggregate rows."""
    document = json.loads(sorted(example_tree.rglob("*.json"))[0].read_text())
    made = []
    for index in range(count):
        copied = copy.deepcopy(document)
        for run in copied["runs"]:
            with_rate(run, run["avg_ts"] * (1 + index / 100))
        made.append(json.dumps(resigned(copied)).encode())
    return made


def test_aggregates_after_ingests_match_the_stored_runs(new_db, example_tree):
    engine = open_record(new_db())
    with Ingestor(engine) as ingestor:
        summary = import_tree(ingestor, [example_tree])
    assert summary.stored == 48
    groups, models = aggregates(engine)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(runs.c.model, runs.c.test, runs.c.median_ts, runs.c.result_id)).all()
    assert sum(g["runs"] for g in groups) == len(stored) == 96
    assert sum(m["results"] for m in models) == 48 and sum(m["runs"] for m in models) == 96
    for model, test in {(m, t) for m, t, _, _ in stored}:
        mine = [g for g in groups if (g["model"], g["test"]) == (model, test)]
        medians = sorted(float(v) for g in mine for v in g["medians"])
        assert medians == sorted(v for m, t, v, _ in stored if (m, t) == (model, test))
        assert max(g["best_ts"] for g in mine) == max(medians)
    assert (groups, models) == rebuilt(engine)  # what ingest kept is what the stored files give
    engine.dispose()


def test_concurrent_ingests_add_up(new_db, example_tree):
    engine = open_record(new_db())
    bodies = copies(example_tree, 16)
    with Ingestor(engine) as ingestor, ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda body: ingestor.ingest(body, "test"), bodies + bodies[:4]))
    assert sorted(o.status for o in outcomes) == ["existing"] * 4 + ["stored"] * 16, [o.reasons for o in outcomes]
    groups, models = aggregates(engine)
    assert len(groups) == 2 and {g["test"] for g in groups} == {"pp512", "tg128"}
    assert all(g["runs"] == 16 and g["results"] == 16 and len(g["medians"]) == 16 for g in groups)
    with engine.connect() as connection:
        first = connection.execute(sa.select(sa.func.min(results.c.id))).scalar_one()
    assert all(g["first_result_id"] == first for g in groups)
    assert [(m["results"], m["runs"]) for m in models] == [(16, 32)]
    assert (groups, models) == rebuilt(engine)
    engine.dispose()


def test_a_record_made_at_r0001_upgrades_and_answers_the_same(new_db, example_tree):
    from alembic import command
    from alembic.config import Config

    current, made_old = open_record(new_db()), new_db()
    with Ingestor(current) as ingestor:
        import_tree(ingestor, [example_tree])
    old = engine_for(made_old)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with old.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "r0001")
    with current.connect() as source, old.begin() as target:  # the rows an r0001 ingest stored
        kept = [c for c in results.c if c.name not in ("rows", "rows_key")]
        target.execute(
            sa.table("results", *[sa.column(c.name) for c in kept]).insert(),
            [dict(r) for r in source.execute(sa.select(*kept)).mappings()],
        )
        target.execute(
            sa.table("runs", *[sa.column(c.name) for c in runs.c]).insert(),
            [dict(r) for r in source.execute(sa.select(runs)).mappings()],
        )
    old.dispose()
    upgraded = open_record(made_old)
    assert aggregates(upgraded) == aggregates(current)
    with upgraded.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).where(results.c.rows.is_(None))).scalar_one() == 0
    model = RecordTree(upgraded).tree().runs["model"].value_counts().index[0]
    answers = [
        comparison_json(comparison(RecordQueries(e).compare_tree(model), model, None, None, None)) for e in (current, upgraded)
    ]
    assert answers[0] == answers[1] and answers[0]["speed"]
    current.dispose()
    upgraded.dispose()


def test_rows_made_by_another_catalogue_are_made_again(tmp_path, example_tree):
    engine = open_record(f"sqlite:///{tmp_path}/record.db")
    with Ingestor(engine) as ingestor:
        import_tree(ingestor, [example_tree])
    before = aggregates(engine)
    with engine.begin() as connection:
        connection.execute(sa.update(results).values(rows_key="another", rows="{}"))
        connection.execute(sa.delete(run_groups))
    RecordQueries(engine)
    assert aggregates(engine) == before
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).where(results.c.rows_key == "another")).scalar_one() == 0
    engine.dispose()


def answer(tree, model, devices=None, tests=None):
    try:
        return comparison_json(comparison(tree, model, tests, devices, here=None))
    except MeekError as error:
        return f"{type(error).__name__}: {error}"


def test_compare_and_advise_from_the_queries_equal_the_whole_trees(tmp_path, example_tree):
    engine = open_record(f"sqlite:///{tmp_path}/record.db")
    with Ingestor(engine) as ingestor:
        import_tree(ingestor, [example_tree])
    record = RecordQueries(engine)
    whole = record.tree()
    counts = whole.runs["model"].value_counts()
    model, rare = counts.index[0], counts.index[-1]
    devices = list(whole.runs[whole.runs["model"] == model]["device_id"].dropna().value_counts().index[:2])
    questions = [
        (model, None, None),
        (model.upper(), devices, None),
        (rare, None, ["tg128"]),
        (model, None, ["pp4096"]),
        ("no-such-model", None, None),
        (None, None, None),
    ]
    for name, on, tests in questions:
        assert answer(record.compare_tree(name), name, on, tests) == answer(whole, name, on, tests), (name, on, tests)
    catalog = load_catalog()
    rng = random.Random(1)
    for name in [model, rare, *rng.sample(sorted(m.id for m in catalog.models), 3)]:
        entry = catalog.get(name)
        for budget, backend in ((None, None), (1500.0, "Vulkan")):
            expected = advice_json(advice(whole, entry, budget, None, backend, 4096))
            assert advice_json(advice(record.advise_tree(), entry, budget, None, backend, 4096)) == expected, name
            runs, figures = record.advise_record()  # the service's way: the figures built once, for every question
            assert advice_json(advice(runs, entry, budget, None, backend, 4096, record=figures)) == expected, name
    listed = {m["model"]: m for m in record.models()}
    assert set(listed) == set(counts.index) and all(listed[m]["runs"] == counts[m] for m in counts.index)
    assert sum(t["runs"] for t in listed[model]["tests"]) == counts[model]
    engine.dispose()


def frames_equal(a, b) -> None:
    for name in ("runs", "scores", "serving"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)


def varied_tree(folder: Path) -> Path:
    """Files of every kind the record holds: the shipped record's (imports, summary-only runs, other tools), the golden
    files (a serving sweep, busy runs) and a file with a score."""
    import shutil

    from tests.forgeries import genuine

    tree = folder / "results"
    tree.mkdir()
    shipped = sorted((Path(__file__).parent.parent / "results").rglob("*.json"))
    golden = [Path(__file__).parent / "golden" / f"result-{name}-smollm2.json" for name in ("v4-serving", "v5-busy")]
    for number, path in enumerate([*shipped[::12], *golden]):
        shutil.copy(path, tree / f"{number:04d}.json")
    scored = genuine()
    score = dict(task="mmlu", metric="acc", value=0.25, stderr=0.01, primary=True, shots=0, samples=100, subset=False)
    score |= dict(subset_seed=None, lm_eval_version="0.4.13", task_hash="0123456789abcdef", scoring="prefix-reuse")
    scored["scores"] = [{**score, "data": "local files", "elapsed_s": 1.0}]
    (tree / "9999-scored.json").write_text(json.dumps(resigned(scored)))
    return tree


def test_the_record_tree_is_the_file_trees_but_for_the_file_names(tmp_path):
    tree = varied_tree(tmp_path)
    engine = open_record(f"sqlite:///{tmp_path}/record.db")
    with Ingestor(engine) as ingestor:
        summary = import_tree(ingestor, [tree])  # validate's walk, load_tree's order
    files = load_tree([tree])
    assert summary.files == summary.stored and not files.rejected, (summary, files.rejected)
    assert not files.scores.empty and not files.serving.empty and files.runs["summary_only"].any()
    record = RecordTree(engine).tree()
    for name in ("runs", "scores", "serving"):
        frame = getattr(files, name).copy()
        names = {path: f"record/{number}.json" for number, path in enumerate(sorted(map(str, tree.rglob("*.json"))), start=1)}
        frame["file"] = frame["file"].map(names).astype(getattr(record, name)["file"].dtype)
        pd.testing.assert_frame_equal(getattr(record, name), frame, obj=name)
    with engine.begin() as connection:  # rows another version made: read from the files instead, to the same Tree
        connection.execute(sa.update(results).values(rows_key="another"))
    frames_equal(RecordTree(engine).tree(), record)
    engine.dispose()


def test_the_kept_trees_follow_new_results(tmp_path, example_tree):
    """compare's per-model Trees and advise's medians, kept between questions, are what a new reader makes after more
    results arrive (of the model asked for and of others)."""
    engine = open_record(f"sqlite:///{tmp_path}/record.db")
    bodies = [path.read_bytes() for path in sorted(example_tree.rglob("*.json"))]
    record = RecordQueries(engine)
    catalog = load_catalog()
    with Ingestor(engine) as ingestor:
        for body in bodies[:20]:
            ingestor.ingest(body, "test")
        counts = record.tree().runs["model"].value_counts()
        asked = list(counts.index[:3])
        for model in asked:
            record.compare_tree(model)
        record.advise_record()
        for body in bodies[20:]:
            ingestor.ingest(body, "test")
    fresh = RecordQueries(engine)
    whole = fresh.tree()
    for model in [*asked, *whole.runs["model"].unique()]:
        frames_equal(record.compare_tree(model), fresh.compare_tree(model))
        assert answer(record.compare_tree(model), model) == answer(whole, model)
    assert set(record.compare_cache) >= {(m,) for m in whole.runs["model"].unique()[-3:]}
    assert len(record.compare_cache) <= MODELS_KEPT
    runs, figures = record.advise_record()
    for model in asked:
        entry = catalog.get(model)
        expected = advice_json(advice(whole, entry, None, None, None, 4096))
        assert advice_json(advice(runs, entry, None, None, None, 4096, record=figures)) == expected
    pd.testing.assert_frame_equal(runs.runs, fresh.advise_tree().runs)
    engine.dispose()
