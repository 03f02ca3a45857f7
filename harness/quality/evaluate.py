"""Scoring (`meek eval`, `meek bench --eval`): plan which tasks and items to score, run lm-eval with the in-process model, and collect the scores."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from harness.catalogue.models import ResolvedModel
from harness.errors import MeekError, UsageError
from harness.home import meek_home
from harness.measure.events import EvalLoaded, EvalProgress, EvalScores, EvalTask
from harness.measure.preflight import RepackPolicy
from harness.measure.runner import Progress, ScoreHook
from harness.quality.tasks import (
    SUITE_SEED,
    SUITES,
    LocalTask,
    SuiteEntry,
    available_local_tasks,
    local_task,
    needed_files,
    seeded_subset,
)
from harness.results.schema import BenchResult, RunError, Score

STANDARD_PRIMARY = {"mmlu": "acc", "hellaswag": "acc_norm", "arc_challenge": "acc_norm", "gsm8k": "exact_match,strict-match"}


@dataclass
class PlannedTask:
    """One benchmark to score: local configs or a standard lm-eval task name, and which items."""

    name: str
    local: LocalTask | None
    samples: dict[str, list[int]] | None = None  # task -> item indices (a seeded subset)
    limit: int | None = None  # first N items (online subsets, or --limit)
    shots: int | None = None
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def subset(self) -> bool:
        if self.samples is not None:
            return any(len(v) < self.totals.get(k, math.inf) for k, v in self.samples.items())
        return self.limit is not None

    def task_hash(self) -> str:
        """Same prompts, metrics, data content and items give the same hash on every machine (paths do not count)."""
        payload = {
            "configs": [_portable(c) for c in self.local.configs] if self.local else self.name,
            "samples": self.samples,
            "limit": self.limit,
            "shots": self.shots,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _portable(config: dict) -> dict:
    """A task config with its local file paths replaced by the files' sha256."""
    from harness.catalogue.gguf_file import sha256_of

    files = config.get("dataset_kwargs", {}).get("data_files", {})
    rest = {k: v for k, v in config.items() if k not in ("dataset_kwargs", "metadata")}
    return {**rest, "data_sha256": {split: sha256_of(Path(path)) for split, path in sorted(files.items())}}


def plan(tasks: list[str], suite: str | None, data_dir: Path | None, limit: int | None) -> list[PlannedTask]:
    """Turn --suite/--tasks/--limit/--data-dir into planned tasks, failing early with a clear reason."""
    if suite and suite not in SUITES:
        raise UsageError(f"unknown suite '{suite}' (choose from {', '.join(SUITES)})")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise UsageError(f"--data-dir {data_dir} is not a folder")
    entries = list(SUITES[suite]) if suite else []
    known = [e.task for e in entries]
    entries += [SuiteEntry(name, None) for name in tasks if name not in known]
    if not entries:
        raise UsageError("nothing to score: give --suite quick|full or --tasks NAME[,NAME]")
    if data_dir is not None:
        available = available_local_tasks(Path(data_dir))
        for entry in entries:
            if entry.task not in available:
                near = difflib.get_close_matches(entry.task, available, n=2, cutoff=0.5)
                hint = f" Did you mean {' or '.join(near)}?" if near else f" {needed_files([entry.task])}"
                raise UsageError(
                    f"unknown task '{entry.task}' in {data_dir} (it has: {', '.join(available) or 'nothing usable'}).{hint}"
                )
    else:
        _check_online_tasks([e.task for e in entries])
    planned = []
    for entry in entries:
        items = limit if limit is not None else entry.items
        if data_dir is None:
            planned.append(PlannedTask(entry.task, None, limit=items, shots=entry.shots))
            continue
        local = local_task(entry.task, Path(data_dir), entry.shots)
        samples = None
        if items is not None:
            samples = {task: seeded_subset(size, items, SUITE_SEED) for task, size in local.sizes.items()}
        planned.append(PlannedTask(entry.task, local, samples=samples, shots=local.default_shots, totals=dict(local.sizes)))
    return planned


def _check_online_tasks(names: list[str]) -> None:
    from harness.catalogue.models import hub_reachable

    if not hub_reachable():
        raise MeekError(
            "the task data comes from the Hugging Face hub, which cannot be reached; to score offline, "
            f"{needed_files(names)} (download them once, while online)"
        )
    from lm_eval.tasks import TaskManager

    all_tasks = TaskManager().all_tasks
    for name in names:
        if name not in all_tasks:
            near = difflib.get_close_matches(name, all_tasks, n=3, cutoff=0.6)
            raise UsageError(f"unknown task '{name}'." + (f" Did you mean {' or '.join(near)}?" if near else ""))


