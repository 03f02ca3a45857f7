"""Scale check for the shared results tree: 10,000 realistic result files, then `meek validate`, `meek compare` and
`meek report` timed.

The files are built from a real `meek bench` result (tests/golden/result-v2-smollm2.json) with machines from the hardware
table, models from the catalogue, and generation rates drawn around each device's bandwidth bound, so every file passes
validation the way a real submission would. Each command is timed as a user runs it (a fresh process, wall clock).

    python bench/results_scale.py --files 10000
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks_md import write_section

from harness.catalogue.models import load_catalog
from harness.machine.facts import fingerprint
from harness.machine.hardware import load_hardware
from harness.measure.stats import summarize
from harness.results.schema import signed_document, validate_document

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "tests" / "golden" / "result-v2-smollm2.json"
MACHINES_PER_DEVICE = 8
REPETITIONS = 5


def run_entry(template: dict, n_prompt: int, n_gen: int, rate: float, rng: random.Random) -> dict:
    tokens = n_prompt + n_gen
    samples_ns = [int(tokens * 1e9 / (rate * rng.gauss(1, 0.02))) for _ in range(REPETITIONS)]
    run = copy.deepcopy(template)
    summary = summarize(tokens, samples_ns)
    run.update(
        test=f"pp{n_prompt}" if n_prompt else f"tg{n_gen}", n_prompt=n_prompt, n_gen=n_gen, n_depth=0, n_ctx=tokens,
        samples_ns=samples_ns, warmup_ns=[samples_ns[0]], ttft_ns=samples_ns if n_prompt else [],
        **{key: summary[key] for key in summary if key in run},
    )  # fmt: skip
    return run


def machine_entry(template: dict, device, index: int) -> dict:
    machine = copy.deepcopy(template)
    machine["machine_id"] = f"{device.id}-{index:03d}"
    if device.kind == "cpu":
        machine["cpu"]["model"] = device.name
        machine["gpus"] = []
    else:
        vendor = device.vendor if device.vendor in ("nvidia", "amd", "apple", "intel") else "other"
        memory = int((device.memory_gb or 0) * 2**30)
        machine["gpus"] = [{"vendor": vendor, "name": device.match[0], "memory_bytes": memory, "driver": None,
                            "gtt_bytes": None, "unified_memory": device.kind == "unified"}]  # fmt: skip
        machine["unified_memory"] = device.kind == "unified"
    return machine


def generate(tree: Path, count: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    template = json.loads(TEMPLATE.read_text())
    run_template = template["runs"][0]
    devices = load_hardware()
    models = [m for m in load_catalog().models if m.file_size_bytes]
    machines = [(device, machine_entry(template["machine"], device, i)) for device in devices for i in range(MACHINES_PER_DEVICE)]
    start = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    for index in range(count):
        device, machine = rng.choice(machines)
        fitting = [m for m in models if device.memory_gb is None or m.file_size_bytes * 1.2 < device.memory_gb * 1e9]
        model = rng.choice(fitting or models)
        per_token = model.file_size_bytes * model.params_active_b / model.params_total_b
        tg = device.bandwidth_gbs * 1e9 / per_token * rng.uniform(0.4, 0.8)
        offload = 99 if device.kind != "cpu" else 0
        document = copy.deepcopy(template)
        document.update(created_utc=(start + dt.timedelta(minutes=37 * index)).strftime("%Y-%m-%dT%H:%M:%SZ"), machine=machine)
        document["model"].update(id=model.id, label=model.id, sha256=model.sha256 or hashlib.sha256(model.id.encode()).hexdigest(), file_size_bytes=model.file_size_bytes,
                                 quant=model.quant, file_name=f"{model.id}.gguf", source="catalogue")  # fmt: skip
        document["runs"] = [
            run_entry(run_template, 512, 0, tg * rng.uniform(8, 30), rng),
            run_entry(run_template, 0, 128, tg, rng),
        ]
        for run in document["runs"]:
            run["settings"]["n_gpu_layers"] = offload
        document["loads"][0]["settings"]["n_gpu_layers"] = offload
        signed = signed_document(validate_document(document))
        folder = tree / machine["machine_id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:05d}-{model.id}.json").write_text(json.dumps(signed))


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
        f"Measured {dt.date.today()} on {machine['cpu']['model']} ({machine['cpu']['physical_cores']} cores): {args.files:,} "
        f"generated result files ({size / 2**20:.0f} MiB), each command a fresh process "
        f"(interpreter start included), {args.rounds} round(s).",
        "",
        f"Command: `python bench/results_scale.py --files {args.files} --rounds {args.rounds}`",
        "",
        "| command | rounds (s) | best s | target |",
        "|---|---|---:|---|",
    ]
    for name, command in commands.items():
        shown = " ".join(["meek", *command[3:4], "<tree>", *command[5:]]).replace(str(Path(folder) / "site"), "<site>")
        target = "under 10 s" if name != "report" else "none set (site build, two frontier figures included)"
        lines.append(f"| `{shown}` | {', '.join(f'{t:.2f}' for t in times[name])} | {min(times[name]):.2f} | {target} |")
    print(write_section(args.out, "results-scale", "Shared results: validate and compare at 10,000 files", "\n".join(lines)))


if __name__ == "__main__":
    main()
