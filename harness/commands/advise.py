"""`meek advise`: which device to buy for a model, and what a device runs (harness/aggregate/advise.py), each figure
measured, converted or predicted with its basis; `--transfers` lists the learned conversions between tests."""

from __future__ import annotations

import json
from pathlib import Path

from harness.commands.compare import load_valid
from harness.errors import EXIT_OK, UsageError
from harness.memory_fit import DEFAULT_CONTEXT
from harness.output import Output


def run(
    paths: list[Path],
    model: str | None,
    device: str | None,
    machine: str | None,
    budget: float | None,
    min_tg: float | None,
    backend: str | None,
    ctx: int,
    list_transfers: bool,
    fmt: str,
    out: Output,
) -> int:
    """`meek advise`: which device for a model (-m), what a device runs (--device, --machine this), or the transfers."""
    if list_transfers:
        return transfers(paths, fmt, out)
    if machine not in (None, "this"):
        raise UsageError(f"--machine: only 'this' is supported (got '{machine}')")
    if (model is None) == (device is None and machine is None):
        raise UsageError("give -m MODEL (which device to buy) or --device ID / --machine this (which models it runs)")
    if model is not None:
        return advise(paths, model, budget, min_tg, fmt, out, backend, ctx)
    return advise_device(paths, device, min_tg, fmt, out, backend, ctx)


def advise(
    paths: list[Path],
    model_id: str,
    budget: float | None,
    min_tg: float | None,
    fmt: str,
    out: Output,
    backend: str | None = None,
    context: int = DEFAULT_CONTEXT,
) -> int:
    from harness.aggregate.advise import backend_option
    from harness.aggregate.answers import advice, advice_json
    from harness.aggregate.compare import render
    from harness.catalogue.models import load_catalog, unknown_model_message

    catalog = load_catalog()
    model = catalog.get(model_id)
    if model is None:
        raise UsageError(unknown_model_message(model_id, catalog))
    backend = backend_option(backend)
    from harness.aggregate.quants import quants_markdown, quants_table

    tree = load_valid(paths, out)
    answer = advice(tree, model, budget, min_tg, backend, context)
    table, notes, apart = answer.table, answer.notes, answer.apart
    quants = quants_table(tree, model_id)  # where meek quality or meek fit measured this model's family
    if table.empty:
        out.say("no device in the hardware table meets all the conditions")
    elif fmt == "json":
        extra = {"quants": json.loads(render(quants, "json"))} if not quants.empty else {}
        out.data(json.dumps({**advice_json(answer), **extra}) + "\n")
        return EXIT_OK
    else:
        out.data(render(table, fmt))
    if fmt == "md":
        if not apart.empty:
            out.data("\nOther tools' figures with no learned transfer to llama-bench's tests (not ranked, not converted):\n\n")
            out.data(render(apart, fmt))
        for note in notes:
            out.say(f"- {note}")
        if not quants.empty:
            out.say("\nWhat each quant of this model costs, where measured (speed: the fastest settings' median; KLD: meek")
            out.say("quality's mean KL divergence from its reference; largest context: meek fit):")
            out.data(quants_markdown(quants))
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
        out.say(
            f"- a transfer converts figures once {MIN_TRANSFER_DEVICES} or more devices were measured both ways; factor: "
            "the median over those devices of each device's ratio (canonical / other, per token cost); 10-90%: the "
            "spread of every pair, carried into each converted figure's range"
        )
    return EXIT_OK


def advise_device(
    paths: list[Path],
    device_id: str | None,
    min_tg: float | None,
    fmt: str,
    out: Output,
    backend: str | None = None,
    context: int = DEFAULT_CONTEXT,
) -> int:
    """`meek advise --device ID` (or `--machine this`): what this device runs, fastest first, measured or predicted; this
    machine outside the hardware table answers from its own memory and its bandwidth measured by a copy test."""
    from harness.aggregate.advise import backend_option, backends_of, models_for_device, this_machine_device
    from harness.aggregate.compare import render
    from harness.catalogue.hardware import load_hardware

    devices = {d.id: d for d in load_hardware()}
    memory, measured_basis = None, ""
    if device_id is None:
        from harness.machine.facts import fingerprint

        here = this_machine_device(fingerprint(include_build=False))
        device = here.device
        if here.measured:
            memory, measured_basis = here.memory, here.basis
    elif device_id in devices:
        device = devices[device_id]
    else:
        import difflib

        near = difflib.get_close_matches(device_id, sorted(devices), n=2, cutoff=0.5)
        raise UsageError(f"--device: unknown device '{device_id}'." + (f" Did you mean {' or '.join(near)}?" if near else ""))
    backend = backend_option(backend)
    if backend and backend not in backends_of(device):
        raise UsageError(
            f"--backend: {device.name} does not run llama.cpp's {backend} backend (it runs {', '.join(backends_of(device))})"
        )
    tree = load_valid(paths, out)
    every = models_for_device(tree.runs, device, None, backend=backend, context=context, memory=memory)
    if measured_basis and not every.empty:
        every["basis"] = every["basis"] + f"; {measured_basis}"
    table = every[every["tg128 t/s"] >= min_tg].reset_index(drop=True) if min_tg is not None and not every.empty else every
    slower = len(every) - len(table)
    left_out = (
        f"{slower} catalogue model{'s' if slower != 1 else ''} that fit left out below --min-tg {min_tg:g} t/s" if min_tg else ""
    )
    note = out.say if fmt == "md" else out.line  # machine-readable output keeps stdout to the table
    if measured_basis:
        note(f"- {measured_basis}; each prediction below rests on it")
    if table.empty:
        note(f"no catalogue model fits {device.name}" + (f" at {min_tg:g} t/s or more ({left_out})" if min_tg else ""))
        return EXIT_OK
    out.data(render(table, fmt))
    if fmt == "md":
        kinds = table["tg128 is"].value_counts()
        out.say(
            f"- {device.name}: tg128 {', '.join(f'{n} {kind}' for kind, n in kinds.items())} (llama-bench's test at "
            "depth 0 on the backend named; each row names its basis, and its range where the spread allows one); "
            f"memory is the need at {context} tokens of context (--ctx)"
        )
        if left_out:
            out.say(f"- {left_out}")
    elif left_out:
        out.line(left_out)
    return EXIT_OK
