"""llama-cpp-python's OpenAI-compatible server with llama.cpp's weight repacking set: `python -m harness.measure.runtime.lcpp_server
--repack 0 --model m.gguf --port 8080` (every other argument goes to `python -m llama_cpp.server`).

llama-cpp-python's server has no option for `use_extra_bufts` (llama-server's `--no-repack`, llama-bench's `--repack 0`),
and on machines where llama.cpp's repacked-weight path crashes (harness/measure/preflight.py) it dies on its first request. Its
`Llama` objects take their model parameters from `llama_model_default_params()`, so this wrapper starts the server with
that function returning the repack setting asked for: the one place meek changes a default inside llama-cpp-python.
"""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def llama_repack(repack: int):
    """While inside, `llama_cpp.Llama` loads models with `use_extra_bufts = repack` (it has no argument for it)."""
    import llama_cpp.llama_cpp as low_level

    default_params = low_level.llama_model_default_params

    def params_with_repack():
        params = default_params()
        params.use_extra_bufts = bool(repack)
        return params

    low_level.llama_model_default_params = params_with_repack
    try:
        yield
    finally:
        low_level.llama_model_default_params = default_params


def main(argv: list[str]) -> None:
    repack = 1
    if "--repack" in argv:
        at = argv.index("--repack")
        repack = int(argv[at + 1] != "0")
        argv = argv[:at] + argv[at + 2 :]
    from llama_cpp.server.__main__ import main as serve

    sys.argv = ["llama_cpp.server", *argv]
    with llama_repack(repack):
        serve()


if __name__ == "__main__":
    main(sys.argv[1:])
