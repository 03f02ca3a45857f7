"""What physics and the machine allow: the bounds a result must keep whatever its content hash says (a hash proves only
that nobody edited the file after signing it; anyone can sign).

- Generation: tokens/s x weight bytes read per token <= the device's memory bandwidth (x 1.25 for rounded spec sheets).
  A split across RPC endpoints is bounded by the machine's own device too: an endpoint in a file lifts no bound.
- Prompt processing: tokens/s x 2 FLOPs per active parameter <= the peak FLOPS of the fastest device known (x 1.25).
- The model's size comes from the catalogue when it knows the file (by sha256, else by id), never from the file; a model
  the catalogue does not know is bounded by the file's own facts with floors no real model file is below, and flagged.
- Scores within their metric's range; time to first token, load time, memory, power and threads within what a run and
  the machine it claims can have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.catalogue.hardware import max_bandwidth_gbs
from harness.catalogue.models import CatalogModel
from harness.results.facts import device_of, offloaded
from harness.results.schema import BenchResult

MARGIN = 1.25  # spec sheets round; tolerate 25% before calling a rate impossible
CACHE_RESIDENT_BYTES = 2**30  # below this a model may sit in a big CPU or GPU cache, so only the fastest device bounds it
# NVIDIA B200: 2.25 PFLOPS dense FP16/BF16 tensor throughput (NVIDIA's B200 datasheet, sparsity off), the fastest
# device a llama.cpp result can come from; no prompt rate may need more.
PEAK_FLOPS = 2.25e15
MIN_MODEL_BYTES = 10 * 2**20  # no language model file llama.cpp runs is smaller (SmolLM2-135M at Q4_1 is 94 MiB)
MIN_BITS_PER_WEIGHT = 1.5  # IQ1_S, llama.cpp's smallest quant, is 1.56 bits per weight
MAX_BITS_PER_WEIGHT = 32.0  # F32
UNKNOWN_MOE_SHARE = 1 / 64  # active/total for a mixture of experts of unknown shape (Kimi K2: 1/31, gpt-oss-120b: 1/23)
PROPORTION_METRICS = re.compile(r"^(acc|acc_norm|exact_match|f1|em|mc1|mc2|brier_score)(,|$)")
MAX_TTFT_NS = 3600 * 10**9  # an hour to a first token is not a measurement of a home machine
MAX_LOAD_MS = 3600 * 1000
MAX_SENSOR_W = 2000  # one CPU package or GPU (a B200 is rated 1000 W)
ACTIVE_IN_NAME = re.compile(r"(\d+(?:\.\d+)?)B[.\-_ ]?A(\d+(?:\.\d+)?)B", re.IGNORECASE)  # "30B.A3B", "30B-A3B"
MOE_WORDS = ("moe", "mixtral", "expert")


@dataclass(frozen=True)
class ModelFacts:
    """What the bounds rest on: weight bytes read per generated token, active parameters, and where they come from."""

    bytes_per_token: float
    active_params: float
    basis: str  # "catalogue" or "file"


def _active_share(result: BenchResult) -> float:
    text = " ".join(filter(None, (result.model.label, result.model.name, result.model.description, result.model.architecture)))
    if match := ACTIVE_IN_NAME.search(text):
        total, active = float(match.group(1)), float(match.group(2))
        return min(1.0, active / total) if total > 0 else 1.0
    if any(word in text.lower() for word in MOE_WORDS):
        return UNKNOWN_MOE_SHARE
    # A published table names a model, not its shape: an unknown one may be a mixture of experts (GLM-4.7-Flash is one
    # though nothing in its name says so), so it is bounded as one. A file measured by meek is bounded as dense.
    imported = bool(result.protocol and result.protocol.imported_from)
    return UNKNOWN_MOE_SHARE if imported else 1.0


def model_facts(result: BenchResult, model: CatalogModel | None) -> ModelFacts:
    """The catalogue's facts for a file it knows; otherwise the file's own, raised to what any real model file has."""
    if model is not None:
        size = model.file_size_bytes or (model.file_size_approx_gb or 0) * 1e9
        share = model.params_active_b / model.params_total_b
        if size:
            return ModelFacts(size * share, model.params_active_b * 1e9, "catalogue")
    share = _active_share(result)
    claimed_params = result.model.n_params or 0
    size = max(result.model.file_size_bytes or 0, claimed_params * MIN_BITS_PER_WEIGHT / 8, MIN_MODEL_BYTES)
    params = max(claimed_params, size * 8 / MAX_BITS_PER_WEIGHT)
    return ModelFacts(size * share, params * share, "file")


def rate_problems(result: BenchResult, facts: ModelFacts) -> list[str]:
    problems = []
    for run in result.runs:
        if run.n_gen and not run.n_prompt:  # generation: memory bandwidth
            # A split is bounded as the machine alone is: the devices it can be shown to span are the machine's own (a
            # loopback endpoint is this machine; a remote one is only an address and a memory size, whatever it claims
            # to serve), and a layer split's token runs through its devices in turn, so none is faster than the fastest.
            large = facts.bytes_per_token >= CACHE_RESIDENT_BYTES
            device = device_of(result.machine, offloaded(run, result.machine)) if large else None
            limit, what = (device.bandwidth_gbs, device.name) if device else (max_bandwidth_gbs(), "the fastest device known")
            needed = run.peak_ts * facts.bytes_per_token / 1e9
            if needed > limit * MARGIN:
                problems.append(
                    f"{run.test}: {run.peak_ts:.1f} t/s x {facts.bytes_per_token / 1e9:.2f} GB per token needs {needed:.0f} GB/s, "
                    f"beyond {what}'s {limit:.0f} GB/s memory bandwidth"
                    + (" (a split is bounded by this machine's own devices: its RPC endpoints add none)" if result.split else "")
                )
        elif run.n_prompt and not run.n_gen:  # prompt processing: compute
            needed = run.peak_ts * 2 * facts.active_params
            if needed > PEAK_FLOPS * MARGIN:
                problems.append(
                    f"{run.test}: {run.peak_ts:,.0f} t/s x {2 * facts.active_params / 1e9:.2f} GFLOP per token needs "
                    f"{needed / 1e12:,.0f} TFLOPS, beyond the fastest device known ({PEAK_FLOPS / 1e12:,.0f} TFLOPS)"
                )
    return problems


def serving_problems(result: BenchResult, facts: ModelFacts) -> list[str]:
    """A serving point's aggregate generation: each step of B streams reads the weights once, so the steps per second
    (S_TG / B) are bounded by the device's bandwidth as one stream is; and all B tokens need their FLOPs."""
    problems = []
    large = facts.bytes_per_token >= CACHE_RESIDENT_BYTES
    for point in result.serving:
        device = device_of(result.machine, offloaded(point, result.machine)) if large else None
        limit, what = (device.bandwidth_gbs, device.name) if device else (max_bandwidth_gbs(), "the fastest device known")
        label = f"serving B={point.n_parallel} pp{point.n_prompt}+tg{point.n_gen}"
        steps = point.s_tg / point.n_parallel
        if steps * facts.bytes_per_token / 1e9 > limit * MARGIN:
            problems.append(
                f"{label}: {point.s_tg:.1f} t/s over {point.n_parallel} streams is {steps:.1f} steps/s x "
                f"{facts.bytes_per_token / 1e9:.2f} GB, beyond {what}'s {limit:.0f} GB/s"
            )
        if point.s_tg * 2 * facts.active_params > PEAK_FLOPS * MARGIN:
            problems.append(
                f"{label}: {point.s_tg:,.0f} t/s needs more than the fastest device's {PEAK_FLOPS / 1e12:,.0f} TFLOPS"
            )
        stream_limit = limit * MARGIN * 1e9 / facts.bytes_per_token  # one stream is bounded as a single-stream run is
        if point.tg_per_stream > stream_limit or (point.mode == "in-process" and point.tg_per_stream > point.s_tg * 1.001):
            problems.append(
                f"{label}: {point.tg_per_stream:.1f} t/s per stream is beyond one stream's bound, or above all streams together"
            )
        if any(t > MAX_TTFT_NS for t in point.ttft_ns):
            problems.append(f"{label}: a time to first token over an hour")
    return problems


