"""What each `meek` command does, between parsing (harness/cli/) and the modules that do the work."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from harness.catalogue.gguf_file import read_gguf_facts, sha256_of
from harness.catalogue.models import (
    DEFAULT_MODEL,
    Catalog,
    load_catalog,
    local_file,
    looks_like_path,
    resolve,
    unknown_model_message,
)
from harness.errors import MeekError
from harness.machine.facts import fingerprint
from harness.measure.backends.llamacpp import KV_CACHE_TYPES
from harness.measure.preflight import parse_repack
from harness.measure.runner import BenchOptions, EvalOptions, model_info, new_result, run_bench, score_into
from harness.measure.sweep import SweepSpec, parse_int_list, parse_pg_list, parse_str_list
from harness.memory_fit import capacity_bytes, gib, weights_bytes
from harness.results import printers

OUTPUT_FORMATS = ("md", "csv", "json", "jsonl")
TIERS = ("tiny", "small", "medium", "large", "xl")
FLASH_ATTN = {"0": 0, "1": 1, "-1": -1, "off": 0, "on": 1, "auto": -1}


def bench(
    model, tier, n_prompt, n_gen, pg, n_depth, threads, n_gpu_layers, batch, ubatch, flash_attn, cache_type_k,
    cache_type_v, repetitions, no_warmup, output, results_dir, timeout, eval_suite=None, data_dir=None, repack=None,
) -> int:  # fmt: skip
    """Run `meek bench`; return the exit code (0 all measured, 1 something failed, 130 interrupted)."""
    if output not in OUTPUT_FORMATS:
        raise MeekError(f"-o: unknown format '{output}' (choose from {', '.join(OUTPUT_FORMATS)})")
    catalog = load_catalog()
    models = [m.strip() for value in model for m in value.split(",") if m.strip()]
    if tier:
        models += models_for_tier(tier, catalog)
    models = list(dict.fromkeys(models or [DEFAULT_MODEL]))
    kv_types = tuple(KV_CACHE_TYPES)
    spec = SweepSpec(
        models=models,
        n_prompt=parse_int_list("-p", n_prompt),
        n_gen=parse_int_list("-n", n_gen),
        pg=parse_pg_list("-pg", pg),
        n_depth=parse_int_list("-d", n_depth),
        n_threads=thread_counts(threads),
        n_gpu_layers=parse_int_list("-ngl", n_gpu_layers, minimum=-1),
        n_batch=parse_int_list("-b", batch, minimum=1),
        n_ubatch=parse_int_list("-ub", ubatch, minimum=1),
        flash_attn=[FLASH_ATTN[v] for v in parse_str_list("-fa", flash_attn, tuple(FLASH_ATTN))],
        type_k=parse_str_list("-ctk", cache_type_k, kv_types),
        type_v=parse_str_list("-ctv", cache_type_v, kv_types),
        repack=parse_repack(repack),
    )
    if len(models) == 1 and not looks_like_path(models[0]) and catalog.get(models[0]) is None:
        raise MeekError(unknown_model_message(models[0], catalog))
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    machine = fingerprint()  # its warnings are printed after the preflight probe (harness/preflight.py: RepackPolicy)
    evaluate = None
    if eval_suite:
        from harness.quality.evaluate import plan
        from harness.quality.tasks import SUITES

        planned = (
            plan([], eval_suite, data_dir, None) if eval_suite in SUITES else plan(eval_suite.split(","), None, data_dir, None)
        )
        evaluate = EvalOptions(tasks=planned, threads=spec.n_threads[0], repack=spec.repack[0], timeout_s=timeout)
    options = BenchOptions(
        spec=spec, repetitions=repetitions, warmup=not no_warmup, timeout_s=timeout, results_dir=results_dir, evaluate=evaluate
    )
    with ConsoleProgress(err) as progress:
        outcome = run_bench(options, catalog, machine, progress)
    if outcome.results:
        sys.stdout.write(printers.render(outcome.results, output))
        sys.stdout.flush()
    for path in outcome.paths:
        err.print(f"saved {path}", markup=False)
    for line in outcome.errors:
        err.print(f"error: {line}", markup=False)
    if outcome.interrupted:
        finished = sum(len(r.runs) + len(r.scores) for r in outcome.results)
        err.print("interrupted: " + ("finished tests were saved" if finished else "no test had finished; nothing was saved"),
                  markup=False)  # fmt: skip
        return 130
    return 1 if outcome.errors else 0


class ConsoleProgress:
    """Progress on stderr: lines for finished steps; in a terminal, a spinner line for the repetition in flight."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status = console.status("", refresh_per_second=4) if console.is_terminal else None  # few wake-ups

    def line(self, text: str) -> None:
        self.console.print(text, markup=False)

    def status(self, text: str) -> None:
        if self._status is not None:
            self._status.update(text)

    def __enter__(self) -> "ConsoleProgress":
        if self._status is not None:
            self._status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._status is not None:
            self._status.stop()


