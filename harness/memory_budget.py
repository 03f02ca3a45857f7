"""What a device lets a model use: its memory less what the driver, runtime and desktop keep, or a share of unified
memory or RAM; and the verdict and margin of a model's need (harness/memory_fit.py) against it, for a device of the
hardware table, a machine class, this machine, or the memory free right now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import psutil

from harness.catalogue.hardware import Kind
from harness.errors import MeekError
from harness.machine import gpu
from harness.memory_fit import DEFAULT_CONTEXT, GIB, Need, model_need

if TYPE_CHECKING:
    from harness.catalogue import hardware
    from harness.catalogue.models import CatalogModel
    from harness.results.schema import Machine

# A discrete GPU loses a fixed amount, not a share: the CUDA/ROCm context (120-550 MB, growing with the SM count: "ggml:
# avoid creating CUDA context during device init", llama.cpp PR #20595; 107 MiB on an RTX 4060 Ti, 555 MiB on an RTX PRO
# 6000 Blackwell, PR #23604) plus the 1 GiB llama.cpp itself keeps free when it sizes a model to a card (--fit-target,
# default 1024 MiB per device: PR #16653, issue #18390), which is what a desktop, the CUDA pool and cuBLAS draw on.
# A 24 GB card (an RTX 4090 D reports 24,563 MiB: ollama issue #8923; four RTX 4090s showed 23,818 MiB free at load:
# ollama issue #10968) so leaves 22.5 GiB.
GPU_RESERVED_BYTES = 1.5 * GIB
# Unified memory, by maker: the share of it the GPU may use by default.
# - Apple: Metal's recommendedMaxWorkingSetSize, 2/3 of memory up to 36 GB (21,845 MB of a 32 GB M2 Max: ollama issue
#   #434) and 3/4 above (about 48 of 64 GB: llama.cpp issue #1870); newer macOS allows more (107.5 GiB of 128: antirez/ds4
#   #893), and `sudo sysctl iogpu.wired_limit_mb=...` raises it.
# - AMD Ryzen AI Max (Strix Halo): up to 96 of 128 GB can be assigned to the GPU (AMD's Variable Graphics Memory; the
#   hardware table's note); Linux gives the GPU half of RAM as GTT unless `ttm.pages_limit` raises it (rjmalagon/
#   ollama-linux-amd-apu #4; noamsto/nix-amd-ai #42 measured 96 GiB with it).
# - NVIDIA DGX Spark (GB10): CUDA sees system memory; a headless box leaves 101-102 GiB of its 128 GB free to CUDA
#   (MiaAI-Lab/GLM-5.3-Flash-EXL3-2x-DGX-Sparks #47), a desktop and browser less.
APPLE_SMALL_SHARE, APPLE_LARGE_SHARE, APPLE_SMALL_MAX = 2 / 3, 3 / 4, 36 * GIB
UNIFIED_SHARE = {"amd": 0.75, "nvidia": 0.8}
CPU_SHARE = 0.6  # system RAM for CPU inference: the OS, a browser and apps keep ~40% (unchanged: no public figure found)


def usable_bytes(kind: str, memory_bytes: float, vendor: str | None = None) -> float:
    """The memory a model may use on a device of this kind (and maker, for unified memory) with this much memory."""
    if kind == "gpu":
        return max(0.0, memory_bytes - GPU_RESERVED_BYTES)
    if kind == "unified":
        if vendor in UNIFIED_SHARE:
            return memory_bytes * UNIFIED_SHARE[cast(str, vendor)]
        return memory_bytes * (APPLE_SMALL_SHARE if memory_bytes <= APPLE_SMALL_MAX else APPLE_LARGE_SHARE)
    if kind == "cpu":
        return memory_bytes * CPU_SHARE
    raise MeekError(f"unknown device kind {kind!r} (gpu, unified or cpu)")


def usable_note() -> str:
    """How the usable memory is reckoned, in a sentence for notes under tables."""
    return (
        f"a model may use a GPU's memory less {GPU_RESERVED_BYTES / GIB:g} GiB (driver, CUDA/ROCm context, desktop), "
        f"{APPLE_SMALL_SHARE:.0%} of Apple unified memory up to 36 GB and {APPLE_LARGE_SHARE:.0%} above, "
        f"{UNIFIED_SHARE['amd']:.0%} on a Ryzen AI Max, {UNIFIED_SHARE['nvidia']:.0%} on a DGX Spark, and "
        f"{CPU_SHARE:.0%} of RAM for CPU inference"
    )


def fits(need_bytes: float, kind: str, memory_bytes: float | None, vendor: str | None = None) -> bool:
    """The verdict: does a model needing `need_bytes` fit a device of `kind` with `memory_bytes`? A device whose memory is
    not fixed (a CPU in the hardware table: its buyer picks the RAM) holds anything."""
    if memory_bytes is None:
        return True
    return need_bytes <= usable_bytes(kind, memory_bytes, vendor)


def device_usable(device: hardware.Device) -> float | None:
    """Usable bytes of a hardware-table device (its memory_gb, as marketed, is GiB of VRAM or unified memory); None for a
    CPU, whose RAM is bought to suit."""
    return None if device.memory_gb is None else usable_bytes(device.kind, device.memory_gb * GIB, device.vendor)


def device_fits(device: hardware.Device, needed_bytes: float) -> bool:
    """The verdict for a device of the hardware table (a CPU's RAM is bought to suit and holds anything)."""
    usable = device_usable(device)
    return usable is None or needed_bytes <= usable


@dataclass(frozen=True)
class Margin:
    """A model on a device at a context: what it needs, what the device leaves usable, and the difference."""

    need: Need
    usable: float | None  # None: the memory is not fixed (a CPU: RAM bought to suit)
    context: int

    @property
    def margin(self) -> float | None:
        """Usable minus needed bytes: negative when it does not fit."""
        return None if self.usable is None else self.usable - self.need.total

    @property
    def fits(self) -> bool:
        return self.margin is None or self.margin >= 0

    def text(self) -> str:
        """'margin +1.2 GiB at 8k' (or 'short by 3.4 GiB at 8k'); '' when the memory is not fixed."""
        if self.margin is None:
            return ""
        where = f"at {context_label(self.context)}"
        return f"margin +{self.margin / GIB:.1f} GiB {where}" if self.fits else f"short by {-self.margin / GIB:.1f} GiB {where}"


def device_margin(
    device: hardware.Device,
    model: CatalogModel,
    context: int = DEFAULT_CONTEXT,
    type_k: str = "f16",
    type_v: str = "f16",
    flash_attn: bool = False,
) -> Margin:
    """The margin of a catalogue model on a hardware-table device at `context` tokens."""
    return Margin(model_need(model, context, type_k, type_v, flash_attn), device_usable(device), context)


def margin_for(need: Need, kind: str, memory_bytes: float | None, context: int, vendor: str | None = None) -> Margin:
    """The margin of any need on any device (this machine, a machine class)."""
    return Margin(need, None if memory_bytes is None else usable_bytes(kind, memory_bytes, vendor), context)


def context_label(context: int) -> str:
    """8192 -> '8k', 32768 -> '32k', 1000 -> '1000'."""
    return f"{context // 1024}k" if context % 1024 == 0 else f"{context}"


@dataclass(frozen=True)
class Device:
    """Memory as the fit check sees a machine: its kind, its size, and where the figure comes from."""

    kind: Kind
    memory_bytes: float
    note: str
    vendor: str | None = None  # the GPU's maker, for unified memory


def this_machine(machine: Machine) -> Device:
    """This machine (from its fingerprint) as a device: unified memory, its first discrete GPU's memory (the model whole
    on the GPU), or its RAM (CPU inference)."""
    gpus = machine.gpus
    if not machine.unified_memory and gpus and gpus[0].memory_bytes:
        return Device(
            "gpu",
            gpus[0].memory_bytes,
            f"{gpus[0].memory_bytes / GIB:.0f} GiB GPU memory ({gpus[0].name})",
            gpus[0].vendor,
        )
    memory = machine.memory_bytes
    if memory is None:  # only an imported result's machine leaves it out; a fingerprint always has it
        raise MeekError(f"the memory of machine {machine.machine_id} is not known")
    if machine.unified_memory:
        vendor = next((g.vendor for g in gpus if g.unified_memory), None)
        return Device("unified", memory, f"{memory / GIB:.0f} GiB unified memory", vendor)
    return Device("cpu", memory, f"{memory / GIB:.0f} GiB RAM, CPU inference")


def free_bytes(offload: bool) -> int:
    """Memory a model may use right now: free RAM, plus GPU memory when layers are offloaded to a GPU."""
    total = psutil.virtual_memory().available
    if offload:
        total += sum(g["memory_bytes"] or 0 for g in gpu.list_gpus() if not g.get("unified_memory"))
    return total
