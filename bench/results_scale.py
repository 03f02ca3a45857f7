"""Scale check for the shared results tree: 10,000 realistic result files, then `meek validate`, `meek compare` and
`meek report` timed.

The files are built from a real `meek bench` result (tests/golden/result-v2-smollm2.json) with machines from the hardware
table, models from the catalogue, and generation rates drawn around each device's bandwidth bound, so every file passes
validation the way a real submission would. Each command is timed as a user runs it (a fresh process, wall clock).

    python bench/results_scale.py --files 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks_md import write_section

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's tests/ package
from harness.machine.facts import fingerprint
from tests.example_tree import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    return time.perf_counter() - started, completed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "results"
        started = time.perf_counter()
        generate(tree, args.files)
        print(f"generated {args.files} files in {time.perf_counter() - started:.1f} s", flush=True)
        size = sum(f.stat().st_size for f in tree.rglob("*.json"))
        meek = [sys.executable, "-m", "harness.cli"]
        commands = {
            "validate": [*meek, "validate", str(tree)],
            "compare": [*meek, "compare", "--results-dir", str(tree), "--model", "llama-3.1-8b-q4_k_m"],
            "report": [*meek, "report", "--results-dir", str(tree), "--out", str(Path(folder) / "site")],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                seconds, completed = timed(command)
                if completed.returncode != 0:
                    raise SystemExit(f"{name} failed: {completed.stderr[-2000:]}\n{completed.stdout[-2000:]}")
                times[name].append(seconds)
                print(name, f"{seconds:.2f} s", completed.stdout.strip().splitlines()[-1][:120], flush=True)
    machine = fingerprint(include_build=False)
    lines = [
        f"Measured {dt.date.today()} on {machine.cpu.model} ({machine.cpu.physical_cores} cores): {args.files:,} "
        f"generated result files ({size / 2**20:.0f} MiB), each command a fresh process "
        f"(interpreter start included), {args.rounds} round(s).",
        "",
        f"Command: `python bench/results_scale.py --files {args.files} --rounds {args.rounds}`",
        "",
        "| command | rounds (s) | best s | target |",
        "|---|---|---:|---|",
    ]
    for name, command in commands.items():
        shown = " ".join(["meek", *command[3:]]).replace(str(Path(folder) / "site"), "<site>").replace(str(tree), "<tree>")
        target = "under 10 s" if name != "report" else "none set (site build, two frontier figures included)"
        lines.append(f"| `{shown}` | {', '.join(f'{t:.2f}' for t in times[name])} | {min(times[name]):.2f} | {target} |")
    print(write_section(args.out, "results-scale", "Shared results: validate and compare at 10,000 files", "\n".join(lines)))


if __name__ == "__main__":
    main()
