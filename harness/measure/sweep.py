"""Sweep values in llama-bench's syntax, expanded into an ordered list of test instances.

`128,512` is a list; `0-8192+2048` is a range with a step (0, 2048, 4096, 6144, 8192); `1-16*2` multiplies (1, 2, 4, 8, 16);
`1-4` steps by one. Lists and ranges mix: `1,2,8-32*2`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from harness.errors import MeekError

_RANGE = re.compile(r"^(-?\d+)-(\d+)(?:([+*])(\d+))?$")
MAX_SWEEP_VALUES = 1000


def parse_int_list(option: str, text: str, minimum: int = 0) -> list[int]:
    """Parse `128,512` or `0-8192+2048` into integers, or raise MeekError naming the option and the bad part."""
    values: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            raise MeekError(f"{option}: empty value in '{text}' (write a list like 128,512 or a range like 0-8192+2048)")
        values.extend(_expand_part(option, part))
        if len(values) > MAX_SWEEP_VALUES:
            raise MeekError(f"{option}: '{text}' expands to more than {MAX_SWEEP_VALUES} values")
    bad = [v for v in values if v < minimum]
    if bad:
        raise MeekError(f"{option}: {bad[0]} is below the minimum of {minimum}")
    return list(dict.fromkeys(values))


def _expand_part(option: str, part: str) -> list[int]:
    if re.fullmatch(r"-?\d+", part):
        return [int(part)]
    match = _RANGE.match(part)
    if not match:
        raise MeekError(
            f"{option}: cannot read '{part}' (expected a number, a list like 128,512, or a range like 0-8192+2048 or 1-16*2)"
        )
    first, last, op, step_text = match.groups()
    first, last = int(first), int(last)
    step = int(step_text) if step_text else 1
    if last < first:
        raise MeekError(f"{option}: range '{part}' ends before it starts")
    if (op in (None, "+") and step < 1) or (op == "*" and (step < 2 or first < 1)):
        raise MeekError(f"{option}: range '{part}' never advances (a + step must be >= 1, a * factor >= 2 from a start >= 1)")
    values, value = [], first
    while value <= last:
        values.append(value)
        if len(values) > MAX_SWEEP_VALUES:
            raise MeekError(f"{option}: '{part}' expands to more than {MAX_SWEEP_VALUES} values")
        value = value * step if op == "*" else value + step
    return values


def parse_str_list(option: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    """Parse a comma list of names, each of which must be one of `allowed`."""
    values = [part.strip().lower() for part in str(text).split(",")]
    for value in values:
        if value not in allowed:
            raise MeekError(f"{option}: unknown value '{value}' (choose from {', '.join(allowed)})")
    return list(dict.fromkeys(values))


def parse_pg_list(option: str, texts: list[str]) -> list[tuple[int, int]]:
    """Parse prompt+generation pairs given as `512,128` (one pair per occurrence of the option)."""
    pairs = []
    for text in texts:
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise MeekError(f"{option}: expected a pair like 512,128 (prompt tokens, generated tokens), got '{text}'")
        pairs.append((int(parts[0]), int(parts[1])))
    return pairs


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
    __test__ = False


@dataclass
class LoadGroup:
    """Every test that runs on one loaded model: the unit a worker process handles."""

    model: str
    load: LoadSettings
    tests: list[TestInstance] = field(default_factory=list)

    @property
    def n_ctx(self) -> int:
        return max(t.shape.n_ctx for t in self.tests)


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


def expand(spec: SweepSpec) -> list[LoadGroup]:
    """The cartesian product of every sweep value, grouped so that each model is loaded as few times as possible.

    Order: model, then load settings, then threads, depth and test, so a model loads once per distinct load setting.
    """
    shapes = [TestShape(p, 0) for p in spec.n_prompt if p > 0]
    shapes += [TestShape(0, n) for n in spec.n_gen if n > 0]
    shapes += [TestShape(p, n) for p, n in spec.pg if p > 0 or n > 0]
    if not shapes:
        raise MeekError("nothing to measure: give a non-zero -p, -n or -pg")
    groups = []
    for model in spec.models:
        for ngl, nb, nub, fa, tk, tv, rpk in itertools.product(
            spec.n_gpu_layers, spec.n_batch, spec.n_ubatch, spec.flash_attn, spec.type_k, spec.type_v, spec.repack
        ):
            load = LoadSettings(
                n_gpu_layers=ngl, n_batch=nb, n_ubatch=min(nub, nb), flash_attn=fa, type_k=tk, type_v=tv, repack=rpk
            )
            tests = [
                TestInstance(TestShape(s.n_prompt, s.n_gen, depth), threads)
                for threads in spec.n_threads
                for depth in spec.n_depth
                for s in shapes
            ]
            groups.append(LoadGroup(model=model, load=load, tests=tests))
    return groups
