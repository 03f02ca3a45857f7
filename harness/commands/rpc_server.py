"""`meek rpc-server`: start llama.cpp's rpc-server (in the foreground, or in the background with a pid file) and stop
the one meek started (harness/measure/rpc.py)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import UsageError
from harness.machine.facts import physical_cores
from harness.measure import rpc
from harness.output import Output


def run(
    host: str, port: int, cache: bool, threads: int | None, binary: Path | None, background: bool, stop: bool, out: Output
) -> int:
    if stop:
        return rpc.stop_server(port, out.say)
    path = binary or (Path(os.environ["MEEK_RPC_SERVER"]) if os.environ.get("MEEK_RPC_SERVER") else None)
    if path is None:
        from harness.measure.vendored import build_tool

        path = build_tool("rpc-server", out.line, rpc=True)
    if not path.is_file():
        raise UsageError(f"--bin {path}: no such rpc-server binary")

    def say(text: str) -> None:
        (out.say if text.startswith("rpc-server") else out.line)(text)

    return rpc.rpc_server(path, host, port, cache, threads or physical_cores(), background, say)
