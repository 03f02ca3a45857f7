"""`meek fit`: the largest context a model loads and generates at on this machine, the generation rate there, the peak
memory of every probe, and the memory model's prediction beside it, saved in a result file (`fits`).

The search and the probes are harness/measure/fit.py and fit_probe.py; this module checks the options, prints, saves.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.catalogue.gguf_file import read_gguf_facts
from harness.catalogue.models import load_catalog, looks_like_path, resolve
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, MeekError, UsageError
from harness.machine.facts import fingerprint, physical_cores
from harness.measure.fit import STEP, FitOptions, FitSearch, NotLoaded, predict, prediction_line, usable_memory
from harness.measure.fit_probe import fill_tokens
from harness.measure.preflight import RepackPolicy, parse_one_repack
from harness.measure.protocol import LoadSettings, model_info
from harness.measure.runtime.llamacpp import KV_CACHE_TYPES
from harness.memory_fit import size_text
from harness.output import Output, markdown_table
from harness.results.schema import ContextFit, new_result
from harness.results.store import check_results_dir, save_result

FLASH_ATTN = {"0": 0, "1": 1, "-1": -1, "off": 0, "on": 1, "auto": -1}
UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
UNITS |= {f"{unit}ib": UNITS[unit] for unit in "kmgt"}


@dataclass(frozen=True)
class FitRequest:
    """`meek fit`'s options, parsed."""

    model: str = "smollm2-135m"
    min_tg: float | None = None
    n_gen: int = 32
    fill: float = 1.0
    start: int = 512
    max_ctx: int | None = None
    memory_limit: int | None = None
    threads: int | None = None
    n_gpu_layers: int = -1
    n_gpu_layers_given: bool = False
    flash_attn: int = -1
    type_k: str = "f16"
    type_v: str = "f16"
    repack: int | None = None
    results_dir: Path = Path("results")
    timeout_s: float = 600.0
    seed: int = 0


def parse_size(option: str, text: str) -> int:
    """'256M', '1.5GiB', '300MB', '268435456' as bytes: K, M, G, T and KiB... are powers of 1024, KB, MB... of 1000."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in UNITS:
        raise UsageError(f"{option}: expected a size such as 512M, 1.5G or 2GiB, not '{text}'")
    value = int(float(match.group(1)) * UNITS[unit])
    if value < 1 or value > 2**50:
        raise UsageError(f"{option}: {text} is not a size a process can be limited to")
    return value


def parse_number(option: str, text: str, low: float, high: float, what: str, low_open: bool = False) -> float:
    """A finite number in [low, high] ((low, high] with `low_open`), or one line saying what was expected."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
        raise UsageError(f"{option}: expected {what}, not '{text}'")
    return value


def request(options: dict[str, Any], given: frozenset[str] = frozenset()) -> FitRequest:
    """The request from `meek fit`'s options as typed; one line for a bad value."""
    o = options
    repack = parse_one_repack(o["repack"], "meek fit searches")
    if o["flash_attn"] not in FLASH_ATTN:
        raise UsageError(f"-fa: expected 0/off, 1/on or -1/auto, not '{o['flash_attn']}'")
    for option, value in (("-ctk", o["cache_type_k"]), ("-ctv", o["cache_type_v"])):
        if value not in KV_CACHE_TYPES:
            raise UsageError(f"{option}: unknown cache type '{value}' (choose from {', '.join(KV_CACHE_TYPES)})")
    min_tg = o["min_tg"]
    return FitRequest(
        model=o["model"],
        min_tg=None if min_tg is None else parse_number("--min-tg", min_tg, 0, 1e9, "a rate in tokens per second above 0", True),
        n_gen=o["n_gen"],
        fill=parse_number("--fill", o["fill"], 0, 1, "a share of the context from 0 to 1"),
        start=o["start"],
        max_ctx=o["max_ctx"],
        memory_limit=None if o["memory_limit"] is None else parse_size("--memory-limit", o["memory_limit"]),
        threads=o["threads"],
        n_gpu_layers=o["n_gpu_layers"],
        n_gpu_layers_given="n_gpu_layers" in given,
        flash_attn=FLASH_ATTN[o["flash_attn"]],
        type_k=o["cache_type_k"],
        type_v=o["cache_type_v"],
        repack=repack,
        results_dir=o["results_dir"],
        timeout_s=o["timeout"],
        seed=o["seed"],
    )


