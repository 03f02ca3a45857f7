"""`meek compare`: machines (or two devices) side by side for a model, from the result files that pass validation; the
logic is harness/aggregate/compare.py."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.aggregate.tree import Tree, load_tree
from harness.errors import EXIT_OK, require_existing
from harness.output import Output


def load_valid(paths: list[Path], out: Output) -> Tree:
    """The results under `paths` that pass validation, with one warning line for those left out."""
    require_existing(paths)
    tree = load_tree(paths)
    if tree.rejected:
        out.warn(f"left out {len(tree.rejected)} file(s) that fail validation (see meek validate)")
    return tree


def run(
    paths: list[Path], model: str | None, tests: list[str] | None, fmt: str, out: Output, devices: list[str] | None = None
) -> int:
    from harness.aggregate.compare import compare_table, render, scores_table, select_model, serving_table, shape_notes
    from harness.machine.facts import fingerprint

    tree = load_valid(paths, out)
    points = tree.serving[tree.serving["device_id"].isin(devices)] if devices else tree.serving
    # serving points of other models (a `bench --parallel` file in the tree) are no reason to refuse this model's runs
    serving = serving_table(points, model, required=False) if not points.empty else pd.DataFrame()
    here = fingerprint(include_build=False).machine_id
    _name_measured(serving, here)
    if not serving.empty and select_model(tree.runs, model, required=False).empty:  # serving points only, for this model
        serving_json = json.loads(render(serving, "json"))
        out.data(
            json.dumps({"speed": [], "scores": [], "serving": serving_json}) + "\n" if fmt == "json" else render(serving, fmt)
        )
        return EXIT_OK
    if tree.runs.empty and not tree.serving.empty:
        select_model(tree.serving, model)  # no runs and no serving point of this model: the error names the models there
    table = compare_table(tree.runs, model, tests, devices)
    _name_measured(table, here)
    scores = scores_table(tree.scores, model)
    pair = _two_devices(tree.runs, model, tests, devices) if devices and len(set(devices)) == 2 else None
    if fmt == "json":
        out.data(
            json.dumps(
                {
                    "speed": json.loads(render(table, "json")),
                    "scores": json.loads(render(scores, "json") or "[]"),
                    "serving": json.loads(render(serving, "json") or "[]") if not serving.empty else [],
                    **(_pair_json(pair) if pair else {}),
                }
            )
            + "\n"
        )
        return EXIT_OK
    out.data(render(table, fmt))
    if not scores.empty:
        out.data("\n" if fmt == "md" else "")
        out.data(render(scores, fmt))
    if not serving.empty:
        out.data("\n" if fmt == "md" else "")
        out.data(render(serving, fmt))
    if fmt == "md" and pair:
        _print_pair(pair, out)
    elif fmt == "md":
        for note in shape_notes(table):
            out.say(f"- {note}")
    return EXIT_OK


Pair = tuple[tuple[str, str], tuple[str, str], pd.DataFrame, pd.DataFrame]


def _two_devices(runs: pd.DataFrame, model: str | None, tests: list[str] | None, devices: list[str]) -> Pair:
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


def _print_pair(pair: Pair, out: Output) -> None:
    """The two-device view: the tests both ran side by side with the ratio, then the others apart, by name."""
    from harness.aggregate.compare import DIFFERENT_SHAPES, render

    a, b, shared, only = pair
    ratio = f"{b[0]} / {a[0]}"
    out.data(
        f"\nThe tests both ran, side by side (the same test only; each device's fastest row above; {ratio} is the "
        "ratio of the two):\n\n"
    )
    if shared.empty:
        out.say("(none: these two devices share no test here)")
    else:
        out.data(render(shared.assign(**{ratio: shared[ratio].map(lambda r: f"{r:.2f}x")}), "md"))
    out.say("\nTests only one of them ran (a different test is a different measurement: no ratio):")
    several = len(set(only["model"]) | set(shared["model"] if not shared.empty else [])) > 1
    for r in only.itertuples():
        out.say(f"- {r.model + ', ' if several else ''}only {r.side_label}: {', '.join(r.tests)}")
    for device, name in (a, b):
        if shared.empty and device not in set(only["side"]):
            out.say(f"- {name}: no result among these")
    out.say(f"- {DIFFERENT_SHAPES}")


def _name_measured(frame: pd.DataFrame, here: str) -> None:
    """'measured' becomes 'measured here' (this machine) or 'submitted' (another's), in place."""
    if not frame.empty:
        measured = frame["source"] == "measured"
        frame.loc[measured, "source"] = frame.loc[measured, "machine_id"].map(
            lambda m: "measured here" if m == here else "submitted"
        )
