"""This machine's card (`meek gap --machine this`, `meek plot card`): the best catalogue model it runs at a usable speed,
that model's published score, how far behind the frontier that is, and this machine's own `meek eval` scores. Every
number carries its kind: measured here, measured in the record, predicted, developer-reported, epoch-run.

"Best" is the highest published score on the benchmark among the catalogue models that fit this machine (the one
memory model) and run at --min-tg or faster: measured here first, else the record's measurement for this machine's
device, else advise's prediction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness import memory_fit
from harness.catalogue.models import CatalogModel, load_catalog
from harness.frontier.gap import best_so_far, first_to_reach, months_behind

if TYPE_CHECKING:
    from harness.results.schema import Machine


@dataclass(frozen=True)
class Line:
    label: str
    value: str
    kind: str


@dataclass
class Card:
    machine_id: str
    device: str
    benchmark: str
    lines: list[Line] = field(default_factory=list)


def _key(text: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def published_score(frame: pd.DataFrame, model: CatalogModel, benchmark: str) -> pd.Series | None:
    """The best published row on the benchmark for a catalogue model (matched by its name or its card's repository)."""
    keys = {_key(model.name)} | ({_key(model.info_url.rstrip("/").rsplit("/", 1)[-1])} if model.info_url else set())
    rows = frame[(frame["benchmark"] == benchmark) & frame["model"].map(_key).isin(keys)].dropna(subset=["score"])
    return rows.sort_values("score", ascending=False, kind="stable").iloc[0] if not rows.empty else None


def _speeds(runs: pd.DataFrame, facts: Machine, models: list[CatalogModel]) -> dict[str, tuple[float, str]]:
    """Generation t/s (llama-bench's tg128 at depth 0) per catalogue model on this machine: measured here, else the
    record's canonical figure for its device (measured, converted or predicted, said which)."""
    from harness.aggregate.advise import Record
    from harness.results.facts import device_of

    machine_id = facts.machine_id
    device = device_of(facts, offload=bool(facts.gpus))
    record = Record(runs) if device is not None else None
    here = (
        runs[(runs["machine_id"] == machine_id) & (runs["test"] == "tg128") & (runs["n_depth"] == 0)] if not runs.empty else runs
    )
    speeds = {}
    for model in models:
        mine = here[here["model"] == model.id] if not here.empty else here
        if not mine.empty:
            speeds[model.id] = (float(mine["median_ts"].median()), "measured here (tg128)")
        elif device is not None and record is not None:
            found = record.answer(device, model)
            assert found is not None
            speeds[model.id] = (found.value, f"{found.kind} for {device.id} (tg128, {found.runtime})")
    return speeds


def machine_card(
    results: Path,
    benchmark: str,
    min_tg: float,
    frame: pd.DataFrame,
    today: pd.Timestamp,
    facts: Machine | None = None,
    runs: pd.DataFrame | None = None,
) -> Card:
    """The card of the machine `facts` describe (this one by default), from the runs of `results` (or those given)."""
    from harness.aggregate.tree import load_tree, primary_scores
    from harness.machine.facts import fingerprint

    facts = fingerprint(include_build=False) if facts is None else facts
    machine = memory_fit.this_machine(facts)
    if runs is None:
        runs = load_tree([results]).runs if results.exists() else pd.DataFrame()
    kind, memory, vendor = machine.kind, machine.memory_bytes, machine.vendor
    fitting = [m for m in load_catalog().models if memory_fit.fits(memory_fit.model_need(m).total, kind, memory, vendor)]
    speeds = _speeds(runs, facts, fitting)
    card = Card(facts.machine_id, machine.note, benchmark)
    scored = []
    for model in fitting:
        row = published_score(frame, model, benchmark)
        if row is not None and speeds.get(model.id, (0.0, ""))[0] >= min_tg:
            scored.append((model, row))
    if not scored:
        why = "" if speeds else ": nothing measured here, and this machine's device is not in the hardware table to predict from"
        card.lines.append(
            Line(
                "best model",
                f"no catalogue model with a published {benchmark} score runs here at {min_tg:g} t/s or more{why}",
                "",
            )
        )
    else:
        model, row = max(scored, key=lambda pair: float(pair[1]["score"]))
        speed, speed_kind = speeds[model.id]
        curve = best_so_far(frame, benchmark)
        leader = first_to_reach(curve, row["score"], today)
        card.lines += [
            Line("best model it runs", f"{model.id} ({model.params_total_b:g}B, {model.quant})", "catalogue + memory model"),
            Line("speed", f"{speed:.1f} t/s generation", speed_kind),
            Line(f"published {benchmark}", f"{row['score']:.1f} ({row['model']}, {row['setting']})", str(row["kind"])),
            Line(
                "the frontier first there",
                f"{leader['model']}, {leader['release_date']:%Y-%m}" if leader is not None else "above every frontier score",
                str(leader["kind"]) if leader is not None else "",
            ),
            Line(
                "months behind at its release",
                f"{months_behind(curve, row['score'], row['release_date']) or 0:.1f}",
                "computed from the rows above",
            ),
            Line(
                "months behind today",
                f"{months_behind(curve, row['score'], today) or 0:.1f}",
                "computed; grows with months the table has no scores for",
            ),
        ]
    own = (
        primary_scores(results, {benchmark, "mmlu", "gpqa_diamond", "arc_challenge", "hellaswag", "gsm8k"}, facts.machine_id)
        if results.exists()
        else pd.DataFrame()
    )
    for score in own.itertuples() if not own.empty else []:
        subset = f", subset of {score.samples}" if score.subset else ""
        card.lines.append(
            Line(
                f"meek eval {score.task}",
                f"{score.value * 100:.1f} ({score.model}, {score.shots}-shot{subset})",
                "measured here (a harness score, not a published one)",
            )
        )
    if own.empty:
        card.lines.append(Line("meek eval", "no scores measured on this machine yet (run meek eval)", ""))
    return card
