"""`meek machine`: the fingerprint, the power sensors readable here, and the preflight verdict (which of
llama.cpp's CPU paths run on this machine)."""

from __future__ import annotations

import json

from harness.machine.facts import fingerprint
from harness.memory_fit import gib
from harness.output import Output


def machine_facts(probe: bool) -> dict:
    """The fingerprint with the preflight verdict (probed now with the bundled model if `probe` and none is stored)."""
    from harness.catalogue.models import DEFAULT_MODEL, load_catalog, resolve
    from harness.machine.facts import physical_cores
    from harness.measure import preflight

    facts = fingerprint()
    if probe and "cpu_features_used" in facts.get("llama_cpp", {}):
        verdict = preflight.check(resolve(DEFAULT_MODEL, load_catalog()).path, facts, threads=physical_cores())
    else:
        verdict = preflight.cached(facts)
    preflight.apply(facts, verdict)
    facts["preflight"] = preflight.describe(verdict)
    return facts


def run(probe: bool, as_json: bool, out: Output) -> int:
    facts = machine_facts(probe)
    if as_json:
        out.data(json.dumps(facts, indent=2) + "\n")
        return 0
    cpu, build = facts["cpu"], facts.get("llama_cpp", {})
    lines = [
        ("machine id", facts["machine_id"]),
        ("cpu", f"{cpu['model']} ({cpu['arch']}), {cpu['physical_cores']} cores / {cpu['logical_cores']} threads"),
        ("simd", " ".join(cpu["simd"]) or "-"),
        ("memory", gib(facts["memory_bytes"]) + (" (unified)" if facts["unified_memory"] else "")),
    ]
    for gpu in facts["gpus"] or [{"vendor": "", "name": "none found", "memory_bytes": None}]:
        memory = f", {gib(gpu['memory_bytes'])}" if gpu.get("memory_bytes") else ""
        driver = f", driver {gpu['driver']}" if gpu.get("driver") else ""
        lines.append(("gpu", f"{gpu['vendor']} {gpu['name']}{memory}{driver}"))
    lines += [
        ("os", f"{facts['os']['system']} {facts['os']['release']}"),
        ("python", facts["python"]),
        ("llama-cpp-python", str(build.get("llama_cpp_python"))),
        ("llama.cpp commit", f"{build.get('commit')} (ggml {build.get('ggml_version')})"),
        ("backends", ", ".join(build.get("backends", [])) + (" (GPU offload available)" if build.get("gpu_offload") else "")),
        ("cpu features used", " ".join(build.get("cpu_features_used", []))),
        ("preflight", facts.get("preflight", "-")),
        ("harness", facts["harness_version"]),
    ]
    from harness.machine.sensors import available_sensors

    sensors = available_sensors()
    lines += [("power sensors", sensor) for sensor in sensors] or [
        ("power sensors", "none readable (power is reported as absent)")
    ]
    for key, value in lines:
        out.say(f"{key:>18}: {value}")
    for warning in facts.get("warnings", []):
        out.warn(warning)
    return 0
