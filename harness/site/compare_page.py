"""The site's compare page: two sides (devices, or machines the hardware table does not know) on the tests both ran.

The figures come from harness/aggregate/compare.py's side_figures, the same `meek compare --devices A,B` pairs with
side_by_side; the page's script (assets/app.js) only joins two sides on the same test name and draws the result.
"""

from __future__ import annotations

import pandas as pd

COMPARE_BODY = """<p>Two devices (or machines the hardware table does not know) side by side on the tests both ran:
the same test name only (pp512 with pp512, <code>tg32 @ d4096</code> with <code>tg32 @ d4096</code>), each side's
fastest setup (median over its files), and the ratio only there. The tests only one of them ran are listed apart, by
name: a different test is a different measurement. <code>meek compare --devices A,B</code> prints the same.</p>
<form class="filters"><label>A <select id="c-a"></select></label><label>B <select id="c-b"></select></label></form>
<p id="c-count" class="count"></p>
<div class="scroll"><table id="comparison"></table></div>
<h2>Tests only one of them ran</h2><ul id="c-only" class="only"></ul>
<details id="c-apart" class="only"></details>"""


PREFERRED_PAIR = ["dgx-spark", "ryzen-ai-max-395"]  # the two 128 GB desktops people weigh against each other


def comparison(runs: pd.DataFrame) -> dict:
    """The compare page's data: each side's fastest figure per model and test (`side_figures`, the figures `meek compare
    --devices A,B` pairs), the sides to choose from, and the pair it opens on. The page pairs two sides on the same test
    name only, with the ratio there, and lists the tests only one side ran apart, by name."""
    from harness.aggregate.compare import default_pair, side_figures

    figures = side_figures(runs)
    by_side: dict[str, dict[str, list]] = {}
    for row in figures.to_dict("records"):
        figure = [row["test"], int(row["order"]), round(float(row["t/s"]), 3), row["via"]]
        by_side.setdefault(row["side"], {}).setdefault(row["model"], []).append(figure)
    sides = figures.drop_duplicates("side").sort_values(["side_kind", "side_label"], kind="stable")
    models = sorted(dict(zip(figures["model"], figures["model_label"])).items(), key=lambda m: (str(m[1]).lower(), m[0]))
    # lists, not objects keyed by a model name: a name comes from a stranger's file ("__proto__", "constructor")
    return {
        "sides": [{"id": r.side, "label": r.side_label, "kind": r.side_kind} for r in sides.itertuples()],
        "models": [list(m) for m in models],
        "pair": PREFERRED_PAIR if set(PREFERRED_PAIR) <= set(figures["side"]) else default_pair(figures),
        "figures": {side: list(tests.items()) for side, tests in by_side.items()},
    }
