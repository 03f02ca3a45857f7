"""What `meek gap`, `meek frontier import` and `meek plot frontier` print and draw; the logic is in gap.py and epoch.py."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from harness import memory_fit
from harness.errors import EXIT_OK, UsageError, require_existing
from harness.frontier.gap import (
    FIRST_CHECKPOINT_YEAR,
    MACHINE_CLASSES,
    MachineClass,
    best_so_far,
    first_to_reach,
    gap_table,
    months_behind,
)
from harness.output import Output

THIS_MACHINE = "this-machine"
FOUR_CHOICE = {"mmlu", "arc_challenge", "hellaswag", "gpqa_diamond"}  # chance is 25%: "months behind" means little there


def this_machine_class() -> tuple[MachineClass, str]:
    """This machine as a class, through the one memory model (harness/memory_fit.py: this_machine)."""
    from harness.machine.facts import fingerprint

    facts = fingerprint(include_build=False)
    device = memory_fit.this_machine(facts)
    note = f"{device.note}; usable as for the classes of that kind"
    return MachineClass(device.memory_bytes / memory_fit.GIB, device.kind, note, vendor=device.vendor), facts["machine_id"]


def parse_classes(text: str | None) -> dict[str, MachineClass]:
    if not text:
        return dict(MACHINE_CLASSES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MACHINE_CLASSES]
    if unknown:
        raise UsageError(f"unknown machine class {', '.join(unknown)}; known: {', '.join(MACHINE_CLASSES)}")
    return {n: MACHINE_CLASSES[n] for n in names}


def parse_kinds(text: str | None) -> tuple[str, ...]:
    from harness.frontier.epoch import DEFAULT_KINDS, KINDS

    if not text:
        return DEFAULT_KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if unknown := [k for k in kinds if k not in KINDS]:
        raise UsageError(f"--kinds: unknown kind {', '.join(unknown)}; known: {', '.join(KINDS)}")
    return kinds


STALE_DAYS = 183  # a frontier curve whose newest score is older than this leaves 'months behind today' overstated
STOPPED_DAYS = 365  # ... and older than this: the benchmark's data has stopped, it is not the headline


def data_note(frame: pd.DataFrame, benchmark: str, today: pd.Timestamp) -> str:
    """What the frontier curve's data allows: closed models' scores are what makes it the frontier."""
    rows = frame[frame["benchmark"] == benchmark]
    closed = rows[~rows["open_weights"].fillna(False).astype(bool)]
    if closed.empty:
        return (": no closed model has a score here, so the 'frontier' is open models only and the lags below are not "
                "a frontier gap (not the headline)")  # fmt: skip
    until = pd.to_datetime(closed["release_date"]).max()
    days = (today - until).days
    if days > STOPPED_DAYS:
        return (f": the frontier's newest score is from {until:%Y-%m}; the data has stopped, so this benchmark is not the "
                "headline (lags after that are not measured)")  # fmt: skip
    if days > STALE_DAYS:
        return (f": the frontier's newest score is from {until:%Y-%m}; 'months behind today' counts the months since as "
                "gap, so the lag at release is the figure to read")  # fmt: skip
    return ""


def gap(benchmarks: list[str], classes_text: str | None, machine: str | None, results: Path, fmt: str, out: Output,
        kinds_text: str | None = None, min_tg: float = 10.0) -> int:  # fmt: skip
    from harness.aggregate.compare import render
    from harness.frontier.epoch import DEFAULT_KINDS, frontier_table_path, load_frontier

    kinds = parse_kinds(kinds_text)
    table_frame = load_frontier()
    frame = table_frame[table_frame["kind"].isin(kinds)]
    classes = parse_classes(classes_text)
    machine_id = None
    if machine == "this":
        own, machine_id = this_machine_class()
        classes = {THIS_MACHINE: own}
    elif machine is not None:
        raise UsageError(f"--machine: only 'this' is supported (got '{machine}')")
    today = pd.Timestamp.today().normalize()
    for benchmark in benchmarks:
        if benchmark not in set(frame["benchmark"]):
            known = ", ".join(sorted(set(frame["benchmark"])))
            raise UsageError(f"no {', '.join(kinds)} scores for benchmark '{benchmark}'; known: {known}")
    tables = {b: gap_table(frame, b, classes, today) for b in benchmarks}
    table = pd.concat([gap_rows(t) for t in tables.values()], ignore_index=True)
    if fmt != "md":
        out.data(render(table, fmt))
        return EXIT_OK
    mix = " (Epoch's mix: its Benchmarking Hub runs and developers' published figures)" if kinds == DEFAULT_KINDS else ""
    out.say(f"Months behind the frontier on {today:%Y-%m-%d}; scores of kind {', '.join(kinds)}{mix}; from {frontier_table_path()}")
    for benchmark, raw in tables.items():
        out.say(f"\n{benchmark}{data_note(frame, benchmark, today)}")
        for row in raw.to_dict("records"):
            lag = row["release_lag_months"]
            epoch = (f"lag at release {lag:.1f} months (Epoch's quantity: the mean over {row['release_lag_models']} open "
                     f"model(s) that set a new best for the class since {FIRST_CHECKPOINT_YEAR})" if not math.isnan(lag)
                     else "no open model for the class")  # fmt: skip
            now = (f"; best now {row['open_model']} [{row['open_kind']}] {row['open_score']:.1f}, {row['lag_at_release_months']:.1f} "
                   "months behind at its release" if isinstance(row["open_model"], str) else "")  # fmt: skip
            out.say(f"- {row['machine_class']}: {epoch}{now}")
    out.say("")
    out.data(render(table.drop(columns=["rows used"]), "md"))
    out.say("\nRows used (open model; frontier model that first reached its score), with their kinds:")
    for row in table.to_dict("records"):
        out.say(f"- {row['benchmark']} {row['machine_class']}: {row['rows used'] or 'no open model fits'}")
    out.say("\nThe open models behind each lag at release (model [kind] released, score; the frontier there first):")
    for benchmark, raw in tables.items():
        for row in raw.to_dict("records"):
            for lag in row["release_lags"].to_dict("records"):
                if pd.Timestamp(lag["release_date"]) < pd.Timestamp(f"{FIRST_CHECKPOINT_YEAR}-01-01"):
                    continue
                first = (f"{lag['frontier_model']} [{lag['frontier_kind']}] {lag['frontier_date']:%Y-%m-%d}"
                         if isinstance(lag["frontier_model"], str) else "none earlier")  # fmt: skip
                out.say(f"- {benchmark} {row['machine_class']}: {lag['model']} [{lag['kind']}] {lag['release_date']:%Y-%m-%d}, "
                        f"{lag['score']:.1f}; {first}: {lag['lag_months']:.1f} months")  # fmt: skip
    if machine_id:
        _own_scores(frame, results, machine_id, today, out)
        from harness.frontier.card import machine_card

        for benchmark in benchmarks:
            card = machine_card(results, benchmark, min_tg, frame, today)
            out.say(f"\nThis machine's card, {benchmark} (at {min_tg:g} t/s or faster; each figure with its kind):")
            for line in card.lines:
                if not line.label.startswith("meek eval"):  # this machine's own scores are listed above
                    out.say(f"- {line.label}: {line.value}" + (f" [{line.kind}]" if line.kind else ""))
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
                "lag at release, mean (Epoch)": row.get("release_lag_months", math.nan),
                "best open model that fits": f"{row['open_model']} ({row['open_params_b']:g}B)" if found else "none",
                "kind": row.get("open_kind") or "",
                "score": row["open_score"],
                "released": f"{row['open_date']:%Y-%m}" if found else "",
                "frontier first there": f"{row['frontier_model']} ({row['frontier_date']:%Y-%m})" if found else "",
                "months behind at release": row["lag_at_release_months"],
                "months behind today": row["months_behind_today"],
                "lag by year": ", ".join(
                    f"{c[4:8]}: {row[c]:.0f}" for c in lag_columns if not (isinstance(row[c], float) and math.isnan(row[c]))
                ),
                "trend": f"{row['trend']} ({row['trend_months_per_year']:+.1f} months/year)" if row["trend"] else "",
                "rows used": f"{row['open_model']} [{row.get('open_kind')}] {row['open_date']:%Y-%m-%d} {row['open_score']:.1f} "
                f"<{row['open_source_link']}>; {row['frontier_model']} [{row.get('frontier_kind')}] "
                f"{row['frontier_date']:%Y-%m-%d} {row['frontier_score']:.1f} <{row['frontier_source_link']}>"
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


LIST_COLUMNS = ["model", "release_date", "open_weights", "params_total_b", "benchmark", "setting", "score", "kind", "source",
                "source_link"]  # fmt: skip
KIND_NOTES = {
    "epoch-run": "Epoch AI ran the benchmark itself (its Benchmarking Hub; one harness for every model)",
    "developer-reported": "the model's developer published the figure (its card, report or blog; or another developer's "
    "comparison table, named in source); settings differ (thinking, shots, tools), and these read higher than Epoch's runs",
    "measured-here": "scored on this machine by meek eval",
    "user": "added with meek frontier add; source as the user gave it",
}


def frontier_list(benchmark: str | None, kinds_text: str | None, model: str | None, access: str | None, limit: int,
                  fmt: str, out: Output) -> int:  # fmt: skip
    """`meek frontier list`: the rows meek gap and the figures use, filtered, each with its kind, setting and source."""
    from harness.aggregate.compare import render
    from harness.frontier.epoch import KINDS, frontier_table_path, load_frontier

    frame = load_frontier()
    if benchmark:
        if benchmark not in set(frame["benchmark"]):
            raise UsageError(f"no scores for benchmark '{benchmark}'; known: {', '.join(sorted(set(frame['benchmark'])))}")
        frame = frame[frame["benchmark"] == benchmark]
    frame = frame[frame["kind"].isin(parse_kinds(kinds_text) if kinds_text else KINDS)]
    if model:
        frame = frame[frame["model"].str.contains(model, case=False, regex=False)]
    if access is not None:
        if access not in ("open", "closed"):
            raise UsageError(f"--access: 'open' or 'closed', not '{access}'")
        is_open = frame["open_weights"].fillna(False).astype(bool)
        frame = frame[is_open if access == "open" else ~is_open]
    frame = frame.sort_values(["benchmark", "score"], ascending=[True, False], kind="stable")
    shown = frame.head(limit)[LIST_COLUMNS].assign(release_date=lambda f: f["release_date"].dt.strftime("%Y-%m-%d"))
    if fmt != "md":
        out.data(render(shown, fmt))
        return EXIT_OK
    if shown.empty:
        out.say("no rows match")
        return EXIT_OK
    out.data(render(shown, "md"))
    more = f" (the first {limit} by score; --limit to see more)" if len(frame) > limit else ""
    out.say(f"\n{len(frame)} row(s) from {frontier_table_path()}{more}. Kinds:")
    for kind in sorted(set(shown["kind"])):
        out.say(f"- {kind}: {KIND_NOTES[kind]}")
    return EXIT_OK


def frontier_add(path: Path, out: Output) -> int:
    """`meek frontier add`: a user's CSV of scores, as rows of kind `user` beside the frontier table."""
    from harness.frontier.epoch import add_user_rows, user_table_path

    require_existing([path])
    rows, total = add_user_rows(path)
    out.say(f"added {len(rows)} row(s) of kind 'user' to {user_table_path()} ({total} there); meek gap --kinds "
            "epoch-run,developer-reported,user counts them")  # fmt: skip
    return EXIT_OK


