"""`meek quality`: what a quant costs against a reference file of the same model, measured on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import app, out, run


@app.command(
    epilog="Examples:\n\n"
    "  meek quality -m ./model-Q4_K_M.gguf --reference ./model-Q8_0.gguf      # default text, 20 chunks of 512\n\n"
    "  meek quality -m ./q2_k.gguf --reference smollm2-135m --text wiki.test.raw --chunks 100\n\n"
    "The figures are llama-perplexity's --kl-divergence: each chunk of --ctx tokens is scored on its second half. The "
    "reference's distributions are cached in $MEEK_HOME/kld-cache, so the next quant of the same model skips that pass. "
    "The default text is CPython's pydoc_data.topics (the Python documentation's topic texts, PSF License 2.0).",
)
def quality(
    ctx: typer.Context,
    model: str = typer.Option(..., "-m", "--model", help="The quant: catalogue id or .gguf path."),
    reference: str = typer.Option(
        ..., "--reference", help="The file it is compared with (the same model at higher precision): catalogue id or path."
    ),
    text: Path | None = typer.Option(
        None, "--text", help="A UTF-8 text file to score (default: CPython's pydoc_data.topics, PSF License 2.0)."
    ),
    n_ctx: int = typer.Option(512, "--ctx", min=1, help="Tokens per chunk; the second half of each is scored."),
    chunks: int = typer.Option(20, "--chunks", min=1, max=100000, help="Chunks to score (fewer when the text is shorter)."),
    threads: int | None = typer.Option(None, "-t", "--threads", min=1, help="CPU threads. Default: physical cores."),
    n_gpu_layers: int = typer.Option(-1, "-ngl", "--n-gpu-layers", min=-1, help="Layers offloaded to the GPU; -1 = all."),
    repack: str | None = typer.Option(
        None, "-rpk", "--repack", help="0 or 1, as for meek bench. Default: what the preflight probe finds runs here."
    ),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the quant's result file goes."),
    timeout: float = typer.Option(600, "--timeout", min=1, help="Seconds a worker may go without finishing a chunk."),
) -> None:
    """KL divergence, same top token and perplexity ratio of a quant against a reference file, as llama-perplexity
    computes them, saved in the quant's result file (its `quality` block)."""
    from harness.commands import quality as command

    options = dict(ctx.params)
    options["ctx"] = options.pop("n_ctx")
    run(lambda: command.run(command.request(options), out))
