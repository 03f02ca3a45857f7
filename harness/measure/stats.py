"""Statistics over raw timing samples, in llama-bench's terms, with pyperf-style instability flags."""

from __future__ import annotations

import statistics

UNSTABLE_RELATIVE_STDDEV = 0.05  # stddev >= 5% of the mean
UNSTABLE_OUTLIER = 0.15  # a sample more than 15% away from the median


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
