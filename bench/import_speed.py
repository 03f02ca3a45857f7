"""Import speed: `meek import llama-bench-table` of a generated table at 1,000 and 10,000 rows, timed as a user runs it
(a fresh process, wall clock, into an empty results tree), the two sizes alternating, so a cost that grows faster than
the rows (each file written rereading its machine's folder, as before issue 25) shows as a per-row time that grows.

The table is what a published llama-bench table looks like: one DGX Spark, models of 7B parameters at Q4_0 (3.80 GiB,
7.00 B: none of them the catalogue's, so each keeps its own label and file name), each with a pp512 and a tg128 row at
rates around the device's (about 1,500 and 40 t/s): two rows per result file, so 1,000 rows write 500 files and 10,000
rows write 5,000, all into the one machine folder.

    python bench/import_speed.py --rows 1000,10000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "model,size,params,backend,ngl,test,t/s,build\n"


def table(rows: int, seed: int = 25) -> str:
    """A llama-bench table of `rows` rows (two per model: pp512 and tg128), plausible on a DGX Spark."""
    draw = random.Random(seed)
    lines = [HEADER]
    for number in range(rows):
        model, test = number // 2, ("pp512", "tg128")[number % 2]
        rate = draw.gauss(1500, 60) if test == "pp512" else draw.gauss(40, 2)
        lines.append(f"bench{model:05d} 7B Q4_0,3.80 GiB,7.00 B,CUDA,99,{test},{rate:.2f} ± {rate / 100:.2f},11fb327bf (7941)\n")
    return "".join(lines)


def timed_import(path: Path, tree: Path) -> float:
    command = [sys.executable, "-m", "harness.cli", "import", "llama-bench-table", str(path), "--device", "dgx-spark"]
    command += ["--date", "2026-02-05", "--source", "bench/import_speed.py (generated)", "--results-dir", str(tree)]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"import of {path.name} failed: {completed.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000,10000", help="table sizes, comma-separated (default 1000,10000)")
    parser.add_argument("--rounds", type=int, default=2, help="how many times each size is imported, alternating")
    args = parser.parse_args()
    sizes = [int(size) for size in args.rows.split(",")]
    times: dict[int, list[float]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            (Path(folder) / f"table-{size}.csv").write_text(table(size))
        for round_ in range(args.rounds):
            for size in sizes:
                tree = Path(folder) / f"results-{size}-{round_}"
                seconds = timed_import(Path(folder) / f"table-{size}.csv", tree)
                files = sum(1 for _ in tree.glob("*/*.json"))
                times[size].append(seconds)
                print(f"{size:>6} rows ({files} files): {seconds:7.2f} s, {seconds / size * 1000:.2f} ms per row", flush=True)
    print("\nbest of each size:")
    for size in sizes:
        best = min(times[size])
        print(f"{size:>6} rows: {best:7.2f} s, {best / size * 1000:.2f} ms per row")


if __name__ == "__main__":
    main()
