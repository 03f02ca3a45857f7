"""The `meek` command: a thin Typer layer over the harness modules. No measurement logic lives here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from harness import __version__
from harness.errors import MeekError

app = typer.Typer(
    help="Benchmark quantised GGUF models on this machine and compare with everyone's: speed and memory (bench), "
    "benchmark scores (eval), result files (validate, submit, import, compare, advise), the frontier (gap, plot, frontier) "
    "and a static leaderboard site (report).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="The model catalogue (models.yaml): list, inspect and verify models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
import_app = typer.Typer(help="Turn other tools' output into result files.", no_args_is_help=True)
app.add_typer(import_app, name="import")
plot_app = typer.Typer(
    help="Figures as PNG and SVG in plots/: frontier, throughput, depth, pareto, roofline.", no_args_is_help=True
)
app.add_typer(plot_app, name="plot")
frontier_app = typer.Typer(
    help="The frontier score table (Epoch AI data, CC BY 4.0) behind gap and plot frontier.", no_args_is_help=True
)
app.add_typer(frontier_app, name="frontier")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)  # a pipe gets whole lines


def fail(message: str, code: int = 1) -> None:
    """Say what went wrong in one line on stderr and exit: no traceback for a user's mistake."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def run_reporting_errors(action, *args) -> None:
    """Run a command's action; a MeekError becomes one line on stderr and exit code 1."""
    try:
        action(*args)
    except MeekError as error:
        fail(str(error))


def version_callback(value: bool) -> None:
    if value:
        print(f"meek-harness {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True, help="Show the version and exit."),
) -> None:
    pass


