"""Importing llama-bench's published tables (`meek import llama-bench-table`, `depth-campaign`): (markdown as it prints them, or a CSV of one) as
result files, for numbers posted without raw output: llama.cpp's own `benches/` files, a table pasted in an issue.

Such a table gives mean ± sd per test, so each run is `summary_only`. llama-bench prints only the columns that differ
from its defaults, so a column that is absent held llama-bench's default. The machine is the hardware-table device the
user names; the date and the source are the user's to give (a table carries neither), and are recorded.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from pathlib import Path

from pydantic import ValidationError

from harness.catalogue.hardware import Device, load_hardware
from harness.catalogue.models import CatalogModel, load_catalog
from harness.errors import UsageError
from harness.results.import_llama_bench import Imported, quant_of
from harness.results.reading import read_text
from harness.results.schema import Cpu, Gpu, LlamaBuild, Machine, ModelInfo, Protocol, Run, Settings, new_result
from harness.version import __version__

TEST = re.compile(r"^(?:pp(\d+))?\+?(?:tg(\d+))?(?: @ d(\d+))?$")
MEAN_SD = re.compile(r"^\s*([\d.]+)\s*(?:±\s*([\d.]+))?\s*$")


def table_rows(text: str) -> list[dict[str, str]]:
    """The rows of a markdown table (llama-bench's `-o md`) or of a CSV, as dicts keyed by column name."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("|"):
        cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("|")]
        header, body = cells[0], [c for c in cells[1:] if not all(set(x) <= set("-: ") for x in c)]
        return [dict(zip(header, row)) for row in body]
    return list(csv.DictReader(io.StringIO(text)))


def _number(text: str | None) -> float | None:
    match = re.match(r"^\s*([\d.]+)", text or "")
    return float(match.group(1)) if match else None


def catalogue_model(label: str, params_b: float | None, quant: str | None, models: list[CatalogModel]) -> CatalogModel | None:
    """The catalogue entry with the same quant and (within 3%) the same parameter count, when exactly one fits."""
    if not params_b or not quant:
        return None
    fits = [m for m in models if m.quant.upper() == quant.upper() and abs(m.params_total_b - params_b) <= 0.03 * params_b]
    return fits[0] if len(fits) == 1 else None


def _run(row: dict[str, str]) -> Run | None:
    test = (row.get("test") or "").strip()
    shape = TEST.match(test)
    cell = MEAN_SD.match(row.get("t/s") or "")
    rate = row.get("tps_mean") or (cell.group(1) if cell else None)
    if not test or not shape or not shape.group(0) or rate in (None, ""):
        return None
    spread = row.get("tps_std") or (cell.group(2) if cell else None) or "0"
    n_prompt, n_gen, n_depth = (int(g) if g else 0 for g in shape.groups())
    if n_prompt + n_gen == 0:
        return None
    flash = str(row.get("fa", "")).strip().lower()
    settings = Settings(
        n_gpu_layers=int(row.get("ngl") or 99 if "ngl" in row else -1),
        n_batch=int(row.get("n_batch") or 2048),
        n_ubatch=int(row.get("n_ubatch") or 512),
        flash_attn=1 if flash in ("1", "true") else 0 if flash in ("0", "false") else -1,
        type_k=row.get("type_k") or "f16",
        type_v=row.get("type_v") or "f16",
    )
    return Run(
        test=test,
        n_prompt=n_prompt,
        n_gen=n_gen,
        n_depth=n_depth,
        n_threads=int(row["threads"]) if row.get("threads") else None,
        n_ctx=n_prompt + n_gen + n_depth,
        settings=settings,
        summary_only=True,
        avg_ts=float(rate),
        stddev_ts=float(spread),
        timing_source="published llama-bench table: mean ± sd of its repetitions",
    )


def _machine(device: Device, backend: str, build: str, source: str) -> Machine:
    digest = hashlib.sha256(f"{device.id}|{backend}|{source}".encode()).hexdigest()[:6]
    reported = device.match[0]  # the name software reports for it, so the record maps back onto this device
    gpus = (
        []
        if device.kind == "cpu"
        else [
            Gpu(
                vendor=device.vendor,
                name=reported,
                unified_memory=device.kind == "unified",
                memory_bytes=int((device.memory_gb or 0) * 2**30) or None,
            )
        ]
    )
    return Machine(
        machine_id=f"{device.id}-imported-{digest}"[:80],
        cpu=Cpu(model=reported, arch="unknown", simd=[]),
        memory_bytes=None,
        gpus=gpus,
        unified_memory=device.kind == "unified",
        os={},
        python="unknown",
        harness_version=__version__,
        llama_cpp=LlamaBuild(commit=build or None, backends=[b for b in re.split(r"[,\s]+", backend) if b][:16] or ["unknown"]),
    )


