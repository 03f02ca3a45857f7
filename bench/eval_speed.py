"""KV-reuse benchmark: scoring with the shared-context strategy against one request at a time.

Both strategies score the same seeded items of a task in ../shared/data/bench (HellaSwag by default) with the bundled
SmolLM2 (no request cache); tokens sent through llama_decode, wall time and scores of each go into BENCHMARKS.md.

    python bench/eval_speed.py --items 500
    python bench/eval_speed.py --task mmlu --items 9 --shots 5     # 9 per subject
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import lm_eval
from benchmarks_md import write_section

from harness.catalog import load_catalog, resolve
from harness.machine import fingerprint
from harness.quality.evaluate import plan
from harness.quality.llama_lm import MeekLlamaCpp

ROOT = Path(__file__).resolve().parent.parent


def score(path: Path, planned, strategy: str, threads: int) -> dict:
    model = MeekLlamaCpp(path=str(path), n_ctx=2048, n_threads=threads, strategy=strategy)
    started = time.perf_counter()
    output = lm_eval.simple_evaluate(
        model=model, tasks=planned.local.configs, samples=planned.samples, log_samples=False, verbosity="ERROR"
    )
    elapsed = time.perf_counter() - started
    model.close()
    correct = {"acc": 0.0, "acc_norm": 0.0}
    total = 0
    for name, row in output["results"].items():
        if name not in planned.samples:
            continue
        n = len(planned.samples[name])
        total += n
        for metric in correct:
            correct[metric] += row.get(f"{metric},none", float("nan")) * n
    return {
        "strategy": strategy,
        "seconds": elapsed,
        "tokens": model.tokens_evaluated,
        **{k: v / total for k, v in correct.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="hellaswag")
    parser.add_argument("--items", type=int, default=500, help="items (per subject for mmlu)")
    parser.add_argument("--shots", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "bench")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    (planned,) = plan([args.task], None, args.data_dir, args.items)
    if args.shots is not None:
        for config in planned.local.configs:
            config["num_fewshot"] = args.shots
    shots = planned.local.configs[0]["num_fewshot"]
    path = resolve("smollm2-135m", load_catalog()).path
    rows = [score(path, planned, strategy, args.threads) for strategy in ("plain", "prefix-reuse")]
    plain, shared = rows
    machine = fingerprint(include_build=False)
    lines = [
        f"Measured {dt.date.today()} on {machine['cpu']['model']} ({machine['cpu']['physical_cores']} cores), SmolLM2-135M-Instruct Q4_1, "
        f"{sum(len(v) for v in planned.samples.values())} seeded {args.task} items ({shots}-shot), {args.threads} threads, no request cache.",
        "",
        f"Command: `python bench/eval_speed.py --task {args.task} --items {args.items}"
        + (f" --shots {args.shots}" if args.shots is not None else "")
        + "`",
        "",
        "| strategy | wall time s | tokens decoded | acc | acc_norm |",
        "|---|---:|---:|---:|---:|",
        *[f"| {r['strategy']} | {r['seconds']:.1f} | {r['tokens']:,} | {r['acc']:.4f} | {r['acc_norm']:.4f} |" for r in rows],
        "",
        f"Speed-up {plain['seconds'] / shared['seconds']:.2f}x in wall time, {plain['tokens'] / shared['tokens']:.2f}x fewer tokens decoded.",
    ]
    section = write_section(
        args.out,
        f"eval-speed-{args.task}",
        f"meek eval: shared-context scoring vs one request at a time ({args.task})",
        "\n".join(lines),
    )
    print(section)


if __name__ == "__main__":
    main()
