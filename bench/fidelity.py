"""Fidelity benchmark: does `meek bench` measure what llama-bench measures, on the same llama.cpp build?

Builds llama-bench from the llama.cpp source vendored in the installed llama-cpp-python version (or uses --llama-bench),
then runs it and the harness alternately on both bundled models with the same settings (pp512, tg128, same threads,
flash attention off, the same --repack: this machine's preflight default unless --repack is given), and writes the median
ratio harness / llama-bench per test into BENCHMARKS.md.

    python bench/fidelity.py                       # build llama-bench if needed, 3 alternated rounds
    python bench/fidelity.py --llama-bench ~/llama.cpp/build/bin/llama-bench --rounds 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from benchmarks_md import write_section

from harness.catalogue.models import load_catalog, resolve
from harness.errors import MeekError
from harness.machine.facts import fingerprint
from harness.measure import preflight

MODELS = ["smollm2-135m", "gemma3-270m"]
ROOT = Path(__file__).resolve().parent.parent


def build_llama_bench() -> Path:
    """llama-bench from the sdist of the installed llama-cpp-python (cached under $MEEK_HOME)."""
    from harness.measure.vendored import build_tool

    try:
        return build_tool("llama-bench")
    except MeekError as error:
        sys.exit(str(error))


def run_llama_bench(binary: Path, model_path: Path, threads: int, reps: int, repack: int) -> dict[str, float]:
    command = [
        str(binary),
        "-m",
        str(model_path),
        "-p",
        "512",
        "-n",
        "128",
        "-t",
        str(threads),
        "-fa",
        "0",
        "--repack",
        str(repack),
        "-r",
        str(reps),
        "-o",
        "json",
    ]
    rows = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return {("pp512" if r["n_prompt"] else "tg128"): r["avg_ts"] for r in rows}


def run_harness(model_id: str, threads: int, reps: int, repack: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as results:
        command = [
            sys.executable,
            "-m",
            "harness.cli",
            "bench",
            "-m",
            model_id,
            "-p",
            "512",
            "-n",
            "128",
            "-t",
            str(threads),
            "-fa",
            "0",
            "--repack",
            str(repack),
            "-r",
            str(reps),
            "-o",
            "json",
            "--results-dir",
            results,
        ]
        rows = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return {r["test"]: r["avg_ts"] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-bench", type=Path, help="an existing llama-bench binary built from the same llama.cpp")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=psutil.cpu_count(logical=False) or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--build-only", action="store_true", help="build llama-bench, print its path and stop (CI uses it)")
    parser.add_argument("--repack", type=int, choices=(0, 1), help="both tools' --repack (default: the preflight verdict)")
    args = parser.parse_args()

    binary = args.llama_bench or build_llama_bench()
    if args.build_only:
        print(binary)
        return
    catalog = load_catalog()
    paths = {m: resolve(m, catalog).path for m in MODELS}
    if args.repack is None:
        verdict = preflight.check(paths[MODELS[0]], fingerprint(), threads=args.threads)
        args.repack = verdict.repack_default if verdict else 1
        if verdict and verdict.note():
            print(f"note: {verdict.note()}", file=sys.stderr)
    samples: dict[tuple[str, str, str], list[float]] = {}
    for round_index in range(args.rounds):
        for model in MODELS:
            order = ["llama-bench", "harness"] if round_index % 2 == 0 else ["harness", "llama-bench"]
            for tool in order:
                load = os.getloadavg()[0]
                rates = (
                    run_llama_bench(binary, paths[model], args.threads, args.reps, args.repack)
                    if tool == "llama-bench"
                    else run_harness(model, args.threads, args.reps, args.repack)
                )
                for test, rate in rates.items():
                    samples.setdefault((model, test, tool), []).append(rate)
                print(
                    f"round {round_index + 1} {model:<14} {tool:<12} load {load:4.2f} "
                    + "  ".join(f"{t} {r:7.1f}" for t, r in rates.items()),
                    file=sys.stderr,
                )
    write_report(args, samples)


def write_report(args, samples) -> None:
    machine = fingerprint()
    machine = preflight.apply(machine, preflight.cached(machine))
    build = machine.llama_cpp
    disabled = ", ".join(p.path for p in machine.cpu_paths_disabled)
    fallback = f" (this machine's preflight fallback: {disabled} crashed here)" if args.repack == 0 and disabled else ""
    lines = [
        f"Measured {dt.date.today()} on {machine.cpu.model} ({machine.cpu.physical_cores} cores, "
        f"{(machine.memory_bytes or 0) / 2**30:.0f} GiB), llama-cpp-python {build.llama_cpp_python}, llama.cpp {build.commit}, "
        f"CPU features {' '.join(build.cpu_features_used)}.",
        "",
        f"Command: `python bench/fidelity.py --rounds {args.rounds} --reps {args.reps} --threads {args.threads}`; "
        f"both tools run back to back in each round (order alternating), flash attention off, --repack {args.repack} on "
        f"both{fallback}; each value is the mean of one "
        "round's repetitions (t/s). The ratio is the median of the per-round ratios harness / llama-bench: pairing runs "
        "that are adjacent in time cancels this machine's slow swings in speed.",
        "",
        "| model | test | llama-bench rounds | harness rounds | per-round ratios | median ratio |",
        "|---|---|---|---|---|---:|",
    ]
    for model in MODELS:
        for test in ("pp512", "tg128"):
            reference, ours = samples[(model, test, "llama-bench")], samples[(model, test, "harness")]
            ratios = [a / b for a, b in zip(ours, reference)]
            lines.append(
                f"| {model} | {test} | {', '.join(f'{v:.1f}' for v in reference)} | {', '.join(f'{v:.1f}' for v in ours)} | "
                f"{', '.join(f'{r:.3f}' for r in ratios)} | {statistics.median(ratios):.3f} |"
            )
    section = write_section(args.out, "fidelity", "Fidelity: harness vs llama-bench", "\n".join(lines))
    print(section)


if __name__ == "__main__":
    main()
