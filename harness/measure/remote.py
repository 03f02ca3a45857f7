"""`meek bench --backend openai|ollama|llama-bench`: the same tests through a server or the user's own llama-bench build,
into the same result files. The result names the backend, the server (without credentials) and each run's timing source."""

from __future__ import annotations

import datetime as dt
import subprocess
import urllib.parse
from pathlib import Path

from harness.catalogue.models import load_catalog, resolve
from harness.errors import MeekError
from harness.machine.facts import fingerprint
from harness.measure.backends.server import OllamaServer, OpenAIServer, measure, public_url
from harness.measure.stats import summarize
from harness.measure.sweep import TestShape
from harness.results.schema import SCHEMA_VERSION, BenchResult, Machine, ModelInfo, Protocol, Run, RunError, write_result

SERVERS = {"openai": OpenAIServer, "ollama": OllamaServer}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def server_result(backend: str, url: str, model: str, shapes: list[TestShape], repetitions: int, warmup: bool,
                  api_key: str | None = None) -> BenchResult:  # fmt: skip
    """Run every shape against the server; a failed test becomes an error entry and the others still run."""
    server = SERVERS[backend](url, model, api_key)
    machine = fingerprint()
    host = urllib.parse.urlsplit(url).hostname
    if host not in LOOPBACK:
        machine["warnings"] = [*machine.get("warnings", []), f"server at {host}: the machine facts describe this client"]
    entry = load_catalog().get(model)
    result = BenchResult(
        schema_version=SCHEMA_VERSION,
        created_utc=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        status="complete",
        machine=Machine.model_validate(machine),
        model=ModelInfo(
            id=entry.id if entry else None,
            label=model,
            file_name=(entry.source.file or entry.source.hf_file or model) if entry else model,
            file_size_bytes=entry.file_size_bytes if entry else None,
            quant=entry.quant if entry else None,
            source=f"served as '{server.model}'",
        ),
        protocol=Protocol(
            backend=backend,
            repetitions=repetitions,
            warmup=warmup,
            seed=0,
            timing="see each run's timing_source",
            server=public_url(url),
        ),
    )
    for shape in shapes:
        try:
            test = measure(server, shape.n_prompt, shape.n_gen, repetitions, warmup)
        except MeekError as error:
            result.errors.append(RunError(stage="test", message=str(error), test=shape.name))
            continue
        samples_ns = [s.ns for s in test.samples]
        result.runs.append(
            Run(
                test=shape.name,
                n_prompt=shape.n_prompt,
                n_gen=shape.n_gen,
                n_depth=0,
                n_threads=None,
                n_ctx=shape.n_ctx,
                settings=None,
                timing_source=test.timing_source,
                samples_ns=samples_ns,
                warmup_ns=test.warmup_ns,
                ttft_ns=[s.ttft_ns for s in test.samples if s.ttft_ns is not None],
                **summarize(shape.n_prompt + shape.n_gen, samples_ns),
            )
        )
    result.status = "complete" if not result.errors else "partial" if result.runs else "failed"
    return result


def llama_bench_results(binary: Path, model: str, n_prompt: list[int], n_gen: list[int], threads: list[int], repetitions: int,
                        n_gpu_layers: str, flash_attn: str, repack: int = 1, timeout_s: float = 600) -> list[BenchResult]:  # fmt: skip
    """Run the user's llama-bench on the model (with `--repack`, as the harness measures) and turn its JSON into result
    files of this machine."""
    from harness.measure.runner import model_info
    from harness.results.import_llama_bench import results_from_records

    if not binary.is_file():
        raise MeekError(f"--bin {binary}: no such llama-bench binary")
    resolved = resolve(model, load_catalog())
    command = [str(binary), "-m", str(resolved.path), "-p", ",".join(map(str, n_prompt)), "-n", ",".join(map(str, n_gen)),
               "-t", ",".join(map(str, threads)), "-r", str(repetitions), "-ngl", n_gpu_layers, "-fa", flash_attn, "--repack", str(repack), "-o", "json"]  # fmt: skip
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise MeekError(f"llama-bench did not finish within --timeout {timeout_s:g} s; it was stopped") from None
    except OSError as error:
        raise MeekError(f"could not run {binary}: {error}") from None
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        raise MeekError(f"llama-bench failed (exit {completed.returncode}): {last}")
    import json

    try:
        records = json.loads(completed.stdout)
    except ValueError:
        raise MeekError("llama-bench printed no JSON: is --bin a llama-bench binary?") from None
    imported = results_from_records(records, "llama-bench run by meek", binary.name)
    if imported.skipped:
        raise MeekError(f"llama-bench output not understood: {imported.skipped[0]}")
    machine = Machine.model_validate(fingerprint())
    info = model_info(resolved)
    for result in imported.results:
        result.machine = machine.model_copy(update={"llama_cpp": result.machine.llama_cpp})  # its own build, this machine
        result.model = info
    return imported.results


def save(results: list[BenchResult], results_dir: Path) -> list[Path]:
    return [write_result(result, results_dir) for result in results]
