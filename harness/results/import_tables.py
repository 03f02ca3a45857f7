"""Importing llama-bench's published tables (`meek import llama-bench-table`, `depth-campaign`): (markdown as it prints them, or a CSV of one) as
result files, for numbers posted without raw output: llama.cpp's own `benches/` files, a table pasted in an issue.

Such a table gives mean ± sd per test, so each run is `summary_only`. llama-bench prints only the columns that differ
from its defaults, so a column that is absent held llama-bench's default. The machine is the hardware-table device the
user names; the date and the source are the user's to give (a table carries neither), and are recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from harness.catalogue.hardware import Device, load_hardware
from harness.catalogue.models import CatalogModel, load_catalog
from harness.errors import UsageError
from harness.results.import_llama_bench import (
    ROW_ERRORS,
    Cells,
    Groups,
    Imported,
    Row,
    csv_rows,
    integer,
    leading_number,
    number,
    published_protocol,
    quant_of,
)
from harness.results.reading import read_text
from harness.results.schema import Cpu, Gpu, LlamaBuild, Machine, ModelInfo, Run, Settings, new_result
from harness.version import __version__

TEST = re.compile(r"^(?:pp(\d+))?\+?(?:tg(\d+))?(?: @ d(\d+))?$")
MEAN_SD = re.compile(r"^\s*([\d.]+)\s*(?:±\s*([\d.]+))?\s*$")


RATE = (1e-3, 1e7)  # a repetition's tokens per second (timed, so above 0): one token in 1,000 s to ten million a second
TOKENS = 10**7  # the schema's bound on a count of tokens


def table_rows(text: str) -> Iterator[Cells | ValueError]:
    """The rows of a markdown table (llama-bench's `-o md`) or of a CSV, as Cells keyed by column name (a row the CSV
    reader cannot read comes as the reason)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("|"):
        cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("|")]
        header, body = cells[0], [c for c in cells[1:] if not all(set(x) <= set("-: ") for x in c)]
        yield from (Cells(zip(header, row)) for row in body)
        return
    yield from csv_rows(text)


def catalogue_model(label: str, params_b: float | None, quant: str | None, models: list[CatalogModel]) -> CatalogModel | None:
    """The catalogue entry with the same quant and (within 3%) the same parameter count, when exactly one fits."""
    if not params_b or not quant:
        return None
    fits = [m for m in models if m.quant.upper() == quant.upper() and abs(m.params_total_b - params_b) <= 0.03 * params_b]
    return fits[0] if len(fits) == 1 else None


def _run(row: Cells) -> Run | None:
    test = (row.get("test") or "").strip()
    shape = TEST.match(test)
    cell = MEAN_SD.match(row.get("t/s") or "")
    rate = row.get("tps_mean") or (cell.group(1) if cell else None)
    if not test or not shape or not shape.group(0) or rate in (None, ""):
        return None
    spread = row.get("tps_std") or (cell.group(2) if cell else None) or "0"
    n_prompt, n_gen, n_depth = (integer(g, "test length", 0, TOKENS) if g else 0 for g in shape.groups())
    if n_prompt + n_gen == 0:
        return None
    flash = str(row.get("fa", "")).strip().lower()
    settings = Settings(
        n_gpu_layers=integer(row.get("ngl") or "99", "ngl", -1, 10000) if "ngl" in row else -1,
        n_batch=integer(row.get("n_batch") or "2048", "n_batch", 1, 10**6),
        n_ubatch=integer(row.get("n_ubatch") or "512", "n_ubatch", 1, 10**6),
        flash_attn=1 if flash in ("1", "true") else 0 if flash in ("0", "false") else -1,
        type_k=row.get("type_k") or "f16",
        type_v=row.get("type_v") or "f16",
    )
    return Run(
        test=test,
        n_prompt=n_prompt,
        n_gen=n_gen,
        n_depth=n_depth,
        n_threads=integer(row["threads"], "threads", 1, 8192) if row.get("threads") else None,
        n_ctx=n_prompt + n_gen + n_depth,
        settings=settings,
        summary_only=True,
        avg_ts=number(rate, "t/s", 0, RATE[1]),
        stddev_ts=number(spread, "t/s sd", 0, RATE[1]),
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


def _model(row: Cells, label: str, models: list[CatalogModel]) -> ModelInfo:
    params = leading_number(row.get("params_b") or row.get("params"), "params", 0, 1e5)  # billions
    quant = (row.get("quant") or quant_of(label) or quant_of(row.get("model", "")) or "").upper() or None
    size_gib = leading_number(row.get("file_size_gib") or row.get("size"), "size", 0, 2**20)
    entry = catalogue_model(label, params, quant, models)
    return ModelInfo(
        id=entry.id if entry else None,
        label=entry.id if entry else label[:200],
        file_name=label[:300],
        file_size_bytes=int(size_gib * 2**30) if size_gib else None,
        quant=quant,
        n_params=int(params * 1e9) if params else None,
        description=row.get("model", "")[:200] or None,
    )


def results_from_table(text: str, device_id: str, date: dt.date, source: str, name: str) -> Imported:
    """One result per (model, backend, build) of the table; rows that hold no measurement or do not parse are skipped
    with their reason, and so is a row the validator refuses, alone; results are validated before they are returned."""

    devices = {d.id: d for d in load_hardware()}
    if device_id not in devices:
        raise UsageError(f"--device: unknown device '{device_id}' (see the ids meek advise lists)")
    device, models = devices[device_id], load_catalog().models
    imported, groups = Imported(), Groups()
    created = dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc)
    for number_, row in enumerate(table_rows(text), 1):
        label = f"row {number_}"
        try:
            if isinstance(row, ValueError):
                raise row
            if str(row.get("error", "")).lower() == "true":
                raise ValueError(f"the source marks it as an error ({row.get('error_type') or 'no type'})")
            run = _run(row)
            if run is None:
                raise ValueError("no test and rate in it")
            model_label = (row.get("model_clean") or row.get("model") or "model").strip()
            build = row.get("build_hash") or (row.get("build") or "").split(" ")[0]
            backend = row.get("env") or row.get("backend") or "unknown"
            key = (model_label, backend, build)
            model = _model(row, model_label, models)  # every row's cells are read, the first row's describe the model
            if key not in groups:
                protocol = published_protocol(
                    "llama-bench",
                    "published llama-bench table (mean ± sd; no raw samples)",
                    f"llama-bench table, {backend}, build {build or 'unknown'}, {name}",
                    source,
                )
                machine = _machine(device, row.get("backend") or backend, build, source)
                groups.start(key, new_result(machine, model, protocol, status="complete", created_utc=created))
        except ROW_ERRORS as error:
            imported.refuse(label, error)
            continue
        groups.add(key, Row(label, [run]))
    return imported.keep_valid(groups, name)


