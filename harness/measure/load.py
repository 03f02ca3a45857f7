"""Load sweeps (`meek load`): how many people or agents a box serves at once, through an OpenAI-compatible server.

Each point of the sweep is a closed-loop concurrency (N streams, each sending its next request when the last ends) or
an open-loop request rate (Poisson arrivals), bounded in requests and in seconds. Every request streams: time to first
token, the gaps between tokens (inter-token latency) and the end-to-end latency are taken per request; a point keeps
their 50th, 90th and 99th percentiles, requests/s, output t/s and the t/s each stream saw. The headline is the largest
load that meets the objective: every stream (its 10th percentile) at --min-stream-tps or more, and TTFT p90 under
--max-ttft-s. A server that dies or refuses mid-sweep ends it with one line; the finished points are kept.

Deadlines: a point sends for at most `max_seconds`, and each request must end within `request_s` of being sent (its
stream is cut there, whatever the server does: never answers, or streams forever), so a point ends within
max_seconds + request_s. A request cut off, or whose answer cannot be read, is a counted request error, never a crash.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from harness.errors import MeekError
from harness.http import public_url
from harness.measure.backends.server import OpenAIServer, has_text, prompt_of
from harness.results.schema import ServingPoint, Spread
from harness.results.stats import percentile, percentiles


@dataclass(frozen=True)
class Objective:
    min_stream_tps: float = 10.0
    max_ttft_s: float = 2.0

    def met(self, point: ServingPoint) -> bool:
        stream_ok = (point.tg_per_stream_p10 or 0) >= self.min_stream_tps
        return point.errors == 0 and stream_ok and point.ttft is not None and point.ttft.p90 / 1e9 < self.max_ttft_s


@dataclass
class Timing:
    sent: int
    arrivals: list[int] = field(default_factory=list)
    ended: int = 0
    error: str | None = None


def one_request(server: OpenAIServer, prompt: str, n_gen: int, deadline: float | None = None) -> Timing:
    """One streamed completion of n_gen tokens (the server asked to ignore end-of-text), its token arrival times; cut
    at `deadline` (a time.perf_counter() value). Whatever goes wrong is the request's error (one line), not raised."""
    body = {
        "model": server.model,
        "prompt": prompt,
        "max_tokens": n_gen,
        "min_tokens": n_gen,
        "ignore_eos": True,
        "temperature": 0,
        "cache_prompt": False,
    }
    timing = Timing(sent=time.perf_counter_ns())
    try:
        for arrived, event in server.stream(body, deadline):
            if has_text(event):
                timing.arrivals.append(arrived)
    except MeekError as error:
        timing.error = server.client.scrub(error)
    except Exception as error:  # a connection cut mid-stream, an answer no check foresaw: this request failed
        timing.error = f"the stream broke: {type(error).__name__}: {server.client.scrub(error)[:200]}"
    timing.ended = time.perf_counter_ns()
    if timing.error is None and len(timing.arrivals) < n_gen:
        timing.error = f"the stream ended after {len(timing.arrivals)} of {n_gen} tokens"
    return timing


def _spread(values: list[float]) -> Spread | None:
    if not values:
        return None
    p50, p90, p99 = percentiles(values, [50, 90, 99])
    return Spread(p50=p50, p90=p90, p99=p99)


