"""`meek validate`, `submit`, `import`, `results upgrade`, `compare` and `advise`: result files, from anyone, and the answers drawn from them."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import RESULTS_DIR_HELP, app, import_app, out, results_app, results_dirs, run
from harness.commands.advise import DEFAULT_CONTEXT


@app.command(
    epilog="Examples:\n\n"
    "  meek validate results/                 # every result file under results/\n\n"
    "  meek validate a.json b.json --json     # machine-readable verdicts\n\n"
    "Checks: size and strict JSON (no NaN, bounded nesting), no markup or control characters in strings, the schema, the "
    "content hash (an edited file fails), statistics that follow from the raw samples, a generation rate the device's "
    "memory bandwidth allows, sane dates and versions, a model sha256 the catalogue knows (a warning otherwise), duplicates. "
    "Runs marked busy or unstable (another process shared the CPU, or the repetitions spread wide) are listed per file "
    "and counted in the summary, not failed.",
)
def validate(
    paths: list[Path] = typer.Argument(..., help="Result files or folders (searched recursively; links are not followed)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """Check result files from anyone: a verdict per file with every reason; exit code 1 when any file fails."""
    from harness.commands import validate as command

    run(lambda: command.run(paths, as_json, out))


@app.command(
    epilog="Examples:\n\n"
    "  meek submit results/amd-epyc-24g-869870/20261125T121552Z-smollm2-135m.json\n\n"
    "  meek submit my-run.json --url http://127.0.0.1:8765     # a meek serve on this machine\n\n"
    "  MEEK_COLLECTOR=https://record.example MEEK_TOKEN=meek_... meek submit my-run.json\n\n"
    "With --url (or MEEK_COLLECTOR) the cleaned file is posted to a record served by meek serve: its address "
    "(http://host:port, or a path prefix ending in '/') or its .../api/v1/results; any other path is another "
    "collector's endpoint, posted to as given. It prints the stored result's URL, or the one already holding the same "
    "measurement; a refusal prints every reason the record gave and exits 1. From another machine a record wants a "
    "token (made there by meek serve tokens create NAME): pass it in MEEK_TOKEN rather than --token, which other users "
    "of the machine can see in the process list. The token is sent as Authorization: Bearer and never printed.",
)
def submit(
    path: Path = typer.Argument(..., help="A result file written by meek bench, meek eval or meek import."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="The results tree of your meek-harness checkout."),
    url: str | None = typer.Option(
        None,
        "--url",
        envvar="MEEK_COLLECTOR",
        help="POST the cleaned file to this record (meek serve's address) or collector instead of placing it.",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="MEEK_TOKEN",
        help="The record's submission token for --url (never printed or saved).",
        show_default=False,
    ),
) -> None:
    """Validate a result file, strip local paths, and place it under results/<machine-id>/ for a pull request, or post
    it to a record (--url)."""
    from harness.commands import submit as command

    run(lambda: command.run(path, results_dir, url, out, token))


@import_app.command(
    "llama-bench",
    epilog="Examples:\n\n"
    "  llama-bench -m model.gguf -o json > out.json && meek import llama-bench out.json\n\n"
    "  meek import llama-bench run1.jsonl run2.jsonl --results-dir results",
)
def import_llama_bench(
    paths: list[Path] = typer.Argument(..., help="llama-bench output files (-o json or -o jsonl)."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result files go."),
) -> None:
    """Turn llama-bench's json/jsonl output into result files (one per machine, build and model), comparable with meek bench's."""
    from harness.commands import imports

    run(lambda: imports.llama_bench(paths, results_dir, out))


@import_app.command(
    "llama-bench-table",
    epilog="Examples:\n\n"
    "  meek import llama-bench-table dgx-spark.md --device dgx-spark --date 2026-02-05 \\\n"
    "      --source 'ggml-org/llama.cpp benches/dgx-spark/dgx-spark.md, build 11fb327bf (7941)'\n\n"
    "Takes llama-bench's markdown table as it prints it (pasted from an issue or a README) or a CSV of one. Each run is "
    "summary-only (mean ± sd, no raw samples); columns the table leaves out held llama-bench's defaults.",
)
def import_table(
    path: Path = typer.Argument(..., help="A llama-bench markdown table or a CSV with its columns."),
    device: str = typer.Option(..., "--device", help="The hardware-table device it ran on (e.g. dgx-spark)."),
    date: str = typer.Option(..., "--date", help="When it was measured or published (YYYY-MM-DD): a table does not say."),
    source: str = typer.Option(..., "--source", help="Where it was published: repository @ commit and path, or a URL."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result files go."),
) -> None:
    """Turn a published llama-bench table into summary-only result files, marked imported, with their source."""
    from harness.commands import imports

    run(lambda: imports.table(path, device, date, source, results_dir, out))


@import_app.command(
    "depth-campaign",
    epilog="Example:\n\n  meek import depth-campaign toolbox-performance_depth.csv --device ryzen-ai-max-395 --date 2026-08-07 \\\n"
    "      --source 'kyuz0/amd-strix-halo-toolboxes docs/toolbox-performance-results.json @ 6e10045d382f'\n\n"
    "Takes kyuz0's depth-curve CSV (series prefill/generation, starting_depth, samples, ...): pp and tg from depth 0 up, "
    "one result per toolbox or profile, model and build, each repetition kept as a raw sample.",
)
def import_depth(
    path: Path = typer.Argument(..., help="A depth campaign CSV (kyuz0's *_depth.csv columns)."),
    device: str = typer.Option(..., "--device", help="The hardware-table device it ran on (e.g. ryzen-ai-max-395)."),
    date: str = typer.Option(..., "--date", help="When it was measured or published (YYYY-MM-DD)."),
    source: str = typer.Option(..., "--source", help="Where it was published: repository @ commit and path, or a URL."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result files go."),
) -> None:
    """Turn a published depth campaign into result files with raw samples, marked imported, with their source."""
    from harness.commands import imports

    run(lambda: imports.table(path, device, date, source, results_dir, out, depth=True))


@import_app.command(
    "geerling",
    epilog="Example:\n\n  meek import geerling readme_findings.csv --date 2025-12-18 \\\n"
    "      --source 'geerlingguy/ai-benchmarks @ bdf94413f5f2, README.md'\n\n"
    "The tables give a generation rate with no prompt or generation length: it is imported as its own test, "
    "'geerling eval rate (lengths not stated)', never as tg128; peak wall power is kept as such.",
)
def import_geerling(
    path: Path = typer.Argument(..., help="The findings tables as CSV (model_section, system, cpu_gpu, eval_rate_tps, ...)."),
    date: str = typer.Option(..., "--date", help="The date of the README snapshot (YYYY-MM-DD): the rows carry none."),
    source: str = typer.Option(..., "--source", help="Where it was published: repository @ commit and path, or a URL."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result files go."),
) -> None:
    """Turn Jeff Geerling's findings into summary-only result files, marked imported, with their source."""
    from harness.commands import imports

    run(lambda: imports.geerling(path, date, source, results_dir, out))


