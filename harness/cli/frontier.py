"""`meek gap`, `meek frontier import` and `meek plot frontier`: how far behind the frontier."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import app, frontier_app, out, plot_app, run


@app.command(
    epilog="Examples:\n\n"
    "  meek gap -b gpqa_diamond                   # GPQA Diamond, every machine class\n\n"
    "  meek gap --classes rtx-4090-epoch,24gb-gpu  # Epoch's 28B rule beside the memory model\n\n"
    "  meek gap -b gpqa_diamond --kinds epoch-run  # Epoch's own runs only\n\n"
    "  meek gap --machine this                    # this machine's memory, and the scores it measured\n\n"
    "Months behind = today minus the date the frontier (any model, open or closed) first reached the score of the best "
    "open-weight model that fits the class (Q4_K_M weights + 8k context KV cache; the -epoch classes use Epoch's "
    "parameter thresholds, 28B and 40B). 'At release' is the same gap on the day that open model came out; the mean "
    "lag at release over the open models that set a new best for the class is the quantity Epoch AI reports; 'lag by "
    "year' shows how it moved. Every row names its kind: epoch-run or developer-reported.",
)
def gap(
    benchmark: str = typer.Option("gpqa_diamond,mmlu_pro,mmlu", "-b", "--benchmark", help="Comma list of benchmarks."),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="Comma list of machine classes (8gb-gpu ... 32gb-gpu, 16gb-laptop, 64gb-unified, "
        "128gb-unified, rtx-4090-epoch, rtx-5090-epoch).",
    ),
    machine: str | None = typer.Option(None, "--machine", help="'this': use this machine's memory and its own measured scores."),
    results: Path = typer.Option(Path("results"), "--results-dir", help="Results tree holding this machine's scores."),
    fmt: str = typer.Option("md", "-f", "--format", help="md, csv or json."),
    kinds: str | None = typer.Option(
        None,
        "--kinds",
        help="Which scores go in: epoch-run, developer-reported, measured-here, user (default: "
        "epoch-run,developer-reported, Epoch's mix).",
    ),
    min_tg: float = typer.Option(
        10.0, "--min-tg", metavar="T/S", help="With --machine this: the speed a model must reach to count (t/s)."
    ),
) -> None:
    """How many months behind the frontier the best model each kind of home machine can hold is, per benchmark."""
    from harness.commands import gap as command

    benchmarks = [b.strip() for b in benchmark.split(",") if b.strip()]
    run(lambda: command.run(benchmarks, classes, machine, results, fmt, out, kinds, min_tg))


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
    from harness.commands import frontier as command

    run(lambda: command.import_tables(paths, out))


@frontier_app.command(
    "list",
    epilog="Examples:\n\n  meek frontier list -b gpqa_diamond --access open --limit 20\n\n"
    "  meek frontier list --model qwen3 --kinds developer-reported\n\n"
    "Each row says its kind (epoch-run, developer-reported, user), its setting (shots, thinking or not, reasoning "
    "effort) and the page it was read from.",
)
def frontier_list(
    benchmark: str | None = typer.Option(None, "-b", "--benchmark", help="One benchmark (gpqa_diamond, mmlu_pro, mmlu, ...)."),
    kinds: str | None = typer.Option(None, "--kinds", help="Comma list of kinds: epoch-run, developer-reported, user."),
    model: str | None = typer.Option(None, "--model", help="Rows whose model name contains this."),
    access: str | None = typer.Option(None, "--access", help="'open' (open weights) or 'closed'."),
    limit: int = typer.Option(40, "--limit", min=1, help="Rows to show, best scores first."),
    fmt: str = typer.Option("md", "-f", "--format", help="md, csv or json."),
) -> None:
    """List the frontier table's rows (what meek gap uses), with kind, setting and source."""
    from harness.commands import frontier as command

    run(lambda: command.list_rows(benchmark, kinds, model, access, limit, fmt, out))


@frontier_app.command(
    "add",
    epilog="Example:\n\n  meek frontier add my_scores.csv\n\n"
    "Columns: model, release_date (YYYY-MM-DD), benchmark, score (percent); optional open_weights, params_total_b, "
    "setting, source_link. The rows are kept as kind 'user' in ~/.meek/frontier-user.csv.",
)
def frontier_add(path: Path = typer.Argument(..., help="A CSV of scores.")) -> None:
    """Add your own scores to the frontier table, as rows of kind 'user'."""
    from harness.commands import frontier as command

    run(lambda: command.add(path, out))