def plot_meek_model(model, start: str, years: float, benchmark: str, machine_class: str, kinds_text: str | None,
                    out_dir: Path, out: Output) -> int:  # fmt: skip
    """`meek plot meek-model`: the paper's loss-gap projection beside the measured lag at release."""
    from harness.frontier.epoch import load_frontier
    from harness.frontier.gap import machine_class_named, release_lags
    from harness.plots.meek_model import meek_model_figure
    from harness.plots.style import save

    kinds = parse_kinds(kinds_text)
    machine_class_named(machine_class)
    try:
        begin = pd.Timestamp(start)
    except ValueError:
        raise UsageError(f"--start: '{start}' is not a date like 2023-01-01") from None
    if not 0 < years <= 50:
        raise UsageError(f"--years: {years} is outside 0-50")
    frame = load_frontier()
    frame = frame[frame["kind"].isin(kinds)]
    if benchmark not in set(frame["benchmark"]):
        raise UsageError(f"no {', '.join(kinds)} scores for benchmark '{benchmark}'")
    lags = release_lags(frame, benchmark, machine_class)
    lags = lags[pd.to_datetime(lags["release_date"]) >= begin]
    paths = save(meek_model_figure(lags, model, begin, years, benchmark, machine_class, kinds), out_dir, "meek-model")
    out.say("wrote " + ", ".join(str(p) for p in paths))
    out.say(f"top: data ({len(lags)} record-setting open models); bottom: the paper's model, peak {model.peak_years:.1f} "
            f"years after {begin:%Y-%m} ({begin + pd.Timedelta(days=model.peak_years * 365.25):%Y-%m})")  # fmt: skip
    return EXIT_OK