@import_app.command(
    "scoreboard",
    epilog="Example:\n\n  meek import scoreboard llama2-7b-q4_0_scoreboards.csv --date 2026-09-30 \\\n"
    "      --source 'shared/data/community/llama-cpp-scoreboards (rows copied from the discussions)'\n\n"
    "Takes llama.cpp's CUDA, ROCm and Vulkan scoreboards as a CSV (scoreboard, backend, device_as_published, pp512_tps, "
    "pp512_std, tg128_tps, tg128_std, build_commit, copy_source, note): one file per row, pp512 and tg128 of "
    "llama-2-7b-q4_0 at -ngl 99 -fa 0, on the hardware-table device the row names; a row no single device fits is skipped.",
)
def import_scoreboard(
    path: Path = typer.Argument(..., help="The scoreboard rows as CSV (llama-cpp-scoreboards/ columns)."),
    date: str = typer.Option(..., "--date", help="The day by which every row was on its board (YYYY-MM-DD): rows carry none."),
    source: str = typer.Option(..., "--source", help="Where the CSV comes from; each row adds its discussion URL and copy."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result files go."),
) -> None:
    """Turn llama.cpp scoreboard rows into summary-only result files, one per row, marked imported, with their source."""
    from harness.commands import imports

    run(lambda: imports.scoreboard(path, date, source, results_dir, out))


@import_app.command(
    "localscore",
    epilog="Example:\n\n  meek import localscore localscore_results.tsv --source 'd893a/localscore-insights @ a4f81747b3e6, "
    "assets/localscore_results.tsv (from localscore.ai)'\n\n"
    "LocalScore's rates are averages over its nine test shapes: they are imported as 'localscore pp/tg (9-shape avg)', "
    "never as pp512 or tg128.",
)
def import_localscore(
    path: Path = typer.Argument(..., help="LocalScore results as a TSV with localscore.ai's columns."),
    source: str = typer.Option(..., "--source", help="Where the TSV comes from: repository @ commit and path, or a URL."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result files go."),
) -> None:
    """Turn LocalScore leaderboard results into summary-only result files, marked imported, with their source."""
    from harness.commands import imports

    run(lambda: imports.localscore(path, source, results_dir, out))


@app.command(
    epilog="Examples:\n\n"
    "  meek compare --model llama-3.1-8b-q4_k_m            # pp512 and tg128 per machine, fastest first\n\n"
    "  meek compare --results-dir results/ --results-dir other-results/ --test tg128 --format csv\n\n"
    "Per machine, backend and settings: median t/s over submitted files with their min and max, noise (sample stddev or "
    "the spread across files), time to first token, peak memory, t/s per $1000 and per watt (the device's launch price "
    "and board power from the hardware table), and the share of the memory-bandwidth bound a generation test reached. "
    "Rows closer than their noise are marked: those machines cannot be told apart.",
)
def compare(
    paths: list[Path] = typer.Option(None, "--results-dir", help=RESULTS_DIR_HELP),
    model: str | None = typer.Option(None, "-m", "--model", help="Catalogue id, model label or sha256 prefix. Default: all."),
    test: str | None = typer.Option(None, "--test", help="Comma list of tests, e.g. pp512,tg128 (the default when present)."),
    devices: str | None = typer.Option(
        None,
        "--devices",
        help="Comma list of hardware-table device ids (e.g. rtx-4090,apple-m4-max): only these devices, "
        "every test they ran; two devices: also the tests both ran side by side with the ratio, and the others apart.",
    ),
    fmt: str = typer.Option("md", "-f", "--format", help="md, csv or json."),
) -> None:
    """Machines side by side for a model, from everyone's result files (only files that pass validation). Every row says
    where it comes from: measured here, submitted, or imported (with its source)."""
    from harness.commands import compare as command

    tests = [t.strip() for t in test.split(",") if t.strip()] if test else None
    wanted = [d.strip() for d in devices.split(",") if d.strip()] if devices else None
    run(lambda: command.run(results_dirs(paths), model, tests, fmt, out, wanted))


@app.command(
    epilog="Examples:\n\n"
    "  meek advise --budget 2500 --model llama-3.1-8b-q4_k_m --min-tg 20\n\n"
    "  meek advise --model qwen3-30b-a3b-q4_k_m --format csv\n\n"
    "  meek advise --device rtx-4090 --min-tg 20       # the reverse: what this device runs, fastest first\n\n"
    "  meek advise --machine this\n\n"
    "  meek advise --model llama-2-7b-q4_0 --backend vulkan    # figures on one llama.cpp backend\n\n"
    "  meek advise --model qwen2.5-32b-q4_k_m --ctx 32768    # must fit with a 32k context\n\n"
    "  meek advise --transfers                        # what converts to what, learned from the record\n\n"
    "Every figure is llama-bench's tg128 (and pp512) at depth 0 on a named llama.cpp backend, of one kind: measured (run "
    "on that device with a llama.cpp build; the median over machines), converted (another tool's figure, LocalScore's "
    "or Ollama's, or another backend's, through a transfer learned from devices measured both ways, named in the basis "
    "with its spread), or predicted (the device's own efficiency on other models, else its vendor and kind's, else its "
    "kind's, with a 10-90% range). Each device shows its fastest backend, named; --backend picks one. Other tools' "
    "figures with no learned transfer are listed apart, never ranked.",
)
def advise(
    model: str | None = typer.Option(None, "-m", "--model", help="Catalogue id of the model you want to run."),
    device: str | None = typer.Option(None, "--device", help="The reverse question: the models this hardware-table device runs."),
    machine: str | None = typer.Option(None, "--machine", help="'this': the reverse question for this machine's device."),
    budget: float | None = typer.Option(
        None, "--budget", metavar="DOLLARS", min=0, help="Most you would spend, in US dollars (launch prices)."
    ),
    min_tg: float | None = typer.Option(
        None, "--min-tg", metavar="T/S", min=0, help="Slowest generation speed you accept, tokens/s (tg128)."
    ),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="Only figures on this llama.cpp backend: CUDA, ROCm, Vulkan, Metal, SYCL or CPU. Default: each device's fastest.",
    ),
    ctx: int = typer.Option(
        DEFAULT_CONTEXT,
        "--ctx",
        metavar="TOKENS",
        min=1,
        max=10_000_000,
        help="The context the model must fit at, tokens (KV cache and buffers grow with it).",
    ),
    transfers: bool = typer.Option(
        False, "--transfers", help="List the transfers learned from the record (what converts to what)."
    ),
    paths: list[Path] = typer.Option(None, "--results-dir", help=RESULTS_DIR_HELP),
    fmt: str = typer.Option("md", "-f", "--format", help="md, csv or json."),
) -> None:
    """Which hardware to buy for a model and a budget, ranked by generation speed, measured where anyone measured it; or,
    with --device / --machine this, which models a device runs."""
    from harness.commands import advise as command

    run(lambda: command.run(results_dirs(paths), model, device, machine, budget, min_tg, backend, ctx, transfers, fmt, out))


@results_app.command(
    "upgrade",
    epilog="Example:\n\n  meek results upgrade results/        # every older file under results/, in place\n\n"
    "Files of an older schema_version are migrated and signed with a new content hash, as `asv update` does; check them "
    "with meek validate afterwards. Current files are left alone.",
)
def upgrade(paths: list[Path] = typer.Argument(..., help="Result files or folders (searched recursively).")) -> None:
    """Rewrite result files of an older schema_version as the current one, so compare, advise and report can use them."""
    from harness.commands import results as command

    run(lambda: command.upgrade(paths, out))
