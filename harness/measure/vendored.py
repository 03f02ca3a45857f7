"""llama.cpp's own tools, built from the llama.cpp source vendored in the installed llama-cpp-python, so that every
number can be checked against the tool llama.cpp ships, on the same build: llama-bench, llama-batched-bench,
llama-server (and rpc-server). Built once under $MEEK_HOME/llama-bench/<version>/build, reused after."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from harness.errors import MeekError
from harness.home import meek_home

FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
]


def build_home() -> Path:
    return meek_home() / "llama-bench" / metadata.version("llama-cpp-python")


TARGETS = {"rpc-server": "ggml-rpc-server"}  # the tool's cmake target and binary, where llama.cpp names it otherwise


def tool_path(target: str, rpc: bool = False) -> Path:
    return build_home() / ("build-rpc" if rpc else "build") / "bin" / TARGETS.get(target, target)


def build_tool(target: str, say: Callable[[str], None] = lambda line: print(line, file=sys.stderr), rpc: bool = False) -> Path:
    """The binary of one llama.cpp target (llama-bench, llama-batched-bench, llama-server; with `rpc`, llama-bench and
    rpc-server built with ggml's RPC backend, in a build folder of their own), compiled if not there yet."""
    binary = tool_path(target, rpc)
    if binary.is_file():
        return binary
    home = build_home()
    home.mkdir(parents=True, exist_ok=True)
    sources = list(home.glob("llama_cpp_python-*/vendor/llama.cpp"))
    if not sources:
        version = metadata.version("llama-cpp-python")
        say(f"fetching the llama-cpp-python {version} source (pip download)")
        download = home / "sdist"
        fetched = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(download),
                f"llama-cpp-python=={version}",
            ],
            capture_output=True,
            text=True,
        )
        if fetched.returncode != 0:
            raise MeekError(
                f"could not fetch the llama-cpp-python {version} source to build {target}: "
                f"{fetched.stderr.strip().splitlines()[-1] if fetched.stderr.strip() else 'pip failed'}"
            )
        with tarfile.open(next(download.glob("llama_cpp_python-*.tar.gz"))) as tar:
            tar.extractall(home, filter="data")
        sources = list(home.glob("llama_cpp_python-*/vendor/llama.cpp"))
    build = binary.parent.parent
    server = "ON" if target == "llama-server" or (build / "bin" / "llama-server").exists() else "OFF"
    say(f"building {target}{' with RPC' if rpc else ''} from {sources[0]} (a few minutes, once)")
    jobs = str(os.cpu_count() or 2)
    for command in (
        [
            "cmake",
            "-S",
            str(sources[0]),
            "-B",
            str(build),
            *FLAGS,
            f"-DLLAMA_BUILD_SERVER={server}",
            f"-DGGML_RPC={'ON' if rpc else 'OFF'}",
        ],
        ["cmake", "--build", str(build), "--target", TARGETS.get(target, target), "-j", jobs],
    ):
        built = subprocess.run(command, capture_output=True, text=True)  # compiler warnings stay out of the way
        if built.returncode != 0:
            raise MeekError(f"building {target} failed: {' '.join(command)}: {built.stderr.strip()[-500:]}")
    if not binary.is_file():
        raise MeekError(f"building {target} finished but {binary} is not there")
    return binary
