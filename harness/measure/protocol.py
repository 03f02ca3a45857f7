"""The measurement protocol's types: a sweep (every value of every option), the load settings fixed when a model and its
context are created, the test shapes in llama-bench's names, and the load groups a worker runs.

Both sides of the worker boundary use them: the parent expands a SweepSpec into LoadGroups, the worker runs a group.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from harness.catalogue.gguf_file import read_gguf_facts, sha256_of
from harness.catalogue.models import ResolvedModel
from harness.errors import UsageError
from harness.machine.facts import physical_cores
from harness.results.schema import ModelInfo, Settings, TestShape


@dataclass(frozen=True)
class LoadSettings:
    """Settings fixed when a model and its context are created: changing one means loading again."""

    n_gpu_layers: int = 0
    n_batch: int = 2048
    n_ubatch: int = 512
    flash_attn: int = 0
    type_k: str = "f16"
    type_v: str = "f16"
    repack: int | None = None  # llama-bench's --repack (use_extra_bufts); None: this machine's preflight default
    rpc: tuple[str, ...] = ()  # RPC servers the model is split across (registered in the worker before the load)


def settings_of(load: LoadSettings) -> Settings:
    """The load settings as the result file records them."""
    return Settings(
        n_gpu_layers=load.n_gpu_layers,
        n_batch=load.n_batch,
        n_ubatch=load.n_ubatch,
        flash_attn=load.flash_attn,
        type_k=load.type_k,
        type_v=load.type_v,
        repack=load.repack,
    )


@dataclass(frozen=True)
class TestInstance:
    shape: TestShape
    n_threads: int
    n_parallel: int | None = None  # None: a single-stream llama-bench test; B: B sequences decoded together
    __test__ = False

    @property
    def n_ctx(self) -> int:
        """The context it needs: B sequences of prompt + generation share one unified cache."""
        return self.shape.n_ctx * (self.n_parallel or 1)

    @property
    def name(self) -> str:
        return f"pp{self.shape.n_prompt}+tg{self.shape.n_gen} x{self.n_parallel}" if self.n_parallel else self.shape.name


@dataclass
class LoadGroup:
    """Every test that runs on one loaded model: the unit a worker process handles."""

    model: str
    load: LoadSettings
    tests: list[TestInstance] = field(default_factory=list)

    @property
    def n_ctx(self) -> int:
        return max(t.n_ctx for t in self.tests)


@dataclass(frozen=True)
class SweepSpec:
    models: list[str]
    n_prompt: list[int]
    n_gen: list[int]
    pg: list[tuple[int, int]]
    n_depth: list[int]
    n_threads: list[int]
    n_gpu_layers: list[int]
    n_batch: list[int]
    n_ubatch: list[int]
    flash_attn: list[int]
    type_k: list[str]
    type_v: list[str]
    repack: list[int | None] = field(default_factory=lambda: [None])
    rpc: tuple[str, ...] = ()  # --rpc: the model split across these llama.cpp RPC servers
    n_parallel: list[int | None] = field(default_factory=list)  # --parallel: serving points instead of single-stream tests


def expand(spec: SweepSpec) -> list[LoadGroup]:  # noqa: C901
    """The cartesian product of every sweep value, grouped so that each model is loaded as few times as possible.

    Order: model, then load settings, then threads, depth and test, so a model loads once per distinct load setting.
    """
    if spec.n_parallel:  # llama-batched-bench's points: every B with every (-p, -n) pair, each sequence its own prompt
        shapes = [TestShape(p, n) for p in spec.n_prompt for n in spec.n_gen if n > 0]
        if not shapes:
            raise UsageError("--parallel needs a non-zero -n (tokens each sequence generates)")
        if any(b is None or b < 1 for b in spec.n_parallel):
            raise UsageError("--parallel: every value must be 1 or more")
    else:
        shapes = [TestShape(p, 0) for p in spec.n_prompt if p > 0]
        shapes += [TestShape(0, n) for n in spec.n_gen if n > 0]
        shapes += [TestShape(p, n) for p, n in spec.pg if p > 0 or n > 0]
    if not shapes:
        raise UsageError("nothing to measure: give a non-zero -p, -n or -pg")
    groups = []
    for model in spec.models:
        for ngl, nb, nub, fa, tk, tv, rpk in itertools.product(
            spec.n_gpu_layers, spec.n_batch, spec.n_ubatch, spec.flash_attn, spec.type_k, spec.type_v, spec.repack
        ):
            load = LoadSettings(
                n_gpu_layers=ngl,
                n_batch=nb,
                n_ubatch=min(nub, nb),
                flash_attn=fa,
                type_k=tk,
                type_v=tv,
                repack=rpk,
                rpc=spec.rpc,
            )
            tests = [
                TestInstance(TestShape(s.n_prompt, s.n_gen, depth), threads, parallel)
                for threads in spec.n_threads
                for depth in spec.n_depth
                for s in shapes
                for parallel in (spec.n_parallel if spec.n_parallel else [None])
            ]
            groups.append(LoadGroup(model=model, load=load, tests=tests))
    return groups


DEFAULT_TENSOR_SPLIT = "llama.cpp's default: layers split in proportion to each device's free memory"


@dataclass(frozen=True)
class BenchRequest:
    """`meek bench`'s options, parsed. `given` names the options the user set (the rest are llama-bench's defaults)."""

    models: tuple[str, ...] = ()
    tier: str | None = None
    n_prompt: tuple[int, ...] = (512,)
    n_gen: tuple[int, ...] = (128,)
    pg: tuple[tuple[int, int], ...] = ()
    n_depth: tuple[int, ...] = (0,)
    parallel: tuple[int, ...] = ()  # --parallel: serving points (B sequences together) instead of single-stream tests
    rpc: tuple[str, ...] = ()  # --rpc host:port,...: the model split across llama.cpp RPC servers
    link: str | None = None  # --link: the link between the machines, as the user states it
    threads: tuple[int, ...] = ()  # empty: the physical cores
    n_gpu_layers: tuple[int, ...] = (-1,)  # -1: every layer (on a build without GPU offload: none, recorded as 0)
    n_batch: tuple[int, ...] = (2048,)
    n_ubatch: tuple[int, ...] = (512,)
    flash_attn: tuple[int, ...] = (-1,)  # -1 auto, 0 off, 1 on
    type_k: tuple[str, ...] = ("f16",)
    type_v: tuple[str, ...] = ("f16",)
    repack: tuple[int | None, ...] = (None,)  # None: this machine's preflight default
    repetitions: int = 5
    warmup: bool = True
    seed: int = 0
    output: str = "md"
    results_dir: Path = Path("results")
    timeout_s: float = 600.0
    eval_suite: str | None = None
    data_dir: Path | None = None
    backend: str = "llama-cpp-python"
    url: str | None = None
    binary: Path | None = None
    api_key: str | None = None
    given: frozenset[str] = field(default_factory=frozenset)

    def thread_counts(self) -> list[int]:
        return list(self.threads) or [physical_cores()]


def model_info(resolved: ResolvedModel) -> ModelInfo:
    facts = read_gguf_facts(resolved.path)
    entry = resolved.entry
    return ModelInfo(
        id=entry.id if entry else None,
        label=resolved.label,
        file_name=resolved.path.name,
        file_size_bytes=facts.file_size_bytes,
        sha256=sha256_of(resolved.path),
        source=entry.source.describe() if entry else "local file",
        architecture=facts.architecture,
        name=facts.name,
        quant=facts.quant,
        n_params=facts.n_params,
        context_length=facts.context_length,
        tier=entry.tier if entry else None,
    )
