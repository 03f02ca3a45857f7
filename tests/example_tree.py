"""An example results tree: realistic, signed result files built from a real `meek bench` result
(tests/golden/result-v2-smollm2.json) with machines from the hardware table, models from the catalogue that fit them,
and generation rates drawn around each device's bandwidth bound, so every file passes validation the way a real
submission would. The `example_tree` fixture uses it; so does bench/results_scale.py, at 10,000 files.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import random
from pathlib import Path

from harness import memory_budget, memory_fit
from harness.catalogue.hardware import load_hardware
from harness.catalogue.models import load_catalog
from harness.results.document import signed_document
from harness.results.schema import validate_document
from harness.results.stats import summarize

TEMPLATE = Path(__file__).parent / "golden" / "result-v2-smollm2.json"
MACHINES_PER_DEVICE = 8
REPETITIONS = 5


def run_entry(template: dict, n_prompt: int, n_gen: int, rate: float, rng: random.Random) -> dict:
    tokens = n_prompt + n_gen
    samples_ns = [int(tokens * 1e9 / (rate * rng.gauss(1, 0.02))) for _ in range(REPETITIONS)]
    run = copy.deepcopy(template)
    summary = summarize(tokens, samples_ns)
    run.update(
        test=f"pp{n_prompt}" if n_prompt else f"tg{n_gen}",
        n_prompt=n_prompt,
        n_gen=n_gen,
        n_depth=0,
        n_ctx=tokens,
        samples_ns=samples_ns,
        warmup_ns=[samples_ns[0]],
        ttft_ns=samples_ns if n_prompt else [],
        **{key: summary[key] for key in summary if key in run},
    )
    return run


def machine_entry(template: dict, device, index: int) -> dict:
    machine = copy.deepcopy(template)
    machine["machine_id"] = f"{device.id}-{index:03d}"
    if device.kind == "cpu":
        machine["cpu"]["model"] = device.name
        machine["gpus"] = []
    else:
        vendor = device.vendor if device.vendor in ("nvidia", "amd", "apple", "intel") else "other"
        memory = int((device.memory_gb or 0) * 2**30)
        machine["gpus"] = [
            {
                "vendor": vendor,
                "name": device.match[0],
                "memory_bytes": memory,
                "driver": None,
                "gtt_bytes": None,
                "unified_memory": device.kind == "unified",
            }
        ]
        machine["unified_memory"] = device.kind == "unified"
    return machine


def generate(tree: Path, count: int, seed: int = 1, machines_per_device: int = MACHINES_PER_DEVICE) -> None:
    """Write `count` result files under `tree` (one folder per machine), each signed and valid."""
    rng = random.Random(seed)
    template = json.loads(TEMPLATE.read_text())
    run_template = template["runs"][0]
    devices = load_hardware()
    models = [m for m in load_catalog().models if m.file_size_bytes]
    machines = [(device, machine_entry(template["machine"], device, i)) for device in devices for i in range(machines_per_device)]
    start = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    for index in range(count):
        device, machine = rng.choice(machines)
        fitting = [m for m in models if memory_budget.device_fits(device, memory_fit.model_need(m).total)]  # the one memory model
        model = rng.choice(fitting or models)
        per_token = model.file_size_bytes * model.params_active_b / model.params_total_b
        tg = device.bandwidth_gbs * 1e9 / per_token * rng.uniform(0.4, 0.8)
        offload = 99 if device.kind != "cpu" else 0
        document = copy.deepcopy(template)
        document.update(created_utc=(start + dt.timedelta(minutes=37 * index)).strftime("%Y-%m-%dT%H:%M:%SZ"), machine=machine)
        document["model"].update(
            id=model.id,
            label=model.id,
            sha256=model.sha256 or hashlib.sha256(model.id.encode()).hexdigest(),
            file_size_bytes=model.file_size_bytes,
            quant=model.quant,
            file_name=f"{model.id}.gguf",
            source="catalogue",
        )
        document["runs"] = [
            run_entry(run_template, 512, 0, tg * rng.uniform(8, 30), rng),
            run_entry(run_template, 0, 128, tg, rng),
        ]
        for run in document["runs"]:
            run["settings"]["n_gpu_layers"] = offload
        document["loads"][0]["settings"]["n_gpu_layers"] = offload
        signed = signed_document(validate_document(document))
        folder = tree / machine["machine_id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:05d}-{model.id}.json").write_text(json.dumps(signed))