def models_for_tier(tier: str, catalog: Catalog) -> list[str]:
    """Standard model ids of the named tiers; `auto` picks those whose weights (plus 20% for KV cache and buffers)
    fit in 80% of what this machine can hold."""
    names = [t.strip().lower() for t in tier.split(",")]
    if names == ["auto"]:
        room = 0.8 * capacity_bytes()
        return [
            m.id
            for t in TIERS
            for m in catalog.standard_models(t)
            if weights_bytes(m.params_total_b, m.quant, m.file_size_bytes) * 1.2 < room
        ]
    for name in names:
        if name not in TIERS:
            raise MeekError(f"--tier: unknown tier '{name}' (choose from {', '.join(TIERS)}, or auto)")
    return [m.id for name in names for m in catalog.standard_models(name)]


def models_list(tier: str | None, out: Console) -> None:
    catalog = load_catalog()
    if tier and tier not in TIERS:
        raise MeekError(f"--tier: unknown tier '{tier}' (choose from {', '.join(TIERS)})")
    table = Table(box=None)
    table.add_column("id", no_wrap=True)  # never shortened: it is what you type after -m
    for header in ("tier", "params (B)", "quant", "size", "released", "licence", "here", "std"):
        table.add_column(header)
    for m in catalog.models:
        if tier and m.tier != tier:
            continue
        size = weights_bytes(m.params_total_b, m.quant, m.file_size_bytes)
        params = f"{m.params_total_b:g}" + (f" ({m.params_active_b:g} active)" if m.moe else "")
        table.add_row(
            m.id, m.tier, params, m.quant, gib(size) if m.file_size_bytes else f"~{gib(size)}", str(m.release_date),
            m.license, "yes" if local_file(m) else "-", "*" if m.standard else "",
        )  # fmt: skip
    out.print(table)
    out.print("here: file present locally; std: the tier's standard model. Details: meek models info ID")


def models_info(model_id: str, out: Console) -> None:
    catalog = load_catalog()
    entry = catalog.get(model_id)
    if entry is None and not looks_like_path(model_id):
        raise MeekError(unknown_model_message(model_id, catalog))
    if entry:
        for key, value in entry.model_dump(exclude_none=True).items():
            if key == "source":
                value = entry.source.describe()
            out.print(f"{key:>18}: {value}", markup=False)
        path = local_file(entry)
    else:
        path = Path(model_id).expanduser()
    if path is None:
        out.print(f"{'file':>18}: not here yet (meek models verify {entry.id} fetches and checks it)", markup=False)
        return
    out.print(f"{'file':>18}: {path}", markup=False)
    for key, value in read_gguf_facts(path).items():
        out.print(f"{'gguf.' + key:>18}: {value}", markup=False)


def models_verify(model_id: str, out: Console) -> None:
    catalog = load_catalog()
    resolved = resolve(model_id, catalog, verify_sha256=False)
    actual = sha256_of(resolved.path, force=True)
    expected = resolved.entry.sha256 if resolved.entry else None
    out.print(f"{resolved.path}\n  GGUF header and size: ok\n  sha256: {actual}", markup=False)
    if expected and actual != expected:
        raise MeekError(f"sha256 mismatch for {model_id}: expected {expected}, got {actual}; delete the file and fetch it again")
    out.print(
        "  matches the catalogue" if expected else "  (the catalogue has no sha256 for this model to compare with)", markup=False
    )


