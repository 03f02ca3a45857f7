"""What `meek bench` does with its options: pick the models, run the sweep in process (harness/measure/runner.py) or
through a server or the user's llama-bench (harness/measure/remote.py), print the table, save the result files.

Defaults are llama-bench's (-p 512, -n 128, -r 5, -b 2048, -ub 512, -ctk/-ctv f16, -fa auto, -ngl all, -t the physical
cores), so the same flags measure the same thing in both. A backend that cannot honour an option refuses it in one
line rather than saving results that silently ignored it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness import memory_fit
from harness.catalogue.models import DEFAULT_MODEL, TIERS, Catalog, load_catalog, looks_like_path, resolve, unknown_model_message
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from harness.machine.facts import fingerprint
from harness.measure.backends.llamacpp import KV_CACHE_TYPES
from harness.measure.preflight import parse_repack
from harness.measure.protocol import BenchRequest, SweepSpec
from harness.measure.rpc import endpoints
from harness.measure.runner import BenchOptions, run_bench
from harness.measure.sweep import parse_int_list, parse_pg_list, parse_str_list
from harness.output import Output
from harness.results.printers import render, render_serving
from harness.results.schema import BenchResult, TestShape
from harness.results.store import check_results_dir, save_result

FLASH_ATTN = {"0": 0, "1": 1, "-1": -1, "off": 0, "on": 1, "auto": -1}
# CLI parameter names whose request field is spelled differently
RENAMED = {
    "model": "models",
    "batch": "n_batch",
    "ubatch": "n_ubatch",
    "cache_type_k": "type_k",
    "cache_type_v": "type_v",
    "timeout": "timeout_s",
    "no_warmup": "warmup",
}
OUTPUT_FORMATS = ("md", "csv", "json", "jsonl")
BACKENDS = ("llama-cpp-python", "openai", "ollama", "llama-bench")
# What each backend other than in-process can honour, by option name (the CLI's spelling, as the user typed it).
SERVER_REFUSES = {
    "n_depth": "-d",
    "pg": "-pg",
    "n_batch": "-b",
    "n_ubatch": "-ub",
    "type_k": "-ctk",
    "type_v": "-ctv",
    "n_gpu_layers": "-ngl",
    "flash_attn": "-fa",
    "threads": "-t",
    "repack": "--repack",
    "tier": "--tier",
    "eval_suite": "--eval",
    "data_dir": "--data-dir",
    "binary": "--bin",
    "parallel": "--parallel (use meek load)",
    "rpc": "--rpc",
    "link": "--link",
}
LLAMA_BENCH_REFUSES = {
    "tier": "--tier",
    "eval_suite": "--eval",
    "data_dir": "--data-dir",
    "seed": "--seed",
    "url": "--url",
    "api_key": "--api-key",
    "parallel": "--parallel",
}
IN_PROCESS_REFUSES = {"url": "--url", "binary": "--bin", "api_key": "--api-key"}


def request(options: dict[str, Any], given: frozenset[str] = frozenset()) -> BenchRequest:
    """The request from `meek bench`'s options as typed (lists and ranges as text); `given` names those the user set."""
    o = options
    kv_types = tuple(KV_CACHE_TYPES)
    return BenchRequest(
        models=tuple(o["model"]),
        tier=o["tier"],
        n_prompt=tuple(parse_int_list("-p", o["n_prompt"])),
        n_gen=tuple(parse_int_list("-n", o["n_gen"])),
        pg=tuple(parse_pg_list("-pg", o["pg"])),
        n_depth=tuple(parse_int_list("-d", o["n_depth"])),
        parallel=tuple(parse_int_list("--parallel", o["parallel"], minimum=1)) if o["parallel"] else (),
        threads=tuple(parse_int_list("-t", o["threads"], minimum=1)) if o["threads"] else (),
        n_gpu_layers=tuple(parse_int_list("-ngl", o["n_gpu_layers"], minimum=-1)),
        n_batch=tuple(parse_int_list("-b", o["batch"], minimum=1)),
        n_ubatch=tuple(parse_int_list("-ub", o["ubatch"], minimum=1)),
        flash_attn=tuple(FLASH_ATTN[v] for v in parse_str_list("-fa", o["flash_attn"], tuple(FLASH_ATTN))),
        type_k=tuple(parse_str_list("-ctk", o["cache_type_k"], kv_types)),
        type_v=tuple(parse_str_list("-ctv", o["cache_type_v"], kv_types)),
        repack=tuple(parse_repack(o["repack"])),
        repetitions=o["repetitions"],
        warmup=not o["no_warmup"],
        seed=o["seed"],
        output=o["output"],
        results_dir=o["results_dir"],
        timeout_s=o["timeout"],
        eval_suite=o["eval_suite"],
        data_dir=o["data_dir"],
        backend=o["backend"],
        url=o["url"],
        binary=o["binary"],
        api_key=o["api_key"],
        rpc=tuple(endpoints(o["rpc"])) if o["rpc"] else (),
        link=o["link"],
        given=given & set(BenchRequest.__dataclass_fields__) | frozenset(RENAMED[g] for g in given if g in RENAMED),
    )


