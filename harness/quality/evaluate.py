"""`meek eval`: plan which tasks and items to score, run lm-eval with the in-process model, and collect the scores."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from harness.errors import MeekError
from harness.home import meek_home
from harness.quality.tasks import SUITE_SEED, SUITES, LocalTask, SuiteEntry, available_local_tasks, local_task, seeded_subset

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
    from harness.gguf_file import sha256_of

    files = config.get("dataset_kwargs", {}).get("data_files", {})
    rest = {k: v for k, v in config.items() if k not in ("dataset_kwargs", "metadata")}
    return {**rest, "data_sha256": {split: sha256_of(Path(path)) for split, path in sorted(files.items())}}


def plan(tasks: list[str], suite: str | None, data_dir: Path | None, limit: int | None) -> list[PlannedTask]:
    """Turn --suite/--tasks/--limit/--data-dir into planned tasks, failing early with a clear reason."""
    if suite and suite not in SUITES:
        raise MeekError(f"unknown suite '{suite}' (choose from {', '.join(SUITES)})")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise MeekError(f"--data-dir {data_dir} is not a folder")
    entries = list(SUITES[suite]) if suite else []
    known = [e.task for e in entries]
    entries += [SuiteEntry(name, None) for name in tasks if name not in known]
    if not entries:
        raise MeekError("nothing to score: give --suite quick|full or --tasks NAME[,NAME]")
    if data_dir is not None:
        available = available_local_tasks(Path(data_dir))
        for entry in entries:
            if entry.task not in available:
                near = difflib.get_close_matches(entry.task, available, n=2, cutoff=0.5)
                hint = f" Did you mean {' or '.join(near)}?" if near else ""
                raise MeekError(
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
    from harness.catalog import hub_reachable

    if not hub_reachable():
        raise MeekError(
            "the standard task data comes from the Hugging Face hub, which cannot be reached: pass --data-dir with local files (e.g. ../shared/data/bench)"
        )
    from lm_eval.tasks import TaskManager

    all_tasks = TaskManager().all_tasks
    for name in names:
        if name not in all_tasks:
            near = difflib.get_close_matches(name, all_tasks, n=3, cutoff=0.6)
            raise MeekError(f"unknown task '{name}'." + (f" Did you mean {' or '.join(near)}?" if near else ""))


def run_eval(model_path: Path, sha256: str, planned: list[PlannedTask], strategy: str = "prefix-reuse", n_ctx: int = 2048,
             threads: int | None = None, chat: bool = False) -> list[dict]:  # fmt: skip
    """Score every planned task with lm-eval on the in-process model; return one score dict per (task, metric).

    Requests are cached per model file and strategy in $MEEK_HOME/eval-cache, so an interrupted run resumes.
    """
    import datasets
    import lm_eval

    from harness.quality.llama_lm import SCORING_VERSION, MeekLlamaCpp

    datasets.disable_progress_bars()  # our own progress bar (with ETA) is the one that matters
    try:
        model = MeekLlamaCpp(path=str(model_path), n_ctx=n_ctx, n_threads=threads, strategy=strategy)
    except (ValueError, RuntimeError) as error:
        raise MeekError(f"the model could not be loaded for scoring: {error}") from None
    cache = meek_home() / "eval-cache" / f"{sha256[:16]}-{strategy}-{n_ctx}-v{SCORING_VERSION}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    scores = []
    try:
        for task in planned:
            started = time.perf_counter()
            configs = task.local.configs if task.local else [task.name]
            output = lm_eval.simple_evaluate(
                model=model, tasks=configs, samples=task.samples, limit=task.limit, num_fewshot=task.shots if not task.local else None,
                use_cache=str(cache), log_samples=False, apply_chat_template=chat, fewshot_as_multiturn=chat and bool(task.shots),
                random_seed=0, numpy_random_seed=1234, fewshot_random_seed=1234, verbosity="ERROR",
            )  # fmt: skip
            scores += _scores_from(task, output, time.perf_counter() - started, strategy, n_ctx, chat)
    finally:
        model.close()
    return scores


def _scores_from(task: PlannedTask, output: dict, elapsed: float, strategy: str, n_ctx: int, chat: bool) -> list[dict]:
    results, n_samples, n_shot = output["results"], output.get("n-samples", {}), output.get("n-shot", {})
    # local configs report per task (MMLU: per subject, pooled below); a hub task or group reports its own aggregate
    names = [c["task"] for c in task.local.configs] if task.local else [task.name]
    metric_keys = sorted({k for name in names for k in results.get(name, {}) if "_stderr" not in k and k != "alias" and "," in k})
    base = {
        "task": task.name, "subset": task.subset, "subset_seed": SUITE_SEED if task.samples and task.subset else None,
        "lm_eval_version": metadata.version("lm_eval"), "task_hash": task.task_hash(), "scoring": f"{strategy}, n_ctx {n_ctx}" + (", chat template" if chat else ""),
        "data": "local files" if task.local else "lm-eval standard (hub)", "elapsed_s": round(elapsed, 1),
    }  # fmt: skip
    scores = []
    for key in metric_keys:
        metric, filter_name = key.split(",", 1)
        pooled_n, weighted, variance = 0, 0.0, 0.0
        for name in names:
            row = results.get(name, {})
            if key not in row:
                continue
            n = int(n_samples.get(name, {}).get("effective", 0)) or 1
            value = float(row[key])
            stderr = row.get(f"{metric}_stderr,{filter_name}")
            pooled_n += n
            weighted += value * n
            variance += (n * float(stderr)) ** 2 if isinstance(stderr, (int, float)) else 0.0
        if not pooled_n:
            continue
        scores.append(
            {
                **base,
                "metric": metric if filter_name == "none" else f"{metric},{filter_name}",
                "value": weighted / pooled_n,
                "stderr": math.sqrt(variance) / pooled_n if variance else None,
                "shots": int(n_shot.get(names[0], task.shots or 0)),
                "samples": pooled_n,
                "primary": (metric if filter_name == "none" else key)
                == (task.local.primary_metric if task.local else STANDARD_PRIMARY.get(task.name)),
            }
        )
    return scores
