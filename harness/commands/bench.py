"""`meek bench`: check the options, look the backend up and refuse what it cannot honour (from its declaration: harness/
measure/backends/), measure, print the table, say where the result files went.

Defaults are llama-bench's (-p 512, -n 128, -r 5, -b 2048, -ub 512, -ctk/-ctv f16, -fa auto, -ngl all, -t the physical
cores), so the same flags measure the same thing in both. A backend that cannot honour an option refuses it in one
line rather than saving results that silently ignored it.
"""

from __future__ import annotations

from typing import Any

from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from harness.measure.backends import lookup, refuse_unhonoured
from harness.measure.backends.server import check_name
from harness.measure.preflight import parse_repack
from harness.measure.protocol import BenchRequest
from harness.measure.rpc import endpoints
from harness.measure.runner import ScoreHook
from harness.measure.runtime.llamacpp import KV_CACHE_TYPES
from harness.measure.sweep import parse_int_list, parse_pg_list, parse_str_list
from harness.output import Output
from harness.results.printers import render, render_serving
from harness.results.store import check_results_dir

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
LOCAL_FILE_BACKENDS = ("llama-cpp-python", "llama-bench")  # -m names a local file or a catalogue id (not a server's name)


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
    for value in request.models:  # a model's name or path is saved as given: markup in it is refused, not saved altered
        check_name("-m", value, max_length=4096)
    backend = lookup(request.backend)
    refuse_unhonoured(backend, request.given)
    if backend.name in LOCAL_FILE_BACKENDS:
        _check_model_files(request.models)
    check_results_dir(request.results_dir)  # before anything is measured
    if request.link and not request.rpc:
        raise UsageError("--link describes an RPC split: give --rpc host:port,... with it")
    score = _scorer(request) if request.eval_suite else None
    with out:
        outcome = backend.measure(request, out, score)
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


def _check_model_files(models: tuple[str, ...]) -> None:
    """A -m that is a path (not a catalogue id) and is not there is a usage error (exit 2), before anything runs."""
    from pathlib import Path

    from harness.catalogue.models import load_catalog, looks_like_path

    catalog = load_catalog()
    for spec in (s.strip() for value in models for s in value.split(",") if s.strip()):  # -m a,b as the backends split it
        if catalog.get(spec) is None and looks_like_path(spec) and not Path(spec).expanduser().exists():
            raise UsageError(f"-m: model file not found: {spec}")


def _scorer(request: BenchRequest) -> ScoreHook:
    """`--eval`: the hook that scores each model after its speed tests (harness/quality/evaluate.py)."""
    from harness.quality.evaluate import EvalOptions, plan, scorer
    from harness.quality.tasks import SUITES

    suite = request.eval_suite or ""
    data = request.data_dir
    planned = plan([], suite, data, None) if suite in SUITES else plan(suite.split(","), None, data, None)
    threads = request.thread_counts()[0]
    return scorer(EvalOptions(tasks=planned, threads=threads, repack=request.repack[0], timeout_s=request.timeout_s))
