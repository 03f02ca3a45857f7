"""The result file: one JSON document per model per `meek bench` run, validated on write and on read.

The pydantic models below are the schema; harness/data/result.schema.json is generated from them (`meek schema`).
A file from a newer schema is refused ("upgrade meek-harness"); older versions are migrated by named functions.
Every written file carries `content_sha256`, a hash over its canonical JSON, so an edited file is caught (`meek validate`);
it catches edits, not a forger who recomputes it: the plausibility checks (harness/results/validate.py, plausible.py)
are the other half.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.catalogue.hardware import Vendor
from harness.errors import MeekError
from harness.home import PACKAGE_DATA
from harness.results.migrations import MIGRATIONS

SCHEMA_VERSION: Final = 7
SCHEMA_FILE = PACKAGE_DATA / "result.schema.json"

Count = Annotated[int, Field(ge=0, le=10**7)]
Nanoseconds = Annotated[int, Field(ge=1, le=10**15)]  # a timed sample: 1 ns to 11.6 days
Bytes = Annotated[int, Field(ge=0, le=2**50)]
Status = Literal["complete", "partial", "failed", "interrupted"]


class Strict(BaseModel):
    """No unknown fields, and no coercion: a boolean or a numeric string where a number goes is an error, not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Frozen(Strict):
    """Strict, and a value: its fields cannot be set after it is made (a changed machine is a copy: model_copy(update=...))."""

    model_config = ConfigDict(frozen=True)


class Cpu(Frozen):
    model: str = Field(max_length=200)
    arch: str = Field(max_length=40)
    physical_cores: int | None = Field(default=None, ge=1, le=4096)
    logical_cores: int | None = Field(default=None, ge=1, le=8192)
    simd: list[str] = Field(max_length=64)


class Gpu(Frozen):
    vendor: Vendor
    name: str = Field(max_length=200)
    memory_bytes: Bytes | None = None
    driver: str | None = Field(default=None, max_length=80)
    gtt_bytes: Bytes | None = None
    unified_memory: bool = False


class LlamaBuild(Frozen):
    llama_cpp_python: str | None = Field(default=None, max_length=40)
    system_info: str | None = Field(default=None, max_length=2000)
    gpu_offload: bool | None = None
    commit: str | None = Field(default=None, max_length=80)
    ggml_version: str | None = Field(default=None, max_length=40)
    backends: list[str] = Field(default=[], max_length=16)
    cpu_features_used: list[str] = Field(default=[], max_length=64)
    error: str | None = Field(default=None, max_length=500)


class DisabledPath(Frozen):
    """A llama.cpp CPU path the preflight probe found crashing on this machine, and left out of every measurement."""

    path: str = Field(max_length=40, description="amx, cpu-repack ...")
    reason: str = Field(max_length=500)


class Machine(Frozen):
    machine_id: str = Field(
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$",
        description="lower-case letters, digits and inner dashes, at most 80: used as is for folder and page names",
    )
    cpu: Cpu
    memory_bytes: Bytes | None = Field(description="system RAM; null when unknown (imported results)")
    gpus: list[Gpu] = Field(max_length=64)
    unified_memory: bool
    os: dict[str, str]
    python: str = Field(max_length=40)
    harness_version: str = Field(max_length=40)
    llama_cpp: LlamaBuild
    warnings: list[str] = Field(default=[], max_length=20)
    cpu_paths_disabled: list[DisabledPath] = Field(
        default=[], max_length=16, description="paths the preflight probe found crashing here: runs used the fallback"
    )


class ModelInfo(Strict):
    id: str | None = Field(default=None, max_length=120, description="catalogue id, when the model came from models.yaml")
    label: str = Field(max_length=200)
    file_name: str = Field(max_length=300)
    file_size_bytes: Bytes | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    source: str | None = Field(default=None, max_length=500)
    architecture: str | None = Field(default=None, max_length=80)
    name: str | None = Field(default=None, max_length=200)
    quant: str | None = Field(default=None, max_length=40)
    n_params: int | None = Field(default=None, ge=0, le=10**14)
    context_length: int | None = Field(default=None, ge=0, le=10**8)
    tier: str | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=200, description="llama.cpp's own description of the model")


