"""`meek quality`: what a quant costs against a reference file of the same model (KL divergence, same top token,
perplexity ratio, as llama-perplexity's --kl-divergence), measured here and saved as the quant's result file."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.catalogue.gguf_file import read_gguf_facts
from harness.catalogue.models import load_catalog, resolve
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, MeekError, UsageError
from harness.machine.facts import fingerprint, physical_cores
from harness.measure.preflight import RepackPolicy, parse_one_repack
from harness.measure.protocol import model_info
from harness.output import Output, markdown_table
from harness.quality.kld_run import Settings, measure
from harness.quality.kld_text import default_text, read_text
from harness.results.schema import BenchResult, QuantQuality, new_result
from harness.results.store import check_results_dir, save_result

MIN_CTX = 16


@dataclass(frozen=True)
class QualityRequest:
    """`meek quality`'s options, parsed."""

    model: str
    reference: str
    text: Path | None = None
    ctx: int = 512
    chunks: int = 20
    threads: int | None = None
    n_gpu_layers: int = -1
    repack: int | None = None
    results_dir: Path = Path("results")
    timeout_s: float = 600.0


def request(options: dict[str, Any]) -> QualityRequest:
    """The request from `meek quality`'s options as typed."""
    o = options
    wanted = parse_one_repack(o["repack"], "meek quality runs both files")
    if o["ctx"] < MIN_CTX:
        raise UsageError(f"--ctx: at least {MIN_CTX} tokens (half of each chunk is context, half is scored)")
    return QualityRequest(
        model=o["model"],
        reference=o["reference"],
        text=o["text"],
        ctx=o["ctx"],
        chunks=o["chunks"],
        threads=o["threads"],
        n_gpu_layers=o["n_gpu_layers"],
        repack=wanted,
        results_dir=o["results_dir"],
        timeout_s=o["timeout"],
    )


def run(request: QualityRequest, out: Output) -> int:
    """Measure the quant against the reference and save its result file; exit 0 when done, 1 when a pass failed, 2 for
    a request that cannot be done (before anything runs where it can be told then), 130 when interrupted."""
    check_results_dir(request.results_dir)
    scored = read_text(request.text) if request.text is not None else default_text()
    catalog = load_catalog()
    quant = resolve(request.model, catalog)
    reference = resolve(request.reference, catalog)
    quant_vocab, reference_vocab = read_gguf_facts(quant.path).vocab_size, read_gguf_facts(reference.path).vocab_size
    if quant_vocab and reference_vocab and quant_vocab != reference_vocab:
        raise UsageError(
            f"{quant.label} and {reference.label} have different vocabularies ({quant_vocab:,} and {reference_vocab:,} "
            "tokens): their next-token distributions cannot be compared; give a reference of the same model"
        )
    threads = request.threads or physical_cores()
    policy = RepackPolicy(fingerprint(), out.line, request.timeout_s)
    try:
        repack = policy.repack_for(request.repack, reference.path, request.n_gpu_layers, threads)
    except MeekError as error:
        out.error(error)
        return EXIT_FAILED
    quant_info, reference_info = model_info(quant), model_info(reference)
    assert reference_info.sha256 is not None  # model_info hashes the file
    settings = Settings(request.ctx, request.chunks, threads, request.n_gpu_layers, repack, request.timeout_s)
    out.line(
        f"comparing {quant.label} with {reference.label} over {scored.name}: up to {request.chunks} chunks of {request.ctx} "
        f"tokens, {threads} threads"
    )
    try:
        measured = measure(
            quant.path,
            reference.path,
            reference_info.sha256,
            scored.text,
            scored.sha256,
            settings,
            out.line,
            reference.label,
            quant.label,
        )
    except KeyboardInterrupt:
        out.line("\ninterrupted: nothing was saved (a reference pass that finished stays cached)")
        return EXIT_INTERRUPTED
    elapsed = measured.quant_s + (measured.reference_s or 0.0)
    quality = QuantQuality(
        reference=reference.label,
        reference_sha256=reference_info.sha256,
        reference_quant=reference_info.quant,
        text=scored.name,
        text_sha256=scored.sha256,
        ctx=request.ctx,
        chunks=measured.chunks,
        elapsed_s=round(elapsed, 2),
        tool=f"meek in process (llama-cpp-python {metadata.version('llama-cpp-python')}, repack {repack})",
        **measured.figures,
    )
    result = new_result(policy.machine, quant_info, status="complete")
    result.quality.append(quality)
    out.data(quality_table(result))
    reference_time = f"{measured.reference_s:.1f} s" if measured.reference_s is not None else "cached"
    out.line(f"reference pass {reference_time}, quant pass {measured.quant_s:.1f} s")
    out.line(f"saved {save_result(result, request.results_dir, out.line)}")
    return EXIT_OK


def quality_table(result: BenchResult) -> str:
    """Each figure of each quality block, named, with its standard error where it has one."""
    rows: list[list[object]] = []
    for q in result.quality:
        rows += [
            ["KL divergence, mean", f"{q.kld_mean:.6g}", f"{q.kld_mean_stderr:.6g}"],
            ["KL divergence, median", f"{q.kld_median:.6g}", "-"],
            ["KL divergence, 90th percentile", f"{q.kld_p90:.6g}", "-"],
            ["KL divergence, 99th percentile", f"{q.kld_p99:.6g}", "-"],
            ["KL divergence, largest", f"{q.kld_max:.6g}", "-"],
            ["same top token", f"{100 * q.same_top:.3f} %", f"{100 * q.same_top_stderr:.3f} %"],
            [f"perplexity of {result.model.label}", f"{q.ppl:.4f}", f"{q.ppl_stderr:.4f}"],
            [f"perplexity of {q.reference} (reference)", f"{q.ppl_reference:.4f}", f"{q.ppl_reference_stderr:.4f}"],
            ["perplexity ratio", f"{q.ppl_ratio:.6f}", f"{q.ppl_ratio_stderr:.6f}"],
        ]
    table = markdown_table(["figure", "value", "± stderr"], rows, right=["value", "± stderr"])
    notes = [
        f"{result.model.label} against {q.reference}: {q.chunks} chunks of {q.ctx} tokens, {q.tokens_scored:,} positions "
        f"scored, text {q.text}"
        for q in result.quality
    ]
    return table + "".join(f"({note})\n" for note in notes)
