"""`meek gap`: how far behind the frontier the best open model each machine class (or this machine) holds is; the logic
is in harness/frontier/gap.py."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from harness.errors import EXIT_OK, UsageError
from harness.frontier.gap import (
    FIRST_CHECKPOINT_YEAR,
    best_so_far,
    first_to_reach,
    gap_rows,
    gap_table,
    months_behind,
    parse_classes,
    parse_kinds,
)
from harness.frontier.here import THIS_MACHINE, RunsHere
from harness.output import Output

FOUR_CHOICE = {"mmlu", "arc_challenge", "hellaswag", "gpqa_diamond"}  # chance is 25%: "months behind" means little there


STALE_DAYS = 183  # a frontier curve whose newest score is older than this leaves 'months behind today' overstated
STOPPED_DAYS = 365  # ... and older than this: the benchmark's data has stopped, it is not the headline


def data_note(frame: pd.DataFrame, benchmark: str, today: pd.Timestamp) -> str:
    """What the frontier curve's data allows: closed models' scores are what makes it the frontier."""
    rows = frame[frame["benchmark"] == benchmark]
    closed = rows[~rows["open_weights"].fillna(False).astype(bool)]
    if closed.empty:
        return (
            ": no closed model has a score here, so the 'frontier' is open models only and the lags below are not "
            "a frontier gap (not the headline)"
        )
    until = pd.to_datetime(closed["release_date"]).max()
    days = (today - until).days
    if days > STOPPED_DAYS:
        return (
            f": the frontier's newest score is from {until:%Y-%m}; the data has stopped, so this benchmark is not the "
            "headline (lags after that are not measured)"
        )
    if days > STALE_DAYS:
        return (
            f": the frontier's newest score is from {until:%Y-%m}; 'months behind today' counts the months since as "
            "gap, so the lag at release is the figure to read"
        )
    return ""


def run(
    benchmarks: list[str],
    classes_text: str | None,
    machine: str | None,
    results: Path,
    fmt: str,
    out: Output,
    kinds_text: str | None = None,
    min_tg: float = 10.0,
) -> int:
    from harness.aggregate.compare import render
    from harness.frontier.epoch import DEFAULT_KINDS, frontier_table_path, load_frontier

    kinds = parse_kinds(kinds_text)
    table_frame = load_frontier()
    frame = table_frame[table_frame["kind"].isin(kinds)]
    classes = parse_classes(classes_text)
    if machine not in (None, "this"):
        raise UsageError(f"--machine: only 'this' is supported (got '{machine}')")
    for benchmark in benchmarks:
        if benchmark not in set(frame["benchmark"]):
            known = ", ".join(sorted(set(frame["benchmark"])))
            raise UsageError(f"no {', '.join(kinds)} scores for benchmark '{benchmark}'; known: {known}")
    machine_id, here = None, None
    if machine == "this":  # one selection decides what runs here: the table's row and the card below both use it
        here = runs_here(results, min_tg)
        machine_id = here.facts.machine_id
        classes = {THIS_MACHINE: here.machine_class()}
    today = pd.Timestamp.today().normalize()
    tables = {b: gap_table(frame, b, classes, today) for b in benchmarks}
    table = pd.concat([gap_rows(t) for t in tables.values()], ignore_index=True)
    if fmt != "md":
        out.data(render(table, fmt))
        return EXIT_OK
    mix = " (Epoch's mix: its Benchmarking Hub runs and developers' published figures)" if kinds == DEFAULT_KINDS else ""
    out.say(
        f"Months behind the frontier on {today:%Y-%m-%d}; scores of kind {', '.join(kinds)}{mix}; from {frontier_table_path()}"
    )
    for benchmark, raw in tables.items():
        out.say(f"\n{benchmark}{data_note(frame, benchmark, today)}")
        for row in raw.to_dict("records"):
            lag = row["release_lag_months"]
            epoch = (
                f"lag at release {lag:.1f} months (Epoch's quantity: the mean over {row['release_lag_models']} open "
                f"model(s) that set a new best for the class since {FIRST_CHECKPOINT_YEAR})"
                if not math.isnan(lag)
                else (f"no open model runs here at {min_tg:g} t/s or more" if here is not None else "no open model for the class")
            )
            now = (
                f"; best now {row['open_model']} [{row['open_kind']}] {row['open_score']:.1f}, {row['lag_at_release_months']:.1f} "
                "months behind at its release"
                if isinstance(row["open_model"], str)
                else ""
            )
            if here is not None and (found := here.best(frame, benchmark, today)) is not None:
                now += f", runs here at {found[1].tg:.1f} t/s ({found[1].kind})"  # the speed that let it count, its kind
            out.say(f"- {row['machine_class']}: {epoch}{now}")
    out.say("")
    out.data(render(table.drop(columns=["rows used"]), "md"))
    out.say("\nRows used (open model; frontier model that first reached its score), with their kinds:")
    for row in table.to_dict("records"):
        none = f"no open model runs here at {min_tg:g} t/s or more" if here is not None else "no open model fits"
        out.say(f"- {row['benchmark']} {row['machine_class']}: {row['rows used'] or none}")
    out.say("\nThe open models behind each lag at release (model [kind] released, score; the frontier there first):")
    for benchmark, raw in tables.items():
        for row in raw.to_dict("records"):
            for lag in row["release_lags"].to_dict("records"):
                if pd.Timestamp(lag["release_date"]) < pd.Timestamp(f"{FIRST_CHECKPOINT_YEAR}-01-01"):
                    continue
                first = (
                    f"{lag['frontier_model']} [{lag['frontier_kind']}] {lag['frontier_date']:%Y-%m-%d}"
                    if isinstance(lag["frontier_model"], str)
                    else "none earlier"
                )
                out.say(
                    f"- {benchmark} {row['machine_class']}: {lag['model']} [{lag['kind']}] {lag['release_date']:%Y-%m-%d}, "
                    f"{lag['score']:.1f}; {first}: {lag['lag_months']:.1f} months"
                )
    if here is not None and machine_id:
        _own_scores(frame, results, machine_id, today, out)
        from harness.frontier.card import machine_card

        for benchmark in benchmarks:
            card = machine_card(results, benchmark, min_tg, frame, today, facts=here.facts, here=here)
            out.say(f"\nThis machine's card, {benchmark} (at {min_tg:g} t/s or faster; each figure with its kind):")
            for line in card.lines:
                if not line.label.startswith("meek eval"):  # this machine's own scores are listed above
                    out.say(f"- {line.label}: {line.value}" + (f" [{line.kind}]" if line.kind else ""))
    return EXIT_OK


def runs_here(results: Path, min_tg: float) -> RunsHere:
    """What runs on this machine at min_tg t/s or more, from the runs in `results`: the one selection behind both the
    gap's this-machine row and the card."""
    from harness.aggregate.tree import RUN_COLUMNS, load_tree
    from harness.machine.facts import fingerprint

    runs = load_tree([results]).runs if results.exists() else pd.DataFrame(columns=RUN_COLUMNS)
    return RunsHere(fingerprint(include_build=False), runs, min_tg)


def _own_scores(frame: pd.DataFrame, results: Path, machine_id: str, today: pd.Timestamp, out: Output) -> None:
    from harness.aggregate.tree import primary_scores

    own = primary_scores(results, set(frame["benchmark"]), machine_id)
    if own.empty:
        out.say(f"\nNo scores measured on this machine ({machine_id}) in {results}: run `meek eval` to add yours.")
        return
    out.say(f"\nScores measured on this machine ({machine_id}); a harness score is not a published score:")
    for row in own.itertuples():
        curve = best_so_far(frame, row.task)
        score = row.value * 100
        leader = first_to_reach(curve, score, today)
        behind = months_behind(curve, score, today)
        subset = f", subset of {row.samples}" if row.subset else ""
        subset += ", at chance level (25%) for 4 choices" if row.task in FOUR_CHOICE and score < 30 else ""
        reached = f"{leader['model']} reached it in {leader['release_date']:%Y-%m}" if leader is not None else "above the table"
        out.say(f"- {row.model} {row.task} {score:.1f} ({row.shots}-shot{subset}): {behind:.0f} months behind ({reached})")