class Settings(Strict):
    """Settings fixed when the model is loaded; a test's own shape and threads live in its run."""

    n_gpu_layers: int = Field(ge=-1, le=10000)
    n_batch: int = Field(ge=1, le=10**6)
    n_ubatch: int = Field(ge=1, le=10**6)
    flash_attn: int = Field(ge=-1, le=1, description="-1 auto, 0 off, 1 on")
    type_k: str = Field(max_length=10)
    type_v: str = Field(max_length=10)
    repack: int | None = Field(
        default=None,
        ge=0,
        le=1,
        description="llama-bench's --repack: 1 lets llama.cpp repack weights into its extra CPU buffer types (AMX, CPU repack), "
        "0 keeps them plain (llama_model_params.use_extra_bufts); null: not recorded (files before it; llama.cpp's default is 1)",
    )


class Load(Strict):
    settings: Settings
    load_time_ms: float = Field(ge=0, le=1e8)
    peak_rss_bytes: Bytes | None = None
    peak_gpu_used_bytes: Bytes | None = None
    description: str | None = Field(default=None, max_length=200)


class PowerReading(Strict):
    """One sensor read during a test: average power, energy, and whether the chip slowed itself down."""

    source: str = Field(max_length=80, description="rapl-package-0, nvml-gpu-0, hwmon-card0 ...")
    kind: str = Field(max_length=40)
    avg_w: float = Field(ge=0, le=1e5)
    energy_j: float = Field(ge=0, le=1e9)
    seconds: float = Field(ge=0, le=1e7)
    tokens_per_joule: float | None = Field(default=None, ge=0, le=1e9)
    max_temp_c: float | None = Field(default=None, ge=-50, le=200)
    throttled: bool | None = None
    throttle_reasons: list[str] = Field(default=[], max_length=20)


class Run(Strict):
    """One test in llama-bench's terms, with every raw sample; or, for a table imported from a source that publishes only
    mean ± sd (`summary_only`), with no samples and only those two figures."""

    test: str = Field(max_length=60, description="pp512, tg128, pp512+tg128, 'pp512 @ d4096'")
    n_prompt: Count
    n_gen: Count
    n_depth: Count
    n_threads: int | None = Field(ge=1, le=8192, description="null when a server ran the test (its own setting)")
    n_ctx: int = Field(ge=1, le=10**8)
    settings: Settings | None = Field(description="null when a server ran the test: its load settings are not visible")
    timing_source: str | None = Field(
        default=None, max_length=200, description="where the samples come from when not timed in process (server timings, stream)"
    )
    power: list[PowerReading] = Field(default=[], max_length=64, description="sensors read during the test; absent ones left out")
    summary_only: bool = Field(default=False, description="no raw samples: the source published only avg_ts and stddev_ts")
    samples_ns: list[Nanoseconds] = Field(default=[], max_length=10000)
    samples_ts: list[float] = Field(default=[], max_length=10000)
    warmup_ns: list[Nanoseconds] = Field(default=[], max_length=100)
    ttft_ns: list[Nanoseconds] = Field(
        default=[], max_length=10000, description="time to first token per repetition (tests with a prompt)"
    )
    avg_ts: float = Field(ge=0, le=1e9)
    stddev_ts: float = Field(ge=0, le=1e9)
    median_ts: float | None = Field(default=None, ge=0, le=1e9)
    min_ts: float | None = Field(default=None, ge=0, le=1e9)
    max_ts: float | None = Field(default=None, ge=0, le=1e9)
    avg_ns: float | None = Field(default=None, ge=0)
    stddev_ns: float | None = Field(default=None, ge=0)
    unstable: list[str] = Field(
        default=[],
        max_length=10,
        description="why the figure should not be trusted at face value (spread, outliers, a busy machine); empty when stable",
    )
    other_cpu_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="share of the machine's CPU capacity other processes took during the timed repetitions (0..1); "
        "null when not measured (imported, a server, or repetitions under 0.5 s)",
    )
    connect_ns: list[Nanoseconds] | None = Field(
        default=None,
        max_length=10000,
        description="a server test: each connection the client had to open inside a timed request (TCP and TLS, ns); "
        "empty when every request reused the pooled connection, so no sample or TTFT includes a connect; null in process",
    )
    peak_rss_bytes: Bytes | None = None
    peak_gpu_used_bytes: Bytes | None = None

    @model_validator(mode="after")
    def _samples_or_summary(self) -> Run:
        derived = (self.median_ts, self.min_ts, self.max_ts, self.avg_ns, self.stddev_ns)
        if self.summary_only:
            if self.samples_ns or self.samples_ts:
                raise ValueError("a summary-only run carries no samples")
        elif not self.samples_ns or not self.samples_ts or any(v is None for v in derived):
            raise ValueError("a run needs its raw samples and their summaries (or summary_only: true)")
        return self

    @property
    def peak_ts(self) -> float:
        """The fastest repetition, or the mean where only the summary is known."""
        return self.max_ts if self.max_ts is not None else self.avg_ts


