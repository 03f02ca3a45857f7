"""This machine's memory bandwidth, measured by a short copy test: a numpy copy of a buffer well above any last-level
cache, best of a few, counted as bytes read plus bytes written (as STREAM's Copy counts them), in GB/s (10^9 bytes/s).

What `meek advise --machine this` and the card predict from when the hardware table has no peak for this machine's
device, and what `meek machine` shows beside the table's peak. A copy test reads system RAM: it says nothing of a
discrete GPU's memory.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import psutil

LABEL = "measured by a copy test"
BUFFER_BYTES = 128 * 2**20  # each of the two buffers: several times the last-level cache of desktop CPUs (32-96 MiB)
MIN_BUFFER_BYTES = 32 * 2**20
REPEATS = 5
BUDGET_S = 0.3  # stop repeating (after two copies) once the copies took this long


def copy_bandwidth_gbs(buffer_bytes: int | None = None, repeats: int = REPEATS, budget_s: float = BUDGET_S) -> float:
    """GB/s of the fastest of up to `repeats` copies of a buffer (the default: BUFFER_BYTES, less where free memory is
    short); a few hundred milliseconds at most on a machine of a few GB/s or more."""
    if buffer_bytes is None:
        buffer_bytes = max(MIN_BUFFER_BYTES, min(BUFFER_BYTES, psutil.virtual_memory().available // 8))
    source = np.ones(buffer_bytes // 8, dtype=np.float64)  # written once, so its pages exist before the timed copies
    target = np.zeros_like(source)
    target[::512] = 1.0  # touch every page of the target too
    best = math.inf
    started = time.perf_counter()
    for done in range(1, repeats + 1):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
        if done >= 2 and time.perf_counter() - started > budget_s:
            break
    return 2 * source.nbytes / best / 1e9


@functools.cache
def this_machine_gbs() -> float:
    """The copy test, run once per process."""
    return copy_bandwidth_gbs()
