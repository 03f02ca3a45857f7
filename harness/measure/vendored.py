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


BUILD_FOLDERS = ("build", "build-rpc")  # under build_home(): without and with ggml's RPC backend


def tool_path(target: str, rpc: bool = False) -> Path:
    return build_home() / BUILD_FOLDERS[rpc] / "bin" / TARGETS.get(target, target)


def build_folder_of(binary: Path) -> Path | None:
    """The build folder of a binary that build_tool made (MEEK_HOME/llama-bench/VERSION/build[-rpc]/bin/NAME), else None."""
    build = binary.parent.parent
    return build if build.name in BUILD_FOLDERS and build.parent.parent.name == "llama-bench" else None


def build_tool(
    target: str,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    rpc: bool = False,
    build: Path | None = None,
) -> Path:
    """The binary of one llama.cpp target (llama-bench, llama-batched-bench, llama-server; with `rpc`, llama-bench and
    rpc-server built with ggml's RPC backend, in a build folder of their own), compiled if not there yet. `build`: a
    folder build_folder_of found, to build in instead of this MEEK_HOME's (its libraries compiled already; RPC as it
    was configured)."""
    build = build or build_home() / BUILD_FOLDERS[rpc]
    rpc = build.name == BUILD_FOLDERS[True]
    binary = build / "bin" / TARGETS.get(target, target)
    if binary.is_file():
        return binary
    home = build.parent
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
