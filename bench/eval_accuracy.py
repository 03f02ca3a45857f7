"""Scorer sanity check: the bundled models' HellaSwag and ARC-Challenge scores against their published figures.

Reads the published figures from ../shared/data/small_models_published_scores.csv (model cards), runs `meek eval`'s
scoring on seeded items of ../shared/data/bench at the published shot counts, and writes both into BENCHMARKS.md.
A score near chance (25%) would mean the scorer is broken.

    python bench/eval_accuracy.py --items 500
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import time
from pathlib import Path

from benchmarks_md import write_section

from harness.catalogue.gguf_file import sha256_of
from harness.catalogue.models import load_catalog, resolve
from harness.machine.facts import fingerprint
from harness.quality.evaluate import plan, run_eval

ROOT = Path(__file__).resolve().parent.parent
# (catalogue id, task) -> (model name in the published CSV, benchmark name there)
PUBLISHED = {
    ("smollm2-135m", "hellaswag"): ("SmolLM2-135M-Instruct", "HellaSwag"),
    ("smollm2-135m", "arc_challenge"): ("SmolLM2-135M-Instruct", "ARC (Average)"),
    ("gemma3-270m", "hellaswag"): ("gemma-3-270m (Gemma 3 PT 270M)", "HellaSwag"),
    ("gemma3-270m", "arc_challenge"): ("gemma-3-270m (Gemma 3 PT 270M)", "ARC-c"),
}


def published(data: Path) -> dict:
    rows = list(csv.DictReader((data / "small_models_published_scores.csv").open()))
    found = {}
    for key, (model, benchmark) in PUBLISHED.items():
        row = next(r for r in rows if r["model"] == model and r["benchmark"] == benchmark)
        found[key] = (float(row["score"]), int(row["shots"]), benchmark)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--max-shots", type=int, default=25, help="cap on the published shot count (cost grows with shots)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    figures = published(args.data)
    catalog = load_catalog()
    rows = []
    for model_id in args.models.split(","):
        path = resolve(model_id, catalog).path
        for task in ("hellaswag", "arc_challenge"):
            reference, shots, benchmark = figures[(model_id, task)]
            shots = min(shots, args.max_shots)
            (planned,) = plan([task], None, args.data / "bench", args.items)
            planned.local.configs[0]["num_fewshot"] = shots
            planned.shots = shots
            started = time.perf_counter()
            scores = run_eval(path, sha256_of(path), [planned], threads=2)
            by_metric = {s["metric"]: s for s in scores}
            rows.append((model_id, task, shots, by_metric, reference, benchmark, time.perf_counter() - started))
            print(model_id, task, shots, {k: round(v["value"], 4) for k, v in by_metric.items()}, reference, flush=True)
    machine = fingerprint(include_build=False)
    lines = [
        f"Measured {dt.date.today()} on {machine.cpu.model} ({machine.cpu.physical_cores} cores); {args.items} seeded items per task "
        "from ../shared/data/bench, lm-eval prompts (HellaSwag: context + ending; ARC: 'Question: ... Answer:' + choice text).",
        "",
        f"Command: `python bench/eval_accuracy.py --items {args.items} --models {args.models} --max-shots {args.max_shots}`",
        "",
        "| model | task | shots | acc | acc_norm (± stderr) | published (benchmark, shots) | acc_norm - published | time s |",
        "|---|---|---:|---:|---:|---|---:|---:|",
    ]
    for model_id, task, shots, m, reference, benchmark, seconds in rows:
        norm = m["acc_norm"]
        lines.append(
            f"| {model_id} | {task} | {shots} | {m['acc']['value'] * 100:.1f} | {norm['value'] * 100:.1f} ± {norm['stderr'] * 100:.1f} | "
            f"{reference:.1f} ({benchmark}, {figures[(model_id, task)][1]}-shot) | {norm['value'] * 100 - reference:+.1f} | {seconds:.0f} |"
        )
    section = write_section(
        args.out,
        f"eval-accuracy-{args.models.replace(',', '-')}-{args.max_shots}shot",
        f"meek eval: {args.models} against published scores (at most {args.max_shots}-shot)",
        "\n".join(lines),
    )
    print(section)


if __name__ == "__main__":
    main()