def summarize_point(
    timings: list[Timing], started: int, finished: int, concurrency: int, rate: float | None, n_prompt: int, n_gen: int, url: str
) -> ServingPoint:
    good = [t for t in timings if t.error is None]
    duration = max(1, finished - started) / 1e9
    tokens = sum(len(t.arrivals) for t in good)
    streams = [
        (len(t.arrivals) - 1) / ((t.arrivals[-1] - t.arrivals[0]) / 1e9)
        for t in good
        if len(t.arrivals) > 1 and t.arrivals[-1] > t.arrivals[0]
    ]
    gaps = [float(b - a) for t in good for a, b in zip(t.arrivals, t.arrivals[1:])]
    ttfts = [max(1, t.arrivals[0] - t.sent) for t in good]
    errors = [t.error for t in timings if t.error]
    return ServingPoint(
        mode="server",
        n_parallel=concurrency,
        request_rate=rate,
        n_prompt=n_prompt,
        n_gen=n_gen,
        s_tg=tokens / duration,
        tg_per_stream=statistics.median(streams) if streams else 0.0,
        tg_per_stream_p10=percentile(streams, 10) if streams else 0.0,
        ttft_ns=ttfts,
        ttft=_spread([float(x) for x in ttfts]),
        itl=_spread(gaps),
        e2e=_spread([float(t.ended - t.sent) for t in good]),
        requests=len(timings),
        errors=len(errors),
        requests_per_s=len(good) / duration,
        duration_s=duration,
        server=public_url(url),
        note=f"{len(errors)} request(s) failed, first: {errors[0]}"[:300] if errors else None,
    )


def peak_in_flight(timings: list[Timing]) -> int:
    """The most requests that were open at one moment (the concurrency a rate produced)."""
    events = sorted([(t.sent, 1) for t in timings] + [(t.ended, -1) for t in timings])
    level = peak = 0
    for _, change in events:
        level += change
        peak = max(peak, level)
    return max(1, peak)


def run_point(
    server: OpenAIServer,
    prompts: list[str],
    n_prompt: int,
    n_gen: int,
    concurrency: int | None,
    rate: float | None,
    max_requests: int,
    max_seconds: float,
    seed: int = 0,
    request_s: float | None = None,
) -> tuple[ServingPoint, list[Timing]]:
    """One load level: `concurrency` closed-loop streams, or Poisson arrivals at `rate` per second; stops sending at
    max_requests or max_seconds, whichever comes first, and waits for what is in flight, each request at most
    `request_s` (default max_seconds) from its sending: the point ends within max_seconds + request_s."""
    timings: list[Timing] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + max_seconds
    request_s = max_seconds if request_s is None else request_s
    counter = iter(range(max_requests))

    def request(prompt: str) -> Timing:
        return one_request(server, prompt, n_gen, min(time.perf_counter() + request_s, deadline + request_s))

    def next_prompt() -> str | None:
        with lock:
            index = next(counter, None)
        return prompts[index % len(prompts)] if index is not None and time.perf_counter() < deadline else None

    def keep(timing: Timing) -> None:
        with lock:
            timings.append(timing)

    started = time.perf_counter_ns()
    if concurrency is not None:

        def stream() -> None:
            while (prompt := next_prompt()) is not None:
                timing = request(prompt)
                keep(timing)
                if timing.error and "cannot reach" in timing.error:
                    return  # the server is gone: this stream stops, the point reports it

        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(stream) for _ in range(concurrency)]
    else:
        assert rate is not None
        rng = random.Random(seed)

        def send(prompt: str) -> None:
            keep(request(prompt))

        with ThreadPoolExecutor(256) as pool:
            futures = []
            while (prompt := next_prompt()) is not None:
                futures.append(pool.submit(send, prompt))
                time.sleep(min(rng.expovariate(rate), max(0.0, deadline - time.perf_counter())))  # no sleep past the end
    for future in futures:
        future.result()  # a fault of ours in a worker is raised here, not lost with the requests it would have counted
    finished = time.perf_counter_ns()
    streams = concurrency if concurrency is not None else peak_in_flight(timings)
    point = summarize_point(timings, started, finished, streams, rate, n_prompt, n_gen, server.url)
    return point, timings


def prompts_for(server: OpenAIServer, n_prompt: int, count: int, seed: int = 0) -> list[str]:
    """Distinct prompts of exactly n_prompt tokens as the server tokenizes them (so no prompt cache answers for them)."""
    rng = random.Random(seed)
    return [prompt_of(server, n_prompt, rng) for _ in range(count)]
