"""`meek plot`: the figures drawn from a results tree (throughput, depth, pareto, roofline: harness/plots/figures.py) and
from the frontier table (frontier, meek-model, card)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.errors import EXIT_OK, UsageError
from harness.frontier.gap import parse_classes, parse_kinds, this_machine_class
from harness.output import Output
from harness.plots.figures import FIGURES  # noqa: F401  (the CLI registers one command per figure)
from harness.plots.figures import draw as draw_figure


def figure(kind: str, results: list[Path], model: str | None, out_dir: Path, out: Output) -> int:
    """`meek plot throughput|depth|pareto|roofline`."""
    return draw_figure(kind, results, model, out_dir, out)


def meek_model(
    parameters: dict[str, float],
    start: str,
    years: float,
    benchmark: str,
    machine_class: str,
    kinds_text: str | None,
    out_dir: Path,
    out: Output,
) -> int:
    """`meek plot meek-model`: the paper's loss-gap projection beside the measured lag at release."""
    from harness.frontier.meek_model import MeekModel

    try:
        model = MeekModel(**parameters)
    except ValueError as error:
        raise UsageError(str(error)) from None
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
    out.say(
        f"top: data ({len(lags)} record-setting open models); bottom: the paper's model, peak {model.peak_years:.1f} "
        f"years after {begin:%Y-%m} ({begin + pd.Timedelta(days=model.peak_years * 365.25):%Y-%m})"
    )
    return EXIT_OK


def card(benchmark: str, results: Path, min_tg: float, kinds_text: str | None, out_dir: Path, out: Output) -> int:
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


def frontier(
    benchmark: str,
    classes_text: str | None,
    results: Path,
    all_machines: bool,
    out_dir: Path,
    out: Output,
    kinds_text: str | None = None,
) -> int:
    from harness.aggregate.tree import primary_scores
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
