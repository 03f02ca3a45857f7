"""The cost of splitting a model across llama.cpp RPC servers, on this machine over loopback: two `meek rpc-server`
processes on 127.0.0.1 and the bundled model measured through them with an RPC-enabled llama-bench, against the same
llama-bench running it locally; alternated in rounds, median ratio split / local per test, into BENCHMARKS.md.

    python bench/rpc.py --build-only    # build llama-bench and rpc-server with RPC from the vendored source; print both
    python bench/rpc.py [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks_md import write_section  # noqa: E402

from harness.errors import MeekError  # noqa: E402
from harness.machine.facts import fingerprint  # noqa: E402
from harness.measure.rpc import in_process_rpc  # noqa: E402
from harness.measure.serve import free_port  # noqa: E402
from harness.measure.vendored import build_tool  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m"


def meek(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    try:
        bench, server = build_tool("llama-bench", rpc=True), build_tool("rpc-server", rpc=True)
    except MeekError as error:
        sys.exit(str(error))
    if args.build_only:
        print(bench)
        print(server)
        return
    ports = [free_port(), free_port()]
    ratios: dict[str, list[float]] = {}
    try:
        for port in ports:
            started = meek("rpc-server", "--background", "--port", str(port), "--bin", str(server))
            if started.returncode != 0:
                sys.exit(started.stderr)
        rpc = ",".join(f"127.0.0.1:{p}" for p in ports)
        ways = [("llama-bench", ["--backend", "llama-bench", "--bin", str(bench)])]
        if in_process_rpc():  # this Python's llama-cpp-python was built with -DGGML_RPC=ON
            ways.append(("in process", []))
        for _ in range(args.rounds):
            for way, flags in ways:  # alternated within each round
                with tempfile.TemporaryDirectory() as results:
                    done = meek(
                        "bench", "-m", MODEL, *flags, "--rpc", rpc, "--link", "loopback", "-r", "3", "--results-dir", results
                    )
                    if done.returncode != 0:
                        sys.exit(done.stderr)
                    documents = [json.loads(p.read_text()) for p in Path(results).glob("*/*.json")]
                    split = next(d["split"] for d in documents if d.get("split"))
                for baseline in split["local"]:
                    ratios.setdefault(f"{baseline['test']} ({way})", []).append(baseline["ratio"])
    finally:
        for port in ports:
            meek("rpc-server", "--stop", "--port", str(port))
    cpu = fingerprint(include_build=False).cpu.model
    rows = ["| test | split / local (median) | min-max |", "|---|---:|---:|"]
    rows += [f"| {test} | {statistics.median(v):.3f} | {min(v):.3f}-{max(v):.3f} |" for test, v in sorted(ratios.items())]
    body = "\n".join(
        [
            f"Measured {dt.date.today()} on {cpu} with `python bench/rpc.py --rounds {args.rounds} --write`: {MODEL} split "
            "across two rpc-server processes on 127.0.0.1 (`meek rpc-server --background`), measured by an RPC-enabled "
            "llama-bench built from the vendored llama.cpp (`meek bench --backend llama-bench --rpc ...`) and, where this "
            "Python's llama-cpp-python has RPC (built with CMAKE_ARGS=-DGGML_RPC=ON), in process (`meek bench --rpc ...`); "
            "each against the same tool run locally (meek runs the local baseline itself); pp512 and tg128, 3 repetitions.",
            "",
            *rows,
        ]
    )
    print(body)
    if args.write:
        write_section(ROOT / "BENCHMARKS.md", "rpc-loopback", "A model split over RPC on loopback, against the local run", body)


if __name__ == "__main__":
    main()