class Spread(Strict):
    """A latency distribution's percentiles, in nanoseconds."""

    p50: float = Field(ge=0, le=1e15)
    p90: float = Field(ge=0, le=1e15)
    p99: float = Field(ge=0, le=1e15)


class ServingPoint(Strict):
    """One load level. In process (llama-batched-bench's way): `n_parallel` sequences decoded together in one context
    with a unified KV cache, each its own prompt of `n_prompt` tokens then `n_gen` generated, timed per repetition.
    Through a server: `n_parallel` concurrent streamed requests (or `request_rate` per second), each point bounded in
    requests and seconds. Field names follow llama-batched-bench where it has one (S_PP, S_TG, N_KV)."""

    mode: Literal["in-process", "server"]
    n_parallel: int = Field(ge=1, le=4096, description="B: sequences decoded together, or concurrent requests")
    request_rate: float | None = Field(default=None, gt=0, le=1e6, description="requests/s offered (rate mode)")
    n_prompt: Count
    n_gen: Count
    n_kv: int | None = Field(default=None, ge=0, le=10**9, description="N_KV: B x (PP + TG), the cache it filled")
    n_threads: int | None = Field(default=None, ge=1, le=8192)
    settings: Settings | None = None
    t_pp_ns: list[Nanoseconds] = Field(default=[], max_length=10000, description="prompt time per repetition (in process)")
    t_tg_ns: list[Nanoseconds] = Field(default=[], max_length=10000, description="generation time per repetition")
    s_pp: float | None = Field(default=None, ge=0, le=1e9, description="S_PP: all prompt tokens / prompt time (median)")
    s_tg: float = Field(ge=0, le=1e9, description="S_TG: all generated tokens / generation time (median)")
    s: float | None = Field(default=None, ge=0, le=1e9, description="S: all tokens / total time (median)")
    tg_per_stream: float = Field(ge=0, le=1e9, description="generation t/s each stream saw (median)")
    tg_per_stream_p10: float | None = Field(default=None, ge=0, le=1e9, description="... its 10th percentile (server)")
    ttft_ns: list[Nanoseconds] = Field(
        default=[], max_length=100000, description="time to first token of each sequence or request"
    )
    itl: Spread | None = Field(default=None, description="inter-token latency (server)")
    e2e: Spread | None = Field(default=None, description="end-to-end request latency (server)")
    ttft: Spread | None = Field(default=None, description="time to first token percentiles")
    requests: int | None = Field(default=None, ge=0, le=10**8)
    errors: int = Field(default=0, ge=0, le=10**8)
    requests_per_s: float | None = Field(default=None, ge=0, le=1e7)
    duration_s: float | None = Field(default=None, ge=0, le=1e7)
    peak_rss_bytes: Bytes | None = None
    peak_gpu_used_bytes: Bytes | None = None
    server: str | None = Field(default=None, max_length=300, description="server URL (no credentials)")
    server_build: str | None = Field(default=None, max_length=120)
    slots: int | None = Field(default=None, ge=1, le=4096, description="the server's parallel slots, when meek started it")
    note: str | None = Field(default=None, max_length=300, description="what the point says, e.g. no gain over one stream")

    @model_validator(mode="after")
    def _consistent(self) -> ServingPoint:
        if self.mode == "in-process" and (not self.t_tg_ns or len(self.t_pp_ns) != len(self.t_tg_ns)):
            raise ValueError("an in-process serving point needs its prompt and generation times per repetition")
        if self.mode == "server" and self.requests is None:
            raise ValueError("a server serving point says how many requests it sent")
        return self


