"""The imported community record: `python -m harness.results.community [DATA] [--results-dir results]` regenerates, from
../shared/data/community, the result files that ship in results/ (each marked imported, with its source).

Every source below is a fact of ../shared/data/community/README.md: repository and commit, path, device, build and date.
A table whose date the README does not give is left out rather than dated by guess (llama.cpp's dgx-spark b6989 and
mac-m2-ultra b7948 tables). Jeff Geerling's findings come in as their own test shape (no lengths stated), dated by the
README's snapshot commit; kyuz0's depth campaigns with their repetitions as raw samples. llama.cpp's scoreboard rows
carry no date and the README gives none: they are dated by the day the copies they come from were read at the latest
(SCOREBOARD), an upper bound on when each row was on its scoreboard, never when it ran (the row's build says which llama.cpp).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.output import Output


@dataclass(frozen=True)
class Table:
    path: str  # under the community folder
    device: str  # hardware-table id
    date: dt.date
    source: str


LLAMA_CPP = "ggml-org/llama.cpp"
KYUZ0 = "kyuz0/amd-strix-halo-toolboxes"
TABLES = [
    Table(
        "llama-cpp-benches/dgx-spark_b6918.csv",
        "dgx-spark",
        dt.date(2025, 11, 2),
        f"{LLAMA_CPP} @ 4c7e9893c4ca, benches/dgx-spark.md, build 2f68ce7cf (6918)",
    ),
    Table(
        "llama-cpp-benches/dgx-spark_b7941.csv",
        "dgx-spark",
        dt.date(2026, 2, 5),
        f"{LLAMA_CPP} benches/dgx-spark/dgx-spark.md, build 11fb327bf (7941), read from lzptouch/llama.cpp @ 0b3d966f1855",
    ),
    Table(
        "llama-cpp-benches/nemotron-dgx-spark_b8268.csv",
        "dgx-spark",
        dt.date(2026, 3, 6),
        f"{LLAMA_CPP} benches/nemotron/nemotron-dgx-spark.md, build 04a65daab (8268), read from zommiommy/llama.cpp @ 04e8f3e11a66",
    ),
    Table(
        "strix-halo-kyuz0/results_flat.csv",
        "ryzen-ai-max-395",
        dt.date(2026, 5, 18),
        f"{KYUZ0} docs/results.json @ 08aa7bc026cb (generated 2026-05-18)",
    ),
    Table(
        "strix-halo-kyuz0/results_2025-12-05_flat.csv",
        "ryzen-ai-max-395",
        dt.date(2025, 12, 5),
        f"{KYUZ0} docs/results.json @ 7584a31548ee (2025-12-05)",
    ),
]
DEPTH_CAMPAIGNS = [
    Table(
        "strix-halo-kyuz0/ryzen-ai-halo_depth.csv",
        "ryzen-ai-max-395",
        dt.date(2026, 7, 12),
        f"{KYUZ0} docs/ryzen-ai-halo-results.json @ a7c71e919172",
    ),
    Table(
        "strix-halo-kyuz0/toolbox-performance_depth.csv",
        "ryzen-ai-max-395",
        dt.date(2026, 8, 7),
        f"{KYUZ0} docs/toolbox-performance-results.json @ 6e10045d382f",
    ),
]
GEERLING = Table(
    "geerlingguy-ai-benchmarks/readme_findings.csv",
    "",
    dt.date(2025, 12, 18),
    "geerlingguy/ai-benchmarks @ bdf94413f5f2, README.md findings tables (each run names its issue or PR)",
)
# The copies named in the CSV's copy_source say when they were read: index-file-id 58562324721 "sourceAccessedAt
# 2026-08-12", 70200890968 "Research date: 2026-09-26", 71248589943 an "as of 2026-09-30" lineup. Every row was on its
# scoreboard by the latest of them.
SCOREBOARD = Table(
    "llama-cpp-scoreboards/llama2-7b-q4_0_scoreboards.csv",
    "",
    dt.date(2026, 9, 30),
    "rows of ggml-org/llama.cpp discussions 15013, 15021, 10879 as copied in shared/data/community",
)
LOCALSCORE = (
    "localscore/localscore_results.tsv",
    "d893a/localscore-insights @ a4f81747b3e6, assets/localscore_results.tsv (scraped from https://www.localscore.ai)",
)


def regenerate(data: Path, results_dir: Path, out: Output) -> int:
    """Import every source into results_dir (files already there are kept, not written twice; the tree is read once,
    not once per source); the exit code, 1 when a source gave nothing to import."""
    from harness.results.import_geerling import import_findings
    from harness.results.import_localscore import import_tsv
    from harness.results.import_scoreboard import import_scoreboard
    from harness.results.import_tables import import_depth_csv, import_table
    from harness.results.store import check_results_dir
    from harness.results.submit import Present, write_imported

    if not data.is_dir():
        out.error(f"{data}: no community data folder (../shared/data/community)")
        return 2
    check_results_dir(results_dir)
    imports = [
        *((t.path, lambda p, t=t: import_table(p, t.device, t.date, t.source)) for t in TABLES),
        *((t.path, lambda p, t=t: import_depth_csv(p, t.device, t.date, t.source)) for t in DEPTH_CAMPAIGNS),
        (GEERLING.path, lambda p: import_findings(p, GEERLING.date, GEERLING.source)),
        (SCOREBOARD.path, lambda p: import_scoreboard(p, SCOREBOARD.date, SCOREBOARD.source)),
        (LOCALSCORE[0], lambda p: import_tsv(p, LOCALSCORE[1])),
    ]
    present, code = Present(results_dir), 0
    for relative, read in imports:
        path = data / relative
        out.line(f"importing {path}")
        code = max(code, write_imported(read(path), path, results_dir, out, present))
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[3] / "shared" / "data" / "community"
    parser.add_argument("data", nargs="?", type=Path, default=default, help=f"the community folder (default {default})")
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    return regenerate(args.data, args.results_dir, Output())


if __name__ == "__main__":
    sys.exit(main())
