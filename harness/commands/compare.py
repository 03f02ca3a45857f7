"""`meek compare`: machines (or two devices) side by side for a model, from the result files that pass validation; the
logic is harness/aggregate/compare.py."""

from __future__ import annotations

import json
from pathlib import Path

from harness.aggregate.answers import Pair, comparison, comparison_json
from harness.aggregate.tree import Tree, load_tree
from harness.errors import EXIT_OK, MeekError, UsageError, require_existing
from harness.home import SOURCE_ROOT
from harness.output import Output


def load_valid(paths: list[Path], out: Output) -> Tree:
    """The results under `paths` that pass validation, with one warning line for those left out. The default, results/,
    when there is none here (an installed meek run outside a clone): the newest record snapshot, named in one line."""
    if paths == [Path("results")] and not paths[0].exists():
        return _from_snapshot(out)
    require_existing(paths)
    tree = load_tree(paths)
    if tree.rejected:
        out.warn(f"left out {len(tree.rejected)} file(s) that fail validation (see meek validate)")
    return tree


def _from_snapshot(out: Output) -> Tree:
    from harness.record import snapshot

    found, problems = snapshot.newest()
    for problem in problems:
        out.warn(f"left out {problem}")
    if found is None and (SOURCE_ROOT / "results").is_dir():  # an editable install run outside its clone
        out.line(f"no results/ here: answering from the checkout's record at {SOURCE_ROOT / 'results'}")
        return load_valid([SOURCE_ROOT / "results"], out)
    if found is None:
        raise UsageError(
            "no such file or folder: results (give --results-dir DIR, or run from a clone of meek-harness; this "
            "installation has no record snapshot: meek record pull URL --snapshot fetches one)"
        )
    out.line(f"no results/ here: answering from the record snapshot at {found.path} ({found.describe()})")
    try:
        with snapshot.unpacked(found) as root:
            tree = load_tree([root])
    except snapshot.SnapshotError as error:
        raise MeekError(str(error)) from None
    if tree.rejected:
        out.warn(f"left out {len(tree.rejected)} file(s) of the snapshot that fail validation (see meek validate)")
    return tree


def run(
    paths: list[Path], model: str | None, tests: list[str] | None, fmt: str, out: Output, devices: list[str] | None = None
) -> int:
    from harness.aggregate.compare import render, shape_notes
    from harness.machine.facts import fingerprint

    tree = load_valid(paths, out)
    answer = comparison(tree, model, tests, devices, here=fingerprint(include_build=False).machine_id)
    if fmt == "json":
        out.data(json.dumps(comparison_json(answer)) + "\n")
        return EXIT_OK
    if answer.serving_only:
        out.data(render(answer.serving, fmt))
        return EXIT_OK
    if answer.quants_only:
        _print_quants(answer, fmt, out, first=True)
        return EXIT_OK
    out.data(render(answer.table, fmt))
    if not answer.scores.empty:
        out.data("\n" if fmt == "md" else "")
        out.data(render(answer.scores, fmt))
    if not answer.serving.empty:
        out.data("\n" if fmt == "md" else "")
        out.data(render(answer.serving, fmt))
    _print_quants(answer, fmt, out)
    if fmt == "md" and answer.pair:
        _print_pair(answer.pair, out)
    elif fmt == "md":
        for note in shape_notes(answer.table):
            out.say(f"- {note}")
    return EXIT_OK


def _print_quants(answer, fmt: str, out: Output, first: bool = False) -> None:
    """The family's quants side by side: speed, size, KL divergence and largest context per machine and file."""
    from harness.aggregate.compare import render
    from harness.aggregate.quants import quants_markdown

    if answer.quants.empty:
        return
    if fmt != "md":
        out.data(render(answer.quants, fmt))
        return
    out.data("" if first else "\n")
    out.say("Quants of this model on each machine (speed: the fastest settings' median; KLD: meek quality's mean KL divergence):")
    out.data(quants_markdown(answer.quants))


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