class RpcEndpoint(Strict):
    address: str = Field(max_length=120, description="host:port, as given to --rpc (never credentials)")
    serves: str | None = Field(default=None, max_length=200, description="its device and memory, as the RPC server reports them")


class LocalBaseline(Strict):
    test: str = Field(max_length=60)
    avg_ts: float = Field(ge=0, le=1e9, description="the same test on this machine alone, right after the split run")
    ratio: float = Field(ge=0, le=1e6, description="split t/s over local t/s")


class Split(Strict):
    """A model split across machines through llama.cpp's RPC backend: never merged with single-machine runs."""

    endpoints: list[RpcEndpoint] = Field(min_length=1, max_length=64)
    link: str | None = Field(default=None, max_length=80, description="the link between the machines, as the user states it")
    tensor_split: str | None = Field(default=None, max_length=200)
    local: list[LocalBaseline] = Field(default=[], max_length=1000, description="empty when the model does not fit here")


class RunError(Strict):
    stage: Literal["resolve", "load", "test", "worker", "eval", "serve", "quality", "fit", "interrupted"]
    message: str = Field(max_length=2000)
    test: str | None = Field(default=None, max_length=60)
    n_threads: int | None = None
    settings: Settings | None = None


class Protocol(Strict):
    backend: Literal["llama-cpp-python", "llama-bench", "openai", "ollama", "localscore"] = "llama-cpp-python"
    repetitions: int | None = Field(ge=1, le=1000, description="null when an imported source does not say")
    warmup: bool
    seed: int
    timing: str = Field(
        default="wall clock (perf_counter_ns) around llama_decode + llama_synchronize, as llama-bench", max_length=300
    )
    imported_from: str | None = Field(default=None, max_length=300, description="the tool output a result was imported from")
    source: str | None = Field(
        default=None, max_length=500, description="where an imported result was published: repository @ commit, path, URL"
    )
    server: str | None = Field(
        default=None, max_length=300, description="server URL (no credentials) for the openai/ollama backends"
    )


class Score(Strict):
    """One benchmark score of the exact model file, from lm-eval. A subset score is never equal to a full one."""

    task: str = Field(max_length=80)
    metric: str = Field(max_length=80, description="acc, acc_norm, exact_match,strict-match ...")
    value: float = Field(ge=-1e9, le=1e9)
    stderr: float | None = Field(default=None, ge=0, le=1e9)
    primary: bool = Field(default=False, description="the metric this task is usually quoted by")
    shots: int = Field(ge=0, le=1000)
    samples: int = Field(ge=0, le=10**8)
    subset: bool = Field(description="scored on part of the test set (suite subset or --limit)")
    subset_seed: int | None = None
    lm_eval_version: str = Field(max_length=40)
    task_hash: str = Field(pattern=r"^[0-9a-f]{16}$", description="hash of the task configs and item selection")
    scoring: str = Field(max_length=120, description="scoring strategy and context size")
    data: str = Field(max_length=80)
    elapsed_s: float = Field(ge=0, le=1e8)