def results_from_table(text: str, device_id: str, date: dt.date, source: str, name: str) -> Imported:
    """One result per (model, backend, build) of the table; rows that hold no measurement or do not parse are skipped
    with their reason; results are validated before they are returned."""

    devices = {d.id: d for d in load_hardware()}
    if device_id not in devices:
        raise UsageError(f"--device: unknown device '{device_id}' (see the ids meek advise lists)")
    device, models = devices[device_id], load_catalog().models
    imported, groups = Imported(), {}
    created = dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc)
    for number, row in enumerate(table_rows(text), 1):
        if str(row.get("error", "")).lower() == "true":
            imported.skipped.append(f"row {number}: the source marks it as an error ({row.get('error_type') or 'no type'})")
            continue
        try:
            run = _run(row)
        except (ValidationError, ValueError) as error:
            imported.skipped.append(f"row {number}: {str(error).splitlines()[0]}")
            continue
        if run is None:
            imported.skipped.append(f"row {number}: no test and rate in it")
            continue
        label = (row.get("model_clean") or row.get("model") or "model").strip()
        build = row.get("build_hash") or (row.get("build") or "").split(" ")[0]
        backend = row.get("env") or row.get("backend") or "unknown"
        key = (label, backend, build)
        if key not in groups:
            params = _number(row.get("params_b") or row.get("params"))
            quant = (row.get("quant") or quant_of(label) or quant_of(row.get("model", "")) or "").upper() or None
            size_gib = _number(row.get("file_size_gib") or row.get("size"))
            entry = catalogue_model(label, params, quant, models)
            model = ModelInfo(
                id=entry.id if entry else None,
                label=entry.id if entry else label[:200],
                file_name=label[:300],
                file_size_bytes=int(size_gib * 2**30) if size_gib else None,
                quant=quant,
                n_params=int(params * 1e9) if params else None,
                description=row.get("model", "")[:200] or None,
            )
            protocol = Protocol(
                backend="llama-bench",
                repetitions=None,
                warmup=True,
                seed=0,
                timing="published llama-bench table (mean ± sd; no raw samples)",
                imported_from=f"llama-bench table, {backend}, build {build or 'unknown'}, {name}"[:300],
                source=source[:500],
            )
            groups[key] = new_result(
                _machine(device, row.get("backend") or backend, build, source),
                model,
                protocol,
                status="complete",
                created_utc=created,
            )
        groups[key].runs.append(run)
    return imported.keep_valid(groups.values(), name)


def _depth_run(row: dict[str, str]) -> Run:
    """One point of a depth campaign (kyuz0's `*_depth.csv`): `prefill` is pp at depth, `generation` tg at depth, with
    the published repetitions as raw samples (each repetition's t/s, as timed by llama-bench)."""
    from harness.results.stats import summarize

    depth, n_prompt, n_gen = int(row["starting_depth"]), int(row["prompt_tokens"]), int(row["generation_tokens"])
    if (row["series"], bool(n_prompt), bool(n_gen)) not in (("prefill", True, False), ("generation", False, True)):
        raise ValueError(f"series {row['series']!r} with {n_prompt} prompt and {n_gen} generated tokens")
    rates = [float(value) for value in row["samples"].split(";") if value.strip()]
    if not rates or min(rates) <= 0:
        raise ValueError("no positive repetitions in samples")
    tokens = n_prompt + n_gen
    samples_ns = [max(1, round(tokens / rate * 1e9)) for rate in rates]
    test = f"pp{n_prompt}" if n_prompt else f"tg{n_gen}"
    settings = Settings(
        n_gpu_layers=-1, n_batch=int(row["batch"]), n_ubatch=int(row["ubatch"]), flash_attn=-1, type_k="f16", type_v="f16"
    )  # the campaign states neither: llama-bench's defaults
    return Run(
        test=f"{test} @ d{depth}" if depth else test,
        n_prompt=n_prompt,
        n_gen=n_gen,
        n_depth=depth,
        n_threads=None,
        n_ctx=depth + tokens,
        settings=settings,
        samples_ns=samples_ns,
        timing_source="published llama-bench repetitions (t/s each)",
        **{k: v for k, v in summarize(tokens, samples_ns).items()},
    )


def results_from_depth_csv(text: str, device_id: str, date: dt.date, source: str, name: str) -> Imported:
    """kyuz0's depth campaigns: one result per (profile or toolbox, model, build), its runs pp and tg from depth 0 up."""
    device, models = {d.id: d for d in load_hardware()}[device_id], load_catalog().models
    imported, groups = Imported(), {}
    created = dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc)
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), 1):
        try:
            run = _depth_run(row)
        except (ValidationError, ValueError, KeyError, TypeError) as error:
            imported.skipped.append(f"row {number}: {str(error).splitlines()[0]}")
            continue
        setup = row.get("toolbox_name") or row.get("toolbox") or "unknown toolbox"
        profile = row.get("profile") or row.get("toolbox") or ""
        key = (setup, profile, row["model"], row["build_commit"])
        if key not in groups:
            quant = (row.get("quant") or quant_of(row["model"]) or "").upper() or None
            entry = next((m for m in models if m.source.hf_file and Path(m.source.hf_file).stem == row["model"]), None)
            model = ModelInfo(
                id=entry.id if entry else None,
                label=entry.id if entry else row["model"][:200],
                file_name=(row.get("model_source") or row["model"])[:300],
                quant=quant,
            )
            runtime = "Vulkan" if "vulkan" in setup.lower() else "ROCm" if "rocm" in setup.lower() else setup
            protocol = Protocol(
                backend="llama-bench",
                repetitions=len(run.samples_ns),
                warmup=True,
                seed=0,
                timing="published llama-bench repetitions of a depth campaign",
                imported_from=f"depth campaign, {setup}, profile {profile}, build {row['build_commit']}, {name}"[:300],
                source=source[:500],
            )
            groups[key] = new_result(
                _machine(device, runtime, row["build_commit"], f"{source}|{setup}|{profile}"),
                model,
                protocol,
                status="complete",
                created_utc=created,
            )
        groups[key].runs.append(run)
    return imported.keep_valid(groups.values(), name)


def import_depth_csv(path: Path, device_id: str, date: dt.date, source: str) -> Imported:
    return results_from_depth_csv(read_text(path, 50 * 2**20), device_id, date, source, path.name)


def import_table(path: Path, device_id: str, date: dt.date, source: str) -> Imported:
    text = read_text(path, 50 * 2**20)
    return results_from_table(text, device_id, date, source, path.name)
