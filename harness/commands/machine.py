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


def run(probe: bool, as_json: bool, out: Output) -> int:
    machine, verdict = machine_facts(probe)
    if as_json:  # what was found (fields left unset are left out), and the verdict
        facts = {**machine.model_dump(mode="json", exclude_unset=True), "preflight": verdict}
        out.data(json.dumps(facts, indent=2) + "\n")
        return 0
    cpu, build = machine.cpu, machine.llama_cpp
    lines = [
        ("machine id", machine.machine_id),
        ("cpu", f"{cpu.model} ({cpu.arch}), {cpu.physical_cores} cores / {cpu.logical_cores} threads"),
        ("simd", " ".join(cpu.simd) or "-"),
        ("memory", gib(machine.memory_bytes or 0) + (" (unified)" if machine.unified_memory else "")),
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
