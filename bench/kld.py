"""Fidelity of `meek quality`: its figures and times against llama-perplexity's --kl-divergence on the same files and text.

Makes Q8_0, Q4_0 and Q2_K quants of the bundled SmolLM2-135M (Q4_1) with the vendored `llama-quantize
--allow-requantize`, then, in alternated rounds, runs llama-perplexity (built from the llama.cpp vendored in the installed
llama-cpp-python: `--kl-divergence-base` on the reference, then `--kl-divergence` per quant) and `meek quality` (reference
cache emptied first, so its reference pass is timed too) with the same text (CPython's pydoc_data.topics, written to a
temporary file), chunks, context, threads and --repack; reports meek / llama-perplexity per figure and quant, and the
time each took, in BENCHMARKS.md.

    python bench/kld.py                             # 10 chunks of 512, 2 rounds
    python bench/kld.py --chunks 20 --rounds 3
    python bench/kld.py --build-only                # build llama-perplexity and llama-quantize, print their paths
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from benchmarks_md import write_section

from harness.catalogue.gguf_file import sha256_of
from harness.catalogue.models import load_catalog, resolve
from harness.errors import MeekError
from harness.machine.facts import fingerprint
from harness.measure import preflight
from harness.quality import kld_cache, perplexity_tool
from harness.quality.kld_text import default_text

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "smollm2-135m"
QUANTS = ("Q8_0", "Q4_0", "Q2_K")
FIGURES = ("kld_mean", "kld_median", "kld_p90", "kld_p99", "kld_max", "same_top", "ppl", "ppl_reference", "ppl_ratio")


def build(name: str) -> Path:
    from harness.measure.vendored import build_tool

    try:
        return build_tool(name)
    except MeekError as error:
        sys.exit(str(error))


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{command[0]} exited with {completed.returncode}: {completed.stderr.strip()[-500:]}")
    return elapsed, completed.stdout + completed.stderr


def run_llama_perplexity(binary: Path, reference: Path, quants: dict[str, Path], text: Path, args, work: Path) -> dict:
    base = work / "base.kld"
    base_s, _ = timed(
        perplexity_tool.base_command(binary, reference, text, base, args.ctx, args.chunks, args.threads, args.repack)
    )
    out: dict = {"reference_s": base_s, "quant_s": {}, "figures": {}}
    for kind, path in quants.items():
        seconds, output = timed(
            perplexity_tool.kld_command(binary, path, text, base, args.ctx, args.chunks, args.threads, args.repack)
        )
        out["quant_s"][kind], out["figures"][kind] = seconds, perplexity_tool.figures(output)
    base.unlink()
    return out


def run_meek(reference: Path, quants: dict[str, Path], args, work: Path) -> dict:
    text = default_text()
    shutil.rmtree(kld_cache.folder_for(sha256_of(reference), text.sha256, args.ctx, args.repack), ignore_errors=True)
    out: dict = {"reference_s": 0.0, "quant_s": {}, "command_s": {}, "figures": {}}
    for kind, path in quants.items():
        results = work / f"results-{kind}"
        command = [sys.executable, "-m", "harness.cli", "quality", "-m", str(path), "--reference", REFERENCE]
        command += ["--ctx", str(args.ctx), "--chunks", str(args.chunks), "-t", str(args.threads), "--repack", str(args.repack)]
        seconds, output = timed([*command, "--results-dir", str(results)])
        passes = re.search(r"reference pass (cached|[\d.]+ s), quant pass ([\d.]+) s", output)
        if passes is None:
            sys.exit(f"meek quality did not say its times:\n{output[-800:]}")
        if passes.group(1) != "cached":
            out["reference_s"] += float(passes.group(1).split()[0])
        out["quant_s"][kind], out["command_s"][kind] = float(passes.group(2)), seconds
        (result_file,) = results.rglob("*.json")
        out["figures"][kind] = json.loads(result_file.read_text())["quality"][0]
        shutil.rmtree(results)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=psutil.cpu_count(logical=False) or 1)
    parser.add_argument("--repack", type=int, choices=(0, 1), help="both tools' --repack (default: the preflight verdict)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--build-only", action="store_true", help="build llama-perplexity and llama-quantize, print their paths")
    args = parser.parse_args()

    perplexity, quantize = build("llama-perplexity"), build("llama-quantize")
    if args.build_only:
        print(perplexity)
        print(quantize)
        return
    reference = resolve(REFERENCE, load_catalog()).path
    if args.repack is None:
        verdict = preflight.check(reference, fingerprint(), threads=args.threads)
        args.repack = verdict.repack_default if verdict else 1
    rounds: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="meek-kld-bench-") as folder:
        work = Path(folder)
        quants = {}
        for kind in QUANTS:
            quants[kind] = work / f"smollm2-{kind}.gguf"
            subprocess.run(
                [str(quantize), "--allow-requantize", str(reference), str(quants[kind]), kind], check=True, capture_output=True
            )
        text_file = work / "text.txt"
        text_file.write_text(default_text().text + "\n")  # -f drops one trailing newline
        for index in range(args.rounds):
            order = ["llama-perplexity", "meek"] if index % 2 == 0 else ["meek", "llama-perplexity"]
            measured = {}
            for tool in order:
                load = os.getloadavg()[0]
                if tool == "meek":
                    measured[tool] = run_meek(reference, quants, args, work)
                else:
                    measured[tool] = run_llama_perplexity(perplexity, reference, quants, text_file, args, work)
                total = measured[tool]["reference_s"] + sum(measured[tool]["quant_s"].values())
                print(f"round {index + 1} {tool:<17} load {load:4.2f} {total:6.1f} s", file=sys.stderr)
            rounds.append(measured)
    write_report(args, rounds)


def write_report(args, rounds: list[dict]) -> None:
    machine = fingerprint()
    build = machine.llama_cpp
    last = rounds[-1]
    lines = [
        f"Measured {dt.date.today()} on {machine.cpu.model} ({machine.cpu.physical_cores} cores, "
        f"{(machine.memory_bytes or 0) / 2**30:.0f} GiB), llama-cpp-python {build.llama_cpp_python}, llama.cpp {build.commit}.",
        "",
        f"Command: `python bench/kld.py --ctx {args.ctx} --chunks {args.chunks} --rounds {args.rounds} --threads {args.threads}` "
        f"(--repack {args.repack} on both). Reference: the bundled {REFERENCE} (Q4_1); quants made from it with the vendored "
        "`llama-quantize --allow-requantize`; text: CPython's pydoc_data.topics (PSF License 2.0), "
        f"{args.chunks} chunks of {args.ctx} tokens, {args.chunks * (args.ctx - 1 - args.ctx // 2):,} positions scored. "
        "llama-perplexity ran with `-c CTX -b CTX --chunks N -t THREADS`, `--kl-divergence-base` then `--kl-divergence`. "
        "Figures are the same every round; the ratio is meek / llama-perplexity (llama-perplexity prints 6 decimals, "
        "same top as a percentage with 3). Same top differs by design where the reference's two top tokens round to one "
        "16-bit value: meek keeps the reference's top token as computed, llama-perplexity takes the lower id.",
        "",
        "| quant | " + " | ".join(FIGURES) + " |",
        "|---|" + "---:|" * len(FIGURES),
    ]
    for kind in QUANTS:
        ours, theirs = last["meek"]["figures"][kind], last["llama-perplexity"]["figures"][kind]
        lines.append(f"| {kind} meek | " + " | ".join(f"{ours[f]:.6f}" for f in FIGURES) + " |")
        lines.append(f"| {kind} llama-perplexity | " + " | ".join(f"{theirs[f]:.6f}" for f in FIGURES) + " |")
        ratios = [ours[f] / theirs[f] if theirs[f] else float("nan") for f in FIGURES]
        lines.append(f"| {kind} ratio | " + " | ".join(f"**{r:.4f}**" for r in ratios) + " |")
    lines += [
        "",
        "Times (seconds, median of the rounds; meek's passes as it reports them, each in a worker process that loads the "
        "model; the whole `meek quality` command adds Python start-up, hashing and the result file):",
        "",
        "| pass | llama-perplexity | meek | meek command |",
        "|---|---:|---:|---:|",
    ]

    def median(tool: str, key: str, kind: str | None = None) -> float:
        return statistics.median(r[tool][key] if kind is None else r[tool][key][kind] for r in rounds)

    lines.append(
        f"| reference ({REFERENCE}) | {median('llama-perplexity', 'reference_s'):.1f} | {median('meek', 'reference_s'):.1f} | - |"
    )
    for kind in QUANTS:
        lines.append(
            f"| {kind} | {median('llama-perplexity', 'quant_s', kind):.1f} | {median('meek', 'quant_s', kind):.1f} | "
            f"{median('meek', 'command_s', kind):.1f} |"
        )
    section = write_section(args.out, "kld", "Quality: meek quality vs llama-perplexity --kl-divergence", "\n".join(lines))
    print(section)


if __name__ == "__main__":
    main()
