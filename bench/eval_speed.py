"""KV-reuse benchmark: scoring HellaSwag items with the shared-context strategy against one request at a time.

Both strategies score the same seeded items of ../shared/data/bench/hellaswag with the bundled SmolLM2 (no request
cache); tokens sent through llama_decode, wall time and accuracy of each go into BENCHMARKS.md.

    python bench/eval_speed.py --items 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import lm_eval

from harness.catalog import load_catalog, resolve
from harness.machine import fingerprint
from harness.quality.evaluate import plan
from harness.quality.llama_lm import MeekLlamaCpp

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- eval-speed:start -->", "<!-- eval-speed:end -->"


def score(path: Path, planned, strategy: str, threads: int) -> dict:
    model = MeekLlamaCpp(path=str(path), n_ctx=2048, n_threads=threads, strategy=strategy)
    started = time.perf_counter()
    output = lm_eval.simple_evaluate(model=model, tasks=planned.local.configs, samples=planned.samples, log_samples=False, verbosity="ERROR")
    elapsed = time.perf_counter() - started
    row = output["results"]["hellaswag"]
    model.close()
    return {"strategy": strategy, "seconds": elapsed, "tokens": model.tokens_evaluated, "acc": row["acc,none"], "acc_norm": row["acc_norm,none"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "bench")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    (planned,) = plan(["hellaswag"], None, args.data_dir, args.items)
    path = resolve("smollm2-135m", load_catalog()).path
    rows = [score(path, planned, strategy, args.threads) for strategy in ("plain", "prefix-reuse")]
    plain, shared = rows
    machine = fingerprint(include_build=False)
    lines = [
        START,
        f"Measured {dt.date.today()} on {machine['cpu']['model']} ({machine['cpu']['physical_cores']} cores), SmolLM2-135M-Instruct Q4_1, "
        f"{args.items} seeded HellaSwag items (0-shot, 4 endings each), {args.threads} threads, no request cache.",
        "",
        f"Command: `python bench/eval_speed.py --items {args.items}`",
        "",
        "| strategy | wall time s | tokens decoded | acc | acc_norm |",
        "|---|---:|---:|---:|---:|",
        *[f"| {r['strategy']} | {r['seconds']:.1f} | {r['tokens']:,} | {r['acc']:.4f} | {r['acc_norm']:.4f} |" for r in rows],
        "",
        f"Speed-up {plain['seconds'] / shared['seconds']:.2f}x in wall time, {plain['tokens'] / shared['tokens']:.2f}x fewer tokens decoded.",
        END,
    ]
    section = "\n".join(lines)
    text = args.out.read_text()
    if START in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    else:
        text += f"\n## meek eval: shared-context scoring vs one request at a time\n\n{section}\n"
    args.out.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
