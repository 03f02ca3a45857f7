"""`meek machine`: the fingerprint, the power sensors readable here, and the preflight verdict (which of
llama.cpp's CPU paths run on this machine)."""

from __future__ import annotations

import json

from harness.machine.facts import fingerprint
from harness.memory_fit import gib
from harness.output import Output
from harness.results.schema import Machine


def machine_facts(probe: bool) -> tuple[Machine, str]:
    """The fingerprint with the preflight verdict in it (probed now with the bundled model if `probe` and none is
    stored), and the verdict in a line."""
    from harness.catalogue.models import DEFAULT_MODEL, load_catalog, resolve
    from harness.machine.facts import physical_cores
    from harness.measure import preflight

    machine = fingerprint()
    if probe and machine.llama_cpp.error is None:  # a build whose features could be read
        verdict = preflight.check(resolve(DEFAULT_MODEL, load_catalog()).path, machine, threads=physical_cores())
    else:
        verdict = preflight.cached(machine)
    return preflight.apply(machine, verdict), preflight.describe(verdict)


def bandwidth(machine: Machine) -> dict[str, float | str | None]:
    """This machine's memory bandwidth measured by a copy test (system RAM), and the hardware table's peak for its
    device where the table has it, each with its label."""
    from harness.machine.bandwidth import LABEL, this_machine_gbs
    from harness.results.facts import device_of

    device = device_of(machine, offload=bool(machine.gpus))
    return {
        "measured_gbs": round(this_machine_gbs(), 1),
        "measured_is": f"{LABEL} (system RAM; a numpy copy, bytes read plus written)",
        "table_peak_gbs": device.bandwidth_gbs if device is not None else None,
        "table_device": device.name if device is not None else None,
    }


def run(probe: bool, as_json: bool, out: Output) -> int:
    machine, verdict = machine_facts(probe)
    speed = bandwidth(machine)
    if as_json:  # what was found (fields left unset are left out), and the verdict
        facts = {**machine.model_dump(mode="json", exclude_unset=True), "preflight": verdict, "bandwidth": speed}
        out.data(json.dumps(facts, indent=2) + "\n")
        return 0
    cpu, build = machine.cpu, machine.llama_cpp
    lines = [
        ("machine id", machine.machine_id),
        ("cpu", f"{cpu.model} ({cpu.arch}), {cpu.physical_cores} cores / {cpu.logical_cores} threads"),
        ("simd", " ".join(cpu.simd) or "-"),
        ("memory", gib(machine.memory_bytes or 0) + (" (unified)" if machine.unified_memory else "")),
        ("bandwidth", f"{speed['measured_gbs']:.1f} GB/s {speed['measured_is']}"),
        (
            "bandwidth peak",
            f"{speed['table_peak_gbs']:g} GB/s table peak ({speed['table_device']})"
            if speed["table_peak_gbs"] is not None
            else "no table peak: this machine's device is not in the hardware table",
        ),
    ]
    for gpu in machine.gpus:
        memory = f", {gib(gpu.memory_bytes)}" if gpu.memory_bytes else ""
        driver = f", driver {gpu.driver}" if gpu.driver else ""
        lines.append(("gpu", f"{gpu.vendor} {gpu.name}{memory}{driver}"))
    if not machine.gpus:
        lines.append(("gpu", " none found"))
    lines += [
        ("os", f"{machine.os['system']} {machine.os['release']}"),
        ("python", machine.python),
        ("llama-cpp-python", str(build.llama_cpp_python)),
        ("llama.cpp commit", f"{build.commit} (ggml {build.ggml_version})"),
        ("backends", ", ".join(build.backends) + (" (GPU offload available)" if build.gpu_offload else "")),
        ("cpu features used", " ".join(build.cpu_features_used)),
        ("preflight", verdict),
        ("harness", machine.harness_version),
    ]
    from harness.machine.sensors import available_sensors

    sensors = available_sensors()
    lines += [("power sensors", sensor) for sensor in sensors] or [
        ("power sensors", "none readable (power is reported as absent)")
    ]
    for key, value in lines:
        out.say(f"{key:>18}: {value}")
    for warning in machine.warnings:
        out.warn(warning)
    return 0
