"""Starting a server for `meek load --serve MODEL`, and stopping it on every path out (Ctrl-C included).

llama.cpp's llama-server (the user's binary, or one built from the vendored source), with --parallel slots set to the
sweep's largest concurrency and a unified KV cache big enough for all of them; or llama-cpp-python's own server
(harness/measure/runtime/lcpp_server.py), which runs one request at a time. Both bind to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import MeekError
from harness.http import Client
from harness.measure.processes import start, stop

SERVERS = ("llama-server", "llama-cpp-python")
READY_TIMEOUT_S = 180


@dataclass(frozen=True)
class Started:
    url: str
    kind: str
    slots: int
    build: str | None
    command: list[str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(
    kind: str, binary: Path | None, model_path: Path, port: int, slots: int, n_ctx: int, threads: int, repack: int
) -> list[str]:
    if kind == "llama-server":
        assert binary is not None
        command = [
            str(binary),
            "-m",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--parallel",
            str(slots),
            "--ctx-size",
            str(n_ctx),
            "--threads",
            str(threads),
            "--kv-unified",
            "--no-webui",
        ]
        return command + (["--no-repack"] if repack == 0 else [])
    return [
        sys.executable,
        "-m",
        "harness.measure.runtime.lcpp_server",
        "--repack",
        str(repack),
        "--model",
        str(model_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--interrupt_requests",
        "False",
    ]  # queue requests; by default a new one cuts the last


def _ready(url: str) -> bool:
    """Whether the server answers 200 on /health (llama-server) or /v1/models (llama-cpp-python's) yet."""
    with Client(url, timeout_s=2) as client:
        for path in ("/health", "/v1/models"):
            try:
                if client.send(path, check=False).status_code == 200:
                    return True
            except MeekError:
                continue
    return False


def _build_of(binary: Path | None) -> str | None:
    if binary is None:
        return None
    try:
        shown = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = next((part for part in (shown.stdout + shown.stderr).splitlines() if part.startswith("version:")), None)
    return line.removeprefix("version:").strip()[:120] if line else None


@contextlib.contextmanager
def running_server(
    kind: str, binary: Path | None, model_path: Path, slots: int, n_ctx: int, threads: int, repack: int, say
) -> Iterator[Started]:
    """A server of `kind` on a free loopback port, ready to answer; stopped (terminate, then kill) when the block ends,
    however it ends."""
    port = free_port()
    command = server_command(kind, binary, model_path, port, slots, n_ctx, threads, repack)
    log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty server never blocks on a full pipe
    # its own session (a terminal's Ctrl-C reaches meek, which stops it), and it ends with meek however meek ends
    process = start(command, stdout=log, stderr=log, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        say(f"starting {kind} on {url} ({slots} slot(s), {n_ctx} tokens of context)")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _ready(url):
            if process.poll() is not None:
                log.seek(0)
                tail = log.read()[-400:].strip().replace("\n", " | ")
                raise MeekError(f"{kind} exited with code {process.returncode} before it was ready: {tail or 'no output'}")
            if time.monotonic() > deadline:
                raise MeekError(f"{kind} was not ready after {READY_TIMEOUT_S} s")
            time.sleep(0.25)
        yield Started(url, kind, slots if kind == "llama-server" else 1, _build_of(binary), command)
    finally:
        stop(process, children=True)  # and anything it started
        log.close()
        say(f"stopped {kind}")
