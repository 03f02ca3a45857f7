"""Serving capacity checks (issue 17), written to BENCHMARKS.md:

1. `meek bench --parallel` against llama-batched-bench, built from the same vendored llama.cpp source: the same model,
   PP/TG/B, threads, batch sizes, unified KV cache and repack setting; alternated in rounds; the median ratio
   harness / llama-batched-bench of S_PP and S_TG per B, with the spread over rounds.
2. One `meek load --serve` sweep against llama-server (built from the same source): its latency table and capacity line.

    python bench/serving.py [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks_md import write_section  # noqa: E402

from harness.catalogue.models import load_catalog, resolve  # noqa: E402
from harness.machine.facts import (
    fingerprint,  # noqa: E402
    physical_cores,  # noqa: E402
)
from harness.measure import preflight  # noqa: E402
from harness.measure.vendored import build_tool  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL, PP, TG, BATCHES = "smollm2-135m", 64, 32, (1, 2, 4)


def batched_bench(binary: Path, model: Path, threads: int, repack: int) -> dict[int, tuple[float, float]]:
    command = [
        str(binary),
        "-m",
        str(model),
        "-c",
        str(max(BATCHES) * (PP + TG)),
        "-b",
        "2048",
        "-ub",
        "512",
        "-npp",
        str(PP),
        "-ntg",
        str(TG),
        "-npl",
        ",".join(map(str, BATCHES)),
        "-t",
        str(threads),
        "-kvu",
        "-fa",
        "auto",
        *(["--no-repack"] if repack == 0 else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    points = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and re.fullmatch(r"\d+", cells[0]):
            points[int(cells[2])] = (float(cells[5]), float(cells[7]))  # B -> (S_PP, S_TG)
    return points


def harness_points(threads: int, repack: int) -> dict[int, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as results:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "bench",
                "-m",
                MODEL,
                "--parallel",
                ",".join(map(str, BATCHES)),
                "-p",
                str(PP),
                "-n",
                str(TG),
                "-t",
                str(threads),
                "-r",
                "3",
                "--repack",
                str(repack),
                "--results-dir",
                results,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        document = json.loads(next(Path(results).glob("*/*.json")).read_text())
    return {p["n_parallel"]: (p["s_pp"], p["s_tg"]) for p in document["serving"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    model = resolve(MODEL, load_catalog()).path
    threads = physical_cores()
    repack = preflight.RepackPolicy(fingerprint(), lambda line: print(line, file=sys.stderr), 600).repack_for(
        None, model, 0, threads
    )
    reference = build_tool("llama-batched-bench")
    ratios: dict[int, dict[str, list[float]]] = {b: {"S_PP": [], "S_TG": []} for b in BATCHES}
    raw = []
    for round_number in range(args.rounds):  # A then B, B then A: alternated so drift hits both
        order = [("harness", harness_points), ("llama-batched-bench", None)]
        if round_number % 2:
            order.reverse()
        got = {}
        for name, _ in order:
            got[name] = harness_points(threads, repack) if name == "harness" else batched_bench(reference, model, threads, repack)
        raw.append(got)
        for b in BATCHES:
            ratios[b]["S_PP"].append(got["harness"][b][0] / got["llama-batched-bench"][b][0])
            ratios[b]["S_TG"].append(got["harness"][b][1] / got["llama-batched-bench"][b][1])
    rows = [
        "| B | S_PP harness / batched-bench | S_TG harness / batched-bench | S_TG harness (t/s) | S_TG batched-bench (t/s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for b in BATCHES:
        pp, tg = ratios[b]["S_PP"], ratios[b]["S_TG"]
        ours = statistics.median(r["harness"][b][1] for r in raw)
        theirs = statistics.median(r["llama-batched-bench"][b][1] for r in raw)
        rows.append(
            f"| {b} | {statistics.median(pp):.3f} ({min(pp):.3f}-{max(pp):.3f}) | {statistics.median(tg):.3f} "
            f"({min(tg):.3f}-{max(tg):.3f}) | {ours:.1f} | {theirs:.1f} |"
        )
    cpu = fingerprint(include_build=False).cpu.model
    body = "\n".join(
        [
            f"Measured {dt.date.today()} on {cpu} ({threads} threads, --repack {repack}) with `python bench/serving.py "
            f"--rounds {args.rounds} --write`: {MODEL}, PP {PP}, TG {TG}, B {','.join(map(str, BATCHES))}, unified KV cache, "
            "-b 2048 -ub 512, flash attention auto; the harness's medians over 3 repetitions against llama-batched-bench "
            f"(one pass per B) built from the same vendored llama.cpp; {args.rounds} alternated rounds, median ratio "
            "(min-max).",
            "",
            *rows,
        ]
    )
    print(body)
    server = build_tool("llama-server")
    with tempfile.TemporaryDirectory() as results:
        command = [
            "meek",
            "load",
            "--serve",
            MODEL,
            "--concurrency",
            "1,2,4",
            "-p",
            str(PP),
            "-n",
            str(TG),
            "--results-dir",
            results,
        ]
        swept = subprocess.run(
            [sys.executable, "-m", "harness.cli", *command[1:]],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "MEEK_LLAMA_SERVER": str(server)},
        )
    table = [line for line in swept.stdout.splitlines() if line.startswith(("|", "capacity:"))]
    sweep = "\n".join(
        [
            f"Measured {dt.date.today()} on {cpu} with `{' '.join(command[:-2])}` (llama-server built from the same vendored "
            f"llama.cpp, its slots set to the sweep's largest concurrency, started and stopped by meek; exit code "
            f"{swept.returncode}):",
            "",
            *table,
        ]
    )
    print(sweep)
    if args.write:
        write_section(ROOT / "BENCHMARKS.md", "parallel-fidelity", "meek bench --parallel against llama-batched-bench", body)
        write_section(ROOT / "BENCHMARKS.md", "load-sweep", "meek load: one sweep against llama-server", sweep)


if __name__ == "__main__":
    main()
