"""Whether a file's figures agree with each other: what a serving point and a split's local baselines state must follow
from the raw times and counts beside them (a forger who edits a headline and re-signs leaves them behind).

- Percentiles in order (p50 <= p90 <= p99 for TTFT, inter-token and end-to-end latency; the per-stream rate's 10th
  percentile at or below its median), end-to-end never shorter than the time to first token, nor longer than the point.
- Counts: errors at most requests, one TTFT sample per completed request (in process: per sequence timed), no throughput
  without a completed request.
- Summaries recomputed from what the point keeps: in process S_PP, S_TG, S and the per-stream rate are medians over the
  repetitions' times (llama-batched-bench's figures); through a server S_TG is the completed requests' tokens over the
  point's duration, requests/s the completed requests over it, and the TTFT percentiles are those of its ttft_ns.
- A split's ratio is its run's rate over the local baseline's.

Recomputed figures may differ from the stored ones by TOLERANCE (1%, relative): the producers compute them exactly, so
only rounding by another writer is forgiven; orderings hold exactly (up to float rounding, ORDER_SLACK).
"""

from __future__ import annotations

import math
import statistics

from harness.results.schema import BenchResult, ServingPoint, Spread
from harness.results.stats import percentiles

TOLERANCE = 0.01
ORDER_SLACK = 1e-9


def _close(stored: float, expected: float) -> bool:
    return math.isclose(stored, expected, rel_tol=TOLERANCE, abs_tol=1e-9)


def _at_most(low: float, high: float) -> bool:
    return low <= high + abs(high) * ORDER_SLACK


def _label(point: ServingPoint) -> str:
    rate = f" at {point.request_rate:g} req/s" if point.request_rate else ""
    return f"serving B={point.n_parallel}{rate} pp{point.n_prompt}+tg{point.n_gen}"


def _spread_problems(point: ServingPoint, label: str) -> list[str]:
    problems = []
    spreads: dict[str, Spread | None] = {"TTFT": point.ttft, "inter-token latency": point.itl, "end-to-end latency": point.e2e}
    for name, spread in spreads.items():
        if spread is not None and not (_at_most(spread.p50, spread.p90) and _at_most(spread.p90, spread.p99)):
            problems.append(
                f"{label}: {name} percentiles out of order (p50 {spread.p50:.6g}, p90 {spread.p90:.6g}, p99 {spread.p99:.6g} ns; "
                "p50 <= p90 <= p99 always)"
            )
    if point.tg_per_stream_p10 is not None and not _at_most(point.tg_per_stream_p10, point.tg_per_stream):
        problems.append(
            f"{label}: the per-stream rate's p10 ({point.tg_per_stream_p10:.1f} t/s) is above its median "
            f"({point.tg_per_stream:.1f} t/s)"
        )
    if point.ttft is not None and point.e2e is not None:
        shorter = [q for q in ("p50", "p90", "p99") if not _at_most(getattr(point.ttft, q), getattr(point.e2e, q))]
        if shorter:
            problems.append(
                f"{label}: end-to-end latency {'/'.join(shorter)} shorter than the time to first token's "
                "(a request ends after its first token)"
            )
    if point.ttft is not None:
        if not point.ttft_ns:
            problems.append(f"{label}: TTFT percentiles without the ttft_ns samples they come from")
        else:
            expected = percentiles([float(t) for t in point.ttft_ns], [50, 90, 99])
            stored = (point.ttft.p50, point.ttft.p90, point.ttft.p99)
            if not all(_close(s, e) for s, e in zip(stored, expected)):
                problems.append(
                    f"{label}: TTFT percentiles do not follow from its {len(point.ttft_ns)} ttft_ns samples "
                    f"(p50 {expected[0]:.6g} ns, not {stored[0]:.6g}; tolerance {TOLERANCE:.0%})"
                )
    return problems