KLD_ROUNDING: Final = -1e-3  # the lowest KL divergence the 16-bit rounding of the reference can give (nats)


class QuantQuality(Strict):
    """What a quant costs against a reference file of the same model (`meek quality`), in llama-perplexity's terms
    (--kl-divergence): both files over the same text in chunks of `ctx` tokens, each chunk scored on its second half;
    the KL divergence of this file's next-token distribution from the reference's over the full vocabulary, the share
    of positions where both put the same token on top, and each file's perplexity. Every mean has its standard error."""

    reference: str = Field(max_length=200, description="the reference file's catalogue id or file name")
    reference_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    reference_quant: str | None = Field(default=None, max_length=40)
    text: str = Field(max_length=300, description="the text scored: its name, origin and licence")
    text_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    ctx: int = Field(ge=8, le=10**7, description="tokens per chunk; the second half of each is scored")
    chunks: int = Field(ge=1, le=10**6)
    tokens_scored: int = Field(ge=1, le=10**9)
    # a file against itself gives divergences a hair either side of 0 (the reference's log-probabilities are stored
    # rounded to 16 bits, as llama-perplexity stores them): a hair, never more
    kld_mean: float = Field(ge=KLD_ROUNDING, le=1e4, description="mean KL divergence per scored position (nats)")
    kld_mean_stderr: float = Field(ge=0, le=1e4)
    kld_median: float = Field(ge=KLD_ROUNDING, le=1e4)
    kld_p90: float = Field(ge=KLD_ROUNDING, le=1e4)
    kld_p99: float = Field(ge=KLD_ROUNDING, le=1e4)
    kld_max: float = Field(ge=KLD_ROUNDING, le=1e6)
    same_top: float = Field(ge=0, le=1, description="share of scored positions whose most likely token is the reference's")
    same_top_stderr: float = Field(ge=0, le=1)
    ppl: float = Field(ge=1, le=1e9, description="this file's perplexity on the scored positions")
    ppl_stderr: float = Field(ge=0, le=1e9)
    ppl_reference: float = Field(ge=1, le=1e9)
    ppl_reference_stderr: float = Field(ge=0, le=1e9)
    ppl_ratio: float = Field(ge=0, le=1e6, description="ppl / ppl_reference")
    ppl_ratio_stderr: float = Field(ge=0, le=1e6)
    elapsed_s: float = Field(ge=0, le=1e8)
    tool: str = Field(max_length=200, description="what computed it: meek in process (llama-cpp-python version)")


class FitProbe(Strict):
    """One context tried by `meek fit`: whether the model loaded and generated at it, and what that took."""

    ctx: int = Field(ge=1, le=10**8)
    ok: bool
    reason: str | None = Field(default=None, max_length=500, description="why it failed: out of memory, a failed allocation")
    tg_ts: float | None = Field(default=None, ge=0, le=1e9, description="generation rate at this context (t/s)")
    peak_rss_bytes: Bytes | None = None
    peak_gpu_used_bytes: Bytes | None = None
    seconds: float = Field(ge=0, le=1e8)