def machine_facts(probe: bool) -> dict:
    """The fingerprint with the preflight verdict (probed now with the bundled model if `probe` and none is stored)."""
    from harness.measure import preflight

    facts = fingerprint()
    if probe and "cpu_features_used" in facts.get("llama_cpp", {}):
        verdict = preflight.check(resolve(DEFAULT_MODEL, load_catalog()).path, facts, threads=thread_counts(None)[0])
    else:
        verdict = preflight.cached(facts)
    preflight.apply(facts, verdict)
    facts["preflight"] = preflight.describe(verdict)
    return facts


def print_machine(facts: dict, out: Console) -> None:
    cpu, build = facts["cpu"], facts.get("llama_cpp", {})
    lines = [
        ("machine id", facts["machine_id"]),
        ("cpu", f"{cpu['model']} ({cpu['arch']}), {cpu['physical_cores']} cores / {cpu['logical_cores']} threads"),
        ("simd", " ".join(cpu["simd"]) or "-"),
        ("memory", gib(facts["memory_bytes"]) + (" (unified)" if facts["unified_memory"] else "")),
    ]
    for gpu in facts["gpus"] or [{"vendor": "", "name": "none found", "memory_bytes": None}]:
        memory = f", {gib(gpu['memory_bytes'])}" if gpu.get("memory_bytes") else ""
        lines.append(
            ("gpu", f"{gpu['vendor']} {gpu['name']}{memory}" + (f", driver {gpu['driver']}" if gpu.get("driver") else ""))
        )
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
        out.print(f"{key:>18}: {value}", markup=False)


def evaluate(model, suite, tasks, data_dir, limit, strategy, n_ctx, threads, chat, results_dir, repack=None, timeout=600) -> int:
    """Run `meek eval`: score one model (in a worker process), print the scores, save them as a result file.

    Exit 0 when every task was scored; 1 when scoring failed (the requests scored before the failure stay cached, so the
    same command resumes); a bad option raises MeekError before anything runs."""
    from harness.measure.preflight import RepackPolicy
    from harness.quality.evaluate import plan
    from harness.results.schema import Machine, write_result

    catalog = load_catalog()
    wanted = parse_repack(repack)
    if len(wanted) > 1:
        raise MeekError("--repack: meek eval scores with one setting: give 0 or 1")
    planned = plan([t.strip() for t in (tasks or "").split(",") if t.strip()], suite, data_dir, limit)
    resolved = resolve(model, catalog)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    machine = fingerprint()
    result = new_result(machine, None, model_info(resolved))
    progress = ConsoleProgress(err)
    options = EvalOptions(tasks=planned, strategy=strategy, n_ctx=n_ctx, threads=threads, chat=chat, timeout_s=timeout)
    try:
        options.repack = RepackPolicy(machine, progress.line, timeout).repack_for(wanted[0], resolved.path, 0, threads or 1)
    except MeekError as error:  # the setting asked for crashes here, or every setting does: a failed run, not bad input
        err.print(f"error: {error}", markup=False)
        return 1
    result.machine = Machine.model_validate(machine)
    err.print(
        f"scoring {resolved.label} on {', '.join(p.name for p in planned)}"
        + (" (subset)" if any(p.subset for p in planned) else ""),
        markup=False,
    )
    try:
        score_into(result, resolved, options, progress)
    except KeyboardInterrupt:
        err.print("\ninterrupted: the requests scored so far are kept in the cache: run the same command again to resume",
                  markup=False)  # fmt: skip
        return 130
    if result.errors:
        err.print(f"error: {result.errors[0].message}", markup=False)
        return 1
    result.status = "complete"
    sys.stdout.write(scores_table(result))
    err.print(f"saved {write_result(result, results_dir)}", markup=False)
    return 0


