"""The user's own llama-bench as a backend (`--backend llama-bench --bin PATH`): every sweep option passed through to it,
its JSON lines read as result files of this machine, and a split over RPC servers measured with the same tests run
locally beside it (the ratio). The tests it finished before a crash or a dead RPC endpoint are kept."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

from harness.catalogue.models import DEFAULT_MODEL, load_catalog, resolve
from harness.errors import MeekError, UsageError
from harness.machine.facts import fingerprint
from harness.measure.backends import FLAGS
from harness.measure.protocol import DEFAULT_TENSOR_SPLIT, BenchRequest
from harness.measure.runner import BenchOutcome, Progress, ScoreHook, save_all
from harness.results.schema import BenchResult, LocalBaseline, RpcEndpoint, RunError, Split

FLASH_ATTN_WORDS = {0: "off", 1: "on", -1: "auto"}


def llama_bench_command(binary: Path, model_path: Path, request: BenchRequest) -> list[str]:
    """The user's llama-bench asked for what `meek bench` would measure: every sweep option passed through."""

    def joined(values) -> str:
        return ",".join(map(str, values))

    command = [
        str(binary),
        "-m",
        str(model_path),
        "-p",
        joined(request.n_prompt),
        "-n",
        joined(request.n_gen),
        "-d",
        joined(request.n_depth),
        "-t",
        joined(request.thread_counts()),
        "-r",
        str(request.repetitions),
        "-ngl",
        joined(request.n_gpu_layers),
        "-b",
        joined(request.n_batch),
        "-ub",
        joined(request.n_ubatch),
        "-fa",
        joined(FLASH_ATTN_WORDS[f] for f in request.flash_attn),
        "-ctk",
        joined(request.type_k),
        "-ctv",
        joined(request.type_v),
        "--repack",
        joined(request.repack),
        "-o",
        "jsonl",
    ]  # a line per finished test
    for prompt, gen in request.pg:
        command += ["-pg", f"{prompt},{gen}"]
    if not request.warmup:
        command.append("--no-warmup")
    if request.rpc:
        command += ["-rpc", ",".join(request.rpc)]
    return command


def _run_llama_bench(command: list[str], binary: Path, timeout_s: float, rpc: tuple[str, ...] = ()) -> tuple[list, str | None]:
    """llama-bench's records (`-o jsonl`: one per finished test), and why it stopped early, if it did: the tests it
    finished before a crash or a dead RPC endpoint are kept."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise MeekError(f"llama-bench did not finish within --timeout {timeout_s:g} s; it was stopped") from None
    except OSError as error:
        raise MeekError(f"could not run {binary}: {error}") from None
    records = []
    for line in completed.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    if completed.returncode == 0:
        if not records:
            raise MeekError("llama-bench printed no JSON: is --bin a llama-bench binary?")
        return records, None
    lines = completed.stderr.strip().splitlines()
    from harness.measure.rpc import answers

    gone = [endpoint for endpoint in rpc if not answers(endpoint)]
    why = (
        f"an RPC endpoint stopped answering mid-run: {', '.join(gone)} (llama-bench exit {completed.returncode})"
        if gone
        else f"llama-bench failed (exit {completed.returncode}): {(lines or ['no message'])[-1]}"
    )
    if not records:
        raise MeekError(why)
    return records, why


def split_of(
    request: BenchRequest, binary: Path, model_path: Path, split_results: list[BenchResult], devices: dict[str, str]
) -> Split:
    """The split's endpoints (what each serves, as llama-bench lists them), the user's link, and the same tests run
    locally right after (when the model fits here), so each test's cost reads as a ratio."""
    from harness import memory_budget
    from harness.measure.rpc import local_baselines
    from harness.results.import_llama_bench import results_from_records

    local: list[LocalBaseline] = []
    if memory_budget.free_bytes(offload=False) > model_path.stat().st_size * 1.2:
        alone = dataclasses.replace(request, rpc=())
        records, _ = _run_llama_bench(llama_bench_command(binary, model_path, alone), binary, request.timeout_s)
        local_runs = [
            run for result in results_from_records(records, "llama-bench run by meek", binary.name).results for run in result.runs
        ]  # read as the split's runs are, so like is set beside like
        local = [b for result in split_results for b in local_baselines(result.runs, local_runs)]
    return Split(
        endpoints=[RpcEndpoint(address=e, serves=devices[e]) for e in request.rpc],
        link=request.link,
        local=local,
        tensor_split=DEFAULT_TENSOR_SPLIT,
    )


def llama_bench_results(request: BenchRequest, model: str) -> list[BenchResult]:
    """Run the user's llama-bench (`request.binary`) on the model with the request's options (its --repack decided, as
    the harness measures) and turn its JSON into result files of this machine."""
    from harness.measure.protocol import model_info
    from harness.results.import_llama_bench import results_from_records

    binary, timeout_s = request.binary, request.timeout_s
    if binary is None or not binary.is_file():
        raise UsageError(f"--bin {binary}: no such llama-bench binary")
    resolved = resolve(model, load_catalog())
    command = llama_bench_command(binary, resolved.path, request)
    devices = {}
    if request.rpc:
        from harness.measure.rpc import rpc_devices

        devices = rpc_devices(binary, list(request.rpc))  # every endpoint answers, or one line names the one that does not
    records, stopped = _run_llama_bench(command, binary, timeout_s, request.rpc)
    imported = results_from_records(records, "llama-bench run by meek", binary.name)
    if imported.skipped:
        raise MeekError(f"llama-bench output not understood: {imported.skipped[0]}")
    machine = fingerprint()
    info = model_info(resolved)
    for result in imported.results:
        result.machine = machine.model_copy(update={"llama_cpp": result.machine.llama_cpp})  # its own build, this machine
        result.model = info
        if stopped:
            result.errors.append(RunError(stage="test", message=stopped))
            result.status = "partial"
    if request.rpc and not stopped:
        split = split_of(request, binary, resolved.path, imported.results, devices)
        for result in imported.results:
            result.split = split
    return imported.results


def machine_repack(model: str, threads: int, timeout: float, progress: Progress) -> int:
    """--repack for the user's llama-bench when none is given: this machine's preflight default (probed with the in-process
    build: a repack path that faults here faults in any build), so its numbers compare with the harness's."""
    from harness.measure.preflight import RepackPolicy

    return RepackPolicy(fingerprint(), progress.line, timeout).repack_for(None, resolve(model, load_catalog()).path, 0, threads)


class LlamaBench:
    name = "llama-bench"
    honours = frozenset(FLAGS) - {"tier", "eval_suite", "data_dir", "seed", "url", "api_key", "parallel"}
    refusal = "not available with --backend llama-bench (measure in process for them)"

    def measure(self, request: BenchRequest, progress: Progress, score: ScoreHook | None = None) -> BenchOutcome:
        if request.binary is None:
            raise UsageError("--backend llama-bench needs --bin PATH/TO/llama-bench")
        if len(request.repack) > 1:
            raise UsageError("--repack: give one value (0 or 1) with --backend llama-bench")
        models = [m.strip() for value in request.models for m in value.split(",") if m.strip()] or [DEFAULT_MODEL]
        threads = request.thread_counts()
        repack = request.repack[0]
        if repack is None:
            repack = machine_repack(models[0], threads[0], request.timeout_s, progress)
        run = dataclasses.replace(request, threads=tuple(threads), repack=(repack,))
        results = [result for model in models for result in llama_bench_results(run, model)]
        return save_all(results, request.results_dir, progress)


BACKEND = LlamaBench()
