"""`meek bench`: resolve the models, run each load group in a worker, and save one result file per model.

Nothing finished is lost: a model's file is written as soon as its groups are done, and Ctrl-C saves what finished.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

from harness import memory_budget, memory_fit
from harness.catalogue.gguf_file import read_gguf_facts
from harness.catalogue.models import Catalog, ResolvedModel, looks_like_path, resolve
from harness.errors import MeekError
from harness.measure import preflight
from harness.measure.events import Loaded, Measured, MeasuredServing, Peaks, RepetitionDone, TestFailed
from harness.measure.protocol import DEFAULT_TENSOR_SPLIT, LoadGroup, SweepSpec, expand, model_info, settings_of
from harness.measure.rpc import local_baselines
from harness.measure.worker import WorkerFailed, bench_group, run_in_worker
from harness.memory_fit import gib
from harness.results.schema import (
    BenchResult,
    Load,
    Machine,
    ModelInfo,
    Protocol,
    RpcEndpoint,
    Run,
    RunError,
    Settings,
    Split,
    Status,
    new_result,
)
from harness.results.store import save_result


class Progress(typing.Protocol):
    """Where a sweep reports: finished steps as lines, work in flight as a transient status (may be a no-op)."""

    def line(self, text: str) -> None: ...

    def status(self, text: str) -> None: ...


# After a model's tests: (its result, the model, this machine's repack policy, progress) -> None; adds to the result
ScoreHook = typing.Callable[[BenchResult, ResolvedModel, preflight.RepackPolicy, Progress], None]


@dataclass
class BenchOptions:
    spec: SweepSpec
    repetitions: int = 5
    warmup: bool = True
    timeout_s: float = 600.0
    results_dir: Path = Path("results")
    seed: int = 0
    # called with each model's result after its tests (meek bench --eval scores it there: harness/quality/evaluate.py)
    score: ScoreHook | None = None
    link: str | None = None  # --link, with a split across RPC servers
    local: list[Run] = field(default_factory=list)  # the same tests run on this machine alone, for a split's ratio


@dataclass
class BenchOutcome:
    results: list[BenchResult] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False


def run_bench(options: BenchOptions, catalog: Catalog, machine: Machine, progress: Progress) -> BenchOutcome:
    """Run the whole sweep; write a result file per model; collect one error line per failure."""
    outcome = BenchOutcome()
    groups = expand(options.spec)
    protocol = Protocol(repetitions=options.repetitions, warmup=options.warmup, seed=options.seed)
    checks = preflight.RepackPolicy(machine, progress.line, options.timeout_s)
    failed_only: list[BenchResult] = []
    for model_spec in options.spec.models:
        label = Path(model_spec).stem if looks_like_path(model_spec) else model_spec
        result = new_result(checks.machine, ModelInfo(label=label, file_name=Path(model_spec).name), protocol)
        try:
            resolved = resolve(model_spec, catalog)
            result.model = model_info(resolved)
            for group in (g for g in groups if g.model == model_spec):
                group = _drop_tests_that_cannot_fit(resolved, group, result, settings_of(group.load))
                if not group.tests:
                    continue
                repacked = _with_repack(group, resolved, checks, result)  # the preflight probe runs here, once
                result.machine = checks.machine  # with what the probe left out, if anything
                if repacked is not None:
                    _run_group(resolved, repacked, options, result, progress)
            if options.score:
                options.score(result, resolved, checks, progress)
                result.machine = checks.machine  # with what the probe left out, if anything
        except MeekError as error:
            result.errors.append(RunError(stage="resolve", message=str(error)))
        except KeyboardInterrupt:
            outcome.interrupted = True
            result.errors.append(RunError(stage="interrupted", message="interrupted by the user (Ctrl-C)"))
        note_batching(result)
        if result.split is not None and options.local:
            result.split = result.split.model_copy(update={"local": local_baselines(result.runs, options.local)})
        result.status = _status(result, outcome.interrupted)
        prefix = f"{model_spec}: " if len(options.spec.models) > 1 else ""
        outcome.errors += [prefix + e.message for e in result.errors if e.stage != "interrupted"]
        if result.runs or result.scores or result.serving:
            outcome.paths.append(save_result(result, options.results_dir, progress.line))
            outcome.results.append(result)
        else:
            failed_only.append(result)
        if outcome.interrupted:
            break
    if outcome.results:  # in a sweep that measured something, failed models are recorded too
        outcome.paths += [save_result(r, options.results_dir, progress.line) for r in failed_only]
    return outcome


def save_all(results: list[BenchResult], results_dir: Path, progress: Progress) -> BenchOutcome:
    """Save each result measured by a backend other than in process (a server, the user's llama-bench); one error line
    per failed test."""
    outcome = BenchOutcome(results=list(results))
    for result in results:
        outcome.paths.append(save_result(result, results_dir, progress.line))
        outcome.errors += [f"{e.test}: {e.message}" if e.test else e.message for e in result.errors]
    return outcome


def noisy_warning(run: Run) -> str | None:
    """One line for a test whose figure is not this machine's own speed (busy or unstable), saying what to do."""
    if not run.unstable:
        return None
    reasons = list(run.unstable)
    if run.other_cpu_share is not None and not any(r.startswith("busy") for r in reasons):
        reasons.append(f"other processes took {run.other_cpu_share:.0%} of the CPU")  # says whether the machine was quiet
    return (
        f"warning: {run.test} t{run.n_threads} is busy or unstable ({'; '.join(reasons)}): its figure is marked in the "
        "file, compare and the site; rerun on a quieter machine (close other programs, or more repetitions: -r 10)"
    )


def note_batching(result: BenchResult) -> None:
    """A point with several streams whose aggregate generation is not above the single stream's (same shape and
    settings) says so, with both figures: batching pays only while one stream leaves the device's compute idle."""

    def key(p):
        return (p.n_prompt, p.n_gen, p.n_threads, repr(p.settings))

    single = {key(p): p.s_tg for p in result.serving if p.n_parallel == 1}
    for index, point in enumerate(result.serving):
        alone = single.get(key(point))
        if point.n_parallel > 1 and alone is not None and point.s_tg <= alone:
            note = (
                f"aggregate generation {point.s_tg:.1f} t/s is not above one stream's {alone:.1f}: one stream already "
                "keeps this device's compute busy, so batching adds no throughput here"
            )
            result.serving[index] = point.model_copy(update={"note": note})


def _with_repack(
    group: LoadGroup, resolved: ResolvedModel, checks: preflight.RepackPolicy, result: BenchResult
) -> LoadGroup | None:
    """The group with its repack setting decided (the machine's default where none was asked for); None, with an error
    entry, when the setting asked for crashes here."""
    load = group.load
    threads = min(t.n_threads for t in group.tests)
    try:
        repack = checks.repack_for(load.repack, resolved.path, load.n_gpu_layers, threads)
    except MeekError as error:
        result.errors.append(RunError(stage="load", settings=settings_of(group.load), message=str(error)))
        return None
    return LoadGroup(model=group.model, load=dataclasses.replace(load, repack=repack), tests=group.tests)


def _status(result: BenchResult, interrupted: bool) -> Status:
    if interrupted:
        return "interrupted"
    if not result.runs and not result.scores:
        return "failed"
    return "partial" if result.errors else "complete"


def _drop_tests_that_cannot_fit(resolved: ResolvedModel, group: LoadGroup, result: BenchResult, settings: Settings) -> LoadGroup:
    """Leave out, with an error entry each, the tests whose context cannot fit in the memory free now (the one memory
    model: weights + KV cache at the test's context and cache types + compute buffers)."""
    facts = read_gguf_facts(resolved.path)
    available = memory_budget.free_bytes(offload=group.load.n_gpu_layers != 0)
    params_b = facts.n_params / 1e9 or memory_fit.params_from_file(facts.file_size_bytes, facts.quant)
    kept = []
    for test in group.tests:
        need = memory_fit.need(
            params_b, facts.quant, facts.file_size_bytes, test.n_ctx, facts, group.load.type_k, group.load.type_v
        )
        if need.total > available:
            estimated = (
                " (estimated from the parameter count: the GGUF header does not give its shape)" if need.kv_estimated else ""
            )
            result.errors.append(
                RunError(
                    stage="test",
                    test=test.name,
                    n_threads=test.n_threads,
                    settings=settings,
                    message=f"context of {test.n_ctx:,} tokens cannot fit: it needs about {gib(need.total)} "
                    f"({gib(need.kv_cache)} KV cache{estimated} + {gib(need.weights)} weights + {gib(need.compute)} "
                    f"buffers) but {gib(available)} is available; lower -p/-n/-d or quantise the KV cache (-ctk q8_0 -ctv q8_0)",
                )
            )
        else:
            kept.append(test)
    return LoadGroup(model=group.model, load=group.load, tests=kept)


def _run_group(resolved: ResolvedModel, group: LoadGroup, options: BenchOptions, result: BenchResult, progress: Progress) -> None:
    settings = settings_of(group.load)
    label = (
        f"{resolved.label} (ngl {settings.n_gpu_layers}, fa {settings.flash_attn}, b {settings.n_batch}, ctk {settings.type_k}, "
        f"repack {settings.repack})"
    )
    progress.line(f"loading {label}")
    load: Load | None = None
    peaks = Peaks()
    try:
        work = (str(resolved.path), group, options.repetitions, options.warmup, options.seed)
        for event in run_in_worker(bench_group, work, options.timeout_s):
            if isinstance(event, Loaded):
                load = event.load
                if event.rpc_devices:
                    endpoints = [RpcEndpoint(address=a, serves=d) for a, d in zip(group.load.rpc, event.rpc_devices)]
                    result.split = Split(endpoints=endpoints, link=options.link, tensor_split=DEFAULT_TENSOR_SPLIT)
                result.model.description = load.description
                progress.line(f"  loaded in {load.load_time_ms:.0f} ms")
            elif isinstance(event, Measured):
                run = event.run
                result.runs.append(run)
                flag = f"  (unstable: {'; '.join(run.unstable)})" if run.unstable else ""
                progress.line(f"  {run.test:<18} t{run.n_threads:<3} {run.avg_ts:10.2f} ± {run.stddev_ts:.2f} t/s{flag}")
                if warning := noisy_warning(run):
                    progress.line(warning)
            elif isinstance(event, MeasuredServing):
                point = event.point
                result.serving.append(point)
                pp = f"S_PP {point.s_pp:9.1f}  " if point.s_pp is not None else ""
                progress.line(
                    f"  {group.tests[event.index].name:<22} t{point.n_threads:<3} {pp}S_TG {point.s_tg:8.1f} t/s "
                    f"({point.tg_per_stream:.1f} per stream)"
                )
            elif isinstance(event, TestFailed):
                result.errors.append(
                    RunError(stage="test", test=event.test, n_threads=event.n_threads, settings=settings, message=event.message)
                )
                progress.line(f"  {event.test}: failed: {event.message}")
            elif isinstance(event, RepetitionDone):
                test = group.tests[event.index]
                progress.status(f"{test.name} t{test.n_threads}: {event.done}/{options.repetitions} repetitions done")
            elif isinstance(event, Peaks):
                peaks = event
    except WorkerFailed as error:
        stage: typing.Literal["load", "worker"] = "load" if load is None else "worker"
        message = f"{error}{preflight.crash_hint(error.signal_name, settings.repack)}"
        result.errors.append(RunError(stage=stage, settings=settings, message=message))
        progress.line(f"  failed: {message}")
    if load is not None:
        update = {k: v for k, v in vars(peaks).items() if v is not None}  # the whole group's high-water marks, when known
        result.loads.append(load.model_copy(update=update))
