"""The backends `meek bench --backend` measures through, one module each, and their registry: in process through
llama-cpp-python (in_process.py), an OpenAI-compatible server or Ollama (server.py), the user's own llama-bench
(llama_bench.py). Each declares the options it honours; `meek bench` refuses the others from that declaration, in one
line, and then calls `measure`. Adding a backend (MLX, vLLM ...) is one module and one line in BACKENDS.

The in-process runtime interface (load a model, decode timed batches) is base.py's Runtime, spoken by llamacpp.py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.measure.protocol import BenchRequest
    from harness.measure.runner import BenchOutcome, Progress, ScoreHook

# Every option a backend may leave unhonoured: the request field, as the user spells it on the command line.
FLAGS = {
    "tier": "--tier",
    "n_depth": "-d",
    "pg": "-pg",
    "parallel": "--parallel",
    "threads": "-t",
    "n_gpu_layers": "-ngl",
    "n_batch": "-b",
    "n_ubatch": "-ub",
    "flash_attn": "-fa",
    "type_k": "-ctk",
    "type_v": "-ctv",
    "repack": "--repack",
    "seed": "--seed",
    "eval_suite": "--eval",
    "data_dir": "--data-dir",
    "url": "--url",
    "api_key": "--api-key",
    "binary": "--bin",
    "rpc": "--rpc",
    "link": "--link",
}
# module:attribute of each backend, imported when asked for (a server backend never loads llama.cpp)
BACKENDS = {
    "llama-cpp-python": "harness.measure.backends.in_process:BACKEND",
    "openai": "harness.measure.backends.server:OPENAI",
    "ollama": "harness.measure.backends.server:OLLAMA",
    "llama-bench": "harness.measure.backends.llama_bench:BACKEND",
}


class Backend(Protocol):
    """A way to measure `meek bench`'s tests: its name, the options it honours, and the measurement itself."""

    name: str
    honours: frozenset[str]  # the FLAGS it honours; any other one the user gives is refused before anything runs
    refusal: str  # why it refuses the others, for the one line that names them

    def measure(self, request: BenchRequest, progress: Progress, score: ScoreHook | None = None) -> BenchOutcome:
        """Run the request's tests, save a result file per model, and say what was saved and what failed."""
        ...


def lookup(name: str) -> Backend:
    """The backend named `name`; an unknown name is a usage error listing the known ones."""
    if name not in BACKENDS:
        raise UsageError(f"--backend: unknown '{name}' (choose {', '.join(BACKENDS)})")
    module, attribute = BACKENDS[name].split(":")
    backend: Backend = getattr(importlib.import_module(module), attribute)
    return backend


def refuse_unhonoured(backend: Backend, given: frozenset[str]) -> None:
    """One line naming every option the user gave that this backend cannot honour, when there is one."""
    names = [flag for option, flag in FLAGS.items() if option in given and option not in backend.honours]
    if names:
        raise UsageError(f"{', '.join(names)}: {backend.refusal}")