def score_problems(result: BenchResult) -> list[str]:
    problems = []
    for score in result.scores:
        if PROPORTION_METRICS.match(score.metric):
            if not 0 <= score.value <= 1:
                problems.append(f"score {score.task} {score.metric} = {score.value:g}: a proportion is between 0 and 1")
            if score.stderr is not None and score.stderr > 0.5:
                problems.append(
                    f"score {score.task} {score.metric}: stderr {score.stderr:g} is above 0.5, the most a proportion has"
                )
        elif abs(score.value) > 1e6:
            problems.append(f"score {score.task} {score.metric} = {score.value:g} is out of any metric's range")
    return problems


def timing_problems(result: BenchResult) -> list[str]:
    problems = []
    for run in result.runs:
        if any(t > MAX_TTFT_NS for t in run.ttft_ns):
            problems.append(f"{run.test}: a time to first token over an hour")
        if run.n_prompt and not run.n_gen and run.timing_source is None and run.ttft_ns:
            # in process, the first token is picked after the timed prompt: it cannot come sooner than the prompt's end
            if any(t < s for t, s in zip(run.ttft_ns, run.samples_ns)):
                problems.append(f"{run.test}: a time to first token shorter than the prompt it follows")
    for load in result.loads:
        if load.load_time_ms > MAX_LOAD_MS:
            problems.append(f"a load time of {load.load_time_ms / 1000:,.0f} s")
    return problems