@plot_app.command(
    "frontier", epilog="Example:\n\n  meek plot frontier --benchmark gpqa_diamond --classes 16gb-gpu,24gb-gpu,128gb-unified"
)
def plot_frontier(
    benchmark: str = typer.Option("mmlu", "-b", "--benchmark", help="mmlu, gpqa_diamond, hellaswag, arc_challenge, gsm8k, ..."),
    classes: str | None = typer.Option(None, "--classes", help="Machine classes to draw. Default: 24gb-gpu,128gb-unified."),
    results: Path = typer.Option(
        Path("results"), "--results-dir", help="Results tree with your measured scores (drawn as points)."
    ),
    all_machines: bool = typer.Option(False, "--all-machines", help="Draw every machine's measured scores, not only this one's."),
    out_dir: Path = typer.Option(Path("plots"), "--out", help="Folder for the PNG and SVG."),
    kinds: str | None = typer.Option(None, "--kinds", help="Kinds of scores drawn (default epoch-run,developer-reported)."),
) -> None:
    """Score against release date: the frontier, the best open model, and the best open model each machine class holds."""
    from harness.commands import plot as command

    run(lambda: command.frontier(benchmark, classes, results, all_machines, out_dir, out, kinds))


@plot_app.command(
    "meek-model",
    epilog="Examples:\n\n  meek plot meek-model\n\n  meek plot meek-model --g-invest 5 --class rtx-4090-epoch\n\n"
    "Top panel: data (the lag at release of each record-setting open model, with its trend). Bottom: the loss-gap "
    "model of 'Meek Models Shall Inherit the Earth' (arXiv:2507.07931). Its parameters come from secondary summaries "
    "of the paper (marked [S] in shared/data/meek_models_paper.md): change them here.",
)
def plot_meek_model(
    benchmark: str = typer.Option("gpqa_diamond", "-b", "--benchmark", help="The benchmark of the measured lag."),
    machine_class: str = typer.Option("rtx-5090-epoch", "--class", help="The machine class of the measured lag."),
    kinds: str | None = typer.Option(None, "--kinds", help="Kinds of scores for the data (default Epoch's mix)."),
    start: str = typer.Option("2023-01-01", "--start", help="t = 0 of the model: both actors start equal."),
    years: float = typer.Option(10.0, "--years", help="How far the model is drawn."),
    alpha: float = typer.Option(0.155, "--alpha", help="Exponent of L(C) = A C^-alpha + L0 [S]."),
    a: float = typer.Option(1070.0, "--a", help="Scale A of the loss curve [S]."),
    c0: float = typer.Option(1e17, "--c0", help="FLOP of the starting budget ($1000) [S, unverified]."),
    g_invest: float = typer.Option(3.57, "--g-invest", help="Frontier investment growth per year [S]."),
    g_alg: float = typer.Option(2.8, "--g-alg", help="Algorithmic progress per year, shared [S]."),
    g_hw: float = typer.Option(1.4, "--g-hw", help="Hardware price-performance growth per year, shared [S]."),
    out_dir: Path = typer.Option(Path("plots"), "--out", help="Folder for the PNG and SVG."),
) -> None:
    """The paper's loss-gap projection, labelled as a model, under the measured lag on the same time axis."""
    from harness.commands import plot as command

    parameters = {"alpha": alpha, "a": a, "c0": c0, "g_invest": g_invest, "g_alg": g_alg, "g_hw": g_hw}
    run(lambda: command.meek_model(parameters, start, years, benchmark, machine_class, kinds, out_dir, out))


@plot_app.command(
    "card",
    epilog="Example:\n\n  meek plot card -b gpqa_diamond --min-tg 15\n\n"
    "The best catalogue model this machine runs at --min-tg or faster (measured here, else the record's measurement "
    "for its device, else predicted), its published score, months behind the frontier, and this machine's own meek "
    "eval scores; every number with its kind.",
)
def plot_card(
    benchmark: str = typer.Option("gpqa_diamond", "-b", "--benchmark", help="The benchmark of the published score."),
    results: Path = typer.Option(Path("results"), "--results-dir", help="Results tree with this machine's measurements."),
    min_tg: float = typer.Option(10.0, "--min-tg", metavar="T/S", help="The generation speed a model must reach to count (t/s)."),
    kinds: str | None = typer.Option(None, "--kinds", help="Kinds of published scores (default Epoch's mix)."),
    out_dir: Path = typer.Option(Path("plots"), "--out", help="Folder for the PNG and SVG."),
) -> None:
    """This machine's card: what it runs, how good that is, how far behind the frontier, as a shareable figure."""
    from harness.commands import plot as command

    run(lambda: command.card(benchmark, results, min_tg, kinds, out_dir, out))