@app.command(
    epilog="Examples:\n\n"
    "  meek bench                                  # bundled SmolLM2-135M, pp512 and tg128, 5 repetitions\n\n"
    "  meek bench -m gemma3-270m -p 128,512 -n 128 -d 0,2048 -t 1,2 -r 5\n\n"
    "  meek bench -m ./any.gguf -ngl 99 -fa 1 -o json\n\n"
    "  meek bench --tier auto                      # the standard models of every tier this machine can hold\n\n"
    "  meek bench --backend openai --url http://127.0.0.1:8080 -m my-model   # any OpenAI-compatible server\n\n"
    "  meek bench --backend ollama -m llama3.1:8b  # Ollama at http://127.0.0.1:11434 unless --url\n\n"
    "  meek bench --backend llama-bench --bin ~/llama.cpp/build/bin/llama-bench -m ./model.gguf\n\n"
    "Sweep values take lists (128,512) and ranges: 0-8192+2048 steps by 2048, 1-16*2 doubles. Every combination runs;"
    " each distinct load setting loads the model once, in a worker process."
)
def bench(
    model: list[str] = typer.Option(
        [], "-m", "--model", help="Catalogue id or .gguf path; repeat or comma-separate for several. Default: smollm2-135m."
    ),
    tier: str | None = typer.Option(
        None,
        "--tier",
        help="Run the standard models of a tier: tiny, small, medium, large, xl, a comma list, or auto (those that fit in memory).",
    ),
    n_prompt: str = typer.Option("512", "-p", "--n-prompt", help="Prompt tokens to process (pp test)."),
    n_gen: str = typer.Option("128", "-n", "--n-gen", help="Tokens to generate (tg test)."),
    pg: list[str] = typer.Option([], "-pg", help="A prompt+generation test, as 'PROMPT,GEN' (e.g. 512,128); repeatable."),
    n_depth: str = typer.Option("0", "-d", "--n-depth", help="Tokens already in the context before the test."),
    threads: str | None = typer.Option(None, "-t", "--threads", help="CPU threads. Default: physical cores."),
    n_gpu_layers: str = typer.Option("0", "-ngl", "--n-gpu-layers", help="Layers offloaded to the GPU (99 = all)."),
    batch: str = typer.Option("2048", "-b", "--batch-size", help="Logical batch size."),
    ubatch: str = typer.Option("512", "-ub", "--ubatch-size", help="Physical batch size."),
    flash_attn: str = typer.Option("0", "-fa", "--flash-attn", help="Flash attention: 0 off, 1 on, -1 auto."),
    cache_type_k: str = typer.Option("f16", "-ctk", "--cache-type-k", help="KV cache type for K: f16, q8_0, q4_0, ..."),
    cache_type_v: str = typer.Option("f16", "-ctv", "--cache-type-v", help="KV cache type for V."),
    repack: str | None = typer.Option(
        None,
        "-rpk",
        "--repack",
        help="llama-bench's --repack: 1 lets llama.cpp repack weights for its faster CPU kernels (AMX, CPU repack), 0 keeps "
        "them plain; 0,1 measures both. Default: 1 where the preflight probe finds it runs, else 0 (said in one line).",
    ),
    repetitions: int = typer.Option(
        5, "-r", "--repetitions", min=1, max=1000, help="Timed repetitions per test (after one warm-up)."
    ),
    no_warmup: bool = typer.Option(False, "--no-warmup", help="Skip the warm-up run."),
    output: str = typer.Option("md", "-o", "--output", help="Table on stdout: md, csv, json or jsonl."),
    results_dir: Path = typer.Option(
        Path("results"), "--results-dir", help="Where result files go (as <machine-id>/<UTC time>-<model>.json)."
    ),
    timeout: float = typer.Option(600, "--timeout", min=1, help="Seconds a worker may go without progress before it is stopped."),
    eval_suite: str | None = typer.Option(
        None,
        "--eval",
        help="Also score each model on a suite (quick, full) or tasks (hellaswag,arc_challenge), into the same result file.",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="With --eval: read task data from this folder (offline), e.g. ../shared/data/bench."
    ),
    backend: str = typer.Option(
        "llama-cpp-python",
        "--backend",
        help="llama-cpp-python (in process), openai (any OpenAI-compatible server), ollama, llama-bench.",
    ),
    url: str | None = typer.Option(None, "--url", help="Server URL for --backend openai or ollama, e.g. http://127.0.0.1:8080."),
    binary: Path | None = typer.Option(None, "--bin", help="Your llama-bench binary for --backend llama-bench."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="MEEK_API_KEY", help="Bearer key for the server (never saved)."),
) -> None:
    """Measure prompt processing and generation speed, time to first token, load time and peak memory.

    Follows llama-bench's protocol (random tokens, KV cache cleared each repetition, warm-up kept apart) so its
    numbers can be checked against llama-bench on the same build. Every run is saved as a result file.
    """
    from harness import commands

    if backend != "llama-cpp-python":
        try:
            code = commands.bench_elsewhere(
                backend, url, binary, api_key, model, n_prompt, n_gen, threads, n_gpu_layers, flash_attn, repetitions,
                no_warmup, output, results_dir, repack, timeout,
            )  # fmt: skip
        except MeekError as error:
            fail(str(error), 2)
        raise typer.Exit(code)
    try:
        code = commands.bench(
            model, tier, n_prompt, n_gen, pg, n_depth, threads, n_gpu_layers, batch, ubatch, flash_attn, cache_type_k,
            cache_type_v, repetitions, no_warmup, output, results_dir, timeout, eval_suite, data_dir, repack,
        )  # fmt: skip
    except MeekError as error:
        fail(str(error), 2)
    raise typer.Exit(code)


