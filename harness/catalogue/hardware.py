"""The curated hardware table (data/hardware.yaml): devices people buy to run local LLMs, with vendor-specified peak
memory bandwidth, power and launch price, and a way to tell which of them a benchmark ran on."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import MeekError
from harness.home import PACKAGE_DATA

HARDWARE_FILE = PACKAGE_DATA / "hardware.yaml"
Kind = Literal["gpu", "unified", "cpu"]
Vendor = Literal["nvidia", "amd", "apple", "intel", "other"]


class Device(BaseModel):
    """One row of the table: vendor peak figures for a card, a unified-memory box or a desktop CPU, with their sources."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    vendor: Literal["nvidia", "amd", "intel", "apple"]
    kind: Kind
    memory_gb: float | None = Field(gt=0)  # VRAM, or the configuration's unified memory; None for a CPU
    memory_type: str
    bandwidth_gbs: float = Field(gt=0)  # peak, 10^9 bytes/s
    power_w: float = Field(gt=0)
    launch_price_usd: float = Field(gt=0)
    release_date: dt.date
    match: list[str] = Field(min_length=1)
    note: str | None = None
    unverified: list[str] = []
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Device:
        if (self.kind == "cpu") != (self.memory_gb is None):
            raise ValueError("memory_gb must be null for a cpu and given for a gpu or unified device")
        if unknown := set(self.unverified) - set(type(self).model_fields):
            raise ValueError(f"unverified names fields that do not exist: {sorted(unknown)}")
        if any(not pattern.strip() for pattern in self.match):
            raise ValueError("match patterns must not be empty")
        if any(not url.startswith(("https://", "http://")) for url in self.sources):
            raise ValueError("sources must be URLs")
        return self


@functools.cache
def load_hardware(path: Path = HARDWARE_FILE) -> list[Device]:
    """The devices in the shipped table, validated once: a broken table must fail loudly, not skew every check."""
    try:
        entries = yaml.safe_load(path.read_text())["devices"]
        devices = [Device.model_validate(entry) for entry in entries]
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValidationError) as error:
        raise MeekError(f"the hardware table {path} is malformed: {error}") from error
    seen_ids: set[str] = set()
    seen_patterns: dict[str, str] = {}
    for device in devices:
        if device.id in seen_ids:
            raise MeekError(f"the hardware table {path} lists id {device.id!r} twice")
        seen_ids.add(device.id)
        for pattern in device.match:
            if (owner := seen_patterns.setdefault(pattern.lower(), device.id)) != device.id:
                raise MeekError(f"the hardware table {path} gives match pattern {pattern!r} to both {owner} and {device.id}")
    return devices


def _contains(name: str, pattern: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(pattern)}(?![a-z0-9])", name, re.IGNORECASE) is not None


@functools.lru_cache(maxsize=4096)
def find_device(name: str) -> Device | None:
    """The device whose longest whole-word match pattern is in name (a GPU or CPU model string): 'RTX 3060 Ti' beats 'RTX 3060'."""
    best, best_length = None, 0
    for device in load_hardware():
        for pattern in device.match:
            if len(pattern) > best_length and _contains(name, pattern):
                best, best_length = device, len(pattern)
    return best


def device_for_machine(machine: dict[str, Any], gpu_offload: bool) -> Device | None:
    """The device whose memory a run streamed weights from: the first GPU if offloaded, else the CPU; unified boxes by either.

    `machine` holds the names in the result schema's shape ({"cpu": {"model"}, "gpus": [{"name"}], "unified_memory"}):
    harness/results/facts.py's device_of gives them for a machine fingerprint."""
    gpus = machine.get("gpus") or []
    gpu_name = str(gpus[0].get("name") or "") if gpus else ""
    cpu_name = str((machine.get("cpu") or {}).get("model") or "")
    first, other = (gpu_name, cpu_name) if gpu_offload and gpus else (cpu_name, gpu_name)
    if first and (device := find_device(first)):
        return device
    fallback = find_device(other) if other else None
    if fallback and (fallback.kind == "unified" or machine.get("unified_memory")):
        return fallback
    return None


def max_bandwidth_gbs(kind: Kind | None = None) -> float:
    """The highest peak bandwidth in the table (of one kind if given): an upper bound no measurement can honestly exceed."""
    bandwidths = [device.bandwidth_gbs for device in load_hardware() if kind is None or device.kind == kind]
    if not bandwidths:
        raise ValueError(f"no devices of kind {kind!r} in the hardware table")
    return max(bandwidths)


# Words naming a vendor in a GPU or CPU name, checked in this order ("NVIDIA ... on Intel Core" is an NVIDIA machine).
VENDOR_WORDS: dict[Vendor, tuple[str, ...]] = {
    "nvidia": ("nvidia", "geforce", "rtx", "gb10", "tesla"),
    "apple": ("apple",),
    "amd": ("amd", "radeon", "ryzen", "epyc"),
    "intel": ("intel", "core", "xeon", "arc"),
}


def vendor_of(name: str) -> Vendor:
    """nvidia, apple, amd or intel from words in a chip name; other when none is named."""
    lowered = name.lower()
    return next((vendor for vendor, words in VENDOR_WORDS.items() if any(w in lowered for w in words)), "other")