def run(request: BenchRequest, out: Output) -> int:
    """Run `meek bench`; return the exit code (0 all measured, 1 something failed, 130 interrupted). Bad options raise
    UsageError before anything runs."""
    if request.output not in OUTPUT_FORMATS:
        raise UsageError(f"-o: unknown format '{request.output}' (choose from {', '.join(OUTPUT_FORMATS)})")
    if request.backend not in BACKENDS:
        raise UsageError(f"--backend: unknown '{request.backend}' (choose {', '.join(BACKENDS)})")
    refused = {"llama-cpp-python": IN_PROCESS_REFUSES, "llama-bench": LLAMA_BENCH_REFUSES}.get(request.backend, SERVER_REFUSES)
    refuse(request, refused)
    check_results_dir(request.results_dir)  # before anything is measured
    if request.link and not request.rpc:
        raise UsageError("--link describes an RPC split: give --rpc host:port,... with it")
    if request.backend == "llama-cpp-python":
        from harness.measure.rpc import in_process_rpc

        if request.rpc and not in_process_rpc():
            return _bench_split_through_llama_bench(request, out)
        return _bench_in_process(request, out)
    return _bench_elsewhere(request, out)


def _bench_split_through_llama_bench(request: BenchRequest, out: Output) -> int:
    """`meek bench --rpc` without --backend: the split is measured by an RPC-enabled llama-bench built from the same
    vendored llama.cpp ($MEEK_RPC_LLAMA_BENCH, else built once under $MEEK_HOME), and the command says why."""
    import os

    from harness.measure.rpc import HOW_TO_REBUILD
    from harness.measure.vendored import build_tool

    why = f"this llama-cpp-python was built without ggml's RPC backend (rebuild: {HOW_TO_REBUILD})"
    given = os.environ.get("MEEK_RPC_LLAMA_BENCH")
    binary = Path(given) if given else build_tool("llama-bench", out.line, rpc=True)
    out.line(f"--rpc: {why}; measuring the split with {binary}, built with RPC from the same llama.cpp source")
    return _bench_elsewhere(dataclasses.replace(request, backend="llama-bench", binary=binary), out)


def refuse(request: BenchRequest, refused: dict[str, str]) -> None:
    """One line naming the options this backend cannot honour, when any was given."""
    names = [flag for option, flag in refused.items() if option in request.given]
    if not names:
        return
    why = {
        "llama-cpp-python": "only used with --backend openai, ollama or llama-bench",
        "llama-bench": "not available with --backend llama-bench (measure in process for them)",
    }.get(
        request.backend,
        f"cannot be honoured by --backend {request.backend}: the server loaded the model with its own "
        "settings (set them where it starts) and runs pp and tg tests at depth 0",
    )
    raise UsageError(f"{', '.join(names)}: {why}")


def model_list(request: BenchRequest, catalog: Catalog) -> list[str]:
    models = [m.strip() for value in request.models for m in value.split(",") if m.strip()]
    if request.tier:
        models += models_for_tier(request.tier, catalog)
    return list(dict.fromkeys(models or [DEFAULT_MODEL]))


def models_for_tier(tier: str, catalog: Catalog, machine: dict | None = None) -> list[str]:
    """Standard model ids of the named tiers; `auto` picks those that fit this machine at the default context (the one
    memory model: harness/memory_fit.py)."""
    names = [t.strip().lower() for t in tier.split(",")]
    if names == ["auto"]:
        device = memory_fit.this_machine(machine or fingerprint(include_build=False))
        return [
            m.id
            for t in TIERS
            for m in catalog.standard_models(t)
            if memory_fit.fits(memory_fit.model_need(m).total, device.kind, device.memory_bytes)
        ]
    for name in names:
        if name not in TIERS:
            raise UsageError(f"--tier: unknown tier '{name}' (choose from {', '.join(TIERS)}, or auto)")
    return [m.id for name in names for m in catalog.standard_models(name)]