def run_eval(
    model_path: Path,
    sha256: str,
    planned: list[PlannedTask],
    strategy: str = "prefix-reuse",
    n_ctx: int = 2048,
    threads: int | None = None,
    chat: bool = False,
    repack: int | None = None,
    timeout_s: float = 600,
    progress=None,
) -> list[dict]:
    """Score every planned task with lm-eval, in a worker process; return one score dict per (task, metric).

    Every scored request goes into a cache in $MEEK_HOME/eval-cache as soon as it is scored (per model file, strategy,
    context size and repack setting), so a run that crashes, is killed or is interrupted resumes where it stopped. A crash
    of the worker (an instruction llama.cpp cannot run here, an out-of-memory kill, a hang past `timeout_s` seconds
    without a scored request) raises MeekError in one line.
    """
    from harness.measure.preflight import crash_hint, default_repack
    from harness.measure.worker import WorkerFailed, run_in_worker
    from harness.quality.llama_lm import SCORING_VERSION

    if repack is None:  # decided here: the worker cannot start the probe's own worker
        repack = default_repack(model_path, threads or 1)
    repack_tag = "" if repack == 1 else f"-rpk{repack}"
    cache = meek_home() / "eval-cache" / f"{sha256[:16]}-{strategy}-{n_ctx}{repack_tag}-v{SCORING_VERSION}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    say = progress.line if progress is not None else (lambda text: None)
    already = cached_requests(cache)
    if already:
        say(f"resuming: {already:,} scored requests are already in the cache ({cache.name})")
    scores: list[dict] = []
    work = (str(model_path), planned, strategy, n_ctx, threads, chat, repack, str(cache))
    bar_shown = False
    try:
        for event in run_in_worker(eval_child, work, timeout_s):
            bar_shown = bar_shown or isinstance(event, EvalProgress)
            if isinstance(event, EvalScores):
                scores += event.scores
    except WorkerFailed as error:
        if bar_shown:  # the worker's progress bar was cut off mid-line
            sys.stderr.write("\n")
        kept = cached_requests(cache)
        raise MeekError(
            f"scoring stopped: {error}{crash_hint(error.signal_name, repack)}; {kept:,} scored requests are kept in the "
            "cache: run the same command again to resume"
        ) from None
    return scores


def cached_requests(cache: Path) -> int:
    """How many scored requests the request cache holds (0 when there is none yet). lm-eval adds `_rank0.db` to the
    name it is given."""
    import sqlite3

    total = 0
    for database in cache.parent.glob(f"{cache.name}_rank*.db"):
        try:
            connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
            try:
                total += int(connection.execute("SELECT COUNT(*) FROM unnamed").fetchone()[0])
            finally:
                connection.close()
        except sqlite3.Error:
            pass
    return total


def eval_child(
    emit,
    model_path: str,
    planned: list[PlannedTask],
    strategy: str,
    n_ctx: int,
    threads: int | None,
    chat: bool,
    repack: int | None,
    cache: str,
) -> None:
    """In the worker: load the model, run lm-eval task by task, send each task's scores back as soon as it is done."""
    import datasets
    import lm_eval
    import lm_eval.evaluator
    from tqdm import tqdm

    from harness.quality.llama_lm import MeekLlamaCpp

    datasets.disable_progress_bars()  # our own progress bar (with ETA) is the one that matters
    # tqdm guards its bars with a multiprocessing lock (a named semaphore); a worker killed by a crash leaves it behind
    # and Python warns of a leaked semaphore at exit. One process draws the bars here, so a thread lock is enough.
    tqdm.set_lock(threading.RLock())
    # lm-eval records the git commit of the folder it is run from (`git describe`, whose "fatal: not a git repository"
    # reaches the user's terminal outside a checkout); that commit says nothing about the scores, so none is asked for.
    lm_eval.evaluator.get_git_commit_hash = lambda: None
    try:
        model = MeekLlamaCpp(
            path=model_path,
            n_ctx=n_ctx,
            n_threads=threads,
            strategy=strategy,
            repack=repack,
            on_progress=lambda done: emit(EvalProgress(done)),
        )
    except (ValueError, RuntimeError) as error:
        raise MeekError(f"the model could not be loaded for scoring: {error}") from None
    emit(EvalLoaded())
    try:
        for task in planned:
            emit(EvalTask(task.name))
            started = time.perf_counter()
            configs = task.local.configs if task.local else [task.name]
            output = lm_eval.simple_evaluate(
                model=model,
                tasks=configs,
                samples=task.samples,
                limit=task.limit,
                num_fewshot=task.shots if not task.local else None,
                use_cache=cache,
                log_samples=False,
                apply_chat_template=chat,
                fewshot_as_multiturn=chat and bool(task.shots),
                random_seed=0,
                numpy_random_seed=1234,
                fewshot_random_seed=1234,
                verbosity="ERROR",
            )
            scoring = f"{strategy}, n_ctx {n_ctx}" + (", repack 0" if repack == 0 else "")
            emit(EvalScores(_scores_from(task, output, time.perf_counter() - started, scoring, chat)))
    finally:
        model.close()


