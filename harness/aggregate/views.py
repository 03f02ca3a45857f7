"""What `meek compare` and `meek advise` print, from the result files that pass validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.aggregate.tree import Tree, load_tree
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
    from harness.aggregate.compare import compare_table, render, scores_table, serving_table, shape_notes
    from harness.machine.facts import fingerprint

    tree = load_valid(paths, out)
    serving = serving_table(tree.serving, model) if not tree.serving.empty else pd.DataFrame()
    here = fingerprint(include_build=False)["machine_id"]
    _name_measured(serving, here)
    if tree.runs.empty and not serving.empty:  # a tree of serving points only
        serving_json = json.loads(render(serving, "json"))
        out.data(json.dumps({"speed": [], "scores": [], "serving": serving_json}) + "\n" if fmt == "json" else render(serving, fmt))
        return EXIT_OK
    table = compare_table(tree.runs, model, tests, devices)
    _name_measured(table, here)
    scores = scores_table(tree.scores, model)
    if fmt == "json":
        out.data(json.dumps({"speed": json.loads(render(table, "json")), "scores": json.loads(render(scores, "json") or "[]"),
                             "serving": json.loads(render(serving, "json") or "[]") if not serving.empty else []}) + "\n")
        return EXIT_OK
    out.data(render(table, fmt))
    if not scores.empty:
        out.data("\n" if fmt == "md" else "")
        out.data(render(scores, fmt))
    if not serving.empty:
        out.data("\n" if fmt == "md" else "")
        out.data(render(serving, fmt))
    if fmt == "md":
        for note in shape_notes(table):
            out.say(f"- {note}")
    return EXIT_OK


def _name_measured(frame: pd.DataFrame, here: str) -> None:
    """'measured' becomes 'measured here' (this machine) or 'submitted' (another's), in place."""
    if not frame.empty:
        measured = frame["source"] == "measured"
        frame.loc[measured, "source"] = frame.loc[measured, "machine_id"].map(lambda m: "measured here" if m == here else "submitted")


def advise(paths: list[Path], model_id: str, budget: float | None, min_tg: float | None, fmt: str, out: Output) -> int:
    from harness.aggregate.advise import advise as rank_devices
    from harness.aggregate.compare import render
    from harness.catalogue.models import load_catalog, unknown_model_message

    catalog = load_catalog()
    model = catalog.get(model_id)
    if model is None:
        raise UsageError(unknown_model_message(model_id, catalog))
    tree = load_valid(paths, out)
    table, notes = rank_devices(tree.runs, model, budget, min_tg)
    if table.empty:
        out.say("no device in the hardware table meets all the conditions")
    else:
        out.data(render(table, fmt))
    if fmt == "md":
        for note in notes:
            out.say(f"- {note}")
    return EXIT_OK


def advise_device(paths: list[Path], device_id: str | None, min_tg: float | None, fmt: str, out: Output) -> int:
    """`meek advise --device ID` (or `--machine this`): what this device runs, fastest first, measured or predicted."""
    from harness.aggregate.advise import models_for_device
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
    tree = load_valid(paths, out)
    table = models_for_device(tree.runs, device, min_tg)
    if table.empty:
        out.say(f"no catalogue model fits {device.name}" + (f" at {min_tg:g} t/s or more" if min_tg else ""))
        return EXIT_OK
    out.data(render(table, fmt))
    if fmt == "md":
        measured = int(table["basis"].str.startswith("measured").sum())
        out.say(f"- {device.name}: {measured} model(s) measured on this device, {len(table) - measured} predicted "
                "(from the record: each row names its basis, and its range where the spread allows one); memory is the need "
                "at an 8k context")  # fmt: skip
    return EXIT_OK
