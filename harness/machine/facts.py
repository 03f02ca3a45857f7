"""What the harness knows about this machine and its llama.cpp build: the fingerprint stored with every result.

No hostname or user name: the machine id is a readable hardware slug plus a random suffix kept in $MEEK_HOME.
"""

from __future__ import annotations

import ctypes
import platform
import re
import secrets
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from harness.home import meek_home
from harness.machine import gpu
from harness.results.schema import LlamaBuild, Machine
from harness.version import __version__

# SIMD features that matter for llama.cpp's CPU kernels: /proc/cpuinfo flag -> llama_print_system_info name.
SIMD_FEATURES = {
    "avx": "AVX",
    "avx2": "AVX2",
    "fma": "FMA",
    "f16c": "F16C",
    "bmi2": "BMI2",
    "avx512f": "AVX512",
    "avx512_vnni": "AVX512_VNNI",
    "avx512_bf16": "AVX512_BF16",
    "avx512vbmi": "AVX512_VBMI",
    "avx_vnni": "AVX_VNNI",
    "amx_int8": "AMX_INT8",
    "asimddp": "DOTPROD",
    "sve": "SVE",
    "i8mm": "MATMUL_INT8",
}


def cpu_model() -> str:
    if platform.system() == "Darwin":
        import subprocess

        try:
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    for line in _cpuinfo_lines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The SIMD features this CPU reports that llama.cpp can use (lower-case /proc/cpuinfo names)."""
    for line in _cpuinfo_lines():
        if line.lower().startswith(("flags", "features")):
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in SIMD_FEATURES if flag in present]
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return ["asimddp", "i8mm"]
    return []


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def llama_build() -> LlamaBuild:
    """llama-cpp-python version, the vendored llama.cpp commit, compiled backends and the CPU features the build uses;
    `error` says why the runtime is not usable (and the fields after the failing step are left unset)."""
    info: dict[str, Any] = {"llama_cpp_python": _version("llama-cpp-python")}
    try:
        import llama_cpp
        from llama_cpp import _ggml

        system_info = llama_cpp.llama_print_system_info().decode()
        info["system_info"] = system_info.strip()
        info["gpu_offload"] = bool(llama_cpp.llama_supports_gpu_offload())
        for name in ("ggml_commit", "ggml_version"):
            function = getattr(_ggml.libggml, name, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                info[name.removeprefix("ggml_") if name == "ggml_commit" else name] = function().decode()
        info["backends"] = compiled_backends(system_info)
        info["cpu_features_used"] = re.findall(r"(\w+) = 1", system_info)
    except Exception as error:  # the fingerprint must not fail because the runtime is missing
        info["error"] = f"{type(error).__name__}: {error}"
    return LlamaBuild.model_validate(info)


def compiled_backends(system_info: str) -> list[str]:
    """Backends named in llama_print_system_info ('CUDA : ...', 'Metal : ...'), CPU always last."""
    names = re.findall(r"(?:^|\|)\s*([A-Za-z][\w-]*) :", system_info)
    backends = [name for name in dict.fromkeys(names) if name.upper() not in ("CPU",)]
    return backends + ["CPU"]


def missing_simd(flags: list[str], features_used: list[str]) -> list[str]:
    """CPU features the processor has but the llama.cpp build does not use: a generic build can be several times slower.

    AMX is left out: llama.cpp uses it only through the repacked-weight path, which faults on some VMs that advertise it;
    a build with AMX is checked by the preflight probe before it measures anything (harness/measure/preflight.py), so
    advising every user without it to rebuild would lead some of them into that crash for a gain only in prompt
    processing."""
    used = set(features_used)
    return [SIMD_FEATURES[f] for f in flags if SIMD_FEATURES[f] not in used and f != "amx_int8"]


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine_id(cpu: str, memory_bytes: int, gpus: list[dict[str, Any]]) -> str:
    """A stable, anonymous id: a slug of the main chip and memory, plus a random suffix created once in $MEEK_HOME."""
    id_file = meek_home() / "machine-suffix"
    if not id_file.is_file():
        id_file.write_text(secrets.token_hex(3))
    suffix = id_file.read_text().strip()[:6]
    chip = gpus[0]["name"] if gpus and gpus[0]["vendor"] != "apple" else cpu
    words = re.sub(r"\(r\)|\(tm\)|cpu|processor|@.*|\d+-core", " ", chip.lower())
    slug = "-".join(re.findall(r"[a-z0-9]+", words))[:40] or "machine"
    return f"{slug}-{round(memory_bytes / 2**30)}g-{suffix}"


def fingerprint(include_build: bool = True) -> Machine:
    """Everything stored about the machine with a result: hardware, OS, Python, the llama.cpp build.

    A frozen value: the preflight probe's findings go into a copy (harness/measure/preflight.py). What was not found is
    left unset, so `model_dump(exclude_unset=True)` is what was read (`meek machine --json`). Without `include_build`
    (the hardware only: llama_cpp is not imported) the build is an empty LlamaBuild and there are no warnings: a
    fingerprint for fit checks and machine ids, not for a result file.
    """
    memory = psutil.virtual_memory().total
    gpus = gpu.list_gpus()
    cpu = cpu_model()
    flags = cpu_flags()
    facts: dict[str, Any] = {
        "machine_id": machine_id(cpu, memory, gpus),
        "cpu": {
            "model": cpu,
            "arch": platform.machine(),
            "physical_cores": psutil.cpu_count(logical=False),
            "logical_cores": psutil.cpu_count(logical=True),
            "simd": flags,
        },
        "memory_bytes": memory,
        "gpus": gpus,
        "unified_memory": any(g.get("unified_memory") for g in gpus),
        "os": {"system": platform.system(), "release": platform.release(), "version": platform.version()[:120]},
        "python": platform.python_version(),
        "harness_version": __version__,
    }
    if not include_build:
        return Machine.model_validate({**facts, "llama_cpp": LlamaBuild()})
    build = llama_build()
    return Machine.model_validate({**facts, "llama_cpp": build, "warnings": build_warnings(flags, build)})


def build_warnings(flags: list[str], build: LlamaBuild) -> list[str]:
    if build.error is not None:  # set exactly when the build's features could not be read
        return [f"llama-cpp-python is not usable: {build.error}"]
    missing = missing_simd(flags, build.cpu_features_used)
    if missing:
        return [
            f"this llama.cpp build does not use {', '.join(missing)}, which this CPU has: a generic build can be several times "
            "slower; rebuild llama-cpp-python for this machine (see the README)"
        ]
    return []


def physical_cores() -> int:
    """llama-bench's default thread count."""
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