def plot_card(benchmark: str, results: Path, min_tg: float, kinds_text: str | None, out_dir: Path, out: Output) -> int:
    """`meek plot card`: this machine's card as a shareable figure."""
    from harness.frontier.card import machine_card
    from harness.frontier.epoch import load_frontier
    from harness.plots.card import card_figure
    from harness.plots.style import save

    kinds = parse_kinds(kinds_text)
    frame = load_frontier()
    frame = frame[frame["kind"].isin(kinds)]
    if benchmark not in set(frame["benchmark"]):
        raise UsageError(f"no {', '.join(kinds)} scores for benchmark '{benchmark}'")
    card = machine_card(results, benchmark, min_tg, frame, pd.Timestamp.today().normalize())
    paths = save(card_figure(card, kinds), out_dir, "card")
    out.say("wrote " + ", ".join(str(p) for p in paths))
    for line in card.lines:
        out.say(f"- {line.label}: {line.value}" + (f" [{line.kind}]" if line.kind else ""))
    return EXIT_OK


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


def plot_frontier(benchmark: str, classes_text: str | None, results: Path, all_machines: bool, out_dir: Path, out: Output,
                  kinds_text: str | None = None) -> int:  # fmt: skip
    from harness.aggregate.views import primary_scores
    from harness.frontier.epoch import load_frontier
    from harness.plots.frontier import frontier_figure
    from harness.plots.style import save

    frame = load_frontier()
    frame = frame[frame["kind"].isin(parse_kinds(kinds_text))]
    if benchmark not in set(frame["benchmark"]):
        raise UsageError(f"no frontier scores for '{benchmark}'; known: {', '.join(sorted(frame['benchmark'].unique()))}")
    classes = list(parse_classes(classes_text or "24gb-gpu,128gb-unified"))
    own = primary_scores(results, {benchmark}, None if all_machines else this_machine_class()[1])
    paths = save(frontier_figure(frame, benchmark, classes, own), out_dir, f"frontier-{benchmark}")
    out.say("wrote " + ", ".join(str(p) for p in paths))
    return EXIT_OK