def _depth_run(row: Cells) -> Run:
    """One point of a depth campaign (kyuz0's `*_depth.csv`): `prefill` is pp at depth, `generation` tg at depth, with
    the published repetitions as raw samples (each repetition's t/s, as timed by llama-bench)."""
    from harness.results.stats import summarize

    depth = integer(row["starting_depth"], "starting_depth", 0, TOKENS)
    n_prompt = integer(row["prompt_tokens"], "prompt_tokens", 0, TOKENS)
    n_gen = integer(row["generation_tokens"], "generation_tokens", 0, TOKENS)
    if (row["series"], bool(n_prompt), bool(n_gen)) not in (("prefill", True, False), ("generation", False, True)):
        raise ValueError(f"series {row['series'][:40]!r} with {n_prompt} prompt and {n_gen} generated tokens")
    cells = [value for value in row["samples"].split(";") if value.strip()]
    if not cells or len(cells) > 10000:
        raise ValueError(f"{len(cells)} repetitions in samples (1 to 10000)")
    rates = [number(value, "a sample", *RATE) for value in cells]
    tokens = n_prompt + n_gen
    samples_ns = [max(1, round(tokens / rate * 1e9)) for rate in rates]
    test = f"pp{n_prompt}" if n_prompt else f"tg{n_gen}"
    settings = Settings(
        n_gpu_layers=-1,
        n_batch=integer(row["batch"], "batch", 1, 10**6),
        n_ubatch=integer(row["ubatch"], "ubatch", 1, 10**6),
        flash_attn=-1,
        type_k="f16",
        type_v="f16",
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
    """kyuz0's depth campaigns: one result per (profile or toolbox, model, build), its runs pp and tg from depth 0 up;
    a row that does not parse, or that the validator refuses, is skipped alone with its reason."""
    device, models = {d.id: d for d in load_hardware()}[device_id], load_catalog().models
    imported, groups = Imported(), Groups()
    created = dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc)
    for number_, row in enumerate(csv_rows(text), 1):
        label = f"row {number_}"
        try:
            if isinstance(row, ValueError):
                raise row
            run = _depth_run(row)
            setup = row.get("toolbox_name") or row.get("toolbox") or "unknown toolbox"
            profile = row.get("profile") or row.get("toolbox") or ""
            model_name, build = row["model"], row["build_commit"]
            key = (setup, profile, model_name, build)
            if key not in groups:
                quant = (row.get("quant") or quant_of(model_name) or "").upper() or None
                entry = next((m for m in models if m.source.hf_file and Path(m.source.hf_file).stem == model_name), None)
                model = ModelInfo(
                    id=entry.id if entry else None,
                    label=entry.id if entry else model_name[:200],
                    file_name=(row.get("model_source") or model_name)[:300],
                    quant=quant,
                )
                runtime = "Vulkan" if "vulkan" in setup.lower() else "ROCm" if "rocm" in setup.lower() else setup
                protocol = published_protocol(
                    "llama-bench",
                    "published llama-bench repetitions of a depth campaign",
                    f"depth campaign, {setup}, profile {profile}, build {build}, {name}",
                    source,
                    repetitions=len(run.samples_ns),
                )
                machine = _machine(device, runtime, build, f"{source}|{setup}|{profile}")
                groups.start(key, new_result(machine, model, protocol, status="complete", created_utc=created))
        except ROW_ERRORS as error:
            imported.refuse(label, error)
            continue
        groups.add(key, Row(label, [run]))
    return imported.keep_valid(groups, name)


def import_depth_csv(path: Path, device_id: str, date: dt.date, source: str) -> Imported:
    return results_from_depth_csv(read_text(path, 50 * 2**20), device_id, date, source, path.name)


def import_table(path: Path, device_id: str, date: dt.date, source: str) -> Imported:
    text = read_text(path, 50 * 2**20)
    return results_from_table(text, device_id, date, source, path.name)
