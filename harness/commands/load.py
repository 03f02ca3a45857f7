"""`meek load`: check the options, start a server if asked (and stop it on every path out),
run the sweep point by point, keep every finished point in a result file, print the latency table and the capacity.

Deadlines: each request gets `request_seconds` (default: --seconds) from its sending to its last token, and is cut there
as an error; a point sends for at most --seconds, so it ends within 2 x --seconds (the warm-up request too is cut at
`request_seconds`). A server that never answers, or streams forever, costs that and no more.

What the server sends (error pages, ids) is saved through fit_to_save: on one line, without markup, without the API
key. The model name given with -m is saved as typed, so markup or control characters in it are refused in one line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import EXIT_OK, MeekError, UsageError
from harness.measure.backends.server import check_name, fit_to_save
from harness.measure.load import Objective, prompts_for, run_point
from harness.measure.sweep import parse_int_list
from harness.output import Output, markdown_table
from harness.results.schema import BenchResult, ModelInfo, Protocol, RunError, ServingPoint, new_result

DISTINCT_PROMPTS = 16  # prompts of the asked length, cycled; the server is told not to reuse its prompt cache


@dataclass(frozen=True)
class LoadRequest:
    url: str | None = None
    serve: str | None = None  # a catalogue id or .gguf path: meek starts the server
    server: str = "llama-server"
    server_bin: Path | None = None
    model: str | None = None  # the model name to ask a --url server for
    concurrency: tuple[int, ...] = ()
    rate: tuple[float, ...] = ()
    n_prompt: int = 128
    n_gen: int = 64
    requests: int | None = None  # per point; default 4 per stream (at least 8)
    seconds: float = 60.0
    objective: Objective = Objective()
    results_dir: Path = Path("results")
    api_key: str | None = None
    seed: int = 0
    request_seconds: float | None = None  # each request's limit; None: --seconds

    @property
    def request_limit_s(self) -> float:
        return self.seconds if self.request_seconds is None else self.request_seconds


def check(request: LoadRequest) -> None:
    from harness.measure.serve import SERVERS

    if (request.url is None) == (request.serve is None):
        raise UsageError("give --url URL (a running server) or --serve MODEL (meek starts llama-server), not both")
    if request.concurrency and request.rate:
        raise UsageError("--concurrency and --rate are two modes: give one")
    if request.server not in SERVERS:
        raise UsageError(f"--server: '{request.server}' is not one of {', '.join(SERVERS)}")
    if request.n_prompt < 1 or request.n_gen < 2:
        raise UsageError("-p must be 1 or more and -n 2 or more (inter-token latency needs two tokens)")
    if any(c < 1 for c in request.concurrency) or any(r <= 0 for r in request.rate):
        raise UsageError("--concurrency values must be 1 or more, --rate values above 0")
    if not 0 < request.request_limit_s <= 86400 or not 0 < request.seconds <= 86400:
        raise UsageError("--seconds (and a request's limit) must be above 0 and at most 86400")
    if request.model is not None:
        check_name("-m", request.model)
    if request.serve is not None:
        check_name("--serve", request.serve, max_length=4096)


def parse_rates(text: str | None) -> tuple[float, ...]:
    """--rate's comma list of requests per second; anything but numbers is a usage error (here, before anything runs,
    so that no error inside the sweep is ever taken for a bad --rate)."""
    if not text:
        return ()
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"--rate: '{text}' is not a comma list of numbers") from None


def request(options: dict[str, Any]) -> LoadRequest:
    """The request from `meek load`'s options as typed."""
    o = options
    return LoadRequest(
        url=o["url"],
        serve=o["serve"],
        server=o["server"],
        server_bin=o["server_bin"],
        model=o["model"],
        concurrency=tuple(parse_int_list("--concurrency", o["concurrency"], minimum=1)) if o["concurrency"] else (),
        rate=parse_rates(o["rate"]),
        n_prompt=o["n_prompt"],
        n_gen=o["n_gen"],
        requests=o["requests"],
        seconds=o["seconds"],
        objective=Objective(o["min_stream_tps"], o["max_ttft_s"]),
        results_dir=o["results_dir"],
        api_key=o["api_key"],
        request_seconds=o.get("request_seconds"),
    )


def run(request: LoadRequest, out: Output) -> int:
    """Run `meek load`; the exit code (0 every point measured, 1 a point failed or the server died, 130 interrupted)."""
    from harness.results.store import check_results_dir

    check(request)
    check_results_dir(request.results_dir)
    points: list[tuple[int | None, float | None]] = [
        (c, None) for c in request.concurrency or (() if request.rate else (1, 2, 4))
    ]
    points += [(None, r) for r in request.rate]
    if request.url:
        return _sweep(
            request,
            request.url,
            None,
            points,
            ModelInfo(label=request.model or "served model", file_name=request.model or "served model"),
            out,
        )
    return _serve_and_sweep(request, points, out)


def _serve_and_sweep(request: LoadRequest, points, out: Output) -> int:
    from harness.catalogue.models import load_catalog, resolve
    from harness.machine.facts import fingerprint, physical_cores
    from harness.measure import preflight
    from harness.measure.protocol import model_info
    from harness.measure.serve import running_server
    from harness.measure.vendored import build_tool

    assert request.serve is not None
    resolved = resolve(request.serve, load_catalog())
    binary = None
    if request.server == "llama-server":
        binary = request.server_bin or (Path(os.environ["MEEK_LLAMA_SERVER"]) if os.environ.get("MEEK_LLAMA_SERVER") else None)
        binary = binary or build_tool("llama-server", out.line)  # the one already built, else built now
        if not binary.is_file():
            raise UsageError(f"--server-bin {binary}: no such file")
    threads = physical_cores()
    repack = preflight.RepackPolicy(fingerprint(), out.line, 600).repack_for(None, resolved.path, 0, threads)
    slots = max(c or 1 for c, _ in points) if request.concurrency else 16
    n_ctx = slots * (request.n_prompt + request.n_gen + 16)
    with running_server(request.server, binary, resolved.path, slots, n_ctx, threads, repack, out.line) as started:
        if request.server == "llama-cpp-python":
            out.line("note: llama-cpp-python's server answers one request at a time: concurrency shows queueing, not batching")
        return _sweep(request, started.url, started, points, model_info(resolved), out)