def machine_problems(result: BenchResult) -> tuple[list[str], list[str]]:
    """(failures, warnings) for memory, power and threads against the machine the file describes."""
    machine, failures, warnings = result.machine, [], []
    ram = machine.memory_bytes
    vram = max((g.memory_bytes or 0 for g in machine.gpus), default=0)
    peaks = [(x.peak_rss_bytes, x.peak_gpu_used_bytes) for x in result.runs]
    peaks += [(x.peak_rss_bytes, x.peak_gpu_used_bytes) for x in result.loads]
    peaks += [(x.peak_rss_bytes, x.peak_gpu_used_bytes) for x in result.serving]
    if ram and any(rss and rss > ram * 1.05 for rss, _ in peaks):
        failures.append(f"a peak resident memory above the machine's {ram / 2**30:.1f} GiB of RAM")
    if vram and any(used and used > vram * 1.05 for _, used in peaks):
        failures.append(f"a peak GPU memory above the GPU's {vram / 2**30:.1f} GiB")
    for run in result.runs:
        if any(reading.avg_w > MAX_SENSOR_W for reading in run.power):
            failures.append(f"{run.test}: a sensor reading above {MAX_SENSOR_W} W")
        cores = machine.cpu.logical_cores
        if run.n_threads and cores:
            if run.n_threads > 2 * cores:
                failures.append(f"{run.test}: {run.n_threads} threads on a machine with {cores} logical cores")
            elif run.n_threads > cores:
                warnings.append(f"{run.test}: {run.n_threads} threads on {cores} logical cores (oversubscribed)")
    return failures, warnings


def plausibility(result: BenchResult, model: CatalogModel | None) -> tuple[list[str], list[str]]:
    """(failures, warnings): every bound the result breaks, and what the bounds had to assume."""
    facts = model_facts(result, model)
    failures = rate_problems(result, facts) + serving_problems(result, facts) + score_problems(result) + timing_problems(result)
    machine_failures, warnings = machine_problems(result)
    failures += machine_failures
    if facts.basis == "file" and (result.runs or result.serving):
        warnings.append(
            "model not in the catalogue: its speed is bounded by the file's own size and parameter count"
            + (" (as a possible mixture of experts)" if facts.bytes_per_token < 0.5 * (result.model.file_size_bytes or 0) else "")
        )
    return failures, warnings
