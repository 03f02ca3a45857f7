"""What `meek compare` and `meek advise` print, from the result files that pass validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.aggregate.tree import Tree, load_tree
from harness.memory_fit import DEFAULT_CONTEXT
from harness.errors import EXIT_OK, UsageError, require_existing
from harness.output import Output


def load_valid(paths: list[Path], out: Output) -> Tree:
    """The results under `paths` that pass validation, with one warning line for those left out."""
    require_existing(paths)
    tree = load_tree(paths)
    if tree.rejected:
        out.warn(f"left out {len(tree.rejected)} file(s) that fail validation (see meek validate)")
    return tree


def primary_scores(results: Path, tasks: set[str], machine_id: str | None) -> pd.DataFrame:
    """The primary scores on these tasks in a results tree, of one machine (or of all when machine_id is None)."""
    scores = load_tree([results]).scores if results.exists() else pd.DataFrame()
    if scores.empty:
        return scores
    scores = scores[scores["task"].isin(tasks) & scores["primary"]]
    return scores if machine_id is None else scores[scores["machine_id"] == machine_id]


def compare(paths: list[Path], model: str | None, tests: list[str] | None, fmt: str, out: Output,
            devices: list[str] | None = None) -> int:  # fmt: skip
    from harness.aggregate.compare import compare_table, render, scores_table, select_model, serving_table, shape_notes
    from harness.machine.facts import fingerprint

    tree = load_valid(paths, out)
    points = tree.serving[tree.serving["device_id"].isin(devices)] if devices else tree.serving
    # serving points of other models (a `bench --parallel` file in the tree) are no reason to refuse this model's runs
    serving = serving_table(points, model, required=False) if not points.empty else pd.DataFrame()
    here = fingerprint(include_build=False)["machine_id"]
    _name_measured(serving, here)
    if not serving.empty and select_model(tree.runs, model, required=False).empty:  # serving points only, for this model
        serving_json = json.loads(render(serving, "json"))
        out.data(json.dumps({"speed": [], "scores": [], "serving": serving_json}) + "\n" if fmt == "json" else render(serving, fmt))
        return EXIT_OK
    if tree.runs.empty and not tree.serving.empty:
        select_model(tree.serving, model)  # no runs and no serving point of this model: the error names the models there
    table = compare_table(tree.runs, model, tests, devices)
    _name_measured(table, here)
    scores = scores_table(tree.scores, model)
    pair = _two_devices(tree.runs, model, tests, devices) if devices and len(set(devices)) == 2 else None
    if fmt == "json":
        out.data(json.dumps({"speed": json.loads(render(table, "json")), "scores": json.loads(render(scores, "json") or "[]"),
                             "serving": json.loads(render(serving, "json") or "[]") if not serving.empty else [],
                             **(_pair_json(pair) if pair else {})}) + "\n")  # fmt: skip
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
    return {"side_by_side": json.loads(render(shared, "json")) if not shared.empty else [],
            "only": [{"model": r.model, "device": r.side, "tests": r.tests} for r in only.itertuples()]}  # fmt: skip


def _print_pair(pair: Pair, out: Output) -> None:
    """The two-device view: the tests both ran side by side with the ratio, then the others apart, by name."""
    from harness.aggregate.compare import DIFFERENT_SHAPES, render

    a, b, shared, only = pair
    ratio = f"{b[0]} / {a[0]}"
    out.data(f"\nThe tests both ran, side by side (the same test only; each device's fastest row above; {ratio} is the "
             "ratio of the two):\n\n")  # fmt: skip
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
        frame.loc[measured, "source"] = frame.loc[measured, "machine_id"].map(lambda m: "measured here" if m == here else "submitted")


def advise(paths: list[Path], model_id: str, budget: float | None, min_tg: float | None, fmt: str, out: Output,
           backend: str | None = None, context: int = DEFAULT_CONTEXT) -> int:  # fmt: skip
    from harness.aggregate.advise import advise as rank_devices
    from harness.aggregate.advise import backend_option
    from harness.aggregate.compare import render
    from harness.catalogue.models import load_catalog, unknown_model_message

    catalog = load_catalog()
    model = catalog.get(model_id)
    if model is None:
        raise UsageError(unknown_model_message(model_id, catalog))
    backend = backend_option(backend)
    tree = load_valid(paths, out)
    table, notes, apart = rank_devices(tree.runs, model, budget, min_tg, backend=backend, context=context)
    if table.empty:
        out.say("no device in the hardware table meets all the conditions")
    elif fmt == "json":
        out.data(json.dumps({"devices": json.loads(render(table, "json")), "apart": json.loads(render(apart, "json"))
                             if not apart.empty else [], "notes": notes}) + "\n")  # fmt: skip
        return EXIT_OK
    else:
        out.data(render(table, fmt))
    if fmt == "md":
        if not apart.empty:
            out.data("\nOther tools' figures with no learned transfer to llama-bench's tests (not ranked, not converted):\n\n")
            out.data(render(apart, fmt))
        for note in notes:
            out.say(f"- {note}")
    return EXIT_OK


def transfers(paths: list[Path], fmt: str, out: Output) -> int:
    """`meek advise --transfers`: the transfers the record supports, from which figures are converted."""
    from harness.aggregate.advise import Record
    from harness.aggregate.canonical import MIN_TRANSFER_DEVICES
    from harness.aggregate.compare import render

    table = Record(load_valid(paths, out).runs).transfer_table()
    if table.empty:
        out.say("no device in these results was measured both with llama-bench and another way: nothing converts")
        return EXIT_OK
    out.data(render(table, fmt))
    if fmt == "md":
        out.say(f"- a transfer converts figures once {MIN_TRANSFER_DEVICES} or more devices were measured both ways; factor: "
                "the median over those devices of each device's ratio (canonical / other, per token cost); 10-90%: the "
                "spread of every pair, carried into each converted figure's range")  # fmt: skip
    return EXIT_OK


def advise_device(paths: list[Path], device_id: str | None, min_tg: float | None, fmt: str, out: Output,
                  backend: str | None = None, context: int = DEFAULT_CONTEXT) -> int:  # fmt: skip
    """`meek advise --device ID` (or `--machine this`): what this device runs, fastest first, measured or predicted."""
    from harness.aggregate.advise import backend_option, backends_of, models_for_device
    from harness.aggregate.compare import render
    from harness.machine.hardware import device_for_machine, load_hardware

    devices = {d.id: d for d in load_hardware()}
    if device_id is None:
        from harness.machine.facts import fingerprint

        facts = fingerprint(include_build=False)
        device = device_for_machine(facts, gpu_offload=bool(facts["gpus"]))
        if device is None:
            raise UsageError("--machine this: this machine's CPU or GPU is not in the hardware table; name one with --device")
    elif device_id in devices:
        device = devices[device_id]
    else:
        import difflib

        near = difflib.get_close_matches(device_id, sorted(devices), n=2, cutoff=0.5)
        raise UsageError(f"--device: unknown device '{device_id}'." + (f" Did you mean {' or '.join(near)}?" if near else ""))
    backend = backend_option(backend)
    if backend and backend not in backends_of(device):
        raise UsageError(f"--backend: {device.name} does not run llama.cpp's {backend} backend (it runs {', '.join(backends_of(device))})")
    tree = load_valid(paths, out)
    table = models_for_device(tree.runs, device, min_tg, backend=backend, context=context)
    if table.empty:
        out.say(f"no catalogue model fits {device.name}" + (f" at {min_tg:g} t/s or more" if min_tg else ""))
        return EXIT_OK
    out.data(render(table, fmt))
    if fmt == "md":
        kinds = table["tg128 is"].value_counts()
        out.say(f"- {device.name}: tg128 {', '.join(f'{n} {kind}' for kind, n in kinds.items())} (llama-bench's test at "
                "depth 0 on the backend named; each row names its basis, and its range where the spread allows one); "
                f"memory is the need at {context} tokens of context (--ctx)")  # fmt: skip
    return EXIT_OK
