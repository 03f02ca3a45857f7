"""Importing the LocalScore leaderboard (`meek import localscore`): (localscore.ai, run by llamafile's `localscore`) as summary-only
result files, one per (accelerator, CPU, model), each run naming its LocalScore result number.

LocalScore is not llama-bench: its prompt and generation rates are averages over nine fixed (prompt, generation)
shapes, from (16, 1536) to (4096, 256) (`get_baseline_test_configs()` in Mozilla-Ocho/llamafile localscore/localscore.cpp),
so its runs are named "localscore pp/tg (9-shape avg)" and never line up with pp512 or tg128.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from harness.catalogue.hardware import find_device, vendor_of
from harness.catalogue.models import CatalogModel, load_catalog
from harness.results.import_llama_bench import (
    ROW_ERRORS,
    Cells,
    Groups,
    Imported,
    Row,
    csv_rows,
    number,
    published_protocol,
    quant_of,
)
from harness.results.import_tables import catalogue_model
from harness.results.reading import read_text
from harness.results.schema import Cpu, Gpu, LlamaBuild, Machine, ModelInfo, Run, Vendor, new_result
from harness.version import __version__

SHAPES = [(1024, 16), (4096, 256), (2048, 256), (2048, 768), (1024, 1024), (1280, 3072), (384, 1152), (64, 1024), (16, 1536)]
MEAN_PROMPT = round(sum(p for p, _ in SHAPES) / len(SHAPES))
MEAN_GEN = round(sum(g for _, g in SHAPES) / len(SHAPES))
MAX_CTX = max(p + g for p, g in SHAPES)
PP_TEST, TG_TEST = "localscore pp (9-shape avg)", "localscore tg (9-shape avg)"
# LocalScore's three standard models, by the names it shows (it labels the 1B as 1500 M parameters).
STANDARD = {
    "Llama 3.2 1B Instruct": "llama-3.2-1b-q4_k_m",
    "Meta Llama 3.1 8B Instruct": "llama-3.1-8b-q4_k_m",
    "Qwen2.5 14B Instruct": "qwen2.5-14b-q4_k_m",
}


def _model(row: Cells, models: list[CatalogModel], by_id: dict[str, CatalogModel]) -> ModelInfo:
    quant = quant_of(row["model_quant"]) or row["model_quant"][:40]
    params_b = (
        number(row["model_params"], "model_params", 0, 1e8) / 1000
        if row.get("model_params_unit") == "M" and row.get("model_params")
        else None
    )
    entry = by_id.get(STANDARD.get(row["model_name"], "")) if quant == "Q4_K_M" else None
    entry = entry or catalogue_model(row["model_name"], params_b, quant, models)
    return ModelInfo(
        id=entry.id if entry else None,
        label=entry.id if entry else row["model_name"][:200],
        file_name=row["model_name"][:300],
        quant=quant,
        n_params=int(params_b * 1e9) if params_b else None,
        file_size_bytes=entry.file_size_bytes if entry else None,
        name=row["model_name"][:200],
    )


def _machine(row: Cells) -> Machine:
    accel, cpu = row["accel_name"].strip(), row["system_cpu"].strip()
    device = find_device(accel) or (find_device(cpu) if row["accel_type"] == "CPU" else None)
    slug = "-".join(re.findall(r"[a-z0-9]+", (device.id if device else accel).lower()))[:40] or "machine"
    digest = hashlib.sha256(f"{accel}|{cpu}".encode()).hexdigest()[:6]
    ram = number(row["system_ram"], "system_ram", 0, 1e6) * 1e9 if row.get("system_ram") else None
    gpus = []
    if row["accel_type"] == "GPU":
        vendor: Vendor = device.vendor if device else vendor_of(accel)
        vram = number(row["accel_ram"], "accel_ram", 0, 1e5) * 1e9 if row.get("accel_ram") else None
        gpus = [
            Gpu(
                vendor=vendor,
                name=accel[:200],
                memory_bytes=int(vram) if vram else None,
                unified_memory=bool(device and device.kind == "unified") or vendor == "apple",
            )
        ]
    return Machine(
        machine_id=f"{slug}-localscore-{digest}",
        cpu=Cpu(model=(cpu or accel)[:200], arch="unknown", simd=[]),
        memory_bytes=int(ram) if ram else None,
        gpus=gpus,
        unified_memory=bool(gpus and gpus[0].unified_memory),
        os={"system": row.get("system_os", "")[:40]},
        python="unknown",
        harness_version=__version__,
        llama_cpp=LlamaBuild(backends=["CPU" if row["accel_type"] == "CPU" else "GPU"]),
    )


def _runs(row: Cells) -> list[Run]:
    where = f"LocalScore result {row['test_num'][:20]}: average over its 9 (prompt, generation) shapes"
    ttft_ms = number(row["ttft"], "ttft", 0, 3.6e6) if row.get("ttft") and row.get("ttft_unit") == "ms" else None
    return [
        Run(
            test=PP_TEST,
            n_prompt=MEAN_PROMPT,
            n_gen=0,
            n_depth=0,
            n_threads=None,
            n_ctx=MAX_CTX,
            settings=None,
            summary_only=True,
            avg_ts=number(row["prompt_tps"], "prompt_tps", 0, 1e7),
            stddev_ts=0.0,
            timing_source=where,
            ttft_ns=[int(ttft_ms * 1e6)] if ttft_ms else [],
        ),
        Run(
            test=TG_TEST,
            n_prompt=0,
            n_gen=MEAN_GEN,
            n_depth=0,
            n_threads=None,
            n_ctx=MAX_CTX,
            settings=None,
            summary_only=True,
            avg_ts=number(row["gen_tps"], "gen_tps", 0, 1e7),
            stddev_ts=0.0,
            timing_source=where,
        ),
    ]


def results_from_tsv(text: str, source: str, name: str) -> Imported:
    """One result per (accelerator, CPU, model); a row that does not parse, or that the validator refuses, is skipped
    alone with its reason (named by its LocalScore result number)."""
    models = load_catalog().models
    by_id = {m.id: m for m in models}
    imported, groups = Imported(), Groups()
    for number_, row in enumerate(csv_rows(text, delimiter="\t"), 1):
        label = f"result {row.get('test_num', '?')[:20]}" if isinstance(row, Cells) else f"row {number_}"
        try:
            if isinstance(row, ValueError):
                raise row
            if not (row.get("accel_name") or "").strip() and not (row.get("system_cpu") or "").strip():
                raise ValueError("names no accelerator and no CPU: nothing to compare it with")
            runs = _runs(row)
            created = dt.datetime.strptime(row["test_date"], "%Y.%m.%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
            key = (row["accel_name"], row["system_cpu"], row["model_name"], row["model_quant"])
            machine, model = _machine(row), _model(row, models, by_id)  # every row's cells are read; the first row's kept
            if key not in groups:
                protocol = published_protocol(
                    "localscore",
                    "LocalScore's published averages over its 9 test shapes (no raw samples)",
                    f"LocalScore leaderboard, {name}",
                    source,
                )
                groups.start(key, new_result(machine, model, protocol, status="complete", created_utc=created))
        except ROW_ERRORS as error:
            imported.refuse(label, error)
            continue
        groups.add(key, Row(label, runs, created))
    return imported.keep_valid(groups, name)


def import_tsv(path: Path, source: str) -> Imported:
    text = read_text(path, 50 * 2**20)
    return results_from_tsv(text, source, path.name)
