"""The same bundled model measured three ways: in process, through llama-cpp-python's OpenAI-compatible server on
loopback, and through llama-bench built from the vendored llama.cpp; the issue's target is the server's generation rate
within 10 percent of in process.

Each round runs the three back to back (order rotating) with the same shapes and threads; the ratio reported is the
median of the per-round ratios, since this machine's speed drifts between rounds.

    python bench/backends.py --rounds 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks_md import write_section
from fidelity import build_llama_bench

from harness.catalogue.models import load_catalog, resolve
from harness.machine.facts import fingerprint
from harness.measure.preflight import default_repack
from harness.results.store import read_result

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m"
TESTS = ("pp512", "tg128")


def start_server(model_path: Path, threads: int, llama_server: Path | None = None) -> tuple[subprocess.Popen, str]:
    """llama-cpp-python's server, or llama.cpp's own llama-server when its binary is given, on a free loopback port; both
    with this machine's repack setting (the preflight verdict), as the in-process runs use."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    repack = default_repack(model_path, threads)
    if llama_server:
        command = [str(llama_server), "-m", str(model_path), "--port", str(port), "-t", str(threads), "-c", "2048", "-np", "1"]
        command += [] if repack else ["--no-repack"]
    else:
        command = [
            sys.executable,
            "-m",
            "harness.measure.runtime.lcpp_server",
            "--repack",
            str(repack),
            "--model",
            str(model_path),
            "--port",
            str(port),
            "--n_threads",
            str(threads),
            "--n_threads_batch",
            str(threads),
            "--n_ctx",
            "2048",
        ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/v1/models", timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("the server did not start")


def run(backend_args: list[str], threads: int, reps: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "-m",
            "harness.cli",
            "bench",
            *backend_args,
            "-m",
            MODEL,
            "-p",
            "512",
            "-n",
            "128",
            "-t",
            str(threads),
            "-r",
            str(reps),
            "--results-dir",
            folder,
            "-o",
            "json",
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise SystemExit(f"{' '.join(backend_args) or 'in process'} failed: {completed.stderr[-1500:]}")
        (path,) = Path(folder).glob("*/*.json")
        return {r.test: r.avg_ts for r in read_result(path).runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--llama-bench", type=Path)
    parser.add_argument("--llama-server", type=Path, help="also measure through llama.cpp's own llama-server binary")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    binary = args.llama_bench or build_llama_bench()
    model_path = resolve(MODEL, load_catalog()).path
    servers = [start_server(model_path, args.threads)]
    backends = {
        "in process": [],
        "openai: llama-cpp-python server": ["--backend", "openai", "--url", servers[0][1]],
        "llama-bench": ["--backend", "llama-bench", "--bin", str(binary)],
    }
    if args.llama_server:
        servers.append(start_server(model_path, args.threads, args.llama_server))
        backends["openai: llama-server"] = ["--backend", "openai", "--url", servers[1][1]]
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        for index in range(args.rounds):
            names = list(backends)
            names = names[index % len(names) :] + names[: index % len(names)]
            rounds.append({name: run(backends[name], args.threads, args.reps) for name in names})
            print(index, {k: {t: round(v[t], 1) for t in TESTS} for k, v in rounds[-1].items()}, flush=True)
    finally:
        for process, _ in servers:
            process.terminate()
    machine = fingerprint(include_build=False)
    lines = [
        f"Measured {dt.date.today()} on {machine.cpu.model} ({machine.cpu.physical_cores} cores), {MODEL}, "
        f"{args.threads} threads, {args.reps} repetitions per test, {args.rounds} rounds (order rotating).",
        "",
        f"Command: `python bench/backends.py --rounds {args.rounds} --reps {args.reps}`",
        "",
        "| test | backend | t/s per round | median ratio to in process |",
        "|---|---|---|---:|",
    ]
    for test in TESTS:
        for name in backends:
            values = [r[name][test] for r in rounds]
            ratio = statistics.median(r[name][test] / r["in process"][test] for r in rounds)
            lines.append(f"| {test} | {name} | {', '.join(f'{v:.1f}' for v in values)} | {ratio:.3f} |")
    print(write_section(args.out, "backends", "Three backends on the same model", "\n".join(lines)))


if __name__ == "__main__":
    main()
