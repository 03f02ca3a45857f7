"""One field list, in llama-bench's names, drives every output format: md, csv, json, jsonl."""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

from harness.output import markdown_table
from harness.results.schema import BenchResult

FIELDS = [
    "machine_id",
    "build_commit",
    "backends",
    "model_id",
    "model_filename",
    "model_type",
    "model_quant",
    "model_sha256",
    "model_size",
    "model_n_params",
    "n_batch",
    "n_ubatch",
    "n_threads",
    "type_k",
    "type_v",
    "n_gpu_layers",
    "flash_attn",
    "repack",
    "n_prompt",
    "n_gen",
    "n_depth",
    "test",
    "test_time",
    "avg_ns",
    "stddev_ns",
    "avg_ts",
    "stddev_ts",
    "median_ts",
    "ttft_ms",
    "peak_rss_bytes",
    "peak_gpu_used_bytes",
    "unstable",
    "other_cpu_share",
    "samples_ns",
    "samples_ts",
]


def rows(results: list[BenchResult]) -> list[dict]:
    """Every run of every result as a flat record with the FIELDS keys."""
    out = []
    for result in results:
        model, build = result.model, result.machine.llama_cpp
        for run in result.runs:
            record = {
                "machine_id": result.machine.machine_id,
                "build_commit": build.commit,
                "backends": ",".join(build.backends),
                "model_id": model.id,
                "model_filename": model.file_name,
                "model_type": model.description or f"{model.architecture} {model.quant}",
                "model_quant": model.quant,
                "model_sha256": model.sha256,
                "model_size": model.file_size_bytes,
                "model_n_params": model.n_params,
                **{
                    k: getattr(run.settings, k, None)
                    for k in ("n_batch", "n_ubatch", "type_k", "type_v", "n_gpu_layers", "flash_attn", "repack")
                },
                "n_threads": run.n_threads,
                "n_prompt": run.n_prompt,
                "n_gen": run.n_gen,
                "n_depth": run.n_depth,
                "test": run.test,
                "test_time": result.created_utc.isoformat(),
                "avg_ns": run.avg_ns,
                "stddev_ns": run.stddev_ns,
                "avg_ts": run.avg_ts,
                "stddev_ts": run.stddev_ts,
                "median_ts": run.median_ts,
                "ttft_ms": statistics.median(run.ttft_ns) / 1e6 if run.ttft_ns else None,
                "peak_rss_bytes": run.peak_rss_bytes,
                "peak_gpu_used_bytes": run.peak_gpu_used_bytes,
                "unstable": "; ".join(run.unstable),
                "other_cpu_share": run.other_cpu_share,
                "samples_ns": run.samples_ns,
                "samples_ts": run.samples_ts,
            }
            out.append({key: record[key] for key in FIELDS})  # FIELDS decides names and order
    return out


SERVING_FIELDS = [
    "model",
    "mode",
    "B",
    "PP",
    "TG",
    "N_KV",
    "T_PP s",
    "S_PP t/s",
    "T_TG s",
    "S_TG t/s",
    "T s",
    "S t/s",
    "t/s per stream",
    "TTFT ms",
    "peak RSS",
    "note",
]  # llama-batched-bench's names


def serving_rows(results: list[BenchResult]) -> list[dict]:
    """Every serving point as a flat record, in llama-batched-bench's columns (medians over the repetitions)."""
    import statistics

    out = []
    for result in results:
        for point in result.serving:
            t_pp = statistics.median(point.t_pp_ns) / 1e9 if point.t_pp_ns else None
            t_tg = statistics.median(point.t_tg_ns) / 1e9 if point.t_tg_ns else None
            out.append(
                {
                    "model": result.model.id or result.model.label,
                    "mode": point.mode,
                    "B": point.n_parallel,
                    "PP": point.n_prompt,
                    "TG": point.n_gen,
                    "N_KV": point.n_kv,
                    "T_PP s": t_pp,
                    "S_PP t/s": point.s_pp,
                    "T_TG s": t_tg,
                    "S_TG t/s": point.s_tg,
                    "T s": (t_pp or 0) + (t_tg or 0) if t_tg else None,
                    "S t/s": point.s,
                    "t/s per stream": point.tg_per_stream,
                    "TTFT ms": statistics.median(point.ttft_ns) / 1e6 if point.ttft_ns else None,
                    "peak RSS": point.peak_rss_bytes,
                    "note": point.note or "",
                }
            )
    return out


def render_serving(results: list[BenchResult], fmt: str) -> str:
    records = serving_rows(results)
    if fmt in ("json", "jsonl"):
        return json.dumps(records, indent=2) if fmt == "json" else "".join(json.dumps(r) + "\n" for r in records)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=SERVING_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue()

    def cell(value) -> str:
        return (
            "-"
            if value is None
            else f"{value:.3f}"
            if isinstance(value, float) and value < 10
            else f"{value:.1f}"
            if isinstance(value, float)
            else str(value)
        )

    rows = [[cell({**r, "peak RSS": _mib(r["peak RSS"])}[c]) for c in SERVING_FIELDS] for r in records]
    return markdown_table(SERVING_FIELDS, rows, right=[c for c in SERVING_FIELDS if c not in ("model", "mode", "note")])


def render(results: list[BenchResult], fmt: str) -> str:
    records = rows(results)
    if fmt == "json":
        return json.dumps(records, indent=2)
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in records)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in record.items()})
        return buffer.getvalue()
    if fmt == "md":
        return markdown(records)
    raise ValueError(f"unknown format {fmt}")


def _mib(size) -> str:
    return f"{size / 2**20:.2f} MiB" if size else "?"


def _params(n) -> str:
    if not n:
        return "?"
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


MD_COLUMNS = [
    "model",
    "quant",
    "size",
    "params",
    "backend",
    "ngl",
    "threads",
    "fa",
    "rpk",
    "test",
    "t/s",
    "median t/s",
    "TTFT ms",
    "peak RSS",
]


def markdown(records: list[dict]) -> str:
    """A table like llama-bench's; a run flagged unstable carries a '!' after its rate."""
    rows = []
    for r in records:
        cells = [
            r["model_id"] or Path(r["model_filename"]).stem,
            r["model_quant"] or "?",
            _mib(r["model_size"]),
            _params(r["model_n_params"]),
            r["backends"],
            str(r["n_gpu_layers"]),
            str(r["n_threads"]),
            str(r["flash_attn"]),
            "-" if r["repack"] is None else str(r["repack"]),  # llama-bench's rpk
            r["test"],
            f"{r['avg_ts']:.2f} ± {r['stddev_ts']:.2f}" + (" !" if r["unstable"] else ""),
            f"{r['median_ts']:.2f}",
            f"{r['ttft_ms']:.1f}" if r["ttft_ms"] is not None else "-",
            _mib(r["peak_rss_bytes"]),
        ]
        rows.append(cells)
    return markdown_table(MD_COLUMNS, rows, right=[c for c in MD_COLUMNS if c not in ("model", "backend", "test")])