def _sweep(request: LoadRequest, url: str, started, points, model: ModelInfo, out: Output) -> int:
    from harness.machine.facts import fingerprint
    from harness.measure.backends.server import OpenAIServer, public_url
    from harness.results.store import save_result

    limit = request.request_limit_s
    # the non-streamed requests (listing, tokenizer) wait at most this for each answer; the streamed ones `limit` in all
    server = OpenAIServer(url, request.model or model.label, request.api_key, timeout_s=max(limit, 10))
    protocol = Protocol(
        backend="openai",
        repetitions=None,
        warmup=True,
        seed=request.seed,
        server=public_url(url),
        timing="streamed completions: per request time to first token, token gaps, end to end",
    )
    result = new_result(fingerprint(), model, protocol)
    code = EXIT_OK
    try:
        out.line(f"building {DISTINCT_PROMPTS} prompts of {request.n_prompt} tokens with the server's tokenizer")
        prompts = prompts_for(server, request.n_prompt, DISTINCT_PROMPTS, request.seed)
        run_point(server, prompts[:1], request.n_prompt, request.n_gen, 1, None, 1, limit, request_s=limit)  # warm-up
        for concurrency, rate in points:
            label = f"concurrency {concurrency}" if concurrency else f"rate {rate:g}/s"
            budget = request.requests or max(8, 4 * (concurrency or 2))
            out.status(f"{label}: up to {budget} requests or {request.seconds:g} s")
            point, _ = run_point(
                server, prompts, request.n_prompt, request.n_gen, concurrency, rate, budget, request.seconds, request.seed, limit
            )
            if started is not None:
                point = point.model_copy(update={"server_build": started.build, "slots": started.slots})
            result.serving.append(point)
            out.line(
                f"  {label}: {point.requests} requests, {point.errors} failed, {point.s_tg:.1f} t/s out, "
                f"{point.tg_per_stream:.1f} t/s per stream, TTFT p90 {(point.ttft.p90 / 1e6) if point.ttft else 0:.0f} ms"
            )
            if point.errors == point.requests:
                why = point.note or "no request was sent"
                raise MeekError(f"{label}: every request failed ({why}); the sweep stops, finished points are kept")
    except MeekError as error:
        message = server.client.scrub(error)
        result.errors.append(RunError(stage="serve", message=message[:2000]))
        out.error(message)
        code = 1
    except KeyboardInterrupt:
        result.errors.append(RunError(stage="interrupted", message="interrupted by the user (Ctrl-C)"))
        code = 130
    except Exception as error:  # a fault of ours or an answer no check foresaw: the finished points are still kept
        what = f"{type(error).__name__}: {server.client.scrub(error)[:300]}"
        message = f"the sweep stopped on an unexpected {what}; finished points are kept"
        result.errors.append(RunError(stage="serve", message=message[:500]))
        out.error(message)
        code = 1
    result.status = "complete" if code == EXIT_OK else "interrupted" if code == 130 else "partial"
    if result.serving:
        result = fit_to_save(result, server.client.secrets)
        out.line(f"saved {save_result(result, request.results_dir, out.line)}")
        out.data(latency_table(result))
        out.say(capacity_line(result.serving, request.objective))
    server.close()
    return code


def latency_table(result: BenchResult) -> str:
    head = [
        "load",
        "requests",
        "errors",
        "TTFT p50/p90/p99 ms",
        "ITL p50/p90/p99 ms",
        "E2E p50/p90/p99 s",
        "req/s",
        "out t/s",
        "t/s per stream (median, p10)",
    ]
    rows = []

    def triple(spread, scale: float, digits: int) -> str:
        return "/".join(f"{v / scale:.{digits}f}" for v in (spread.p50, spread.p90, spread.p99)) if spread else "-"

    for p in result.serving:
        load = f"{p.n_parallel} streams" if p.request_rate is None else f"{p.request_rate:g} req/s (peak {p.n_parallel} open)"
        rows.append(
            [
                load,
                p.requests,
                p.errors,
                triple(p.ttft, 1e6, 0),
                triple(p.itl, 1e6, 1),
                triple(p.e2e, 1e9, 2),
                f"{p.requests_per_s or 0:.2f}",
                f"{p.s_tg:.1f}",
                f"{p.tg_per_stream:.1f}, {p.tg_per_stream_p10 or 0:.1f}",
            ]
        )
    return markdown_table(head, rows, right=head[1:])


def capacity_line(points: list[ServingPoint], objective: Objective) -> str:
    """The headline: the largest load that met the objective, or that none did."""
    goal = f"every stream >= {objective.min_stream_tps:g} t/s (p10) and TTFT p90 < {objective.max_ttft_s:g} s"
    met = [p for p in points if objective.met(p)]
    if not met:
        return f"capacity: no load level measured met the objective ({goal})"
    best = max(met, key=lambda p: (p.n_parallel, p.request_rate or 0))
    load = f"{best.n_parallel} concurrent streams" if best.request_rate is None else f"{best.request_rate:g} requests/s"
    return f"capacity: serves {load} at >= {best.tg_per_stream_p10 or 0:.1f} t/s each ({goal}; {best.s_tg:.1f} t/s in all)"
