"""The in-process backend (`--backend llama-cpp-python`, the default): every sweep option honoured, each load group run in
a worker process through llama-cpp-python (harness/measure/runner.py), a model split over RPC servers where this
llama-cpp-python was built with ggml's RPC backend (else through an RPC-enabled llama-bench, saying why)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from harness import memory_budget, memory_fit
from harness.catalogue.models import DEFAULT_MODEL, TIERS, Catalog, load_catalog, looks_like_path, unknown_model_message
from harness.errors import UsageError
from harness.machine.facts import fingerprint
from harness.measure.backends import FLAGS
from harness.measure.protocol import BenchRequest, SweepSpec
from harness.measure.runner import BenchOptions, BenchOutcome, Progress, ScoreHook, run_bench
from harness.results.schema import Machine


def model_list(request: BenchRequest, catalog: Catalog) -> list[str]:
    """The models asked for (-m, repeated or comma-separated, and --tier), in order, once each; the default model else."""
    models = [m.strip() for value in request.models for m in value.split(",") if m.strip()]
    if request.tier:
        models += models_for_tier(request.tier, catalog)
    return list(dict.fromkeys(models or [DEFAULT_MODEL]))


def models_for_tier(tier: str, catalog: Catalog, machine: Machine | None = None) -> list[str]:
    """Standard model ids of the named tiers; `auto` picks those that fit this machine at the default context (the one
    memory model: harness/memory_fit.py and memory_budget.py)."""
    names = [t.strip().lower() for t in tier.split(",")]
    if names == ["auto"]:
        device = memory_budget.this_machine(machine if machine is not None else fingerprint(include_build=False))
        return [
            m.id
            for t in TIERS
            for m in catalog.standard_models(t)
            if memory_budget.fits(memory_fit.model_need(m).total, device.kind, device.memory_bytes)
        ]
    for name in names:
        if name not in TIERS:
            raise UsageError(f"--tier: unknown tier '{name}' (choose from {', '.join(TIERS)}, or auto)")
    return [m.id for name in names for m in catalog.standard_models(name)]


class InProcess:
    name = "llama-cpp-python"
    honours = frozenset(FLAGS) - {"url", "binary", "api_key"}
    refusal = "only used with --backend openai, ollama or llama-bench"

    def measure(self, request: BenchRequest, progress: Progress, score: ScoreHook | None = None) -> BenchOutcome:
        from harness.measure.rpc import in_process_rpc

        if request.rpc and not in_process_rpc():
            return _split_through_llama_bench(request, progress)
        catalog = load_catalog()
        models = model_list(request, catalog)
        if len(models) == 1 and not looks_like_path(models[0]) and catalog.get(models[0]) is None:
            raise UsageError(unknown_model_message(models[0], catalog))
        machine = fingerprint()  # its warnings are printed after the preflight probe (preflight.RepackPolicy)
        n_gpu_layers = list(request.n_gpu_layers)
        if "n_gpu_layers" not in request.given and not machine.llama_cpp.gpu_offload:
            n_gpu_layers = [0]  # llama-bench's "all layers" offloads none on this build: recorded as what happens
        spec = SweepSpec(
            models=models,
            n_prompt=list(request.n_prompt),
            n_gen=list(request.n_gen),
            pg=list(request.pg),
            n_depth=list(request.n_depth),
            n_threads=request.thread_counts(),
            n_gpu_layers=n_gpu_layers,
            n_batch=list(request.n_batch),
            n_ubatch=list(request.n_ubatch),
            flash_attn=list(request.flash_attn),
            type_k=list(request.type_k),
            type_v=list(request.type_v),
            repack=list(request.repack),
            n_parallel=list(request.parallel),
        )
        options = BenchOptions(
            spec=spec,
            repetitions=request.repetitions,
            warmup=request.warmup,
            timeout_s=request.timeout_s,
            results_dir=request.results_dir,
            seed=request.seed,
            score=score,
        )
        if not request.rpc:
            return run_bench(options, catalog, machine, progress)
        # the local run first (a result of its own), then the split, which records its ratio to it
        progress.line(f"measuring locally first, then split across {', '.join(request.rpc)}")
        alone = run_bench(options, catalog, machine, progress)
        local = [run for result in alone.results for run in result.runs]
        every_layer = n_gpu_layers if "n_gpu_layers" in request.given else [-1]  # all layers onto the devices
        split_spec = dataclasses.replace(spec, rpc=request.rpc, n_gpu_layers=every_layer)
        options = dataclasses.replace(options, spec=split_spec, link=request.link, local=local)
        for path in alone.paths:
            progress.line(f"saved the local run {path}")
        return run_bench(options, catalog, machine, progress)


def _split_through_llama_bench(request: BenchRequest, progress: Progress) -> BenchOutcome:
    """`meek bench --rpc` on a llama-cpp-python built without RPC: the split is measured by an RPC-enabled llama-bench
    built from the same vendored llama.cpp ($MEEK_RPC_LLAMA_BENCH, else built once under $MEEK_HOME), saying why."""
    from harness.measure.backends.llama_bench import BACKEND as LLAMA_BENCH
    from harness.measure.rpc import HOW_TO_REBUILD
    from harness.measure.vendored import build_tool

    why = f"this llama-cpp-python was built without ggml's RPC backend (rebuild: {HOW_TO_REBUILD})"
    given = os.environ.get("MEEK_RPC_LLAMA_BENCH")
    binary = Path(given) if given else build_tool("llama-bench", progress.line, rpc=True)
    progress.line(f"--rpc: {why}; measuring the split with {binary}, built with RPC from the same llama.cpp source")
    return LLAMA_BENCH.measure(dataclasses.replace(request, backend="llama-bench", binary=binary), progress)


BACKEND = InProcess()