def _bench_in_process(request: BenchRequest, out: Output) -> int:
    catalog = load_catalog()
    models = model_list(request, catalog)
    if len(models) == 1 and not looks_like_path(models[0]) and catalog.get(models[0]) is None:
        raise UsageError(unknown_model_message(models[0], catalog))
    machine = fingerprint()  # its warnings are printed after the preflight probe (preflight.RepackPolicy)
    n_gpu_layers = list(request.n_gpu_layers)
    if "n_gpu_layers" not in request.given and not machine.get("llama_cpp", {}).get("gpu_offload"):
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
    score = None
    if request.eval_suite:
        from harness.quality.evaluate import EvalOptions, plan, scorer
        from harness.quality.tasks import SUITES

        suite = request.eval_suite
        planned = (
            plan([], suite, request.data_dir, None) if suite in SUITES else plan(suite.split(","), None, request.data_dir, None)
        )
        score = scorer(EvalOptions(tasks=planned, threads=spec.n_threads[0], repack=spec.repack[0], timeout_s=request.timeout_s))
    options = BenchOptions(
        spec=spec,
        repetitions=request.repetitions,
        warmup=request.warmup,
        timeout_s=request.timeout_s,
        results_dir=request.results_dir,
        seed=request.seed,
        score=score,
    )
    with out:
        if request.rpc:  # the local run first (a result of its own), then the split, which records its ratio to it
            out.line(f"measuring locally first, then split across {', '.join(request.rpc)}")
            alone = run_bench(options, catalog, machine, out)
            local = [run for result in alone.results for run in result.runs]
            every_layer = n_gpu_layers if "n_gpu_layers" in request.given else [-1]  # all layers onto the devices
            options = dataclasses.replace(
                options, spec=dataclasses.replace(spec, rpc=request.rpc, n_gpu_layers=every_layer), link=request.link, local=local
            )
            for path in alone.paths:
                out.line(f"saved the local run {path}")
        outcome = run_bench(options, catalog, machine, out)
    if outcome.results:
        if any(r.runs for r in outcome.results) or not any(r.serving for r in outcome.results):
            out.data(render(outcome.results, request.output))
        if any(r.serving for r in outcome.results):
            out.data(render_serving(outcome.results, request.output))
    for path in outcome.paths:
        out.line(f"saved {path}")
    for line in outcome.errors:
        out.error(line)
    if outcome.interrupted:
        finished = sum(len(r.runs) + len(r.scores) for r in outcome.results)
        out.line("interrupted: " + ("finished tests were saved" if finished else "no test had finished; nothing was saved"))
        return EXIT_INTERRUPTED
    return EXIT_FAILED if outcome.errors else EXIT_OK


def _bench_elsewhere(request: BenchRequest, out: Output) -> int:
    """`meek bench --backend openai|ollama|llama-bench`: measure through a server or the user's llama-bench, save, print."""
    from harness.measure import remote

    models = [m.strip() for value in request.models for m in value.split(",") if m.strip()] or [DEFAULT_MODEL]
    results: list[BenchResult] = []
    if request.backend in ("openai", "ollama"):
        url = request.url or ("http://127.0.0.1:11434" if request.backend == "ollama" else None)
        if not url:
            raise UsageError("--backend openai needs --url (e.g. http://127.0.0.1:8080)")
        shapes = [TestShape(p, 0) for p in request.n_prompt if p] + [TestShape(0, n) for n in request.n_gen if n]
        if not shapes:
            raise UsageError("nothing to measure: give a non-zero -p or -n")
        for model in models:
            results.append(
                remote.server_result(
                    request.backend,
                    url,
                    model,
                    shapes,
                    request.repetitions,
                    request.warmup,
                    request.api_key,
                    request.timeout_s,
                    request.seed,
                )
            )
    else:
        if request.binary is None:
            raise UsageError("--backend llama-bench needs --bin PATH/TO/llama-bench")
        if len(request.repack) > 1:
            raise UsageError("--repack: give one value (0 or 1) with --backend llama-bench")
        threads = request.thread_counts()
        repack = request.repack[0]
        if repack is None:
            repack = _machine_repack(models[0], threads[0], request.timeout_s, out)
        run = dataclasses.replace(request, threads=tuple(threads), repack=(repack,))
        for model in models:
            results += remote.llama_bench_results(run, model)
    out.data(render(results, request.output))
    for result in results:
        out.line(f"saved {save_result(result, request.results_dir, out.line)}")
        for error in result.errors:
            out.error(f"{error.test}: {error.message}" if error.test else error.message)
    return EXIT_OK if all(r.status == "complete" for r in results) else EXIT_FAILED


def _machine_repack(model: str, threads: int, timeout: float, out: Output) -> int:
    """--repack for the user's llama-bench when none is given: this machine's preflight default (probed with the in-process
    build: a repack path that faults here faults in any build), so its numbers compare with the harness's."""
    from harness.measure.preflight import RepackPolicy

    return RepackPolicy(fingerprint(), out.line, timeout).repack_for(None, resolve(model, load_catalog()).path, 0, threads)
