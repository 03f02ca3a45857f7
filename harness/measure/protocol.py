"""The measurement protocol's types: a sweep (every value of every option), the load settings fixed when a model and its
context are created, the test shapes in llama-bench's names, and the load groups a worker runs.

Both sides of the worker boundary use them: the parent expands a SweepSpec into LoadGroups, the worker runs a group.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from harness.errors import UsageError
from harness.results.schema import Settings


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
        n_gpu_layers=load.n_gpu_layers, n_batch=load.n_batch, n_ubatch=load.n_ubatch, flash_attn=load.flash_attn,
        type_k=load.type_k, type_v=load.type_v, repack=load.repack,
    )  # fmt: skip


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
                n_gpu_layers=ngl, n_batch=nb, n_ubatch=min(nub, nb), flash_attn=fa, type_k=tk, type_v=tv, repack=rpk,
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
