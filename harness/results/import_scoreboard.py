"""Importing llama.cpp's community scoreboards (`meek import scoreboard`): (CUDA discussions/15013, ROCm 15021, Vulkan 10879) as
result files, one per row, from a CSV with the columns scoreboard, backend, device_as_published, pp512_tps, pp512_std,
tg128_tps, tg128_std, build_commit, copy_source, note (shared/data/community/llama-cpp-scoreboards/).

Every scoreboard runs one profile, `llama-bench -m llama-2-7b.Q4_0.gguf -ngl 99 -fa 0`: pp512 and tg128 of the catalogue's
llama-2-7b-q4_0 with llama-bench's defaults otherwise (n_batch 2048, n_ubatch 512, f16 K and V caches). A row gives the
mean and, where the copy kept it, the sd of llama-bench's repetitions, so each run is `summary_only`; an sd the row lacks
is recorded as 0 and the run's timing_source says it was not published. The machine is the hardware-table device the row
names (its `match` patterns, or PLACED below), its llama.cpp backend the row's, its build the row's build_commit.
A row that cannot be placed on one device honestly (UNPLACEABLE, no device, or a memory size the device does not have)
is skipped with the reason.

The date: a scoreboard row carries none, and the boards keep each device's best accepted run, not when it ran. The
caller's date (`--date`) is the day by which every row was on its scoreboard (when the copy was read), so a file's
created_utc is an upper bound on when the row was published, never a measurement date; the build commit says which
llama.cpp ran it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

from harness.catalogue.hardware import Device, find_device, load_hardware
from harness.catalogue.models import load_catalog
from harness.errors import MeekError
from harness.results.import_llama_bench import ROW_ERRORS, Cells, Groups, Imported, Row, csv_rows, number, published_protocol
from harness.results.import_tables import _machine
from harness.results.reading import read_text
from harness.results.schema import ModelInfo, Run, Settings, new_result

MODEL_ID = "llama-2-7b-q4_0"  # llama-2-7b.Q4_0.gguf (TheBloke), the model of every llama.cpp scoreboard
# llama-bench -ngl 99 -fa 0, its defaults otherwise
SETTINGS = Settings(n_gpu_layers=99, n_batch=2048, n_ubatch=512, flash_attn=0, type_k="f16", type_v="f16")
TESTS = (("pp512", 512, 0), ("tg128", 0, 128))
BOARDS = {"15013": "CUDA", "15021": "ROCm", "10879": "Vulkan"}  # ggml-org/llama.cpp discussion -> its scoreboard
BOARD = re.compile(r"^\s*([\w.-]+/[\w.-]+) discussions/(\d+)\s*$")

# Published names the table cannot place on one device, and why.
UNPLACEABLE = {
    "h100 80gb": "form factor not stated: the H100 PCIe (2.0 TB/s) and SXM (3.35 TB/s) both have 80 GB",
    "intel core ultra 200-series igpu": "SKU not stated: the Core Ultra 200V, 200H and 200U iGPUs differ in GPU and memory",
}
# Published names the table's patterns do not reach, placed by hand with what the row leaves open (said in the source).
PLACED = {
    "nvidia tesla v100 32 gb": (
        "tesla-v100-sxm2-32gb",
        "form factor not published: placed on the V100 SXM2 32 GB; the "
        "V100 PCIe 32 GB has the same memory and 900 GB/s (250 W, not 300 W)",
    ),
}


NEEDED = {"scoreboard", "backend", "device_as_published", "pp512_tps", "tg128_tps", "build_commit"}


def scoreboard_rows(text: str) -> Iterator[Cells | ValueError]:
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as error:
        raise MeekError(f"not a scoreboard CSV: {error}") from None
    if header and (missing := NEEDED - set(header)):
        raise MeekError(f"not a scoreboard CSV: no column(s) {', '.join(sorted(missing))}")
    return csv_rows(text)


def place(published: str) -> tuple[Device, str]:
    """The hardware-table device a published name ran on, and what the placement assumed ('' when nothing); ValueError
    with the reason when it cannot be placed on one device."""
    key = " ".join(published.lower().split())
    if key in UNPLACEABLE:
        raise ValueError(f"'{published}' not placed: {UNPLACEABLE[key]}")
    if key in PLACED:
        device_id, assumed = PLACED[key]
        return {d.id: d for d in load_hardware()}[device_id], assumed
    device = find_device(published)
    if device is None:
        raise ValueError(f"no hardware-table device for '{published}'")
    stated = re.search(r"(\d+)\s*GB\b", published, re.IGNORECASE)
    if stated and device.memory_gb and float(stated.group(1)) != device.memory_gb:
        raise ValueError(f"'{published}' states {stated.group(1)} GB; the table's {device.id} has {device.memory_gb:g} GB")
    return device, ""


def _rate(row: Cells, column: str) -> float:
    return number(row[column], column, 1e-3, 1e7)


def _runs(row: Cells) -> list[Run]:
    runs = []
    for test, n_prompt, n_gen in TESTS:
        mean = _rate(row, f"{test}_tps")
        spread = (row.get(f"{test}_std") or "").strip()
        timing = (
            "scoreboard row: llama-bench mean ± sd of its repetitions"
            if spread
            else "scoreboard row: llama-bench mean; no sd published (0 recorded)"
        )
        runs.append(
            Run(
                test=test,
                n_prompt=n_prompt,
                n_gen=n_gen,
                n_depth=0,
                n_threads=None,
                n_ctx=n_prompt + n_gen,
                settings=SETTINGS,
                summary_only=True,
                avg_ts=mean,
                stddev_ts=number(spread, f"{test}_std", 0, 1e7) if spread else 0.0,
                timing_source=timing,
            )
        )
    return runs


def board_of(scoreboard: str) -> tuple[str, str]:
    """('llama.cpp CUDA scoreboard (discussions/15013)', its URL) for 'ggml-org/llama.cpp discussions/15013'."""
    match = BOARD.match(scoreboard)
    if not match:
        return scoreboard.strip(), ""
    repo, number = match.groups()
    kind = BOARDS.get(number) if repo == "ggml-org/llama.cpp" else None
    name = f"llama.cpp {kind} scoreboard" if kind else f"{repo} scoreboard"
    return f"{name} (discussions/{number})", f"https://github.com/{repo}/discussions/{number}"


def results_from_scoreboard(text: str, date: dt.date, source: str, name: str) -> Imported:
    """One result per CSV row (pp512 and tg128 on the device it names); rows that cannot be placed or read are skipped
    with their reason; results are validated before they are returned."""
    entry = load_catalog().get(MODEL_ID)
    if entry is None:  # a user's models.yaml cannot remove a shipped entry; this guards a broken install
        raise MeekError(f"the model catalogue has no {MODEL_ID}: the scoreboards' model")
    file_name = entry.source.hf_file or "llama-2-7b.Q4_0.gguf"
    model = ModelInfo(
        id=MODEL_ID,
        label=MODEL_ID,
        file_name=file_name,
        quant=entry.quant,
        n_params=int(entry.params_total_b * 1e9),
        source=f"{entry.source.hf_repo} {file_name}",
    )
    created = dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc)
    imported, groups = Imported(), Groups()
    for number_, row in enumerate(scoreboard_rows(text), 2):  # numbered as lines of the file
        published = "" if isinstance(row, ValueError) else (row.get("device_as_published") or "").strip()
        label = f"line {number_} ({published or 'no device'})"
        try:
            if isinstance(row, ValueError):
                raise row
            if len(published) > 200:
                raise ValueError(f"device name of {len(published)} characters (at most 200)")
            device, assumed = place(published)
            backend = (row.get("backend") or "").strip()
            if not re.fullmatch(r"[A-Za-z][\w+-]{0,19}", backend):
                raise ValueError(f"backend {backend!r} is not one llama.cpp backend")
            runs = _runs(row)
            build = (row.get("build_commit") or "").strip()
            board, url = board_of(row.get("scoreboard") or "")
            copy = (row.get("copy_source") or "").strip()
            details = [url or board, f"device as published: {published}", f"row from {copy}"]
            details += [f"note: {note}" for note in [(row.get("note") or "").strip()] if note]
            details += [assumed] if assumed else []
            protocol = published_protocol(
                "llama-bench",
                "published scoreboard row (llama-bench mean ± sd; no raw samples)",
                f"{board}, {backend}, build {build or 'not given'}",
                "; ".join([*details, source]),
            )
            machine = _machine(device, backend, build, f"{board}|{published}|{build}|{row.get('copy_source', '')}")
        except ROW_ERRORS as error:
            imported.refuse(label, error)
            continue
        groups.start(number_, new_result(machine, model, protocol, status="complete", created_utc=created))
        groups.add(number_, Row(label, runs))
    return imported.keep_valid(groups, name)


def import_scoreboard(path: Path, date: dt.date, source: str) -> Imported:
    return results_from_scoreboard(read_text(path, 5 * 2**20), date, source, path.name)