def items_scored(task: PlannedTask, name: str, n_samples: dict) -> int | None:
    """How many items of `name` lm-eval scored: its own count, else what the plan asked for (the seeded subset, the
    first --limit items, or the whole local file); None when nothing says."""
    effective = int((n_samples.get(name) or {}).get("effective", 0) or 0)
    if effective:
        return effective
    if task.samples is not None and name in task.samples:
        return len(task.samples[name])
    size = task.local.sizes.get(name) if task.local else None
    if size is not None:
        return min(size, task.limit) if task.limit else size
    return task.limit


def _scores_from(task: PlannedTask, output: dict, elapsed: float, scoring: str, chat: bool) -> list[dict]:
    results, n_samples, n_shot = output["results"], output.get("n-samples", {}), output.get("n-shot", {})
    # local configs report per task (MMLU: per subject, pooled below); a hub task or group reports its own aggregate
    names = [c["task"] for c in task.local.configs] if task.local else [task.name]
    metric_keys = sorted({k for name in names for k in results.get(name, {}) if "_stderr" not in k and k != "alias" and "," in k})
    base = {
        "task": task.name,
        "subset": task.subset,
        "subset_seed": SUITE_SEED if task.samples and task.subset else None,
        "lm_eval_version": metadata.version("lm_eval"),
        "task_hash": task.task_hash(),
        "scoring": scoring + (", chat template" if chat else ""),
        "data": "local files" if task.local else "lm-eval standard (hub)",
        "elapsed_s": round(elapsed, 1),
    }
    scores = []
    for key in metric_keys:
        metric, filter_name = key.split(",", 1)
        pooled_n, weighted, variance = 0, 0.0, 0.0
        for name in names:
            row = results.get(name, {})
            if key not in row:
                continue
            n = items_scored(task, name, n_samples)
            if n is None and len(names) > 1:
                raise MeekError(f"lm-eval reported no item count for {name}: its score cannot be pooled into {task.name}")
            n = n or 0
            value = float(row[key])
            stderr = row.get(f"{metric}_stderr,{filter_name}")
            pooled_n += n
            weighted += value * n
            variance += (n * float(stderr)) ** 2 if isinstance(stderr, (int, float)) else 0.0
        if pooled_n:
            value, stderr = weighted / pooled_n, (math.sqrt(variance) / pooled_n if variance else None)
        elif len(names) == 1 and key in results.get(names[0], {}):  # one task, no count given: its value, 0 items claimed
            row = results[names[0]]
            value, stderr = float(row[key]), row.get(f"{metric}_stderr,{filter_name}")
            stderr = float(stderr) if isinstance(stderr, (int, float)) else None
        else:
            continue
        scores.append(
            {
                **base,
                "metric": metric if filter_name == "none" else f"{metric},{filter_name}",
                "value": value,
                "stderr": stderr,
                "shots": int(n_shot.get(names[0], task.shots or 0)),
                "samples": pooled_n,
                "primary": (metric if filter_name == "none" else key)
                == (task.local.primary_metric if task.local else STANDARD_PRIMARY.get(task.name)),
            }
        )
    return scores


@dataclass
class EvalOptions:
    tasks: list  # PlannedTask from harness.quality.evaluate
    strategy: str = "prefix-reuse"
    n_ctx: int = 2048
    threads: int | None = None
    chat: bool = False
    repack: int | None = None  # None: this machine's preflight default
    timeout_s: float = 600.0


def score_into(result: BenchResult, resolved: ResolvedModel, evaluate: EvalOptions, progress: Progress) -> None:
    """Score the model with lm-eval (in a worker process) and add the scores to its result; a failure becomes an error
    entry, and the requests scored before it stay in the request cache for the next run."""
    sha256 = result.model.sha256
    assert sha256 is not None  # model_info() hashed the file
    try:
        scores = run_eval(
            resolved.path,
            sha256,
            evaluate.tasks,
            evaluate.strategy,
            evaluate.n_ctx,
            evaluate.threads,
            evaluate.chat,
            evaluate.repack,
            evaluate.timeout_s,
            progress,
        )
        result.scores += [Score(**score) for score in scores]
    except MeekError as error:
        result.errors.append(RunError(stage="eval", message=str(error)))


def scorer(evaluate: EvalOptions) -> ScoreHook:
    """`meek bench --eval`: the hook that scores each model after its speed tests, with the repack setting that runs here."""

    def score(result: BenchResult, resolved: ResolvedModel, checks: RepackPolicy, progress: Progress) -> None:
        progress.line(f"scoring {resolved.label} on {', '.join(t.name for t in evaluate.tasks)}")
        try:
            repack = checks.repack_for(evaluate.repack, resolved.path, 0, evaluate.threads or 1)
        except MeekError as error:
            result.errors.append(RunError(stage="eval", message=str(error)))
            return
        score_into(result, resolved, dataclasses.replace(evaluate, repack=repack), progress)

    return score
