"""`meek eval`: score one model in a worker process, print the scores, save a result file (the scoring is harness/quality/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.catalogue.models import load_catalog, resolve
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, MeekError, UsageError
from harness.machine.facts import fingerprint
from harness.measure.preflight import RepackPolicy, parse_one_repack
from harness.measure.protocol import model_info
from harness.output import Output, markdown_table
from harness.quality.evaluate import EvalOptions, score_into
from harness.results.schema import BenchResult, new_result
from harness.results.store import check_results_dir, save_result

STRATEGIES = ("prefix-reuse", "plain", "batched-flash", "prefix-reuse-flash", "plain-flash")  # llama_lm.STRATEGIES


@dataclass(frozen=True)
class EvalRequest:
    """`meek eval`'s options, parsed."""

    model: str = "smollm2-135m"
    suite: str | None = None
    tasks: tuple[str, ...] = ()
    data_dir: Path | None = None
    limit: int | None = None
    strategy: str = "prefix-reuse"
    n_ctx: int = 2048
    threads: int | None = None
    chat: bool = False
    results_dir: Path = Path("results")
    repack: int | None = None
    timeout_s: float = 600.0


def request(options: dict[str, Any]) -> EvalRequest:
    """The request from `meek eval`'s options as typed."""
    o = options
    wanted = parse_one_repack(o["repack"], "meek eval scores")
    return EvalRequest(
        model=o["model"],
        suite=o["suite"],
        tasks=tuple(t.strip() for t in (o["tasks"] or "").split(",") if t.strip()),
        data_dir=o["data_dir"],
        limit=o["limit"],
        strategy=o["strategy"],
        n_ctx=o["n_ctx"],
        threads=o["threads"],
        chat=o["chat"],
        results_dir=o["results_dir"],
        repack=wanted,
        timeout_s=o["timeout"],
    )


def run(request: EvalRequest, out: Output) -> int:
    """Score one model; exit 0 when every task was scored, 1 when scoring failed (the requests scored before the
    failure stay cached, so the same command resumes), 130 when interrupted. A bad option raises UsageError first."""
    from harness.quality.evaluate import plan

    if request.strategy not in STRATEGIES:
        raise UsageError(f"--strategy: unknown '{request.strategy}' (choose {' or '.join(STRATEGIES)})")
    check_results_dir(request.results_dir)  # before anything is scored
    planned = plan(list(request.tasks), request.suite, request.data_dir, request.limit)
    resolved = resolve(request.model, load_catalog())
    policy = RepackPolicy(fingerprint(), out.line, request.timeout_s)
    result = new_result(policy.machine, model_info(resolved))
    options = EvalOptions(
        tasks=planned,
        strategy=request.strategy,
        n_ctx=request.n_ctx,
        threads=request.threads,
        chat=request.chat,
        timeout_s=request.timeout_s,
    )
    try:
        options.repack = policy.repack_for(request.repack, resolved.path, 0, request.threads or 1)
    except MeekError as error:  # the setting asked for crashes here, or every setting does: a failed run, not bad input
        out.error(error)
        return EXIT_FAILED
    result.machine = policy.machine  # with what the preflight probe left out, if anything
    subset = " (subset)" if any(p.subset for p in planned) else ""
    out.line(f"scoring {resolved.label} on {', '.join(p.name for p in planned)}{subset}")
    try:
        score_into(result, resolved, options, out)
    except KeyboardInterrupt:
        out.line("\ninterrupted: the requests scored so far are kept in the cache: run the same command again to resume")
        return EXIT_INTERRUPTED
    if result.errors:
        out.error(result.errors[0].message)
        return EXIT_FAILED
    result.status = "complete"
    out.data(scores_table(result))
    out.line(f"saved {save_result(result, request.results_dir, out.line)}")
    return EXIT_OK


def scores_table(result: BenchResult) -> str:
    columns = ["model", "task", "metric", "value", "± stderr", "shots", "items", "subset", "time s"]
    rows = [
        [
            result.model.label,
            s.task,
            s.metric + (" *" if s.primary else ""),
            f"{s.value:.4f}",
            f"{s.stderr:.4f}" if s.stderr is not None else "-",
            s.shots,
            s.samples,
            "yes" if s.subset else "no",
            f"{s.elapsed_s:.0f}",
        ]
        for s in result.scores
    ]
    table = markdown_table(columns, rows, right=["value", "± stderr", "shots", "items", "time s"])
    return table + "(* the metric the task is usually quoted by)\n"
