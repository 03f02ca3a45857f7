"""What a worker process sends its parent, as typed events: the same objects on both sides of the process boundary
(as pyperf's worker sends back its Run and Benchmark types). A bench worker builds each `Run` and `Load` of the result
file itself; the parent only files them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.results.schema import Load, Run, ServingPoint


@dataclass(frozen=True)
class Loaded:
    """The model is loaded: its load entry (time, memory so far) and what llama.cpp says about it."""

    load: Load
    size_bytes: int | None = None
    n_params: int | None = None
    n_layer: int | None = None
    n_vocab: int | None = None
    rpc_devices: tuple[str, ...] = ()  # what each RPC endpoint serves, when the model is split across them


@dataclass(frozen=True)
class RepetitionDone:
    index: int  # the test's position in its load group
    done: int  # repetitions finished so far


@dataclass(frozen=True)
class Measured:
    index: int
    run: Run


@dataclass(frozen=True)
class MeasuredServing:
    index: int
    point: ServingPoint


@dataclass(frozen=True)
class TestFailed:
    index: int
    test: str
    n_threads: int
    message: str
    __test__ = False  # not a pytest test class, despite the name


@dataclass(frozen=True)
class Peaks:
    """The worker's memory high-water marks over the whole load group."""

    peak_rss_bytes: int | None = None
    peak_gpu_used_bytes: int | None = None


@dataclass(frozen=True)
class ProbeRan:
    """The preflight probe decoded its batch and its token."""


@dataclass(frozen=True)
class EvalLoaded:
    """The scoring worker loaded the model."""


@dataclass(frozen=True)
class EvalTask:
    name: str  # the task now being scored


@dataclass(frozen=True)
class EvalProgress:
    requests: int  # requests scored so far in this task


@dataclass(frozen=True)
class EvalScores:
    scores: list[dict] = field(default_factory=list)  # one Score's fields per (task, metric)


@dataclass(frozen=True)
class Finished:
    """The work returned: the last event of a worker that did not fail."""


@dataclass(frozen=True)
class Fatal:
    """The work raised: its message, in one line."""

    message: str


Event = (
    Loaded
    | RepetitionDone
    | Measured
    | MeasuredServing
    | TestFailed
    | Peaks
    | ProbeRan
    | EvalLoaded
    | EvalTask
    | EvalProgress
    | EvalScores
)
