"""Faults injected on purpose, for the tests of the crash paths: a worker told to die with a signal at a named point.

Only the environment variable MEEK_INJECT_FAULT turns this on (tests set it; normal runs never do). Its value is a comma
list of `point=SIGNAL`, e.g. `probe-repack1=SIGILL` or `eval-request-20=SIGSEGV`. Points:
- `probe-repack1`, `probe-repack0`: the preflight probe's worker, just before its first decode with that repack setting;
- `bench-decode`: a `meek bench` worker, before its first timed decode;
- `eval-request-N`: a `meek eval` worker, before it scores its N-th request (counting from 1, in this run).
The process kills itself with the real signal, so the parent sees exactly what a crash in llama.cpp looks like.
"""

from __future__ import annotations

import os
import signal

ENV = "MEEK_INJECT_FAULT"


def planned() -> dict[str, str]:
    """point -> signal name, from MEEK_INJECT_FAULT (empty when unset)."""
    faults = {}
    for part in os.environ.get(ENV, "").split(","):
        point, _, name = part.strip().partition("=")
        if point and name:
            faults[point] = name.upper()
    return faults


def at(point: str) -> None:
    """Die here with the planned signal, if a test planned one for this point; otherwise do nothing."""
    name = planned().get(point)
    if name:
        os.kill(os.getpid(), getattr(signal, name, signal.SIGILL))
