"""GPUs this machine has: NVIDIA through NVML (nvidia-ml-py), AMD through sysfs, Apple Silicon through sysctl.

Every reader returns nothing rather than a zero when it cannot read: an absent sensor is not a reading of zero.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def _nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no library, no driver, no device: no NVIDIA GPU to read
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvidia_gpus() -> list[dict]:
    nvml = _nvml()
    if not nvml:
        return []
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = _text(nvml.nvmlDeviceGetName(handle))
            gpus.append(
                {
                    "vendor": "nvidia",
                    "name": name,
                    "memory_bytes": _nvml_memory(nvml, handle),
                    "driver": driver,
                    "unified_memory": _unified(name),
                }
            )
        return gpus
    finally:
        nvml.nvmlShutdown()


def _nvml_memory(nvml, handle) -> int | None:
    """Total GPU memory, or None where NVML cannot say (GB10 in DGX Spark shares system memory and reports NotSupported)."""
    try:
        return int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
    except nvml.NVMLError:
        return None


def _unified(name: str) -> bool:
    """A GPU the hardware table lists as sharing system memory (DGX Spark's GB10, Ryzen AI Max, Apple)."""
    from harness.catalogue.hardware import find_device

    device = find_device(name)
    return bool(device and device.kind == "unified")


def amd_gpus(drm_root: Path = Path("/sys/class/drm")) -> list[dict]:
    """AMD GPUs from sysfs: VRAM size, and GTT (system memory the GPU can map) for APUs such as Ryzen AI Max."""
    gpus = []
    for card in sorted(drm_root.glob("card[0-9]*")):
        device = card / "device"
        try:
            if (device / "vendor").read_text().strip() != "0x1002" or "-" in card.name:
                continue
            vram = int((device / "mem_info_vram_total").read_text())
        except (OSError, ValueError):
            continue
        entry = {"vendor": "amd", "name": _amd_name(device), "memory_bytes": vram}
        try:
            entry["gtt_bytes"] = int((device / "mem_info_gtt_total").read_text())
        except (OSError, ValueError):
            pass
        gpus.append(entry)
    return gpus


def _amd_name(device: Path) -> str:
    for name_file in ("product_name", "device"):
        try:
            return f"AMD GPU {(device / name_file).read_text().strip()}"
        except OSError:
            continue
    return "AMD GPU"


def apple_gpus() -> list[dict]:
    if platform.system() != "Darwin" or platform.machine() != "arm64":
        return []
    try:
        chip = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5).stdout
        memory = int(subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True, timeout=5).stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return []
    return [{"vendor": "apple", "name": chip.strip(), "memory_bytes": memory, "unified_memory": True}]


def list_gpus() -> list[dict]:
    return nvidia_gpus() + amd_gpus() + apple_gpus()


class NvmlMemoryReader:
    """Reads GPU memory in use on every NVIDIA device (summed) while a benchmark runs."""

    def __init__(self, nvml, handles) -> None:
        self._nvml, self._handles = nvml, handles

    @classmethod
    def open(cls) -> NvmlMemoryReader | None:
        nvml = _nvml()
        if not nvml:
            return None
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        if not handles:
            nvml.nvmlShutdown()
            return None
        return cls(nvml, handles)

    def used_bytes(self) -> int | None:
        try:
            return sum(int(self._nvml.nvmlDeviceGetMemoryInfo(h).used) for h in self._handles)
        except Exception:
            return None

    def close(self) -> None:
        self._nvml.nvmlShutdown()
