"""This machine's card (`meek gap --machine this`, `meek plot card`): the best open model it runs at a usable speed,
that model's published score, how far behind the frontier that is, and this machine's own `meek eval` scores. Every
number carries its kind: measured here, measured in the record, predicted, developer-reported, epoch-run.

"Best" is the highest published score on the benchmark among the open models that run here at --min-tg or faster
(harness/frontier/here.py: the one selection, shared with `meek gap --machine this`): fitting this machine's memory, at a
speed measured here first, else the record's figure for this machine's device, else a prediction from its measured
bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness.frontier.gap import best_so_far, first_to_reach, months_behind
from harness.frontier.here import STAND_IN_QUANT, RunsHere

if TYPE_CHECKING:
    from harness.results.schema import Machine


@dataclass(frozen=True)
class Line:
    label: str
    value: str
    kind: str


@dataclass(frozen=True)
class Story:
    """What the card figure draws: the frontier's record-setting scores over time, this machine's best model's score
    on that line, when the frontier first reached it, and how many months behind that is today."""

    curve: pd.DataFrame  # best_so_far: release_date, score, model, kind
    model: str
    score: float
    score_kind: str
    released: pd.Timestamp
    speed: str  # "10.0 t/s generation"
    speed_kind: str
    leader: str | None  # the frontier model first at the score, None when none reached it
    leader_date: pd.Timestamp | None
    months_today: float
    today: pd.Timestamp
    min_tg: float  # the speed a model had to reach to count


@dataclass
class Card:
    machine_id: str
    device: str
    benchmark: str
    lines: list[Line] = field(default_factory=list)
    story: Story | None = None


def machine_card(
    results: Path,
    benchmark: str,
    min_tg: float,
    frame: pd.DataFrame,
    today: pd.Timestamp,
    facts: Machine | None = None,
    runs: pd.DataFrame | None = None,
    here: RunsHere | None = None,
) -> Card:
    """The card of the machine `facts` describe (this one by default), from the runs of `results` (or those given); its
    best model is the one `meek gap --machine this` names, chosen by the same RunsHere (given, or built here)."""
    from harness.aggregate.tree import RUN_COLUMNS, load_tree, primary_scores
    from harness.machine.facts import fingerprint

    facts = fingerprint(include_build=False) if facts is None else facts
    if here is None:
        if runs is None:
            runs = load_tree([results]).runs if results.exists() else pd.DataFrame(columns=RUN_COLUMNS)
        here = RunsHere(facts, runs, min_tg)
    card = Card(facts.machine_id, here.note, benchmark)
    best = here.best(frame, benchmark, today)
    if best is None:
        fastest = here.fastest_that_fits(frame, benchmark)
        why = (
            f"; the fastest that fits: {fastest[0]}, {fastest[1].tg:.1f} t/s ({fastest[1].kind})"
            if fastest is not None
            else "; none with a parameter count fits its memory"
        )
        card.lines.append(
            Line("best model", f"no open model with a published {benchmark} score runs here at {min_tg:g} t/s or more{why}", "")
        )
    else:
        row, speed = best
        model = here.catalogue_model(row["model"])
        what = (
            f"{model.id} ({model.params_total_b:g}B, {model.quant})"
            if model is not None
            else f"{row['model']} ({row['params_total_b']:g}B, at {STAND_IN_QUANT}; not in the catalogue)"
        )
        curve = best_so_far(frame, benchmark)
        leader = first_to_reach(curve, row["score"], today)
        behind_today = months_behind(curve, row["score"], today) or 0.0
        card.story = Story(
            curve=curve,
            model=what,
            score=float(row["score"]),
            score_kind=str(row["kind"]),
            released=pd.Timestamp(row["release_date"]),
            speed=f"{speed.tg:.1f} t/s generation",
            speed_kind=speed.kind,
            leader=str(leader["model"]) if leader is not None else None,
            leader_date=pd.Timestamp(leader["release_date"]) if leader is not None else None,
            months_today=behind_today,
            today=today,
            min_tg=min_tg,
        )
        card.lines += [
            Line("best model it runs", what, f"the best published score among open models that run here at {min_tg:g} t/s"),
            Line("speed", f"{speed.tg:.1f} t/s generation", speed.kind),
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
                f"{behind_today:.1f}",
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
