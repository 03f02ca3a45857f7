"""Scoring speed benchmark: meek eval's strategies against each other and against llama.cpp's own llama-perplexity.

The seeded items of a task in ../shared/data/bench are split into rounds; in each round every contender scores the
round's items, in an order that rotates from round to round, so this machine's slow swings in speed fall on all alike.
meek's strategies score lm-eval's tokenised requests with the bundled SmolLM2 (no request cache; seconds are time spent
scoring); llama-perplexity, built from the llama.cpp vendored in llama-cpp-python, scores the same items written in its
own formats into a temporary folder (HellaSwag: its text format; MMLU: its --multiple-choice binary format), timed as a
whole process. Log-likelihoods of the first strategy are compared with the others' (mean and largest |delta|), the
chosen answers too: against a strategy with the same flash-attention setting (`-flash` or not) that is the equality the
strategy promises, against the other setting it is another computation. Peak RSS is read per process
(llama-perplexity) and for this process (all meek models).

    python bench/eval_speed.py --task hellaswag --items 500
    python bench/eval_speed.py --task mmlu --items 5 --shots 5          # 5 per subject
    python bench/eval_speed.py --strategies batched-flash,plain-flash --no-perplexity --items 100 --section equality
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import lm_eval
import numpy as np
from benchmarks_md import write_section

from harness.catalogue.models import load_catalog, resolve
from harness.machine.facts import fingerprint
from harness.measure.preflight import default_repack
from harness.measure.vendored import build_tool
from harness.quality.evaluate import plan
from harness.quality.llama_lm import MeekLlamaCpp

ROOT = Path(__file__).resolve().parent.parent
PERPLEXITY = "llama-perplexity"


def capture(model: MeekLlamaCpp, planned) -> list[dict]:
    """lm-eval's loglikelihood requests for the planned items, tokenised as meek scores them (nothing is scored)."""
    captured: list[dict] = []

    def loglikelihood(instances, disable_tqdm=False):
        for instance in instances:
            context, continuation = instance.args
            tokens = model._encode_pair(context, continuation)
            captured.append(
                {
                    "item": (instance.task_name, instance.doc_id),
                    "doc": instance.doc,
                    "choice": instance.idx,
                    "context": context,
                    "continuation": continuation,
                    "tokens": model._truncate(*map(list, tokens)),
                }
            )
        return [(0.0, False)] * len(instances)

    model.loglikelihood = loglikelihood  # type: ignore[method-assign]
    lm_eval.simple_evaluate(model=model, tasks=planned.local.configs, samples=planned.samples, verbosity="ERROR")
    return captured


def gold(doc: dict) -> int:
    return int(doc["label"]) if "label" in doc else int(doc["correct_options_idx"][0])


def write_hellaswag(items: list[list[dict]], path: Path) -> None:
    """llama-perplexity's HellaSwag text format: per task the context, the gold index and the four endings."""
    lines = []
    for requests in items:
        lines += [requests[0]["context"], str(gold(requests[0]["doc"]))]
        lines += [r["continuation"].removeprefix(" ") for r in requests]  # it joins context and ending with a space
    path.write_text("\n".join(lines) + "\n")


def write_multiple_choice(items: list[list[dict]], path: Path) -> None:
    """llama-perplexity's --multiple-choice binary format (tools/perplexity/perplexity.cpp): uint32 task count, uint32
    byte offset of each task, then per task the question (uint32 length + bytes), the single-answer set (uint32 count,
    each answer as a string, then int32 labels, 1 for correct) and an empty multiple-answer set."""

    def string(text: str) -> bytes:
        data = text.encode("utf-8")
        return struct.pack("<I", len(data)) + data

    bodies = []
    for requests in items:
        answers = [r["continuation"].removeprefix(" ") for r in requests]  # it joins question and answer with a space
        right = gold(requests[0]["doc"])
        body = string(requests[0]["context"]) + struct.pack("<I", len(answers)) + b"".join(map(string, answers))
        body += struct.pack(f"<{len(answers)}i", *[int(i == right) for i in range(len(answers))])
        bodies.append(body + struct.pack("<I", 0))
    offset = 4 + 4 * len(bodies)
    offsets = []
    for body in bodies:
        offsets.append(offset)
        offset += len(body)
    path.write_bytes(struct.pack("<I", len(bodies)) + struct.pack(f"<{len(offsets)}I", *offsets) + b"".join(bodies))


