"""The measurement protocol of llama-bench, run on a loaded backend: warm-up, repetitions, raw samples kept.

For each test: a fresh context sized for the test; one warm-up (kept apart, not counted); then `repetitions` times:
clear the KV cache, fill it to the test's depth (untimed), time the prompt and/or the generation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from harness.errors import MeekError
from harness.machine.sensors import PowerSampler, tokens_per_joule
from harness.measure import faults
from harness.measure.events import Event, Loaded, Measured, MeasuredServing, Peaks, RepetitionDone, TestFailed
from harness.measure.monitor import OtherCpuMeter, PeakMemorySampler
from harness.measure.protocol import LoadGroup, TestInstance, settings_of
from harness.measure.runtime.base import Runtime
from harness.results.schema import Load, Run, ServingPoint
from harness.results.stats import busy_reasons, summarize

Emit = Callable[[Event], None]


def run_group(
    backend: Runtime, model_path: str, group: LoadGroup, repetitions: int, warmup: bool, emit: Emit, seed: int = 0
) -> None:
    """Load the model once, run every test of the group, and emit each result as soon as it exists.

    Events (harness/measure/events.py): Loaded; RepetitionDone as repetitions finish; Measured (a Run of the result
    file) or TestFailed per test; Peaks at the end.
    """
    rng = np.random.default_rng(seed)
    settings = settings_of(group.load)
    try:
        with PeakMemorySampler() as sampler:
            started = time.perf_counter_ns()
            backend.load(model_path, group.load)
            load_ns = time.perf_counter_ns() - started
            facts = backend.describe()
            load = Load(settings=settings, load_time_ms=load_ns / 1e6, description=facts.get("description"), **sampler.peaks())
            emit(
                Loaded(
                    load,
                    facts.get("size_bytes"),
                    facts.get("n_params"),
                    facts.get("n_layer"),
                    facts.get("n_vocab"),
                    tuple(facts.get("rpc_devices") or ()),
                )
            )
            faults.at("bench-decode")
            for index, test in enumerate(group.tests):
                sampler.reset()
                on_repetition = lambda rep, index=index: emit(RepetitionDone(index, rep))  # noqa: E731
                try:
                    if test.n_parallel:
                        point = measure_parallel(backend, test, repetitions, warmup, rng, on_repetition)
                    else:
                        result = measure_test(backend, test, repetitions, warmup, rng, on_repetition)
                except MeekError as error:
                    emit(TestFailed(index, test.name, test.n_threads, str(error)))
                    continue
                if test.n_parallel:
                    emit(MeasuredServing(index, ServingPoint(settings=settings, **point, **sampler.peaks())))
                    continue
                fields = {k: v for k, v in {**result, **sampler.peaks()}.items() if k in Run.model_fields}
                emit(Measured(index, Run(settings=settings, **fields)))
            emit(Peaks(**sampler.process_peaks()))
    finally:
        backend.close()


def measure_test(backend: Runtime, test: TestInstance, repetitions: int, warmup: bool, rng, on_repetition=None) -> dict:
    """Time one test `repetitions` times; return raw samples (ns), time to first token samples, warm-up and summary.

    The depth fill is computed once and restored from a snapshot for later repetitions, as llama-bench does.
    """
    shape = test.shape
    backend.new_context(shape.n_ctx, test.n_threads)
    warmup_ns = []
    if warmup:
        backend.clear()
        started = time.perf_counter_ns()
        if shape.n_prompt:
            backend.process_prompt(shape.n_prompt, rng)
        if shape.n_gen:
            backend.generate(1, rng)
        warmup_ns.append(time.perf_counter_ns() - started)

    samples_ns, ttft_ns = [], []
    depth_snapshot = None
    power = PowerSampler().start()  # whatever sensors this machine lets us read; none is an empty list, never zeros
    others = OtherCpuMeter().start()  # read at the start and end of the repetitions only, never inside a timing
    try:
        for repetition in range(repetitions):
            backend.clear()
            if shape.n_depth and depth_snapshot is not None:
                backend.restore(depth_snapshot)
            elif shape.n_depth:
                backend.process_prompt(shape.n_depth, rng)
                depth_snapshot = backend.snapshot()
            elapsed = 0
            started = time.perf_counter_ns()
            if shape.n_prompt:
                backend.process_prompt(shape.n_prompt, rng)
                elapsed = time.perf_counter_ns() - started
                backend.first_token()
                ttft_ns.append(time.perf_counter_ns() - started)
            if shape.n_gen:
                started = time.perf_counter_ns()
                backend.generate(shape.n_gen, rng)
                elapsed += time.perf_counter_ns() - started
            samples_ns.append(elapsed)
            if on_repetition:
                on_repetition(repetition + 1)
    finally:
        other_cpu_share = others.stop()
        readings = power.stop()

    n_tokens = shape.n_prompt + shape.n_gen
    summary = summarize(n_tokens, samples_ns)
    summary["unstable"] += busy_reasons(other_cpu_share)
    return {
        "test": shape.name,
        "n_prompt": shape.n_prompt,
        "n_gen": shape.n_gen,
        "n_depth": shape.n_depth,
        "n_threads": test.n_threads,
        "n_ctx": shape.n_ctx,
        "samples_ns": samples_ns,
        "warmup_ns": warmup_ns,
        "ttft_ns": ttft_ns,
        "power": power_readings(readings, n_tokens * repetitions),
        "other_cpu_share": other_cpu_share,
        **summary,
    }


def measure_parallel(backend: Runtime, test: TestInstance, repetitions: int, warmup: bool, rng, on_repetition=None) -> dict:
    """One serving point as llama-batched-bench measures it: B sequences in one context with a unified KV cache; clear
    it; each sequence's prompt of PP tokens decoded together (timed: T_PP); then TG steps of one token per sequence
    (timed: T_TG). Repeated `repetitions` times after a warm-up; every repetition's two times are kept."""
    shape, streams = test.shape, test.n_parallel or 1
    backend.new_context(test.n_ctx, test.n_threads, streams)
    if warmup:  # as llama-batched-bench: one small decode first, so the first timed batch pays no start-up cost
        backend.clear()
        backend.parallel_generate(streams, 1, 0, rng)
    t_pp, t_tg, ttft = [], [], []
    for repetition in range(repetitions):
        backend.clear()
        started = time.perf_counter_ns()
        if shape.n_prompt:
            backend.parallel_prompts(streams, shape.n_prompt, rng)
        prompt_done = time.perf_counter_ns()
        backend.parallel_generate(streams, shape.n_gen, shape.n_prompt, rng)
        finished = time.perf_counter_ns()
        t_pp.append(max(1, prompt_done - started))
        t_tg.append(max(1, finished - prompt_done))
        ttft += [max(1, prompt_done - started)] * streams  # every sequence's prompt ends in the last prompt batch
        if on_repetition:
            on_repetition(repetition + 1)
    s_pp = [streams * shape.n_prompt / (ns / 1e9) for ns in t_pp] if shape.n_prompt else []
    s_tg = [streams * shape.n_gen / (ns / 1e9) for ns in t_tg]
    total = [streams * (shape.n_prompt + shape.n_gen) / ((a + b) / 1e9) for a, b in zip(t_pp, t_tg)]
    return {
        "mode": "in-process",
        "n_parallel": streams,
        "n_prompt": shape.n_prompt,
        "n_gen": shape.n_gen,
        "n_kv": streams * (shape.n_prompt + shape.n_gen),
        "n_threads": test.n_threads,
        "t_pp_ns": t_pp,
        "t_tg_ns": t_tg,
        "s_pp": float(np.median(s_pp)) if s_pp else None,
        "s_tg": float(np.median(s_tg)),
        "s": float(np.median(total)),
        "tg_per_stream": float(np.median(s_tg)) / streams,
        "ttft_ns": ttft if shape.n_prompt else [],
    }


def power_readings(readings: dict[str, dict], tokens: int) -> list[dict]:
    """Sensor readings over a test's timed repetitions (depth restores and first-token picks included), with tokens per joule."""
    return [
        {
            "source": reading["source"],
            "kind": reading["kind"],
            "avg_w": reading["avg_w"],
            "energy_j": reading["energy_j"],
            "seconds": reading["seconds"],
            "tokens_per_joule": tokens_per_joule(tokens, reading["energy_j"]),
            "max_temp_c": reading.get("max_temp_c"),
            "throttled": reading.get("throttled"),
            "throttle_reasons": reading.get("throttle_reasons") or [],
        }
        for reading in readings.values()
    ]
