"""llama.cpp's own llama-perplexity, run on the same files and text as `meek quality`, to check its figures against
(bench/kld.py and the tests): the command lines, and its printed statistics read back as QuantQuality's field names.

Both are run with one sequence per batch (`-b` = `-c`, so llama-perplexity's n_seq is 1, as meek decodes), the same
threads and the same --repack; `-f` drops one trailing newline from the file, as meek's --text does.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness.errors import MeekError

# llama-perplexity's lines, e.g. "Mean    KLD:   0.240132 ±   0.008200", "Same top p: 78.150 ± 1.835 %"
PATTERNS = {
    "ppl": (r"Mean PPL\(Q\)\s*:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)", 1.0),
    "ppl_reference": (r"Mean PPL\(base\)\s*:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)", 1.0),
    "ppl_ratio": (r"Mean PPL\(Q\)/PPL\(base\)\s*:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)", 1.0),
    "kld_mean": (r"Mean\s+KLD:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)", 1.0),
    "kld_max": (r"Maximum KLD:\s*([-\d.eE+]+)", 1.0),
    "kld_p99": (r"99\.0%\s+KLD:\s*([-\d.eE+]+)", 1.0),
    "kld_p90": (r"90\.0%\s+KLD:\s*([-\d.eE+]+)", 1.0),
    "kld_median": (r"Median\s+KLD:\s*([-\d.eE+]+)", 1.0),
    "same_top": (r"Same top p:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)\s*%", 0.01),
}


def base_command(
    binary: Path, reference: Path, text_file: Path, base_file: Path, ctx: int, chunks: int, threads: int, repack: int
) -> list[str]:
    """llama-perplexity's reference pass: it writes the reference's log-probabilities to `base_file`."""
    return [*_common(binary, reference, text_file, ctx, chunks, threads, repack), "--kl-divergence-base", str(base_file)]


def kld_command(
    binary: Path, quant: Path, text_file: Path, base_file: Path, ctx: int, chunks: int, threads: int, repack: int
) -> list[str]:
    """llama-perplexity's quant pass against a base file."""
    return [
        *_common(binary, quant, text_file, ctx, chunks, threads, repack),
        "--kl-divergence-base",
        str(base_file),
        "--kl-divergence",
    ]


def _common(binary: Path, model: Path, text_file: Path, ctx: int, chunks: int, threads: int, repack: int) -> list[str]:
    return [
        str(binary),
        "-m",
        str(model),
        "-f",
        str(text_file),
        "-c",
        str(ctx),
        "-b",
        str(ctx),
        "--chunks",
        str(chunks),
        "-t",
        str(threads),
        "--repack" if repack else "--no-repack",
    ]


def run(command: list[str], timeout_s: float = 1800) -> str:
    """Run one llama-perplexity command; its whole output (it logs to stderr and stdout)."""
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise MeekError(f"llama-perplexity exited with {completed.returncode}: {output.strip().splitlines()[-1:]}")
    return output


def figures(output: str) -> dict[str, float]:
    """The figures llama-perplexity --kl-divergence printed (it prints them from 100 scored positions on), by
    QuantQuality's names; a standard error as NAME_stderr."""
    found: dict[str, float] = {}
    for name, (pattern, unit) in PATTERNS.items():
        match = re.search(pattern, output)
        if match is None:
            continue
        found[name] = float(match.group(1)) * unit
        if match.lastindex and match.lastindex > 1:
            found[f"{name}_stderr"] = float(match.group(2)) * unit
    if "kld_mean" not in found:
        raise MeekError("llama-perplexity printed no KL divergence statistics (fewer than 100 scored positions?)")
    return found
