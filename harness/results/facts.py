"""Facts that follow from a result file: the device a run read its weights from, whether layers were offloaded, and the
weight bytes each generated token reads (what the bandwidth bound and compare's roofline share rest on)."""

from __future__ import annotations

from harness.catalogue.hardware import Device, device_for_machine
from harness.catalogue.models import CatalogModel
from harness.results.schema import BenchResult, Machine, Run, ServingPoint


def bytes_per_token(result: BenchResult, model: CatalogModel | None) -> float | None:
    """Weight bytes read per generated token: the whole file for a dense model, the active share for a mixture of experts.
    The catalogue's size wins over the file's for a model it knows (a file can claim any size)."""
    size = (model.file_size_bytes if model else None) or result.model.file_size_bytes
    if not size:
        return None
    if model and model.moe and model.params_total_b:
        return size * model.params_active_b / model.params_total_b
    return float(size)


def offloaded(run: Run | ServingPoint, machine: Machine) -> bool:
    """Whether a run (or a serving point) streamed weights from a GPU: layers offloaded (or a server, whose settings are
    not visible) and a GPU."""
    return (run.settings is None or run.settings.n_gpu_layers != 0) and bool(machine.gpus)


def device_of(machine: Machine, offload: bool) -> Device | None:
    """The hardware-table device a run on this machine read its weights from (names only: no full dump per run)."""
    names = {
        "cpu": {"model": machine.cpu.model},
        "gpus": [{"name": gpu.name} for gpu in machine.gpus],
        "unified_memory": machine.unified_memory,
    }
    return device_for_machine(names, offload)