class ContextFit(Strict):
    """The largest context that loads and generates on this machine (`meek fit`): doubling, then bisection, up to the
    model's trained context, each probe in a worker process; beside the memory model's prediction of the same limit."""

    ctx_max: int | None = Field(ge=1, le=10**8, description="the largest context that ran; null when none did")
    ctx_failed: int | None = Field(default=None, ge=1, le=10**8, description="the smallest context that failed")
    trained_ctx: int = Field(ge=1, le=10**8)
    n_gen: int = Field(ge=1, le=10**6, description="tokens generated at each probe for its rate")
    min_tg: float | None = Field(default=None, ge=0, le=1e9, description="a probe slower than this counted as failing")
    tg_ts: float | None = Field(default=None, ge=0, le=1e9, description="generation rate at ctx_max (t/s)")
    memory_limit_bytes: Bytes | None = Field(default=None, description="the worker's memory limit, when one was set")
    predicted_ctx: int | None = Field(default=None, ge=0, le=10**8, description="the memory model's largest context")
    usable_bytes: Bytes | None = Field(default=None, description="the memory the prediction filled: the limit, or free memory")
    fill: float | None = Field(default=None, ge=0, le=1, description="share of each probe's context filled before generating")
    settings: Settings | None = None
    probes: list[FitProbe] = Field(default=[], max_length=1000)


class BenchResult(Strict):
    schema_version: Literal[7] = SCHEMA_VERSION
    kind: Literal["meek-bench"] = "meek-bench"
    created_utc: dt.datetime = Field(strict=False)  # an ISO 8601 string in the file
    status: Status
    machine: Machine
    model: ModelInfo
    protocol: Protocol | None = None
    loads: list[Load] = Field(default=[], max_length=10000)
    runs: list[Run] = Field(default=[], max_length=100000)
    serving: list[ServingPoint] = Field(default=[], max_length=10000)
    split: Split | None = None
    errors: list[RunError] = Field(default=[], max_length=10000)
    scores: list[Score] = Field(default=[], max_length=100000)
    quality: list[QuantQuality] = Field(default=[], max_length=1000)
    fits: list[ContextFit] = Field(default=[], max_length=100)
    content_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="sha256 of the canonical JSON of every other field"
    )


def new_result(
    machine: Machine,
    model: ModelInfo,
    protocol: Protocol | None = None,
    status: Status = "partial",
    created_utc: dt.datetime | None = None,
) -> BenchResult:
    """A result begun: the one constructor every path uses (in process, through a server, the user's llama-bench, an
    import, meek eval). Runs, loads, scores and errors are added as they come; `status` says how it ended."""
    return BenchResult(
        schema_version=SCHEMA_VERSION,
        created_utc=created_utc or dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        status=status,
        machine=machine,
        model=model,
        protocol=protocol,
    )


def json_schema() -> dict:
    schema = BenchResult.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://meek-harness/result.schema.v{SCHEMA_VERSION}.json"
    return schema


def validate_document(document: dict, label: str = "result") -> BenchResult:
    """Check a parsed document against the schema, migrating an older version; raise MeekError with the first reason."""
    if not isinstance(document, dict):
        raise MeekError(f"{label}: not a JSON object")
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise MeekError(f"{label}: schema_version is missing or not an integer")
    if version > SCHEMA_VERSION:
        raise MeekError(f"{label}: written by a newer meek-harness (schema {version} > {SCHEMA_VERSION}): upgrade meek-harness")
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise MeekError(f"{label}: schema version {version} is not known")
        document = MIGRATIONS[version](document)
        version = document["schema_version"]
    try:
        return BenchResult.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise MeekError(f"{label}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class TestShape:
    """One test: `n_prompt` tokens processed and `n_gen` generated, after `n_depth` tokens already in the context."""

    n_prompt: int
    n_gen: int
    n_depth: int = 0
    __test__ = False  # not a pytest test class, despite the name

    @property
    def name(self) -> str:
        """llama-bench's test name: pp512, tg128, pp512+tg128, with ' @ d4096' for a depth."""
        if self.n_prompt and self.n_gen:
            base = f"pp{self.n_prompt}+tg{self.n_gen}"
        elif self.n_prompt:
            base = f"pp{self.n_prompt}"
        else:
            base = f"tg{self.n_gen}"
        return f"{base} @ d{self.n_depth}" if self.n_depth else base

    @property
    def n_ctx(self) -> int:
        return self.n_prompt + self.n_gen + self.n_depth
