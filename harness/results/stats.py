"""Statistics over raw timing samples, in llama-bench's terms, with pyperf-style instability flags."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

UNSTABLE_RELATIVE_STDDEV = 0.05  # stddev >= 5% of the mean
UNSTABLE_OUTLIER = 0.15  # a sample more than 15% away from the median
# Other processes took this share of the machine's CPU or more while a test ran: the machine was busy. Measured on a
# 2-core KVM guest, `meek bench -r 5` (pp512, tg128) of the bundled SmolLM2, three pairs: quiet 0.004-0.008; with one
# busy loop pinned to the other core (`taskset -c 1 python3 -c "while True: pass"`) 0.32-0.36, and tg128 at 54-58 t/s
# instead of 147-194. 10% sits far above the quiet floor and well below one stolen core of two.
BUSY_OTHER_CPU_SHARE = 0.10


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    """The q-th percentiles (0-100) of the values, interpolated linearly between the closest ranks (numpy's default and
    the "inclusive" method): never below the smallest value or above the largest. The one percentile in the project."""
    if not values:
        raise ValueError("no values to take percentiles of")
    if any(not 0 <= q <= 100 for q in qs):
        raise ValueError("percentiles are between 0 and 100")
    ordered = sorted(values)
    found = []
    for q in qs:
        position = (len(ordered) - 1) * q / 100
        below = math.floor(position)
        above = min(below + 1, len(ordered) - 1)
        found.append(ordered[below] + (ordered[above] - ordered[below]) * (position - below))
    return found


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of the values: see percentiles()."""
    return percentiles(values, [q])[0]


def tokens_per_second(n_tokens: int, samples_ns: list[int]) -> list[float]:
    """Each sample's rate: tokens over its wall time."""
    return [n_tokens * 1e9 / ns for ns in samples_ns]


def summarize(n_tokens: int, samples_ns: list[int]) -> dict:
    """Mean, stddev and median of the rates and times, and why the samples look unstable, if they do.

    avg_ts is the mean of the per-sample rates, as llama-bench computes it; stddev is the sample stddev (n-1).
    """
    if not samples_ns:
        raise ValueError("no samples to summarize")
    rates = tokens_per_second(n_tokens, samples_ns)
    mean_ts = statistics.fmean(rates)
    stddev_ts = statistics.stdev(rates) if len(rates) > 1 else 0.0
    median_ts = statistics.median(rates)
    return {
        "avg_ts": mean_ts,
        "stddev_ts": stddev_ts,
        "median_ts": median_ts,
        "min_ts": min(rates),
        "max_ts": max(rates),
        "avg_ns": statistics.fmean(samples_ns),
        "stddev_ns": statistics.stdev(samples_ns) if len(samples_ns) > 1 else 0.0,
        "samples_ts": rates,
        "unstable": instability_reasons(rates),
    }


def instability_reasons(rates: list[float]) -> list[str]:
    """Why a set of rates should not be trusted at face value; empty when it looks stable."""
    reasons = []
    if len(rates) < 2:
        return ["only one sample: no spread known"]
    mean = statistics.fmean(rates)
    median = statistics.median(rates)
    relative = statistics.stdev(rates) / mean if mean else 0.0
    if relative >= UNSTABLE_RELATIVE_STDDEV:
        reasons.append(f"stddev is {relative:.1%} of the mean")
    far = [r for r in rates if median and abs(r - median) / median > UNSTABLE_OUTLIER]
    if far:
        reasons.append(f"{len(far)} sample(s) more than {UNSTABLE_OUTLIER:.0%} from the median")
    return reasons


def busy_reasons(other_cpu_share: float | None) -> list[str]:
    """The reason a test's figure is not this machine's own speed when other processes shared its CPU; empty otherwise.
    It goes into the run's `unstable` list, the one mark every reader of a result checks."""
    if other_cpu_share is None or other_cpu_share < BUSY_OTHER_CPU_SHARE:
        return []
    return [f"busy: other processes took {other_cpu_share:.0%} of the machine's CPU"]
