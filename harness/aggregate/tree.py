"""Result files to pandas DataFrames: one row per test run, one per score, each with its machine's device facts.

Only files that pass `meek validate` are loaded: a results tree is other people's data. The model key ties a run to a
model file: the catalogue id unless the catalogue's sha256 for that id contradicts the file's (a file without a sha256,
like a llama-bench import, is taken at its catalogue name; validate warns about it), else the sha256, else the file name.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.results.facts import bytes_per_token, device_of, offloaded
from harness.results.schema import BenchResult
from harness.results.stats import percentile
from harness.results.validate import FileReport, Validator, result_files

RUN_COLUMNS = [
    "file",
    "machine_id",
    "cpu",
    "gpu",
    "device_id",
    "device",
    "device_kind",
    "bandwidth_gbs",
    "price_usd",
    "power_w",
    "backend",
    "runtime",
    "build",
    "model",
    "model_label",
    "quant",
    "model_bytes",
    "bytes_per_token",
    "created_utc",
    "test",
    "n_prompt",
    "n_gen",
    "n_depth",
    "n_threads",
    "n_gpu_layers",
    "flash_attn",
    "type_k",
    "type_v",
    "settings",
    "median_ts",
    "avg_ts",
    "stddev_ts",
    "n_samples",
    "samples_ts",
    "unstable",
    "other_cpu_share",
    "ttft_ms",
    "peak_rss_bytes",
    "peak_gpu_bytes",
    "measured_w",
    "tokens_per_joule",
    "source",
    "summary_only",
    "split",
]
SERVING_COLUMNS = [
    "file",
    "machine_id",
    "device_id",
    "device",
    "model",
    "model_label",
    "source",
    "mode",
    "n_parallel",
    "request_rate",
    "n_prompt",
    "n_gen",
    "s_tg",
    "tg_per_stream",
    "tg_per_stream_p10",
    "ttft_p90_ms",
    "errors",
    "server_build",
    "slots",
]
SCORE_COLUMNS = [
    "file",
    "machine_id",
    "device",
    "model",
    "model_label",
    "quant",
    "model_bytes",
    "created_utc",
    "task",
    "metric",
    "value",
    "stderr",
    "primary",
    "shots",
    "samples",
    "subset",
    "scoring",
]


# a block that belongs to the whole file (quality, fits): which file, machine and model it is (_whole_file_columns)
WHOLE_FILE_COLUMNS = [
    "file",
    "machine_id",
    "device_id",
    "device",
    "model",
    "model_label",
    "quant",
    "model_bytes",
    "created_utc",
]
QUALITY_FIELDS = ["reference", "reference_sha256", "text", "text_sha256", "ctx", "chunks", "kld_mean", "kld_mean_stderr"]
QUALITY_COLUMNS = [*WHOLE_FILE_COLUMNS, *QUALITY_FIELDS, "same_top", "ppl_ratio"]
FIT_FIELDS = ["ctx_max", "trained_ctx", "memory_limit_bytes"]
FIT_COLUMNS = [*WHOLE_FILE_COLUMNS, *FIT_FIELDS]


@dataclass
class Tree:
    runs: pd.DataFrame
    scores: pd.DataFrame
    rejected: list[FileReport]
    serving: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=SERVING_COLUMNS))
    # what quants cost (`meek quality`) and how much context fits (`meek fit`), one row per block; `families` maps a
    # model key to its family (architecture and GGUF name) and `shas` a file's sha256 to its model key
    quality: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=QUALITY_COLUMNS))
    fits: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=FIT_COLUMNS))
    families: dict[str, str] = dataclasses.field(default_factory=dict)
    shas: dict[str, str] = dataclasses.field(default_factory=dict)


def model_key(result: BenchResult, catalogue_sha: dict[str, str]) -> str:
    model = result.model
    if model.id and (model.sha256 is None or catalogue_sha.get(model.id) in (None, model.sha256)):
        return model.id
    return model.sha256 or model.file_name


def _machine_columns(result: BenchResult, offload: bool) -> dict:
    machine = result.machine
    device = device_of(machine, offload)
    return {
        "machine_id": machine.machine_id,
        "cpu": machine.cpu.model,
        "gpu": machine.gpus[0].name if machine.gpus else None,
        "device_id": device.id if device else None,
        "device": device.name if device else (machine.gpus[0].name if offload and machine.gpus else machine.cpu.model),
        "device_kind": device.kind if device else None,
        "bandwidth_gbs": device.bandwidth_gbs if device else None,
        "price_usd": device.launch_price_usd if device else None,
        "power_w": device.power_w if device else None,
        # a model split across RPC servers is its own kind of run: its backend says so, so nothing keyed on the backend
        # (compare's rows, the leaderboard's) ever merges it with a single machine's
        "backend": (result.protocol.backend if result.protocol else "llama-cpp-python") + (" + RPC" if result.split else ""),
        "runtime": ",".join(machine.llama_cpp.backends) or None,  # ggml's backends: CPU, CUDA, ROCm, Vulkan, Metal
        "build": machine.llama_cpp.commit,
        "source": provenance(result),
        "split": split_label(result),
    }


def split_label(result: BenchResult) -> str:
    """'RPC over 2.5GbE: 10.0.0.2:50052, 10.0.0.3:50052', or '' for a run on one machine."""
    if result.split is None:
        return ""
    link = f" over {result.split.link}" if result.split.link else ""
    return f"RPC{link}: {', '.join(e.address for e in result.split.endpoints)}"


def provenance(result: BenchResult) -> str:
    """Where a result comes from: 'imported: <tool output, build, source>' for an import, else 'measured' (compare tells
    this machine's own measurements from submitted ones)."""
    imported = result.protocol.imported_from if result.protocol else None
    return f"imported: {imported}" if imported else "measured"


def _model_columns(result: BenchResult, key: str) -> dict:
    return {
        "model": key,
        "model_label": result.model.label,
        "quant": result.model.quant,
        "model_bytes": result.model.file_size_bytes,
        "created_utc": result.created_utc,
    }


def settings_label(run) -> str:
    """The settings a run used, short: 't8 ngl99 fa1 b2048/512 f16/f16', or what is known of a server's."""
    settings = run.settings
    if settings is None:
        return f"server ({run.timing_source or 'settings not visible'})"
    threads = f"t{run.n_threads} " if run.n_threads is not None else ""  # a published table may not give threads
    return (
        f"{threads}ngl{settings.n_gpu_layers} fa{settings.flash_attn} "
        f"b{settings.n_batch}/{settings.n_ubatch} {settings.type_k}/{settings.type_v}" + (" rpk0" if settings.repack == 0 else "")
    )  # unrecorded repack was llama.cpp's default, 1


def _tokens_per_joule(run) -> float | None:
    """Tokens over the energy every sensor counted during the test (CPU package plus GPUs); None without sensors."""
    energy = sum(p.energy_j for p in run.power)
    return (run.n_prompt + run.n_gen) * len(run.samples_ns) / energy if energy > 0 else None


def run_rows(result: BenchResult, key: str, file: Path, per_token: float | None) -> list[dict]:
    rows = []
    machine_columns = {
        offload: _machine_columns(result, offload) for offload in {offloaded(r, result.machine) for r in result.runs}
    }
    for run in result.runs:
        settings = run.settings
        rows.append(
            {
                "file": str(file),
                **machine_columns[offloaded(run, result.machine)],
                **_model_columns(result, key),
                "bytes_per_token": per_token,
                "test": run.test,
                "n_prompt": run.n_prompt,
                "n_gen": run.n_gen,
                "n_depth": run.n_depth,
                "n_threads": run.n_threads,
                "n_gpu_layers": settings.n_gpu_layers if settings else None,
                "flash_attn": settings.flash_attn if settings else None,
                "type_k": settings.type_k if settings else None,
                "type_v": settings.type_v if settings else None,
                "settings": settings_label(run),
                "summary_only": run.summary_only,
                "median_ts": run.median_ts if run.median_ts is not None else run.avg_ts,  # a summary-only run: its mean
                "avg_ts": run.avg_ts,
                "stddev_ts": run.stddev_ts,
                "n_samples": len(run.samples_ts),
                "samples_ts": run.samples_ts,
                "unstable": bool(run.unstable),  # busy or unstable: a reason in the file (spread, outliers, a busy machine)
                "other_cpu_share": run.other_cpu_share,  # None where not measured (imported, server, older files)
                "ttft_ms": statistics.median(run.ttft_ns) / 1e6 if run.ttft_ns else None,
                "peak_rss_bytes": run.peak_rss_bytes,
                "peak_gpu_bytes": run.peak_gpu_used_bytes,
                "measured_w": sum(p.avg_w for p in run.power) if run.power else None,
                "tokens_per_joule": _tokens_per_joule(run),
            }
        )
    return rows


def serving_rows(result: BenchResult, key: str, file: Path) -> list[dict]:
    """One row per serving point: the load, aggregate and per-stream generation, TTFT p90."""
    rows = []
    for point in result.serving:
        machine = _machine_columns(result, offloaded(point, result.machine))
        ttft = point.ttft.p90 / 1e6 if point.ttft else (percentile(point.ttft_ns, 90) / 1e6 if point.ttft_ns else None)
        rows.append(
            {
                "file": str(file),
                "machine_id": machine["machine_id"],
                "device_id": machine["device_id"],
                "device": machine["device"],
                "model": key,
                "model_label": result.model.label,
                "source": machine["source"],
                **point.model_dump(
                    include={
                        "mode",
                        "n_parallel",
                        "request_rate",
                        "n_prompt",
                        "n_gen",
                        "s_tg",
                        "tg_per_stream",
                        "tg_per_stream_p10",
                        "errors",
                        "server_build",
                        "slots",
                    }
                ),
                "ttft_p90_ms": ttft,
            }
        )
    return rows


def score_rows(result: BenchResult, key: str, file: Path) -> list[dict]:
    machine = _machine_columns(result, offload=False)
    return [
        {
            "file": str(file),
            "machine_id": machine["machine_id"],
            "device": machine["device"],
            **_model_columns(result, key),
            **score.model_dump(include={"task", "metric", "value", "stderr", "primary", "shots", "samples", "subset", "scoring"}),
        }
        for score in result.scores
    ]


def _whole_file_columns(result: BenchResult, key: str, file: Path) -> dict:
    """Machine and model columns of a block that belongs to the whole file (quality, fits): the device is the GPU when
    the build offloads and the machine has one."""
    machine = _machine_columns(result, offload=bool(result.machine.llama_cpp.gpu_offload) and bool(result.machine.gpus))
    return {
        "file": str(file),
        **{k: machine[k] for k in ("machine_id", "device_id", "device")},
        **_model_columns(result, key),
    }


def quality_rows(result: BenchResult, key: str, file: Path) -> list[dict]:
    columns = _whole_file_columns(result, key, file) if result.quality else {}
    return [{**columns, **q.model_dump(include={*QUALITY_FIELDS, "same_top", "ppl_ratio"})} for q in result.quality]


def fit_rows(result: BenchResult, key: str, file: Path) -> list[dict]:
    columns = _whole_file_columns(result, key, file) if result.fits else {}
    return [{**columns, **f.model_dump(include=set(FIT_FIELDS))} for f in result.fits]


def family_of(result: BenchResult, key: str) -> str:
    """Files of one model at different quants share their GGUF architecture and name (llama-quantize keeps them)."""
    model = result.model
    return f"{model.architecture or '?'}/{model.name}" if model.name else key


def prefer_stable(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The runs, less the busy or unstable ones of every group (by `keys`) that has a stable one: a noisy run is never
    the figure where a stable one exists, and a group of noisy runs only keeps them (marked by their `unstable`)."""
    noisy = runs["unstable"].eq(True)  # a missing flag (hand-made frames) is not a mark
    has_stable = (~noisy).groupby([runs[k] for k in keys], dropna=False).transform("any")
    return runs[~noisy | ~has_stable]


def load_tree(paths: Iterable[Path | str]) -> Tree:
    """Validate and load every result file under the paths."""
    validator = Validator()
    catalogue_sha = {model_id: model.sha256 for model_id, model in validator.by_id.items() if model.sha256}
    runs, scores, serving, rejected, quality, fits = [], [], [], [], [], []
    families: dict[str, str] = {}
    shas: dict[str, str] = {}
    reports = validator.finish([validator.check(file) for file in result_files(Path(p) for p in paths)])
    for report in reports:
        if not report.ok:
            rejected.append(report)
            continue
        result = report.result
        assert result is not None  # a report without failures has its result
        key = model_key(result, catalogue_sha)
        per_token = bytes_per_token(result, validator.model_of(result))
        runs += run_rows(result, key, report.path, per_token)
        scores += score_rows(result, key, report.path)
        serving += serving_rows(result, key, report.path)
        quality += quality_rows(result, key, report.path)
        fits += fit_rows(result, key, report.path)
        families.setdefault(key, family_of(result, key))
        if result.model.sha256:
            shas.setdefault(result.model.sha256, key)
    return Tree(
        pd.DataFrame(runs, columns=RUN_COLUMNS),
        pd.DataFrame(scores, columns=SCORE_COLUMNS),
        rejected,
        pd.DataFrame(serving, columns=SERVING_COLUMNS),
        pd.DataFrame(quality, columns=QUALITY_COLUMNS),
        pd.DataFrame(fits, columns=FIT_COLUMNS),
        families,
        shas,
    )


def load_results(path: Path | str = "results") -> pd.DataFrame:
    """Every valid test run under `path` as a DataFrame, one row per run (files failing `meek validate` are left out)."""
    return load_tree([path]).runs


def load_scores(path: Path | str = "results") -> pd.DataFrame:
    """Every benchmark score under `path` as a DataFrame, one row per score."""
    return load_tree([path]).scores


def primary_scores(results: Path, tasks: set[str], machine_id: str | None) -> pd.DataFrame:
    """The primary scores on these tasks in a results tree, of one machine (or of all when machine_id is None)."""
    scores = load_tree([results]).scores if results.exists() else pd.DataFrame()
    if scores.empty:
        return scores
    scores = scores[scores["task"].isin(tasks) & scores["primary"]]
    return scores if machine_id is None else scores[scores["machine_id"] == machine_id]