def scores_table(result) -> str:
    lines = [
        "| model | task | metric | value | ± stderr | shots | items | subset | time s |",
        "|---|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for s in result.scores:
        stderr = f"{s.stderr:.4f}" if s.stderr is not None else "-"
        mark = " *" if s.primary else ""
        lines.append(
            f"| {result.model.label} | {s.task} | {s.metric}{mark} | {s.value:.4f} | {stderr} | {s.shots} | {s.samples} | {'yes' if s.subset else 'no'} | {s.elapsed_s:.0f} |"
        )
    return "\n".join(lines) + "\n(* the metric the task is usually quoted by)\n"


def thread_counts(threads: str | None) -> list[int]:
    """-t values, or the physical core count (llama-bench's default) when none are given."""
    default = str(psutil.cpu_count(logical=False) or psutil.cpu_count() or 1)
    return parse_int_list("-t", threads or default, minimum=1)


def llama_bench_repack(model: str, threads: int, timeout: float) -> int:
    """--repack for the user's llama-bench when none is given: this machine's preflight default (probed with the in-process
    build: a repack path that faults here faults in any build), so its numbers compare with the harness's."""
    from harness.measure.preflight import RepackPolicy

    say = Console(stderr=True, highlight=False, soft_wrap=True).print
    return RepackPolicy(fingerprint(), lambda text: say(text, markup=False), timeout).repack_for(
        None, resolve(model, load_catalog()).path, 0, threads
    )


def bench_elsewhere(
    backend, url, binary, api_key, model, n_prompt, n_gen, threads, n_gpu_layers, flash_attn, repetitions, no_warmup, output,
    results_dir, repack=None, timeout=600,
) -> int:  # fmt: skip
    """`meek bench --backend openai|ollama|llama-bench`: measure through a server or the user's llama-bench, save, print."""
    from harness.measure import remote as server_bench
    from harness.measure.sweep import TestShape
    from harness.results.printers import render

    if output not in OUTPUT_FORMATS:
        raise MeekError(f"-o: unknown format '{output}' (choose from {', '.join(OUTPUT_FORMATS)})")
    models = [m.strip() for value in model for m in value.split(",") if m.strip()] or [DEFAULT_MODEL]
    prompts, gens = parse_int_list("-p", n_prompt), parse_int_list("-n", n_gen)
    if backend in ("openai", "ollama"):
        if repack is not None:
            raise MeekError(f"--repack: the {backend} server loaded the model with its own settings; set it there "
                            "(llama-server --no-repack), or measure in process")  # fmt: skip
        url = url or ("http://127.0.0.1:11434" if backend == "ollama" else None)
        if not url:
            raise MeekError("--backend openai needs --url (e.g. http://127.0.0.1:8080)")
        shapes = [TestShape(p, 0) for p in prompts if p] + [TestShape(0, n) for n in gens if n]
        results = [server_bench.server_result(backend, url, m, shapes, repetitions, not no_warmup, api_key) for m in models]
    elif backend == "llama-bench":
        if binary is None:
            raise MeekError("--backend llama-bench needs --bin PATH/TO/llama-bench")
        thread_list = thread_counts(threads)
        wanted = parse_repack(repack)
        if len(wanted) > 1:
            raise MeekError("--repack: give one value (0 or 1) with --backend llama-bench")
        chosen = wanted[0] if wanted[0] is not None else llama_bench_repack(models[0], thread_list[0], timeout)
        results = [r for m in models for r in server_bench.llama_bench_results(
            binary, m, prompts, gens, thread_list, repetitions, n_gpu_layers, flash_attn, chosen, timeout)]  # fmt: skip
    else:
        raise MeekError(f"--backend: unknown '{backend}' (choose llama-cpp-python, openai, ollama or llama-bench)")
    print(render(results, output), end="")
    for path in server_bench.save(results, results_dir):
        print(f"saved {path}", file=sys.stderr)
    for result in results:
        for error in result.errors:
            print(f"error: {error.test}: {error.message}", file=sys.stderr)
    return 0 if all(r.status == "complete" for r in results) else 1
