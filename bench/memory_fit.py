"""The memory model (harness/memory_fit.py) against llama.cpp's own allocations, on this machine: each bundled model loaded
through llama-cpp-python at several contexts and KV-cache types, in a child process each; llama.cpp's log gives its model,
KV-cache and compute buffers, and the child's RSS after one full micro-batch is decoded gives what the process really
holds (the CPU backend touches only the compute-buffer pages a micro-batch uses; a GPU backend allocates it all). Prints
predicted vs llama.cpp per term, with the ratio; --write puts the table into BENCHMARKS.md.

    python bench/memory_fit.py [--write]
    python bench/memory_fit.py --probe FILE --ctx 2048 [--cache q8_0] [--fa] [--swa-full]   # one load, JSON out
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import memory_budget, memory_fit  # noqa: E402
from harness.catalogue.gguf_file import read_gguf_facts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["smollm2-135m", "gemma3-270m"]
CONTEXTS = [512, 2048, 8192, 32768]
# (cache type, flash attention, full-size sliding-window cache): f16 without flash attention is llama-cpp-python's default;
# a quantised V cache needs flash attention in llama.cpp
SETTINGS = [("f16", False, False), ("q8_0", True, False)]
GGML_TYPE = {"f16": 1, "q8_0": 8}
MIB = 2**20


def probe(path: Path, n_ctx: int, cache: str, flash_attn: bool, swa_full: bool, repack: bool) -> dict:
    """Load `path` at `n_ctx` in this process, decode one micro-batch, and return llama.cpp's logged buffers and the RSS."""
    import llama_cpp
    import psutil
    from llama_cpp._internals import LlamaModel

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def capture(_level, text, _user_data):
        lines.append(text.decode("utf-8", "replace"))

    llama_cpp.llama_log_set(capture, ctypes.c_void_p(0))
    process = psutil.Process()
    before = process.memory_info().rss
    params = llama_cpp.llama_model_default_params()
    params.use_extra_bufts = repack
    model = LlamaModel(path_model=str(path), params=params, verbose=False)
    context = llama_cpp.llama_context_default_params()
    context.n_ctx, context.n_batch, context.n_ubatch = n_ctx, memory_fit.DEFAULT_UBATCH, memory_fit.DEFAULT_UBATCH
    context.n_seq_max, context.n_threads, context.n_threads_batch = 1, 2, 2
    context.type_k = context.type_v = GGML_TYPE[cache]
    context.flash_attn_type, context.swa_full = int(flash_attn), swa_full
    ctx = llama_cpp.llama_init_from_model(model.model, context)
    if not ctx:
        raise SystemExit(f"llama.cpp could not create the context: {''.join(lines[-3:])}")
    n = min(n_ctx, memory_fit.DEFAULT_UBATCH)
    batch = llama_cpp.llama_batch_init(n, 0, 1)  # one full micro-batch, logits at the last position (as generation asks)
    for i in range(n):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = 100 + i, i, 1, i == n - 1
        batch.seq_id[i][0] = 0
    batch.n_tokens = n
    if llama_cpp.llama_decode(ctx, batch) != 0:
        raise SystemExit(f"llama_decode failed: {''.join(lines[-3:])}")
    llama_cpp.llama_synchronize(ctx)
    rss = process.memory_info().rss - before
    log = "".join(lines)

    def mib(pattern: str) -> float:
        return sum(float(v) for v in re.findall(pattern, log)) * MIB

    found = {
        "weights": mib(r"model buffer size =\s+([\d.]+) MiB"),
        "kv_cache": mib(r"llama_kv_cache: size =\s+([\d.]+) MiB"),
        "compute": mib(r"compute buffer size =\s+([\d.]+) MiB"),
        "output": mib(r"output buffer size =\s+([\d.]+) MiB"),
        "rss": float(rss),
    }
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    return found


def predicted(path: Path, n_ctx: int, cache: str, flash_attn: bool, swa_full: bool) -> memory_fit.Need:
    facts = read_gguf_facts(path)
    return memory_fit.need(
        facts.n_params / 1e9,
        facts.quant,
        facts.file_size_bytes,
        n_ctx,
        facts,
        cache,
        cache,
        flash_attn=flash_attn,
        swa_full=swa_full,
    )


def run_probe(
    path: Path, n_ctx: int, cache: str = "f16", flash_attn: bool = False, swa_full: bool = False, repack: bool = True
) -> dict:
    """One load in a child process (a crash there does not end the caller); llama.cpp's figures as a dict."""
    command = [sys.executable, str(Path(__file__).resolve()), "--probe", str(path), "--ctx", str(n_ctx), "--cache", cache]
    command += ["--fa"] * flash_attn + ["--swa-full"] * swa_full + ["--no-repack"] * (not repack)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"probe failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(label: str, term: str, want: float, got: float) -> str:
    ratio = f"{want / got:.2f}" if got else "-"
    return f"| {label} | {term} | {want / MIB:,.1f} | {got / MIB:,.1f} | {ratio} |"