def run(request: FitRequest, out: Output) -> int:
    """Search, print the probes and the verdict beside the memory model's, save; 0 done, 1 when no context ran (or the
    model did not load), 130 interrupted (the finished probes are saved)."""
    if request.memory_limit is not None and not sys.platform.startswith("linux"):
        raise UsageError("--memory-limit needs Linux (it sets RLIMIT_DATA on the worker)")
    check_results_dir(request.results_dir)  # before anything is measured
    catalog = load_catalog()
    if catalog.get(request.model) is None and looks_like_path(request.model) and not Path(request.model).expanduser().exists():
        raise UsageError(f"-m: model file not found: {request.model}")
    resolved = resolve(request.model, catalog)
    facts = read_gguf_facts(resolved.path)
    trained = _trained_context(request, facts.context_length)
    machine = fingerprint()
    n_gpu_layers = request.n_gpu_layers
    if not request.n_gpu_layers_given and not machine.llama_cpp.gpu_offload:
        n_gpu_layers = 0  # "all layers" offloads none on this build: recorded as what happens
    threads = request.threads or physical_cores()
    policy = RepackPolicy(machine, out.line, request.timeout_s)
    repack = policy.repack_for(request.repack, resolved.path, n_gpu_layers, threads)
    settings = LoadSettings(
        n_gpu_layers=n_gpu_layers, flash_attn=request.flash_attn, type_k=request.type_k, type_v=request.type_v, repack=repack
    )
    options = FitOptions(
        settings=settings,
        n_threads=threads,
        trained_ctx=trained,
        n_gen=request.n_gen,
        fill=request.fill,
        start=request.start,
        min_tg=request.min_tg,
        memory_limit=request.memory_limit,
        timeout_s=request.timeout_s,
        seed=request.seed,
    )
    usable, basis = usable_memory(policy.machine, settings, request.memory_limit)
    predicted = predict(facts, settings, usable, trained)
    out.line(_plan(resolved.label, options))
    out.line(f"memory model: {predicted:,} tokens fit in {basis}" if predicted else f"memory model: nothing fits in {basis}")
    search = FitSearch(str(resolved.path), options, out)
    interrupted = False
    try:
        with out:
            search.run()
    except NotLoaded as error:
        where = f" within {size_text(request.memory_limit)} (--memory-limit)" if request.memory_limit is not None else ""
        raise MeekError(f"the model does not load{where}: {error}") from None
    except KeyboardInterrupt:
        interrupted = True
    fit = search.result(predicted, usable)
    result = new_result(policy.machine, model_info(resolved))
    result.fits.append(fit)
    result.status = "interrupted" if interrupted else ("complete" if fit.ctx_max else "failed")
    if fit.probes:
        out.data(probes_table(fit))
        out.say(verdict_line(fit))
        out.say(prediction_line(fit) + f", from {basis}")
        out.line(f"saved {save_result(result, request.results_dir, out.line)}")
    if interrupted:
        out.line(
            "interrupted: " + ("the finished probes were saved" if fit.probes else "no probe had finished; nothing was saved")
        )
        return EXIT_INTERRUPTED
    if not fit.ctx_max:
        out.error(f"no context of {fit.probes[-1].ctx:,} tokens or more ran: {fit.probes[-1].reason}")
        return EXIT_FAILED
    return EXIT_OK


def _trained_context(request: FitRequest, trained: object) -> int:
    if request.n_gen + 1 >= STEP:
        raise UsageError(f"-n: at most {STEP - 2} tokens (a probe may be as small as {STEP} tokens)")
    if request.max_ctx is not None:
        return request.max_ctx
    if not isinstance(trained, int) or isinstance(trained, bool) or trained < STEP:
        raise UsageError(f"the model's file does not give its trained context: give --max-ctx (at least {STEP})")
    return trained


def _plan(label: str, o: FitOptions) -> str:
    limit = f"; the worker limited to {size_text(o.memory_limit)} beyond its start-up" if o.memory_limit is not None else ""
    slow = f"; slower than {o.min_tg:g} t/s counts as failing" if o.min_tg is not None else ""
    return (
        f"fit {label}: contexts from {min(o.start, o.trained_ctx):,} doubling up to {o.trained_ctx:,}, then bisection to "
        f"{STEP} tokens; each probe fills {o.fill:.0%} of its context, then times {o.n_gen} generated tokens{slow}{limit}"
    )


def probes_table(fit: ContextFit) -> str:
    gpu = any(p.peak_gpu_used_bytes for p in fit.probes)
    columns = ["ctx", "result", "filled", "tg t/s", "peak RSS MiB", *(["peak GPU MiB"] if gpu else []), "s", "reason"]
    rows = []
    for p in fit.probes:
        row = [
            f"{p.ctx:,}",
            "ok" if p.ok else "failed",
            f"{fill_tokens(p.ctx, fit.n_gen, fit.fill or 0):,}",
            f"{p.tg_ts:.2f}" if p.tg_ts is not None else "-",
            f"{p.peak_rss_bytes / 2**20:,.0f}" if p.peak_rss_bytes else "-",
        ]
        if gpu:
            row.append(f"{p.peak_gpu_used_bytes / 2**20:,.0f}" if p.peak_gpu_used_bytes else "-")
        rows.append([*row, f"{p.seconds:.1f}", p.reason or ""])
    return markdown_table(columns, rows, right=["ctx", "filled", "tg t/s", "peak RSS MiB", "peak GPU MiB", "s"])


def verdict_line(fit: ContextFit) -> str:
    """'largest context: 2,560 tokens (3,072 failed), generation 152.1 t/s there'."""
    if not fit.ctx_max:
        return "largest context: none ran"
    if fit.ctx_failed:
        bound = f"{fit.ctx_failed:,} failed"
    elif fit.ctx_max >= fit.trained_ctx:
        bound = "the largest searched"
    else:
        bound = "the search was interrupted"
    rate = f", generation {fit.tg_ts:.2f} t/s there" if fit.tg_ts is not None else ""
    return f"largest context: {fit.ctx_max:,} tokens ({bound}){rate}"
