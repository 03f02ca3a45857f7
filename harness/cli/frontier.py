"""`meek gap`, `meek frontier import` and `meek plot frontier`: how far behind the frontier."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import app, frontier_app, out, plot_app, run


@app.command(
    epilog="Examples:\n\n"
    "  meek gap                                   # MMLU and GPQA Diamond, every machine class\n\n"
    "  meek gap --benchmark mmlu --classes 24gb-gpu,128gb-unified\n\n"
    "  meek gap --machine this                    # this machine's memory, and the scores it measured\n\n"
    "Months behind = today minus the date the frontier (any model, open or closed) first reached the score of the best "
    "open-weight model that fits the class (Q4_K_M weights + 8k context KV cache). 'At release' is the same gap on the "
    "day that open model came out; 'lag by year' shows how it moved (closing or widening).",
)
def gap(
    benchmark: str = typer.Option("mmlu,gpqa_diamond", "-b", "--benchmark", help="Comma list of benchmarks."),
    classes: str | None = typer.Option(
        None, "--classes", help="Comma list of machine classes (8gb-gpu ... 32gb-gpu, 16gb-laptop, 64gb-unified, 128gb-unified)."
    ),
    machine: str | None = typer.Option(None, "--machine", help="'this': use this machine's memory and its own measured scores."),
    results: Path = typer.Option(Path("results"), "--results-dir", help="Results tree holding this machine's scores."),
    fmt: str = typer.Option("md", "-f", "--format", help="md, csv or json."),
) -> None:
    """How many months behind the frontier the best model each kind of home machine can hold is, per benchmark."""
    from harness.frontier.views import gap

    benchmarks = [b.strip() for b in benchmark.split(",") if b.strip()]
    run(lambda: gap(benchmarks, classes, machine, results, fmt, out))


@frontier_app.command(
    "import",
    epilog="Example:\n\n  meek frontier import ~/Downloads/epoch_benchmark_data.zip\n\n"
    "Also takes the unpacked folder, Epoch's 'Data on AI Models' folder (open weights, parameter counts) and curated CSVs "
    "with the columns model, release_date, benchmark, score.",
)
def frontier_import(
    paths: list[Path] = typer.Argument(..., help="Epoch AI Benchmarking Hub download (zip or folder), ..."),
) -> None:
    """Refresh the frontier table from Epoch AI's Benchmarking Hub CSV download (written to ~/.meek/frontier.csv)."""
    from harness.frontier.views import frontier_import

    run(lambda: frontier_import(paths, out))


@plot_app.command(
    "frontier", epilog="Example:\n\n  meek plot frontier --benchmark gpqa_diamond --classes 16gb-gpu,24gb-gpu,128gb-unified"
)
def plot_frontier(
    benchmark: str = typer.Option("mmlu", "-b", "--benchmark", help="mmlu, gpqa_diamond, hellaswag, arc_challenge, gsm8k, ..."),
    classes: str | None = typer.Option(None, "--classes", help="Machine classes to draw. Default: 24gb-gpu,128gb-unified."),
    results: Path = typer.Option(Path("results"), "--results-dir", help="Results tree with your measured scores (drawn as points)."),
    all_machines: bool = typer.Option(False, "--all-machines", help="Draw every machine's measured scores, not only this one's."),
    out_dir: Path = typer.Option(Path("plots"), "--out", help="Folder for the PNG and SVG."),
) -> None:
    """Score against release date: the frontier, the best open model, and the best open model each machine class holds."""
    from harness.frontier.views import plot_frontier

    run(lambda: plot_frontier(benchmark, classes, results, all_machines, out_dir, out))