def _server_problems(point: ServingPoint, label: str) -> list[str]:
    requests = point.requests or 0
    if point.errors > requests:
        return [f"{label}: {point.errors} errors but only {requests} requests"]
    completed = requests - point.errors
    problems = []
    if len(point.ttft_ns) > completed:
        problems.append(f"{label}: {len(point.ttft_ns)} TTFT samples but {completed} completed requests (of {requests})")
    rates = {"S_TG": point.s_tg, "t/s per stream": point.tg_per_stream, "requests/s": point.requests_per_s or 0.0}
    rates["per-stream p10"] = point.tg_per_stream_p10 or 0.0
    if completed == 0:
        claimed = [name for name, value in rates.items() if value > 0]
        if claimed:
            problems.append(f"{label}: a throughput ({', '.join(claimed)}) with no completed request")
        return problems
    if point.duration_s is None:
        return [*problems, f"{label}: a throughput without the duration_s it is measured over"]
    tokens = completed * point.n_gen
    if not _close(point.s_tg * point.duration_s, tokens):
        problems.append(
            f"{label}: S_TG {point.s_tg:.1f} t/s does not follow from {completed} completed requests of {point.n_gen} tokens "
            f"in {point.duration_s:.3f} s ({tokens / point.duration_s if point.duration_s else math.inf:.1f} t/s; "
            f"tolerance {TOLERANCE:.0%})"
        )
    if point.requests_per_s is not None and not _close(point.requests_per_s * point.duration_s, completed):
        problems.append(
            f"{label}: requests/s {point.requests_per_s:.3f} does not follow from {completed} completed requests in "
            f"{point.duration_s:.3f} s (tolerance {TOLERANCE:.0%})"
        )
    if point.e2e is not None and not _at_most(point.e2e.p99, point.duration_s * 1e9 * (1 + TOLERANCE)):
        problems.append(
            f"{label}: an end-to-end latency (p99 {point.e2e.p99 / 1e9:.3f} s) longer than the whole point "
            f"({point.duration_s:.3f} s)"
        )
    return problems


def _median_rate(tokens: int, times_ns: list[int]) -> float:
    return statistics.median(tokens / (ns / 1e9) for ns in times_ns)


def _in_process_problems(point: ServingPoint, label: str) -> list[str]:
    streams, reps = point.n_parallel, len(point.t_tg_ns)
    problems = []
    s_tg = _median_rate(streams * point.n_gen, point.t_tg_ns)
    expected = {  # a figure with nothing to recompute it from (S_PP without a prompt) can only be 0
        "S_TG": s_tg,
        "S_PP": _median_rate(streams * point.n_prompt, point.t_pp_ns) if point.n_prompt else 0.0,
        "S": _median_rate(streams * (point.n_prompt + point.n_gen), [a + b for a, b in zip(point.t_pp_ns, point.t_tg_ns)]),
        "t/s per stream": s_tg / streams,
    }
    stored = {"S_TG": point.s_tg, "S_PP": point.s_pp, "S": point.s, "t/s per stream": point.tg_per_stream}
    wrong = [name for name, value in stored.items() if value is not None and not _close(value, expected[name])]
    if wrong:
        first = wrong[0]
        problems.append(
            f"{label}: {', '.join(wrong)} do not follow from the {reps} repetitions' t_pp_ns and t_tg_ns "
            f"({first} {stored[first] or 0.0:.1f} t/s, recomputed {expected[first]:.1f}; tolerance {TOLERANCE:.0%})"
        )
    if point.n_kv is not None and point.n_kv != streams * (point.n_prompt + point.n_gen):
        problems.append(f"{label}: N_KV {point.n_kv} is not B x (PP + TG) = {streams * (point.n_prompt + point.n_gen)}")
    if len(point.ttft_ns) > streams * reps:
        problems.append(f"{label}: {len(point.ttft_ns)} TTFT samples but {streams} sequences x {reps} repetitions timed")
    if point.requests is not None and point.errors > point.requests:
        problems.append(f"{label}: {point.errors} errors but only {point.requests} requests")
    return problems


def serving_consistency(result: BenchResult) -> list[str]:
    problems = []
    for point in result.serving:
        label = _label(point)
        problems += _spread_problems(point, label)
        problems += _server_problems(point, label) if point.mode == "server" else _in_process_problems(point, label)
    return problems


def split_consistency(result: BenchResult) -> list[str]:
    """Each local baseline's ratio against the split run of the same test (any of its thread counts)."""
    if result.split is None:
        return []
    problems = []
    for baseline in result.split.local:
        rates = [run.avg_ts for run in result.runs if run.test == baseline.test]
        if not rates:
            problems.append(f"split: a local baseline for {baseline.test}, a test the split did not run")
        elif baseline.avg_ts <= 0:
            problems.append(f"split: {baseline.test}'s local rate is 0 t/s, so it has no ratio")
        elif not any(_close(baseline.ratio, rate / baseline.avg_ts) for rate in rates):
            problems.append(
                f"split: {baseline.test} ratio {baseline.ratio:.3g} does not follow from its rates "
                f"({rates[0]:.1f} t/s split / {baseline.avg_ts:.1f} t/s local = {rates[0] / baseline.avg_ts:.3g}; "
                f"tolerance {TOLERANCE:.0%})"
            )
    return problems


def consistency_problems(result: BenchResult) -> list[str]:
    return serving_consistency(result) + split_consistency(result)
