"""What `meek gap`, `meek frontier import` and `meek plot frontier` print and draw; the logic is in gap.py and epoch.py."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from harness import memory_fit
from harness.errors import EXIT_OK, UsageError, require_existing
from harness.frontier.gap import MACHINE_CLASSES, MachineClass, best_so_far, first_to_reach, gap_table, months_behind
from harness.output import Output

THIS_MACHINE = "this-machine"
FOUR_CHOICE = {"mmlu", "arc_challenge", "hellaswag", "gpqa_diamond"}  # chance is 25%: "months behind" means little there


def this_machine_class() -> tuple[MachineClass, str]:
    """This machine as a class, through the one memory model (harness/memory_fit.py: this_machine)."""
    from harness.machine.facts import fingerprint

    facts = fingerprint(include_build=False)
    device = memory_fit.this_machine(facts)
    note = f"{device.note}; share usable as for the classes of that kind"
    return MachineClass(device.memory_bytes / memory_fit.GIB, device.kind, note), facts["machine_id"]


def parse_classes(text: str | None) -> dict[str, MachineClass]:
    if not text:
        return dict(MACHINE_CLASSES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MACHINE_CLASSES]
    if unknown:
        raise UsageError(f"unknown machine class {', '.join(unknown)}; known: {', '.join(MACHINE_CLASSES)}")
    return {n: MACHINE_CLASSES[n] for n in names}


def gap(benchmarks: list[str], classes_text: str | None, machine: str | None, results: Path, fmt: str, out: Output) -> int:
    from harness.aggregate.compare import render
    from harness.frontier.epoch import frontier_table_path, load_frontier

    frame = load_frontier()
    classes = parse_classes(classes_text)
    machine_id = None
    if machine == "this":
        own, machine_id = this_machine_class()
        classes = {THIS_MACHINE: own}
    elif machine is not None:
        raise UsageError(f"--machine: only 'this' is supported (got '{machine}')")
    today = pd.Timestamp.today().normalize()
    table = pd.concat([gap_rows(gap_table(frame, b, classes, today)) for b in benchmarks], ignore_index=True)
    if fmt != "md":
        out.data(render(table, fmt))
        return EXIT_OK
    out.say(f"Months behind the frontier on {today:%Y-%m-%d}, from {frontier_table_path()}")
    out.data(render(table.drop(columns=["rows used"]), "md"))
    out.say("\nRows used (open model; frontier model that first reached its score):")
    for row in table.to_dict("records"):
        out.say(f"- {row['benchmark']} {row['machine_class']}: {row['rows used'] or 'no open model fits'}")
    for benchmark in benchmarks:
        until = pd.to_datetime(frame.loc[frame["benchmark"] == benchmark, "release_date"]).max()
        if (today - until).days > 90:
            out.say(
                f"note: the table's newest {benchmark} score is from {until:%Y-%m}; months behind today include the "
                "months since, when newer open models may have closed the gap unseen. 'at release' is not affected."
            )
    if machine_id:
        _own_scores(frame, results, machine_id, today, out)
    return EXIT_OK


def gap_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The gap table in readable columns, with the lag at each checkpoint and the source rows."""
    lag_columns = [c for c in table.columns if c.startswith("lag_") and c != "lag_at_release_months"]
    rows = []
    for row in table.to_dict("records"):
        found = isinstance(row["open_model"], str)
        rows.append(
            {
                "benchmark": row["benchmark"],
                "machine_class": row["machine_class"],
                "usable GB": row["usable_gb"],
                "best open model that fits": f"{row['open_model']} ({row['open_params_b']:g}B)" if found else "none",
                "score": row["open_score"],
                "released": f"{row['open_date']:%Y-%m}" if found else "",
                "frontier first there": f"{row['frontier_model']} ({row['frontier_date']:%Y-%m})" if found else "",
                "months behind today": row["months_behind_today"],
                "months behind at release": row["lag_at_release_months"],
                "lag by year": ", ".join(
                    f"{c[4:8]}: {row[c]:.0f}" for c in lag_columns if not (isinstance(row[c], float) and math.isnan(row[c]))
                ),
                "trend": f"{row['trend']} ({row['trend_months_per_year']:+.1f} months/year)" if row["trend"] else "",
                "rows used": f"{row['open_model']} {row['open_date']:%Y-%m-%d} {row['open_score']:.1f} <{row['open_source_link']}>; "
                f"{row['frontier_model']} {row['frontier_date']:%Y-%m-%d} {row['frontier_score']:.1f} <{row['frontier_source_link']}>"
                if found
                else "",
            }
        )
    return pd.DataFrame(rows)


def _own_scores(frame: pd.DataFrame, results: Path, machine_id: str, today: pd.Timestamp, out: Output) -> None:
    from harness.aggregate.views import primary_scores

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


def frontier_import(paths: list[Path], out: Output) -> int:
    from harness.frontier.build_table import build, summary
    from harness.home import meek_home

    require_existing(paths)
    target = meek_home() / "frontier.csv"
    frame = build(paths, target)
    out.say(summary(frame).to_string())
    out.say(f"wrote {len(frame)} rows to {target}; meek gap and meek plot frontier use it from now on")
    out.say(f"(delete {target} to go back to the table shipped with meek-harness)")
    return EXIT_OK


def plot_frontier(benchmark: str, classes_text: str | None, results: Path, all_machines: bool, out_dir: Path, out: Output) -> int:
    from harness.aggregate.views import primary_scores
    from harness.frontier.epoch import load_frontier
    from harness.plots.frontier import frontier_figure
    from harness.plots.style import save

    frame = load_frontier()
    if benchmark not in set(frame["benchmark"]):
        raise UsageError(f"no frontier scores for '{benchmark}'; known: {', '.join(sorted(frame['benchmark'].unique()))}")
    classes = list(parse_classes(classes_text or "24gb-gpu,128gb-unified"))
    own = primary_scores(results, {benchmark}, None if all_machines else this_machine_class()[1])
    paths = save(frontier_figure(frame, benchmark, classes, own), out_dir, f"frontier-{benchmark}")
    out.say("wrote " + ", ".join(str(p) for p in paths))
    return EXIT_OK
