"""The answers of `meek compare` and `meek advise` as data, from a Tree: what the CLI prints (md, csv, json) and what the
service answers (`GET /api/v1/compare`, `/api/v1/advise`) come from these functions, so the two cannot drift apart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from harness.aggregate.tree import Tree
from harness.catalogue.models import CatalogModel

if TYPE_CHECKING:
    from harness.aggregate.advise import Record as AdviseRecord

Pair = tuple[tuple[str, str], tuple[str, str], pd.DataFrame, pd.DataFrame]


@dataclass
class Comparison:
    """compare's tables for a model: speed per machine, scores, serving points, and for two devices the pair view.
    `serving_only`: the model has serving points and no runs (only the serving table is the answer)."""

    table: pd.DataFrame
    scores: pd.DataFrame
    serving: pd.DataFrame
    pair: Pair | None
    serving_only: bool = False
    # the model family's quants on each machine: speed, size, KL divergence, largest context (harness/aggregate/quants.py);
    # `quants_only`: the model has quality or fits blocks and no runs
    quants: pd.DataFrame = field(default_factory=pd.DataFrame)
    quants_only: bool = False


def comparison(tree: Tree, model: str | None, tests: list[str] | None, devices: list[str] | None, here: str | None) -> Comparison:
    """compare's answer: `here` is this machine's id (its rows read 'measured here', others' 'submitted'; None: every
    measured row is 'submitted', as a service's record is). Raises UsageError for a model the tree does not hold."""
    from harness.aggregate.compare import compare_table, scores_table, select_model, serving_table
    from harness.aggregate.quants import quants_table

    quants = quants_table(tree, model, devices) if model is not None else pd.DataFrame()
    if not quants.empty and select_model(tree.runs, model, required=False).empty:
        return Comparison(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), None, quants=quants, quants_only=True)
    points = tree.serving[tree.serving["device_id"].isin(devices)] if devices else tree.serving
    # serving points of other models (a `bench --parallel` file in the tree) are no reason to refuse this model's runs
    serving = serving_table(points, model, required=False) if not points.empty else pd.DataFrame()
    name_measured(serving, here)
    if not serving.empty and select_model(tree.runs, model, required=False).empty:  # serving points only, for this model
        return Comparison(pd.DataFrame(), pd.DataFrame(), serving, None, serving_only=True)
    if tree.runs.empty and not tree.serving.empty:
        select_model(tree.serving, model)  # no runs and no serving point of this model: the error names the models there
    table = compare_table(tree.runs, model, tests, devices)
    name_measured(table, here)
    scores = scores_table(tree.scores, model)
    pair = two_devices(tree.runs, model, tests, devices) if devices and len(set(devices)) == 2 else None
    return Comparison(table, scores, serving, pair, quants=quants)


def comparison_json(answer: Comparison) -> dict:
    """`meek compare --format json`: speed, scores, serving, and side_by_side / only for two devices."""
    from harness.aggregate.compare import render

    serving = json.loads(render(answer.serving, "json") or "[]") if not answer.serving.empty else []
    quants = {"quants": json.loads(render(answer.quants, "json"))} if not answer.quants.empty else {}
    if answer.serving_only or answer.quants_only:
        return {"speed": [], "scores": [], "serving": serving, **quants}
    return {
        "speed": json.loads(render(answer.table, "json")),
        "scores": json.loads(render(answer.scores, "json") or "[]"),
        "serving": serving,
        **quants,
        **(_pair_json(answer.pair) if answer.pair else {}),
    }


def two_devices(runs: pd.DataFrame, model: str | None, tests: list[str] | None, devices: list[str]) -> Pair:
    """`compare --devices A,B`: ((id, name) of A, of B, the tests both ran with both figures and the ratio B / A, the
    tests only one ran), from compare's side_figures and side_by_side (the site's compare page pairs the same figures)."""
    from harness.aggregate.compare import compare_frame, side_by_side, side_figures

    a, b = dict.fromkeys(devices)
    figures = side_figures(compare_frame(runs, model, tests, devices))
    shared, only = side_by_side(figures, a, b)
    shared = shared.drop(columns="model_label").rename(
        columns={"A t/s": f"{a} t/s", "A via": f"{a} from", "B t/s": f"{b} t/s", "B via": f"{b} from", "B / A": f"{b} / {a}"}
    )
    names = dict(zip(figures["side"], figures["side_label"]))
    return (a, names.get(a, a)), (b, names.get(b, b)), shared, only


def _pair_json(pair: Pair) -> dict:
    from harness.aggregate.compare import render

    _, _, shared, only = pair
    return {
        "side_by_side": json.loads(render(shared, "json")) if not shared.empty else [],
        "only": [{"model": r.model, "device": r.side, "tests": r.tests} for r in only.itertuples()],
    }


def name_measured(frame: pd.DataFrame, here: str | None) -> None:
    """'measured' becomes 'measured here' (this machine) or 'submitted' (another's), in place."""
    if not frame.empty:
        measured = frame["source"] == "measured"
        frame.loc[measured, "source"] = frame.loc[measured, "machine_id"].map(
            lambda m: "measured here" if here is not None and m == here else "submitted"
        )


@dataclass
class Advice:
    """advise's answer for a model: devices ranked, other tools' figures kept apart, and the notes."""

    table: pd.DataFrame
    notes: list[str]
    apart: pd.DataFrame


def advice(
    tree: Tree,
    model: CatalogModel,
    budget: float | None,
    min_tg: float | None,
    backend: str | None,
    context: int,
    record: AdviseRecord | None = None,
) -> Advice:
    """Which device for a model (harness/aggregate/advise.py), from the tree's runs (or `record`, their figures built
    once already: the service keeps one until a result arrives)."""
    from harness.aggregate.advise import advise as rank_devices

    table, notes, apart = rank_devices(tree.runs, model, budget, min_tg, record=record, backend=backend, context=context)
    return Advice(table, notes, apart)


def advice_json(answer: Advice) -> dict:
    """`meek advise -m MODEL --format json`: devices, apart, notes (an empty `devices` when none meets the conditions)."""
    from harness.aggregate.compare import render

    return {
        "devices": json.loads(render(answer.table, "json")) if not answer.table.empty else [],
        "apart": json.loads(render(answer.apart, "json")) if not answer.apart.empty else [],
        "notes": answer.notes,
    }