def table(repack: bool) -> list[str]:
    from harness.catalogue.models import load_catalog, resolve

    catalog = load_catalog()
    rows = [
        "| model, context, cache | term | predicted MiB | llama.cpp MiB | predicted / llama.cpp |",
        "|---|---|---:|---:|---:|",
    ]
    for model_id in MODELS:
        path = resolve(model_id, catalog).path
        settings = [(c, s) for c in CONTEXTS for s in SETTINGS]
        if memory_fit.Shape.from_facts(read_gguf_facts(path)).swa_layers:  # type: ignore[union-attr]
            settings.append((8192, ("f16", False, True)))  # llama-cpp-python's default: a full-size sliding-window cache
        for n_ctx, (cache, fa, swa_full) in settings:
            want = predicted(path, n_ctx, cache, fa, swa_full)
            got = run_probe(path, n_ctx, cache, fa, swa_full, repack)
            label = f"{model_id} {n_ctx} {cache}{' fa' if fa else ''}{' swa-full' if swa_full else ''}"
            allocated = got["weights"] + got["kv_cache"] + got["compute"] + got["output"]
            rows += [
                _row(label, "weights", want.weights, got["weights"]),
                _row(label, "KV cache", want.kv_cache, got["kv_cache"]),
                _row(label, "compute", want.compute, got["compute"]),
                _row(label, "total (llama.cpp: its buffers)", want.total, allocated),
                _row(label, "total (llama.cpp: RSS growth)", want.total, got["rss"]),
            ]
            print("\n".join(rows[-5:]), flush=True)
    return rows


def catalogue_rows() -> list[str]:
    """What the calibrated model gives for the large catalogue models on a 24 GB card (RTX 3090/4090), at 8k and 32k."""
    from harness.catalogue.hardware import load_hardware
    from harness.catalogue.models import load_catalog

    catalog, card = load_catalog(), next(d for d in load_hardware() if d.id == "rtx-4090")
    rows = [
        "| model | context | weights GiB | KV cache GiB | compute GiB | total GiB | 24 GB card |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for model_id in ("qwen2.5-32b-q4_k_m", "qwen3-32b-q4_k_m", "gemma3-27b-q4_k_m", "llama-3.3-70b-q4_k_m"):
        for n_ctx in (8192, 32768):
            fit = memory_budget.device_margin(card, catalog.get(model_id), n_ctx)  # type: ignore[arg-type]
            need = fit.need
            rows.append(
                f"| {model_id} | {n_ctx} | {need.weights / 2**30:.2f} | {need.kv_cache / 2**30:.2f} | "
                f"{need.compute / 2**30:.2f} | {need.total / 2**30:.2f} | {fit.text()} |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", type=Path)
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--cache", default="f16", choices=sorted(GGML_TYPE))
    parser.add_argument("--fa", action="store_true")
    parser.add_argument("--swa-full", action="store_true")
    parser.add_argument("--no-repack", action="store_true", help="llama-bench's --repack 0 (a VM whose AMX path crashes)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args.ctx, args.cache, args.fa, args.swa_full, not args.no_repack)))
        return
    rows = table(not args.no_repack)
    if args.write:
        import platform

        from benchmarks_md import write_section  # bench/, beside this script

        from harness.machine.facts import fingerprint

        cpu = fingerprint(include_build=False).cpu.model or platform.processor()
        command = "python bench/memory_fit.py --write" + (" --no-repack" if args.no_repack else "")
        body = (
            f"Measured {dt.date.today()} on {cpu} ({os.cpu_count()} cores, CPU backend) with `{command}`: each bundled model "
            "loaded through llama-cpp-python in a child process (-ub 512, 2 threads), llama.cpp's logged model, KV-cache and "
            "compute buffers (and its small output buffer, in the buffers' total) against harness/memory_fit.py's terms, "
            "and the child's RSS growth after decoding one 512-token micro-batch against the predicted total: it is lower "
            "because the CPU backend touches only the compute-buffer pages that micro-batch uses (the logits of its last "
            "token), while a GPU backend allocates the whole buffer up front. Flash attention off unless marked `fa` "
            "(a q8_0 V cache needs it); "
            "`swa-full` is llama-cpp-python's default full-size sliding-window cache (llama-server's default keeps only "
            "the window plus one micro-batch, as the other Gemma rows do).\n\n" + "\n".join(rows) + "\n\n"
            "What the model then gives for the catalogue's large models on a 24 GB card (an RTX 3090 or 4090: 24 GiB less "
            f"the {memory_budget.GPU_RESERVED_BYTES / 2**30:g} GiB reserve = "
            f"{memory_budget.usable_bytes('gpu', 24 * 2**30) / 2**30:g} GiB usable), f16 KV cache, flash attention off, "
            "-ub 512 (predicted, not measured: this machine has no GPU):\n\n" + "\n".join(catalogue_rows())
        )
        write_section(ROOT / "BENCHMARKS.md", "memory-fit", "The memory model against llama.cpp's allocations", body)


if __name__ == "__main__":
    main()
