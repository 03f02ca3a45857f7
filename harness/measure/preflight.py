"""Preflight: before measuring, find out which of llama.cpp's CPU paths run on this machine, and fall back where one crashes.

Cloud VMs and some hypervisors report CPU features they do not run. On an Intel Xeon VM that advertises AMX, llama.cpp's
AMX path (weights repacked into its AMX buffer type) faults on the first decode (SIGILL on `tileloadd` on some, SIGSEGV on
`ldtilecfg` on others), while the same build with repacking off (`llama_model_params.use_extra_bufts = false`, llama-bench's
`--repack 0`) runs. A wheel built on another CPU dies the same way on an instruction this CPU lacks.

The probe loads a model in a worker process and runs a short prompt batch and one generated token: first with repack on,
then, if the worker died on a signal, with repack off. The verdict is cached in $MEEK_HOME/preflight per machine id,
llama.cpp build and backend, so it costs a few seconds once; a new build of llama-cpp-python gets a new probe.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import MeekError, UsageError
from harness.home import meek_home
from harness.machine.facts import SIMD_FEATURES, cpu_flags
from harness.measure import faults
from harness.measure.events import ProbeRan
from harness.measure.protocol import LoadSettings
from harness.measure.worker import CRASH_SIGNALS, WorkerFailed, run_in_worker
from harness.results.schema import DisabledPath, Machine

VERDICT_VERSION = 1
PROBE_PROMPT_TOKENS = 32  # a batch large enough to take the repacked matrix kernels, as a real prompt does
# Build flags of a portable llama-cpp-python, by the feature names of llama_print_system_info (AMX left out on purpose:
# it is the path that faults under some hypervisors, and the probe decides whether it runs).
PORTABLE_FLAGS = {
    "AVX": "GGML_AVX",
    "AVX2": "GGML_AVX2",
    "FMA": "GGML_FMA",
    "F16C": "GGML_F16C",
    "BMI2": "GGML_BMI2",
    "AVX_VNNI": "GGML_AVX_VNNI",
    "AVX512": "GGML_AVX512",
    "AVX512_VBMI": "GGML_AVX512_VBMI",
    "AVX512_VNNI": "GGML_AVX512_VNNI",
    "AVX512_BF16": "GGML_AVX512_BF16",
}


@dataclasses.dataclass
class Verdict:
    """What the probe found: the repack setting that runs here, and what crashed if anything did."""

    repack_default: int  # 1 where llama.cpp's extra buffer types run, 0 after they crashed
    checked_utc: str
    model: str  # the file the probe loaded
    key: dict[str, Any]
    crashed: str | None = None  # e.g. "SIGSEGV on the first decode with --repack 1"
    cpu_paths_disabled: list[dict[str, str]] = dataclasses.field(default_factory=list)  # [{"path": "amx", "reason": "..."}]

    def note(self) -> str | None:
        """One line for the user when measurements use the fallback: what crashed, what runs instead, what it costs,
        how to get it back."""
        if self.repack_default == 1:
            return None
        paths = ", ".join(p["path"].upper() if p["path"] == "amx" else p["path"] for p in self.cpu_paths_disabled)
        return (
            f"llama.cpp's repacked-weight path ({paths}) crashed here ({self.crashed}): measuring with --repack 0 instead "
            "(plain weights; the repack path is the faster one for prompt processing where it works, so compare these only "
            "with --repack 0 runs). Bare metal or a hypervisor that passes AMX through gets it back; --repack 1 tries again."
        )

    def to_json(self) -> dict[str, Any]:
        return {"verdict_version": VERDICT_VERSION, **dataclasses.asdict(self)}


def build_key(machine: Machine) -> dict[str, Any]:
    """What a verdict holds for: this machine, this llama.cpp build (version, commit, compiled features, library files)
    and its backends. Any change gives a new key, so a rebuilt llama-cpp-python is probed again."""
    build = machine.llama_cpp
    return {
        "machine_id": machine.machine_id,
        "llama_cpp_python": build.llama_cpp_python,
        "commit": build.commit,
        "system_info_sha256": hashlib.sha256(str(build.system_info).encode()).hexdigest()[:16],
        "libraries": _library_stamp(),
        "backends": list(build.backends),
    }


def _library_stamp() -> str:
    """Name, size and modification time of llama-cpp-python's shared libraries: changes with every rebuild or reinstall."""
    try:
        import llama_cpp

        folder = Path(llama_cpp.__file__).parent / "lib"
        files = sorted(p for p in folder.iterdir() if p.is_file())
        text = ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    except (ImportError, OSError):
        text = "unknown"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_file(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return meek_home() / "preflight" / f"{digest}.json"


def cached(machine: Machine) -> Verdict | None:
    """The stored verdict for this machine and build, or None if it was never probed (or the file is unreadable)."""
    key = build_key(machine)
    try:
        document = json.loads(_cache_file(key).read_text())
        if document.pop("verdict_version", None) != VERDICT_VERSION or document.get("key") != key:
            return None
        return Verdict(**document)
    except (OSError, ValueError, TypeError):
        return None


def _store(verdict: Verdict) -> None:
    path = _cache_file(verdict.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(verdict.to_json(), indent=1))
    temporary.replace(path)


def probe_child(emit, model_path: str, n_gpu_layers: int, repack: int, threads: int) -> None:
    """In the worker: load with the settings asked for, decode a short prompt batch, pick a token, generate one."""
    from harness.measure.runtime.llamacpp import LlamaCppRuntime

    backend = LlamaCppRuntime()
    try:
        backend.load(model_path, LoadSettings(n_gpu_layers=n_gpu_layers, n_batch=64, n_ubatch=64, repack=repack))
        backend.new_context(PROBE_PROMPT_TOKENS + 8, threads)
        faults.at(f"probe-repack{repack}")
        rng = np.random.default_rng(0)
        backend.process_prompt(PROBE_PROMPT_TOKENS, rng)
        backend.first_token()
        backend.generate(1, rng)
        emit(ProbeRan())
    finally:
        backend.close()


def _try(model_path: Path, n_gpu_layers: int, repack: int, threads: int, timeout_s: float) -> WorkerFailed | None:
    """None when the probe ran; the failure otherwise."""
    try:
        for _ in run_in_worker(probe_child, (str(model_path), n_gpu_layers, repack, threads), timeout_s):
            pass
    except WorkerFailed as failure:
        return failure
    return None


def check(
    model_path: Path,
    machine: Machine,
    n_gpu_layers: int = 0,
    threads: int = 1,
    timeout_s: float = 300,
    retry_repack: bool = False,
) -> Verdict | None:
    """The verdict for this machine and build: cached, or probed now with this model.

    `retry_repack` (the user asked for --repack 1) probes repack on again even where a stored verdict says it crashed.
    Returns None when the probe could not decide (the model failed to load for another reason, a timeout, a kill from
    outside): the measurement then reports its own error. Raises MeekError when llama.cpp crashes even with repack off.
    """
    stored = cached(machine)
    if stored is not None and not (retry_repack and stored.repack_default == 0):
        return stored
    key = build_key(machine)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    first = _try(model_path, n_gpu_layers, 1, threads, timeout_s)
    if first is None:
        verdict = Verdict(repack_default=1, checked_utc=now, model=model_path.name, key=key)
        _store(verdict)
        return verdict
    if not first.crashed:
        return stored
    crashed = f"{first.signal_name} on the first decode with --repack 1"
    second = _try(model_path, n_gpu_layers, 0, threads, timeout_s)
    if second is None:
        disabled = [{"path": path, "reason": crashed} for path in repack_paths(machine)]
        verdict = Verdict(
            repack_default=0, checked_utc=now, model=model_path.name, key=key, crashed=crashed, cpu_paths_disabled=disabled
        )
        _store(verdict)
        return verdict
    if not second.crashed:
        return stored
    raise MeekError(broken_build_message(machine, second.signal_name or "a signal"))


class RepackPolicy:
    """The repack setting for each measurement of one command, from the preflight verdict: probed (or read from the
    cache) when the first model needs it, then reused; its note (only when the verdict is made now, not for a stored
    one) and the build's warnings are said once, after it, so bad input fails before any of them. `machine` is the fingerprint with what the probe left out (preflight.apply): the
    one to put in result files once repack_for has run."""

    def __init__(self, machine: Machine, say: Callable[[str], None], timeout_s: float) -> None:
        self.machine, self.say, self.timeout_s = machine, say, timeout_s
        self.verdict: Verdict | None = None
        self.checked = self.retried = self.noted = self.warned = False

    def _check(self, model_path: Path, n_gpu_layers: int, threads: int, retry: bool) -> None:
        stored = cached(self.machine)
        self.verdict = check(model_path, self.machine, n_gpu_layers, threads, self.timeout_s, retry_repack=retry)
        self.machine = apply(self.machine, self.verdict)
        self.checked = True
        # the note is said once per verdict, by the command that made it; a stored verdict's runs carry it in their
        # result files (cpu_paths_disabled, the rpk column), and `meek machine` shows it
        made_now = self.verdict is not None and (stored is None or stored.checked_utc != self.verdict.checked_utc)
        self.noted = self.noted or not made_now

    def repack_for(self, wanted: int | None, model_path: Path, n_gpu_layers: int, threads: int) -> int:
        """The repack setting to measure with; raises MeekError when --repack 1 was asked for and crashes here."""
        try:
            return self._repack_for(wanted, model_path, n_gpu_layers, threads)
        finally:
            if not self.warned:  # the build's warnings, once, when the first model is about to be measured
                self.warned = True
                for warning in self.machine.warnings:
                    self.say(f"warning: {warning}")

    def _repack_for(self, wanted: int | None, model_path: Path, n_gpu_layers: int, threads: int) -> int:
        if wanted == 0:
            return 0
        crashed_before = self.verdict is not None and self.verdict.repack_default == 0
        if not self.checked or (wanted == 1 and crashed_before and not self.retried):
            self._check(model_path, n_gpu_layers, threads, retry=wanted == 1)
            self.retried = self.retried or wanted == 1
        default = self.verdict.repack_default if self.verdict else 1
        if wanted == 1 and default == 0:
            assert self.verdict is not None  # the default is 0 only by a verdict
            raise MeekError(
                f"--repack 1 crashes on this machine ({self.verdict.crashed}, tried again just now): nothing was measured "
                "with it; --repack 0 runs (and is this machine's default)"
            )
        note = self.verdict.note() if self.verdict and wanted is None else None
        if note and not self.noted:
            self.say(f"note: {note}")
            self.noted = True
        return default if wanted is None else wanted


def default_repack(model_path: Path, threads: int = 1) -> int:
    """This machine's repack setting for callers that were given none (lm-eval's own command line): probed if needed."""
    from harness.machine.facts import fingerprint

    verdict = check(Path(model_path), fingerprint(), threads=threads)
    return verdict.repack_default if verdict else 1


def repack_paths(machine: Machine) -> list[str]:
    """The extra CPU buffer types this build has, which --repack 0 leaves out: AMX (AMX_INT8 = 1) and CPU repack."""
    used = set(machine.llama_cpp.cpu_features_used)
    paths = (["amx"] if "AMX_INT8" in used else []) + (["cpu-repack"] if "REPACK" in used else [])
    return paths or ["extra buffer types"]


def broken_build_message(machine: Machine, signal_name: str) -> str:
    """Why llama.cpp dies even with repack off: the CPU features the build uses against those this CPU runs, and the fix."""
    build_simd = [f for f in machine.llama_cpp.cpu_features_used if f in SIMD_FEATURES.values()]
    cpu_has = [SIMD_FEATURES[f] for f in cpu_flags()]
    lacking = [f for f in build_simd if f not in cpu_has]
    flags = " ".join(f"-D{PORTABLE_FLAGS[f]}=ON" for f in cpu_has if f in PORTABLE_FLAGS)
    rebuild = (
        f'rebuild it for this CPU: CMAKE_ARGS="-DGGML_NATIVE=OFF {flags}" pip install --force-reinstall --no-cache-dir '
        "llama-cpp-python (the README's portable build)"
    )
    if lacking:
        return (
            f"llama.cpp dies with {signal_name} on this machine even with --repack 0: this llama-cpp-python build uses "
            f"{', '.join(lacking)}, which this CPU does not run (it runs {' '.join(cpu_has) or 'none of the listed features'}): "
            f"the wheel was built for another CPU; {rebuild}"
        )
    return (
        f"llama.cpp dies with {signal_name} on this machine even with --repack 0, although this build uses no CPU feature "
        f"this CPU lacks (build: {' '.join(build_simd) or '-'}; CPU: {' '.join(cpu_has) or '-'}); {rebuild}"
    )


def crash_hint(signal_name: str | None, repack: int | None) -> str:
    """Words added to a worker's crash report, saying what to try."""
    if signal_name not in CRASH_SIGNALS:
        return ""
    if repack != 0:
        return " (llama.cpp faulted in a CPU kernel: --repack 0 leaves out the repacked-weight paths that crash on some VMs)"
    return " (llama.cpp faulted in a CPU kernel even with --repack 0: `meek machine` names the build's CPU features)"


def apply(machine: Machine, verdict: Verdict | None) -> Machine:
    """The machine fingerprint that goes into result files with the verdict recorded in it (a copy; the same machine
    when there is no verdict)."""
    if verdict is None:
        return machine
    disabled = [DisabledPath.model_validate(path) for path in verdict.cpu_paths_disabled]
    return machine.model_copy(update={"cpu_paths_disabled": disabled})


def describe(verdict: Verdict | None) -> str:
    """The verdict in a line, for `meek machine`."""
    if verdict is None:
        return "not probed yet for this build (meek bench and meek eval probe before measuring)"
    if verdict.repack_default == 1:
        return f"repack on runs (checked {verdict.checked_utc} with {verdict.model})"
    paths = ", ".join(p["path"] for p in verdict.cpu_paths_disabled)
    return f"{verdict.crashed}: measuring with --repack 0 ({paths} left out; checked {verdict.checked_utc} with {verdict.model})"


def parse_repack(text: str | None) -> list[int | None]:
    """--repack values: 0, 1 or 0,1; none given means this machine's preflight default."""
    if text is None:
        return [None]
    values = [part.strip() for part in str(text).split(",")]
    if not values or any(not re.fullmatch(r"[01]", v) for v in values):
        raise UsageError(f"--repack: expected 0, 1 or 0,1, got '{text}'")
    return [int(v) for v in dict.fromkeys(values)]


def parse_one_repack(text: str | None, runs: str) -> int | None:
    """One --repack value (0 or 1; None: the preflight default) for a command that `runs` with a single setting ("meek
    eval scores"): 0,1 is refused in one line."""
    values = parse_repack(text)
    if len(values) > 1:
        raise UsageError(f"--repack: {runs} with one setting: give 0 or 1")
    return values[0]
