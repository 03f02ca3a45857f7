"""KV-reuse benchmark: scoring with the shared-context strategy against one request at a time.

Both strategies score the same seeded items of a task in ../shared/data/bench (HellaSwag by default) with the bundled
SmolLM2 (no request cache), taking turns chunk by chunk; tokens sent through llama_decode, seconds spent scoring, each
strategy's accuracy, and how many of the requests' log-likelihoods came out bit for bit the same go into BENCHMARKS.md.

    python bench/eval_speed.py --items 500
    python bench/eval_speed.py --items 500 --shots 2
    python bench/eval_speed.py --task mmlu --items 1 --shots 5     # 1 per subject
    python bench/eval_speed.py --items 500 --shots 10 --count-only  # token counts only, nothing scored
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import lm_eval
from benchmarks_md import write_section
from tqdm import tqdm

from harness.catalogue.models import load_catalog, resolve
from harness.machine.facts import fingerprint
from harness.quality.evaluate import plan
from harness.quality.llama_lm import MeekLlamaCpp

ROOT = Path(__file__).resolve().parent.parent


STRATEGIES = ("plain", "prefix-reuse")


def key(request) -> tuple:
    _, context, continuation = request
    return tuple(context), tuple(continuation)


class Paired:
    """Scores lm-eval's requests with both strategies, chunk by chunk in alternating order, so that this machine's
    slow swings in speed fall on both alike; keeps each strategy's seconds, tokens and log-likelihoods."""

    def __init__(self, path: Path, threads: int, contexts_per_chunk: int) -> None:
        self.models = {s: MeekLlamaCpp(path=str(path), n_ctx=2048, n_threads=threads, strategy=s) for s in STRATEGIES}
        self.contexts_per_chunk = contexts_per_chunk
        self.seconds = dict.fromkeys(STRATEGIES, 0.0)
        self.results: dict[str, dict[tuple, tuple[float, bool]]] = {s: {} for s in STRATEGIES}

    def score(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        by_context: dict[tuple, list] = {}
        for request in requests:
            by_context.setdefault(tuple(request[1]), []).append(request)
        contexts = sorted(by_context)  # as prefix-reuse orders them; the chunks keep neighbours together
        chunks = [contexts[i : i + self.contexts_per_chunk] for i in range(0, len(contexts), self.contexts_per_chunk)]
        for number, chunk in enumerate(tqdm(chunks, desc="paired chunks", disable=disable_tqdm)):
            batch = [request for context in chunk for request in by_context[context]]
            for strategy in STRATEGIES if number % 2 == 0 else reversed(STRATEGIES):
                begun = time.perf_counter()
                scored = MeekLlamaCpp._loglikelihood_tokens(self.models[strategy], batch, disable_tqdm=True)
                self.seconds[strategy] += time.perf_counter() - begun
                self.results[strategy].update(zip(map(key, batch), scored))
        return [self.results["plain"][key(request)] for request in requests]

    def replay(self, strategy: str):
        return lambda requests, disable_tqdm=False, **kwargs: [self.results[strategy][key(r)] for r in requests]


def count_tokens(path: Path, planned) -> tuple[int, int]:
    """Tokens the plain path decodes and tokens with each context decoded once, from lm-eval's tokenised requests,
    without scoring anything (for settings too slow to time here)."""
    model = MeekLlamaCpp(path=str(path), n_ctx=2048, n_threads=1, strategy="plain")
    requests = []

    def capture(batch, disable_tqdm=False, **kwargs):
        requests.extend(model._truncate(list(context), list(continuation)) for _, context, continuation in batch)
        return [(0.0, False)] * len(batch)

    model._loglikelihood_tokens = capture
    lm_eval.simple_evaluate(model=model, tasks=planned.local.configs, samples=planned.samples, verbosity="ERROR")
    model.close()
    plain = sum(len(context) + len(continuation) - 1 for context, continuation in requests)
    endings: dict[tuple, list[int]] = {}
    for context, continuation in requests:
        endings.setdefault(tuple(context), []).append(len(continuation) - 1)
    return plain, sum(len(context) + sum(lengths) for context, lengths in endings.items())


def accuracy(output: dict, planned) -> dict[str, float]:
    correct = {"acc": 0.0, "acc_norm": 0.0}
    total = 0
    for name, row in output["results"].items():
        if name not in planned.samples:
            continue
        n = len(planned.samples[name])
        total += n
        for metric in correct:
            correct[metric] += row.get(f"{metric},none", float("nan")) * n
    return {k: v / total for k, v in correct.items()}


def measure(path: Path, planned, threads: int, contexts_per_chunk: int) -> list[dict]:
    """One lm-eval run scores with both strategies (paired); a second replays prefix-reuse's log-likelihoods through
    lm-eval's metrics, so each strategy gets its own accuracy from its own numbers."""
    paired = Paired(path, threads, contexts_per_chunk)
    model = paired.models["plain"]
    run = {"model": model, "tasks": planned.local.configs, "samples": planned.samples, "verbosity": "ERROR"}
    rows = []
    for strategy in STRATEGIES:
        model._loglikelihood_tokens = paired.score if strategy == "plain" else paired.replay(strategy)
        output = lm_eval.simple_evaluate(**run)
        rows.append(
            {
                "strategy": strategy,
                "scoring": paired.seconds[strategy],
                "tokens": paired.models[strategy].tokens_evaluated,
                **accuracy(output, planned),
            }
        )
    same = sum(paired.results["plain"][k] == paired.results["prefix-reuse"][k] for k in paired.results["plain"])
    for strategy_model in paired.models.values():
        strategy_model.close()
    return rows + [{"same": same, "requests": len(paired.results["plain"])}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="hellaswag")
    parser.add_argument("--items", type=int, default=500, help="items (per subject for mmlu)")
    parser.add_argument("--shots", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "bench")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=25, help="contexts per paired chunk")
    parser.add_argument("--count-only", action="store_true", help="print the token counts of both paths, score nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    (planned,) = plan([args.task], None, args.data_dir, args.items)
    if args.shots is not None:
        for config in planned.local.configs:
            config["num_fewshot"] = args.shots
    shots = planned.local.configs[0]["num_fewshot"]
    path = resolve("smollm2-135m", load_catalog()).path
    if args.count_only:
        plain_tokens, shared_tokens = count_tokens(path, planned)
        print(f"plain {plain_tokens:,} tokens, each context once {shared_tokens:,} ({plain_tokens / shared_tokens:.2f}x fewer)")
        return
    *rows, agreement = measure(path, planned, args.threads, args.chunk)
    plain, shared = rows
    machine = fingerprint(include_build=False)
    lines = [
        (
            f"Measured {dt.date.today()} on {machine.cpu.model} ({machine.cpu.physical_cores} cores), "
            f"SmolLM2-135M-Instruct Q4_1, {sum(len(v) for v in planned.samples.values())} seeded {args.task} items "
            f"({shots}-shot), {args.threads} threads, no request cache. The two strategies take turns on chunks of "
            f"{args.chunk} contexts (order alternating), so this machine's slow swings in speed fall on both alike; the "
            "seconds are time spent scoring (lm-eval's task building and metrics, the same for both, are left out)."
        ),
        "",
        f"Command: `python bench/eval_speed.py --task {args.task} --items {args.items}"
        + (f" --shots {args.shots}" if args.shots is not None else "")
        + "`",
        "",
        "| strategy | scoring s | tokens decoded | acc | acc_norm |",
        "|---|---:|---:|---:|---:|",
        *[f"| {r['strategy']} | {r['scoring']:.1f} | {r['tokens']:,} | {r['acc']:.4f} | {r['acc_norm']:.4f} |" for r in rows],
        "",
        (
            f"Speed-up {plain['scoring'] / shared['scoring']:.2f}x, {plain['tokens'] / shared['tokens']:.2f}x fewer tokens "
            f"decoded. Log-likelihoods bit for bit the same in {agreement['same']:,} of {agreement['requests']:,} requests."
        ),
    ]
    section = write_section(
        args.out,
        f"eval-speed-{args.task}-{shots}shot",
        f"meek eval: shared-context scoring vs one request at a time ({args.task}, {shots}-shot)",
        "\n".join(lines),
    )
    print(section)


if __name__ == "__main__":
    main()
