"""Importing Jeff Geerling's findings tables (`meek import geerling`): (geerlingguy/ai-benchmarks README, flattened to CSV with the
columns model_section, system, cpu_gpu, eval_rate_tps, power_peak_w, runtime, details_link) as summary-only results.

What the tables give, and so what a run says:
  - a generation rate only (Ollama's "eval rate", or llama.cpp on Vulkan where the README's footnote says so), with no
    prompt or generation length: the test is named "geerling eval rate (lengths not stated)", one generated token is
    recorded as its shape, and it never lines up with tg128 (compare keeps it apart; advise does not learn from it);
  - peak wall power for the whole system, kept as a power reading of kind "wall, peak (not an average)", with no energy;
  - Ollama model tags, whose default quants the table does not state: a tag maps to the catalogue model Ollama's library
    serves under it at its default quant (deepseek-r1:14b is DeepSeek-R1-Distill-Qwen-14B, Q4_K_M), labelled as Ollama's
    file; tags the catalogue lacks keep their own name.
Each run names the README row's issue or pull request, where the raw output is. A system the hardware table cannot
place (a Raspberry Pi, a mini PC's CPU) is skipped with its reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from harness.catalogue.hardware import Device, find_device
from harness.catalogue.models import load_catalog
from harness.results.import_llama_bench import ROW_ERRORS, Cells, Groups, Imported, Row, csv_rows, number
from harness.results.reading import read_text
from harness.results.schema import Cpu, Gpu, LlamaBuild, Machine, ModelInfo, PowerReading, Protocol, Run, new_result
from harness.version import __version__

TEST = "geerling eval rate (lengths not stated)"
# README section -> (Ollama tag, the catalogue id of the model Ollama serves under it at its default quant, or None)
MODELS = {
    "DeepSeek R1 14b": ("deepseek-r1:14b", "deepseek-r1-distill-qwen-14b-q4_k_m"),
    "gpt-oss 20b": ("gpt-oss:20b", "gpt-oss-20b-mxfp4"),
    "Llama 3.2:3b": ("llama3.2:3b", "llama-3.2-3b-q4_k_m"),
    "Llama 3.1:70b": ("llama3.1:70b", None),
    "Llama 3.1:405b": ("llama3.1:405b", None),
    "DeepSeek R1 671b": ("deepseek-r1:671b", None),
}


# The README's short names, spelled as the hardware table matches them ("Nvidia 4090" is an RTX 4090).
ALIASES = [
    (r"\bNvidia (\d{4}(?: Ti)?(?: Super)?)\b", r"NVIDIA GeForce RTX \1"),
    (r"\bNvidia (A\d{4})\b", r"NVIDIA RTX \1"),
    (r"\bAMD (\d{4} XTX?)\b", r"AMD Radeon RX \1"),
    (r"\bAMD (RX \d{3,4}(?: XTX?)?)\b", r"AMD Radeon \1"),
    (r"\b(M\d(?: Max| Ultra| Pro)?)\b", r"Apple \1"),
    (r"\bGB10\b|\bNvidia Spark\b", "NVIDIA GB10"),
    (r"\bFramework (?:Desktop|Mainboard)\b|\b395\+", "Ryzen AI Max+ 395"),  # the Framework Desktop's board
]


def _names(text: str) -> list[str]:
    names = [text]
    for pattern, spelled in ALIASES:
        if match := re.search(pattern, text, re.IGNORECASE):
            names.append(match.expand(spelled))
    return names


def _device(system: str, cpu_gpu: str) -> Device | None:
    """The hardware-table device a row ran on: for a GPU row the GPU named in parentheses (else a GPU or unified box the
    system names); for a CPU row a CPU or unified box the system names."""
    if cpu_gpu not in ("GPU", "CPU"):
        raise ValueError(f"runs on '{cpu_gpu}': split between devices, no single device's speed")
    inner = re.findall(r"\(([^)]*)\)", system)
    for name in [n for text in [*inner, system] for n in _names(text)]:
        device = find_device(name)
        if device and (device.kind != "cpu") == (cpu_gpu == "GPU" or device.kind == "unified"):
            return device
    return None


def _machine(system: str, device: Device, runtime: str) -> Machine:
    slug = "-".join(re.findall(r"[a-z0-9]+", device.id))[:40]
    digest = hashlib.sha256(f"{system}|{runtime}".encode()).hexdigest()[:6]
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
        machine_id=f"{slug}-geerling-{digest}",
        cpu=Cpu(model=(reported if device.kind != "gpu" else system)[:200], arch="unknown", simd=[]),
        memory_bytes=None,
        gpus=gpus,
        unified_memory=device.kind == "unified",
        os={"system": system[:40]},
        python="unknown",
        harness_version=__version__,
        llama_cpp=LlamaBuild(backends=[runtime]),
    )


def _run(row: Cells) -> Run:
    rate = number(row["eval_rate_tps"], "eval_rate_tps", 0, 1e7)
    power = []
    if (row.get("power_peak_w") or "").strip():
        power = [
            PowerReading(
                source="wall meter, as published",
                kind="wall, peak (not an average)",
                avg_w=number(row["power_peak_w"], "power_peak_w", 0, 1e5),
                energy_j=0.0,
                seconds=0.0,
            )
        ]
    return Run(
        test=TEST,
        n_prompt=0,
        n_gen=1,
        n_depth=0,
        n_threads=None,
        n_ctx=1,
        settings=None,
        summary_only=True,
        avg_ts=rate,
        stddev_ts=0.0,
        power=power,
        timing_source=f"Geerling README row: {row['details_link']}"[:200],
    )


def results_from_findings(text: str, date: dt.date, source: str, name: str) -> Imported:
    """One result per (system, model, runtime); rows without a device the hardware table knows, or with a cell that does
    not parse, are skipped with why, each alone."""
    imported, groups = Imported(), Groups()
    catalog = load_catalog()
    created = dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc)
    for number_, row in enumerate(csv_rows(text), 2):  # numbered as lines of the file
        label = f"line {number_}"
        try:
            if isinstance(row, ValueError):
                raise row
            system, section = row["system"].strip(), row["model_section"].strip()
            device = _device(system, row["cpu_gpu"].strip())
            if device is None:
                raise ValueError(f"no hardware-table device for '{system}' ({row['cpu_gpu']})")
            tag, catalogue_id = MODELS.get(section, (section, None))
            run = _run(row)
            vulkan = "vulkan" in row.get("runtime", "").lower()
            runtime = "Vulkan" if vulkan else "unknown"
            key = (system, section, runtime)
            if key not in groups:
                entry = catalog.get(catalogue_id) if catalogue_id else None
                model = ModelInfo(
                    id=catalogue_id,
                    label=catalogue_id or tag,
                    file_name=f"ollama {tag}",
                    quant=entry.quant if entry else None,
                    description=f"Ollama's {tag} at its default quant (not the catalogue's file)",
                )
                protocol = Protocol(
                    backend="llama-bench" if vulkan else "ollama",
                    repetitions=None,
                    warmup=False,
                    seed=0,
                    timing="published eval rate (Ollama obench.sh, or llama.cpp on Vulkan); no raw samples",
                    imported_from=f"Geerling findings, {'llama.cpp Vulkan' if vulkan else 'runtime not stated'}, {name}",
                    source=source[:500],
                )
                machine = _machine(system, device, runtime)
                groups.start(key, new_result(machine, model, protocol, status="complete", created_utc=created))
        except ROW_ERRORS as error:
            imported.refuse(label, error)
            continue
        groups.add(key, Row(label, [run]))
    return imported.keep_valid(groups, name)


def import_findings(path: Path, date: dt.date, source: str) -> Imported:
    return results_from_findings(read_text(path, 5 * 2**20), date, source, path.name)
