"""One probe of `meek fit`, run in a worker process (harness/measure/worker.py): load the model, create a context of
N tokens, fill part of it, generate tokens and time them; under an optional memory limit.

A failed allocation comes back as a ProbeFailed event (with the memory reached so far); a crash or an out-of-memory kill
ends the worker, which the parent reports: either way a data point, never a crash of meek.

The memory limit is RLIMIT_DATA (Linux counts the heap and every private writable mapping in it since 4.7), set to what
the worker holds once started plus the budget asked for, so the budget is what the memory model counts: weights, KV
cache and buffers. Before setting it the worker loads the model once and decodes a token, so llama.cpp's threads and
their stacks exist already and are not charged to the budget; then the model is loaded again without mmap, so the
weights are allocated (and counted) like everything else instead of mapped from the page cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from harness.errors import MeekError
from harness.measure.monitor import PeakMemorySampler
from harness.measure.protocol import LoadSettings

FILL_CHUNK = 2048  # tokens decoded per step of the fill, a progress event after each


@dataclass(frozen=True)
class ProbeLoaded:
    """The model loaded (under the limit, when one is set)."""

    load_ms: float


@dataclass(frozen=True)
class ProbeFilling:
    done: int  # context tokens decoded so far
    total: int


@dataclass(frozen=True)
class ProbeDone:
    """The context was created, filled and generated in: the generation rate and the worker's peak memory."""

    tg_ts: float
    n_fill: int
    peak_rss_bytes: int | None = None
    peak_gpu_used_bytes: int | None = None


@dataclass(frozen=True)
class ProbeFailed:
    """llama.cpp refused the context or a decode (a failed allocation): why, and the peak memory until then."""

    reason: str
    peak_rss_bytes: int | None = None
    peak_gpu_used_bytes: int | None = None


def data_bytes() -> int | None:
    """This process's data size as RLIMIT_DATA counts it (VmData), or None where /proc does not say (not Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def limit_memory(budget: int) -> None:
    """Let this process allocate at most `budget` bytes more than it holds now (RLIMIT_DATA)."""
    import resource

    held = data_bytes()
    if held is None:
        raise MeekError("a memory limit needs Linux: /proc/self/status does not give this process's data size")
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    wanted = held + budget
    resource.setrlimit(resource.RLIMIT_DATA, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


def _without_mmap(lib) -> None:
    """llama-cpp-python's runtime loads with llama_model_default_params(): from now on, in this worker, without mmap."""
    default_params = lib.llama_model_default_params

    def params_without_mmap():
        params = default_params()
        fields = {name for name, *_ in type(params)._fields_}
        if "load_mode" in fields:  # llama.cpp since its load modes (auto, none, mmap, mlock, direct I/O)
            params.load_mode = getattr(lib, "LLAMA_LOAD_MODE_NONE", 0)
        else:
            params.use_mmap = False
        return params

    lib.llama_model_default_params = params_without_mmap


def probe(
    emit,
    model_path: str,
    settings: LoadSettings,
    n_ctx: int,
    n_threads: int,
    n_gen: int,
    fill: float,
    seed: int,
    budget: int | None,
    stderr_path: str | None = None,
) -> None:
    """The worker's work: load, create a context of `n_ctx` tokens, decode `fill` of it (whole batches, untimed), one
    warm-up token, then `n_gen` tokens one at a time, timed. Emits ProbeLoaded, ProbeFilling, then ProbeDone or
    ProbeFailed. What the process writes to stderr goes to `stderr_path` (an abort's last words, for the parent to quote),
    and ggml prints no backtrace when it aborts."""
    import os

    os.environ["GGML_NO_BACKTRACE"] = "1"  # else ggml runs gdb on itself when an allocation throws
    if stderr_path is not None:
        descriptor = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(descriptor, 2)
        os.close(descriptor)
    from harness.measure.runtime.llamacpp import LlamaCppRuntime

    runtime = LlamaCppRuntime()
    rng = np.random.default_rng(seed)
    try:
        with PeakMemorySampler() as sampler:
            if budget is not None:
                runtime.load(model_path, settings)  # llama.cpp's threads start here, before the limit
                runtime.new_context(256, n_threads)
                runtime.generate(1, rng)
                runtime.close()
                _without_mmap(runtime._lib)
                limit_memory(budget)
            started = time.perf_counter_ns()
            runtime.load(model_path, settings)
            emit(ProbeLoaded((time.perf_counter_ns() - started) / 1e6))
            try:
                emit(_fill_and_generate(runtime, n_ctx, n_threads, n_gen, fill, rng, emit, sampler))
            except MeekError as error:
                emit(ProbeFailed(str(error), **sampler.process_peaks()))
    finally:
        runtime.close()


def fill_tokens(n_ctx: int, n_gen: int, fill: float) -> int:
    """Tokens decoded before the timed generation: `fill` of the context, leaving room for a warm-up token and `n_gen`."""
    return max(0, min(int(fill * n_ctx), n_ctx - n_gen - 1))


def _fill_and_generate(runtime, n_ctx: int, n_threads: int, n_gen: int, fill: float, rng, emit, sampler) -> ProbeDone:
    runtime.new_context(n_ctx, n_threads)  # llama.cpp zeroes the KV cache here: its memory is committed
    total = fill_tokens(n_ctx, n_gen, fill)
    done = 0
    while done < total:
        chunk = min(FILL_CHUNK, total - done)
        runtime.process_prompt(chunk, rng)
        done += chunk
        emit(ProbeFilling(done, total))
    runtime.generate(1, rng)  # the first token after a fill pays one-off costs (buffers touched, threads woken)
    started = time.perf_counter_ns()
    runtime.generate(n_gen, rng)
    elapsed_ns = max(1, time.perf_counter_ns() - started)
    return ProbeDone(n_gen / (elapsed_ns / 1e9), total, **sampler.process_peaks())


def last_words(path: str) -> str:
    """The last line a dead worker wrote to stderr ('what():  std::bad_alloc'), or ''."""
    try:
        with open(path, errors="replace") as text:
            lines = [line.strip() for line in text.read()[-4000:].splitlines() if line.strip()]
    except OSError:
        return ""
    return " ".join(lines[-1].split()) if lines else ""
