"""Figures as a person sees them: nothing drawn over the data or its labels, no text cut off at the figure's edge, and
every note consistent with the line it names (the frontier figure on the shipped frontier table, as `meek plot frontier` draws it)."""

from __future__ import annotations

import re

import pytest
from matplotlib.legend import Legend
from matplotlib.text import Text

from harness.frontier.epoch import load_frontier
from harness.plots.frontier import frontier_figure


def _boxes(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    return renderer, figure.bbox


def _visible_texts(figure) -> list[Text]:
    """The texts drawn: tick labels only for ticks inside the axis's view (matplotlib keeps others, undrawn)."""
    ticks, shown = set(), []
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks |= {id(tick.label1), id(tick.label2)}
                if low <= tick.get_loc() <= high:
                    shown += [label for label in (tick.label1, tick.label2) if label.get_visible()]
    others = [t for t in figure.findobj(Text) if id(t) not in ticks and t.get_visible()]
    return [t for t in others + shown if t.get_text().strip()]


@pytest.mark.parametrize("benchmark", ["gpqa_diamond", "mmlu"])
def test_frontier_figure_has_nothing_cut_off_or_over_the_plot(benchmark):
    figure = frontier_figure(load_frontier(), benchmark, ["16gb-gpu", "24gb-gpu", "128gb-unified"], today="2026-12-06")
    renderer, page = _boxes(figure)
    for text in _visible_texts(figure):
        box = text.get_window_extent(renderer)
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, (
            text.get_text()
        )
    plot = figure.axes[0].get_window_extent(renderer)
    legends = [a for a in figure.findobj(Legend)]
    assert legends and all(not legend.get_window_extent(renderer).overlaps(plot) for legend in legends)
    notes = [t for t in figure.axes[1].texts]
    assert notes and all(not t.get_window_extent(renderer).overlaps(plot) for t in notes)
    for legend in legends:
        assert all(not legend.get_window_extent(renderer).overlaps(t.get_window_extent(renderer)) for t in notes)
    names = [t for t in figure.axes[0].texts if t.get_text() and not t.get_text().startswith("no scores")]
    for a, b in zip(names, names[1:]):  # the latest frontier records' names do not collide
        assert not a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)), (a.get_text(), b.get_text())


def test_each_gap_note_names_the_score_its_class_line_ends_at():
    figure = frontier_figure(load_frontier(), "gpqa_diamond", ["24gb-gpu", "128gb-unified"], today="2026-12-06")
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    (notes,) = figure.axes[1].texts
    for class_name in ("24gb-gpu", "128gb-unified"):
        note = next(row for row in notes.get_text().splitlines() if row.startswith(f"{class_name}:"))
        score = float(re.search(r"\((\d+(?:\.\d+)?), \d{4}-\d{2}\)", note).group(1))
        line = next(line for label, line in lines.items() if label.startswith(f"best open model that fits {class_name} "))
        assert line.get_ydata()[-1] == pytest.approx(score, abs=0.05)
        assert line.get_visible() and line.get_linestyle() != "None"


def _card(model: str, speed_kind: str, evals: int):
    """A card as machine_card builds it, on the shipped frontier table (its story fixed, so the test does not depend on
    this machine's measured bandwidth)."""
    import pandas as pd

    from harness.frontier.card import Card, Line, Story
    from harness.frontier.gap import best_so_far, first_to_reach, months_behind

    today = pd.Timestamp("2026-12-06")
    curve = best_so_far(load_frontier(), "gpqa_diamond")
    leader = first_to_reach(curve, 74.2, today)
    story = Story(
        curve=curve,
        model=model,
        score=74.2,
        score_kind="developer-reported",
        released=pd.Timestamp("2025-08-05"),
        speed="10.2 t/s generation",
        speed_kind=speed_kind,
        leader=str(leader["model"]),
        leader_date=pd.Timestamp(leader["release_date"]),
        months_today=months_behind(curve, 74.2, today) or 0.0,
        today=today,
        min_tg=10.0,
    )
    lines = [
        Line(f"meek eval task{i}", f"{40 + i:.1f} (smollm2-135m, 0-shot, subset of 500)", "measured here") for i in range(evals)
    ]
    return Card("amd-epyc-24g-71ae71", "24 GiB RAM, CPU inference", "gpqa_diamond", lines, story)


@pytest.mark.parametrize(
    "model, evals",
    [
        ("gpt-oss-20b-mxfp4 (20.91B, MXFP4)", 0),
        ("A Very Long Open Model Name 2 Instruct 2512 (123.4B, at Q4_K_M; not in the catalogue)", 2),
    ],
)
def test_card_says_what_runs_and_how_far_behind_with_nothing_cut_off_or_overlapping(model, evals):
    from harness.plots.card import card_figure

    card = _card(model, "predicted (tg128, CPU) from this machine's 41.4 GB/s measured by a copy test: " * 3, evals)
    figure = card_figure(card, ("epoch-run", "developer-reported"))
    renderer, page = _boxes(figure)
    texts = _visible_texts(figure)
    for text in texts:
        box = text.get_window_extent(renderer)
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, (
            text.get_text()
        )
    words, chart = figure.axes
    months = f"{card.story.months_today:.1f} months"
    assert card.story.months_today > 12 and any(months + " ago" in t.get_text() for t in words.texts)  # the headline
    assert any(t.get_text().strip() == months for t in chart.texts)  # the same figure on the chart's arrow
    plot = chart.get_window_extent(renderer)
    written = [t for t in words.texts if t.get_text().strip()]
    assert all(not t.get_window_extent(renderer).overlaps(plot) for t in written)
    for i, a in enumerate(written):
        for b in written[i + 1 :]:
            assert not a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)), (a.get_text(), b.get_text())


def test_a_card_without_a_best_model_is_its_lines():
    from harness.frontier.card import Card, Line
    from harness.plots.card import card_figure

    card = Card("m", "24 GiB RAM", "gpqa_diamond", [Line("best model", "no open model ... runs here at 10 t/s or more", "")])
    figure = card_figure(card, ("epoch-run",))
    assert any("no open model" in t.get_text() for t in _visible_texts(figure))
