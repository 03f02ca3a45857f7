"""`meek fit`: the largest context that runs on this machine, against the memory model's prediction."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import app, given, out, run


@app.command(
    epilog="Examples:\n\n"
    "  meek fit                                      # bundled SmolLM2-135M, up to its trained context (8,192)\n\n"
    "  meek fit -m gemma3-270m --fill 0              # quick: memory only, generation timed at an empty context\n\n"
    "  meek fit -m ./any.gguf --min-tg 10            # the largest context that still generates 10 t/s\n\n"
    "  meek fit --memory-limit 256M                  # as if the worker had only 256 MiB for weights, cache and buffers\n\n"
    "Contexts double from --start until one fails or the trained context is reached, then the interval is bisected to "
    "256 tokens. Each probe is a worker process of its own: a failed allocation, an out-of-memory kill or a crash is "
    "that probe's result, not meek's end.",
)
def fit(
    ctx: typer.Context,
    model: str = typer.Option("smollm2-135m", "-m", "--model", help="Catalogue id or .gguf path."),
    min_tg: str | None = typer.Option(
        None, "--min-tg", metavar="T/S", help="A probe generating slower than this (tokens per second) counts as failing."
    ),
    n_gen: int = typer.Option(32, "-n", "--n-gen", min=1, help="Tokens generated (and timed) at each probe."),
    fill: str = typer.Option(
        "1",
        "--fill",
        metavar="SHARE",
        help="Share of each probe's context decoded before the timed generation: 1 (default) times generation at a full "
        "context; 0 is quick (the KV cache is allocated and zeroed by llama.cpp either way).",
    ),
    start: int = typer.Option(512, "--start", min=256, help="The first context tried."),
    max_ctx: int | None = typer.Option(
        None, "--max-ctx", min=256, help="The largest context tried. Default: the model's trained context."
    ),
    memory_limit: str | None = typer.Option(
        None,
        "--memory-limit",
        metavar="SIZE",
        help="Limit what each probe's worker may allocate beyond its start-up (weights, KV cache, buffers), e.g. 512M or "
        "2G: RLIMIT_DATA, Linux; the weights are then read into memory instead of mapped. GPU memory is not limited.",
    ),
    threads: int | None = typer.Option(None, "-t", "--threads", min=1, help="CPU threads. Default: physical cores."),
    n_gpu_layers: int = typer.Option(-1, "-ngl", "--n-gpu-layers", min=-1, help="Layers offloaded to the GPU; -1 = all."),
    flash_attn: str = typer.Option(
        "auto", "-fa", "--flash-attn", metavar="0|1|auto", help="Flash attention: 0/off, 1/on, -1/auto."
    ),
    cache_type_k: str = typer.Option("f16", "-ctk", "--cache-type-k", help="KV cache type for K: f16, q8_0, q4_0, ..."),
    cache_type_v: str = typer.Option("f16", "-ctv", "--cache-type-v", help="KV cache type for V."),
    repack: str | None = typer.Option(
        None,
        "-rpk",
        "--repack",
        metavar="0|1",
        help="0 or 1, as for meek bench. Default: what the preflight probe finds runs here.",
    ),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result file goes."),
    timeout: float = typer.Option(
        600, "--timeout", metavar="SECONDS", min=1, help="Seconds a probe may go without progress before it fails."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the random tokens decoded."),
) -> None:
    """The largest context this machine loads and generates at, the generation rate there and the peak memory of each
    probe, beside the memory model's prediction; saved in a result file."""
    from harness.commands import fit as command

    run(lambda: command.run(command.request(ctx.params, given(ctx)), out))