def perplexity_command(tool: Path, model: Path, task: str, data: Path, n: int, threads: int, repack: int) -> list[str]:
    mode = (
        ["--hellaswag", "--hellaswag-tasks", str(n), "-f"]
        if task == "hellaswag"
        else ["--multiple-choice", "--multiple-choice-tasks", str(n), "-bf"]
    )
    return [
        str(tool),
        "-m",
        str(model),
        *mode,
        str(data),
        "-c",
        "2048",
        "-b",
        "2048",
        "-np",
        "32",
        "-kvu",
        "-t",
        str(threads),
    ] + (["--no-repack"] if repack == 0 else [])


def run_perplexity(command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (bytes) and the score line of one llama-perplexity process."""
    begun = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # its own rusage: peak RSS of this process alone
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - begun
    if process.returncode:
        raise SystemExit(f"{command[0]} failed:\n{output[-2000:]}")
    rss = usage.ru_maxrss * 1024
    lines = output.splitlines()
    # its score: the "Final ..." line (multiple choice), else hellaswag's last "N<tab>acc%<tab>[interval]" line; not
    # the log lines that start with a timestamp
    score = [line for line in lines if "Final" in line] or [line for line in lines if line[:1].isdigit() and "%" in line]
    return seconds, float(rss), (score[-1].strip() if score else "")


def answers(scores: dict[int, tuple[float, bool]], items: list[list[dict]], normalised: bool) -> list[int]:
    chosen = []
    for requests in items:
        values = [scores[r["index"]][0] / (len(r["continuation"]) if normalised else 1) for r in requests]
        chosen.append(int(np.argmax(values)))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="hellaswag", choices=["hellaswag", "mmlu"])
    parser.add_argument("--items", type=int, default=500, help="items (per subject for mmlu)")
    parser.add_argument("--shots", type=int, default=None)
    parser.add_argument(
        "--strategies", default="batched-flash,plain-flash,prefix-reuse", help="meek strategies; the first is compared"
    )
    parser.add_argument("--no-perplexity", action="store_true", help="leave llama-perplexity out")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--whole-rounds",
        action="store_true",
        help="every round scores every item (each llama-perplexity process is then one whole run, its start-up paid "
        "once as a user pays it) instead of splitting the items across rounds",
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "bench")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--write", action="store_true", help="write the section into --out")
    parser.add_argument("--section", default="", help="suffix of the section's name (a second run of one task)")
    args = parser.parse_args()
    (planned,) = plan([args.task], None, args.data_dir, args.items)
    if args.shots is not None:
        for config in planned.local.configs:
            config["num_fewshot"] = args.shots
    shots = planned.local.configs[0]["num_fewshot"]
    path = resolve("smollm2-135m", load_catalog()).path
    repack = default_repack(path, args.threads)
    strategies = args.strategies.split(",")
    models, loads = {}, {}
    for s in strategies:
        begun = time.perf_counter()
        models[s] = MeekLlamaCpp(path=str(path), n_ctx=2048, n_threads=args.threads, strategy=s, repack=repack)
        loads[s] = time.perf_counter() - begun  # model and context, once per run: not in the scoring seconds
    requests = capture(models[strategies[0]], planned)
    by_item: dict[tuple, list[dict]] = {}
    for index, request in enumerate(requests):
        request["index"] = index
        by_item.setdefault(request["item"], []).append(request)
    items = [sorted(rs, key=lambda r: r["choice"]) for rs in by_item.values()]
    contenders = strategies + ([] if args.no_perplexity else [PERPLEXITY])
    tool = None if args.no_perplexity else build_tool(PERPLEXITY)
    seconds: dict[str, list[float]] = {c: [] for c in contenders}
    rss: list[float] = []
    lines_perplexity: list[str] = []
    scores: dict[str, dict[int, tuple[float, bool]]] = {s: {} for s in strategies}
    tokens: dict[str, list[int]] = {s: [] for s in strategies}  # per round
    rounds = [items] * args.rounds if args.whole_rounds else [items[i :: args.rounds] for i in range(args.rounds)]
    with tempfile.TemporaryDirectory() as folder:
        for number, chunk in enumerate(rounds):
            order = contenders[number % len(contenders) :] + contenders[: number % len(contenders)]
            for contender in order:
                if contender == PERPLEXITY:
                    data = Path(folder) / f"round{number}.{'txt' if args.task == 'hellaswag' else 'bin'}"
                    (write_hellaswag if args.task == "hellaswag" else write_multiple_choice)(chunk, data)
                    assert tool is not None
                    took, peak, line = run_perplexity(
                        perplexity_command(tool, path, args.task, data, len(chunk), args.threads, repack)
                    )
                    seconds[contender].append(took)
                    rss.append(peak)
                    lines_perplexity.append(line)
                    continue
                model = models[contender]
                batch = [(None, r["tokens"][0], r["tokens"][1]) for rs in chunk for r in rs]
                before = model.tokens_evaluated
                begun = time.perf_counter()
                scored = MeekLlamaCpp._loglikelihood_tokens(model, batch, disable_tqdm=True)
                seconds[contender].append(time.perf_counter() - begun)
                tokens[contender].append(model.tokens_evaluated - before)
                scores[contender].update(zip((r["index"] for rs in chunk for r in rs), scored))
            print(
                f"round {number + 1}/{args.rounds}: " + ", ".join(f"{c} {seconds[c][-1]:.1f} s" for c in contenders), flush=True
            )
        startup = 0.0
        if tool is not None:  # its fixed cost per process (allocating its buffers), counted once in the adjusted total
            data = Path(folder) / "one"
            (write_hellaswag if args.task == "hellaswag" else write_multiple_choice)(items[:1], data)
            startup = run_perplexity(perplexity_command(tool, path, args.task, data, 1, args.threads, repack))[0]
    meek_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    first = strategies[0]
    decoded = "tokens decoded per round" if args.whole_rounds else "tokens decoded"
    table = [f"| contender | scoring s (sum) | per-round s | {decoded} | acc | acc_norm |", "|---|---:|---|---:|---:|---:|"]
    golds = [gold(rs[0]["doc"]) for rs in items]
    for c in contenders:
        per_round = ", ".join(f"{s:.1f}" for s in seconds[c])
        if c == PERPLEXITY:
            table.append(f"| {c} | {sum(seconds[c]):.1f} | {per_round} | | | |")
            continue
        acc = np.mean(np.array(answers(scores[c], items, False)) == golds)
        norm = np.mean(np.array(answers(scores[c], items, True)) == golds)
        table.append(
            f"| meek {c} | {sum(seconds[c]):.1f} | {per_round} | {(tokens[c][0] if args.whole_rounds else sum(tokens[c])):,} | {acc:.4f} | {norm:.4f} |"
        )
    notes = []
    for c in contenders[1:]:
        ratios = [b / a for a, b in zip(seconds[first], seconds[c])]
        notes.append(
            f"meek {first} vs {c}: {sum(seconds[c]) / sum(seconds[first]):.2f}x as fast in total; per-round ratios "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f" (median {float(np.median(ratios)):.2f}x)."
        )
        if c in scores:
            same_flash = first.endswith("-flash") == c.endswith("-flash")
            kind = "same flash setting: the equality promised" if same_flash else "flash on vs off: another computation"
            delta = np.array([abs(scores[first][i][0] - scores[c][i][0]) for i in scores[first]])
            same = [answers(scores[first], items, n) == answers(scores[c], items, n) for n in (False, True)]
            flips = sum(a != b for a, b in zip(answers(scores[first], items, True), answers(scores[c], items, True)))
            notes.append(
                f"Log-likelihoods, {first} vs {c} ({kind}): mean |delta| {delta.mean():.4f} nats, largest {delta.max():.4f}, "
                f"bit for bit the same in {int((delta == 0).sum()):,} of {len(delta):,} requests; chosen answers "
                f"identical: acc {same[0]}, acc_norm {same[1]} ({flips} of {len(items)} items differ by acc_norm)."
            )
    if rss and args.whole_rounds:
        whole = float(np.median([p / (m + loads[first]) for m, p in zip(seconds[first], seconds[PERPLEXITY])]))
        scoring = float(np.median([p / m for m, p in zip(seconds[first], seconds[PERPLEXITY])]))
        notes.append(
            f"Each round is one whole run of {len(items)} items: llama-perplexity's process (start-up included: scoring "
            f"one item takes it {startup:.1f} s) against meek {first}'s scoring plus its model load ({loads[first]:.1f} s, "
            f"once per run): meek is {whole:.2f}x as fast (median of rounds; {scoring:.2f}x on scoring alone)."
        )
    if rss and not args.whole_rounds:
        adjusted = sum(seconds[PERPLEXITY]) - (args.rounds - 1) * startup
        notes.append(
            f"llama-perplexity scoring one item takes {startup:.1f} s (its fixed cost per process); counted once instead "
            f"of once per round, its total is {adjusted:.1f} s and meek {first} is {adjusted / sum(seconds[first]):.2f}x as fast."
        )
        per_item = (adjusted - startup) / len(items)
        ours = sum(seconds[first]) / len(items)
        notes.append(
            f"Estimate for one run of 500 such items (start-up paid once): llama-perplexity {startup + 500 * per_item:.0f} s, "
            f"meek {first} {500 * ours:.0f} s plus its model load: {(startup + 500 * per_item) / (500 * ours):.2f}x."
        )
    if rss:
        notes.append(
            f"Peak RSS: llama-perplexity {max(rss) / 2**30:.2f} GiB; this process (every meek model above, "
            f"lm-eval) {meek_rss / 2**30:.2f} GiB."
        )
        notes.append("llama-perplexity's own score lines per round: " + " / ".join(lines_perplexity))
    batched_model = models.get("batched-flash")
    if batched_model is not None and batched_model.sizing is not None:
        notes.append(f"batched sizing (harness/memory_fit.py): {batched_model.sizing.text()}.")
    machine = fingerprint(include_build=False)
    command = (
        f"python bench/eval_speed.py --task {args.task} --items {args.items}"
        + (f" --shots {args.shots}" if args.shots is not None else "")
        + f" --strategies {args.strategies} --rounds {args.rounds}"
        + (" --whole-rounds" if args.whole_rounds else "")
        + (" --no-perplexity" if args.no_perplexity else "")
        + (f" --section {args.section}" if args.section else "")
    )
    text = "\n".join(
        [
            f"Measured {dt.date.today()} on {machine.cpu.model} ({machine.cpu.physical_cores} cores), SmolLM2-135M-Instruct "
            f"Q4_1, {len(items)} seeded {args.task} items ({shots}-shot), {args.threads} threads, repack {repack} on all, "
            f"{args.rounds} rounds {'of every item' if args.whole_rounds else 'splitting the items'} with the order rotating. llama-perplexity: `{' '.join(perplexity_command(Path(PERPLEXITY), Path('model.gguf'), args.task, Path('items'), len(rounds[0]), args.threads, repack))}` per round (whole process timed).",
            "",
            f"Command: `{command}`",
            "",
            *table,
            "",
            *[f"- {n}" for n in notes],
        ]
    )
    print(text)
    if args.write:
        write_section(
            args.out,
            f"eval-batched-{args.task}-{shots}shot" + (f"-{args.section}" if args.section else ""),
            f"meek eval: batched scoring vs llama-perplexity ({args.task}, {shots}-shot{', ' + args.section if args.section else ''})",
            text,
        )
    for model in models.values():
        model.close()


if __name__ == "__main__":
    main()