@app.command(
    "eval",
    epilog="Examples:\n\n"
    "  meek eval -m smollm2-135m --suite quick --data-dir ../shared/data/bench   # offline, from local files\n\n"
    "  meek eval -m smollm2-135m --suite quick                                   # standard lm-eval tasks from the hub\n\n"
    "  meek eval -m ./any.gguf --tasks hellaswag,arc_challenge --limit 200\n\n"
    "Suites: quick = a fixed, seeded subset of MMLU (stratified by subject), HellaSwag, ARC-Challenge and GSM8K; "
    "full = those tasks whole. Interrupted or crashed runs resume from a cache in ~/.meek/eval-cache: run the same "
    "command again.",
)
def eval_command(
    model: str = typer.Option("smollm2-135m", "-m", "--model", help="Catalogue id or .gguf path."),
    suite: str | None = typer.Option(None, "--suite", help="quick or full."),
    tasks: str | None = typer.Option(
        None, "--tasks", help="Comma-separated task names (hellaswag, arc_challenge, mmlu, gsm8k, ...)."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Read task data from this folder instead of the hub (layout of ../shared/data/bench)."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Score only this many items per task (a seeded subset; marked as a subset)."
    ),
    strategy: str = typer.Option(
        "prefix-reuse",
        "--strategy",
        help="prefix-reuse (shared contexts decoded once: fast, same scores) or plain (every request from scratch).",
    ),
    n_ctx: int = typer.Option(2048, "--ctx", min=64, help="Context size for scoring; longer inputs are cut from the left."),
    threads: int | None = typer.Option(None, "-t", "--threads", min=1, help="CPU threads. Default: all cores."),
    chat: bool = typer.Option(False, "--chat", help="Wrap prompts in the model's chat template (instruct models)."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result file goes."),
    repack: str | None = typer.Option(
        None, "-rpk", "--repack", help="0 or 1, as for meek bench. Default: what the preflight probe finds runs here."
    ),
    timeout: float = typer.Option(
        600, "--timeout", min=1, help="Seconds the scoring worker may go without finishing a request before it is stopped."
    ),
) -> None:
    """Score the exact quantised file on standard benchmarks through lm-eval, and save the scores.

    Scoring runs in a worker process: a crash, an out-of-memory kill or a hang is one line and exit code 1, and every
    request scored before it stays in the request cache, so the same command resumes."""
    from harness import commands

    if strategy not in ("prefix-reuse", "plain"):
        fail(f"--strategy: unknown '{strategy}' (choose prefix-reuse or plain)", 2)
    try:
        code = commands.evaluate(
            model, suite, tasks, data_dir, limit, strategy, n_ctx, threads, chat, results_dir, repack, timeout
        )
    except MeekError as error:
        fail(str(error), 2)
    raise typer.Exit(code)


@app.command()
def machine(
    as_json: bool = typer.Option(False, "--json", help="Print the fingerprint as JSON."),
    probe: bool = typer.Option(
        True, "--probe/--no-probe", help="Run the preflight probe (a few seconds, once per llama.cpp build) if it has not run."
    ),
) -> None:
    """What the harness knows about this machine: CPU, memory, GPUs, OS, the llama.cpp build, and the preflight verdict
    (which of llama.cpp's CPU paths run here)."""
    from harness import commands

    try:
        facts = commands.machine_facts(probe)
    except MeekError as error:
        fail(str(error))
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    commands.print_machine(facts, out)
    for warning in facts.get("warnings", []):
        err.print(f"warning: {warning}")


@models_app.command("list")
def models_list(tier: str | None = typer.Option(None, "--tier", help="Only this tier.")) -> None:
    """Every model in the catalogue, with its tier, size and whether its file is here."""
    from harness import commands

    run_reporting_errors(commands.models_list, tier, out)


@models_app.command("info")
def models_info(model_id: str = typer.Argument(..., help="Catalogue id or .gguf path.")) -> None:
    """Catalogue facts and, when the file is here, what its GGUF header says."""
    from harness import commands

    run_reporting_errors(commands.models_info, model_id, out)


@models_app.command("verify")
def models_verify(model_id: str = typer.Argument(..., help="Catalogue id.")) -> None:
    """Fetch the model if needed, then check its GGUF header and its sha256 against the catalogue."""
    from harness import commands

    run_reporting_errors(commands.models_verify, model_id, out)


@app.command(
    epilog="Examples:\n\n"
    "  meek validate results/                 # every result file under results/\n\n"
    "  meek validate a.json b.json --json     # machine-readable verdicts\n\n"
    "Checks: size and strict JSON (no NaN, bounded nesting), no markup or control characters in strings, the schema, the "
    "content hash (an edited file fails), statistics that follow from the raw samples, a generation rate the device's "
    "memory bandwidth allows, sane dates and versions, a model sha256 the catalogue knows (a warning otherwise), duplicates.",
)
def validate(
    paths: list[Path] = typer.Argument(..., help="Result files or folders (searched recursively; links are not followed)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """Check result files from anyone: a verdict per file with every reason; exit code 1 when any file fails."""
    from harness import sharing_commands

    code = 0
    try:
        code = sharing_commands.validate(paths, as_json, out)
    except MeekError as error:
        fail(str(error), 2)
    raise typer.Exit(code)


@app.command(
    epilog="Examples:\n\n"
    "  meek submit results/amd-epyc-24g-869870/20261125T121552Z-smollm2-135m.json\n\n"
    "  meek submit my-run.json --url https://collector.example/api/results",
)
def submit(
    path: Path = typer.Argument(..., help="A result file written by meek bench, meek eval or meek import."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="The results tree of your meek-harness checkout."),
    url: str | None = typer.Option(None, "--url", help="POST the cleaned file to this collector instead of placing it."),
) -> None:
    """Validate a result file, strip local paths, and place it under results/<machine-id>/ for a pull request."""
    from harness import sharing_commands

    run_reporting_errors(sharing_commands.submit, path, results_dir, url, out)


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
    from harness import sharing_commands

    run_reporting_errors(sharing_commands.import_llama_bench, paths, results_dir, out)


@app.command(
    epilog="Examples:\n\n"
    "  meek compare --model llama-3.1-8b-q4_k_m            # pp512 and tg128 per machine, fastest first\n\n"
    "  meek compare results/ other-results/ --test tg128 --format csv\n\n"
    "Per machine, backend and settings: median t/s over submitted files with their min and max, noise (sample stddev or "
    "the spread across files), time to first token, peak memory, t/s per $1000 and per watt (the device's launch price "
    "and board power from the hardware table), and the share of the memory-bandwidth bound a generation test reached. "
    "Rows closer than their noise are marked: those machines cannot be told apart.",
)
def compare(
    paths: list[Path] = typer.Argument(None, help="Results folders or files. Default: results/."),
    model: str | None = typer.Option(None, "-m", "--model", help="Catalogue id, model label or sha256 prefix. Default: all."),
    test: str | None = typer.Option(None, "--test", help="Comma list of tests, e.g. pp512,tg128 (the default when present)."),
    fmt: str = typer.Option("md", "-f", "--format", help="md, csv or json."),
) -> None:
    """Machines side by side for a model, from everyone's result files (only files that pass validation)."""
    from harness import sharing_commands

    tests = [t.strip() for t in test.split(",") if t.strip()] if test else None
    run_reporting_errors(sharing_commands.compare, paths or [Path("results")], model, tests, fmt, out)


@app.command(
    epilog="Examples:\n\n"
    "  meek advise --budget 2500 --model llama-3.1-8b-q4_k_m --min-tg 20\n\n"
    "  meek advise --model qwen3-30b-a3b-q4_k_m --format csv\n\n"
    "Measured speeds (median over machines with that device in the results) rank first-hand; devices nobody measured get "
    "a bandwidth-based prediction, labelled as one.",
)
def advise(
    model: str = typer.Option(..., "-m", "--model", help="Catalogue id of the model you want to run."),
    budget: float | None = typer.Option(None, "--budget", min=0, help="Most you would spend, in US dollars (launch prices)."),
    min_tg: float | None = typer.Option(None, "--min-tg", min=0, help="Slowest generation speed you accept, tokens/s."),
    paths: list[Path] = typer.Option([Path("results")], "--results", help="Results folders to learn from (repeatable)."),
    fmt: str = typer.Option("md", "-f", "--format", help="md, csv or json."),
) -> None:
    """Which hardware to buy for a model and a budget: ranked by generation speed, measured where anyone measured it."""
    from harness import sharing_commands

    run_reporting_errors(sharing_commands.advise, paths, model, budget, min_tg, fmt, out)


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
    results: Path = typer.Option(Path("results"), "--results", help="Results tree holding this machine's scores."),
    fmt: str = typer.Option("md", "-f", "--format", help="md, csv or json."),
) -> None:
    """How many months behind the frontier the best model each kind of home machine can hold is, per benchmark."""
    from harness import frontier_commands

    benchmarks = [b.strip() for b in benchmark.split(",") if b.strip()]
    run_reporting_errors(frontier_commands.gap, benchmarks, classes, machine, results, fmt, out)


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
    from harness import frontier_commands

    run_reporting_errors(frontier_commands.frontier_import, paths, out)


@plot_app.command(
    "frontier", epilog="Example:\n\n  meek plot frontier --benchmark gpqa_diamond --classes 16gb-gpu,24gb-gpu,128gb-unified"
)
def plot_frontier(
    benchmark: str = typer.Option("mmlu", "-b", "--benchmark", help="mmlu, gpqa_diamond, hellaswag, arc_challenge, gsm8k, ..."),
    classes: str | None = typer.Option(None, "--classes", help="Machine classes to draw. Default: 24gb-gpu,128gb-unified."),
    results: Path = typer.Option(Path("results"), "--results", help="Results tree with your measured scores (drawn as points)."),
    all_machines: bool = typer.Option(False, "--all-machines", help="Draw every machine's measured scores, not only this one's."),
    out_dir: Path = typer.Option(Path("plots"), "--out", help="Folder for the PNG and SVG."),
) -> None:
    """Score against release date: the frontier, the best open model, and the best open model each machine class holds."""
    from harness import frontier_commands

    run_reporting_errors(frontier_commands.plot_frontier, benchmark, classes, results, all_machines, out_dir, out)


PERFORMANCE_PLOTS = {
    "throughput": "pp and tg tokens/s per machine, with error bars from the raw samples.",
    "depth": "pp and tg tokens/s against context depth (run meek bench -d 0,1024,4096 first).",
    "pareto": "Quality against speed per machine and model (needs speed and scores: meek bench --eval quick).",
    "roofline": "Generation tokens/s against model size, with each device's memory-bandwidth bound.",
}


def _register_performance_plot(kind: str, summary: str) -> None:
    """`meek plot <kind>`: the four figures drawn from a results tree take the same options."""

    def command(
        results: list[Path] = typer.Option([Path("results")], "--results", help="Results folders (repeatable)."),
        model: str | None = typer.Option(None, "-m", "--model", help="Only this model (catalogue id, label or sha256 prefix)."),
        out_dir: Path = typer.Option(Path("plots"), "--out", help="Folder for the PNG and SVG."),
    ) -> None:
        from harness import plot_commands

        run_reporting_errors(plot_commands.performance_plot, kind, results, model, out_dir, out)

    command.__doc__ = summary
    plot_app.command(kind)(command)


for _kind, _summary in PERFORMANCE_PLOTS.items():
    _register_performance_plot(_kind, _summary)


@app.command(
    epilog="Examples:\n\n  meek report --out site/          # then open site/index.html\n\n"
    "  meek report results/ other/ --out /tmp/site\n\n"
    "Pages: leaderboard (sort by any column; filter by model, tier, vendor, memory), one page per machine, two machines "
    "side by side, the buying view (t/s per dollar and per watt), the frontier charts. Only files that pass validation "
    "are used; every string is escaped.",
)
def report(
    paths: list[Path] = typer.Argument(None, help="Results folders. Default: results/."),
    out_dir: Path = typer.Option(Path("site"), "--out", help="Folder for the site (created)."),
) -> None:
    """Build a static site from a results tree: browsable offline, publishable as is."""
    from harness import report_commands

    run_reporting_errors(report_commands.report, paths or [Path("results")], out_dir, out)


@app.command()
def schema(
    write: Path | None = typer.Option(None, "--write", help="Write the JSON Schema to this file instead of printing it."),
) -> None:
    """The JSON Schema of result files (the current schema_version)."""
    from harness.results import json_schema

    text = json.dumps(json_schema(), indent=1) + "\n"
    if write:
        write.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    app()
