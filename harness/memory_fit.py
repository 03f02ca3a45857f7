"""Will it fit? The one memory model: what a model needs (weights, KV cache at a context and cache type, compute buffers)
against what a device lets it use (its memory times the usable share for its kind).

Every "does this model fit" in the harness asks `fits()`: `meek bench --tier auto` (this machine), the fit check before
each bench test (memory free now), `meek advise` (devices for sale), `meek gap` and the site (machine classes).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

import psutil

from harness.errors import MeekError
from harness.machine import gpu

if TYPE_CHECKING:
    from harness.catalogue.models import CatalogModel
    from harness.machine import hardware

GIB = 2**30
Kind = Literal["gpu", "unified", "cpu"]

# Bytes per element of the KV-cache types, block overhead included: ggml's type traits (ggml/src/ggml.c, type_size /
# blck_size): q8_0 is 34 bytes per 32 values, q4_0 18, q4_1 20, q5_0 22, q5_1 24, iq4_nl 18.
KV_BYTES_PER_ELEMENT = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}
# Average bits per weight over a whole model: llama.cpp's tools/quantize/README.md, measured on Llama-3.1-8B-Instruct
# (Q2_K 3.1593, Q3_K_M 3.9960, Q4_K_S 4.6672, Q4_K_M 4.8944, Q5_K_M 5.7036, Q6_K 6.5633, Q8_0 8.5008, F16 16.0005).
# The Q4_K_M files of models.yaml from 7B up are 4.82-4.93 bits per weight (file size x 8 / parameters).
# Q4_0 (18 bytes per 32 weights) and Q4_1 (20) from ggml's block sizes plus the Q6_K output tensor; MXFP4 17 bytes per 32.
BITS_PER_WEIGHT = {
    "Q2_K": 3.16,
    "Q3_K_M": 4.0,
    "Q4_0": 4.55,
    "Q4_1": 5.0,
    "Q4_K_S": 4.67,
    "Q4_K_M": 4.89,
    "Q5_K_M": 5.7,
    "Q6_K": 6.56,
    "Q8_0": 8.5,
    "MXFP4": 4.25,
    "F16": 16.0,
    "BF16": 16.0,
}
DEFAULT_QUANT = "Q4_K_M"  # a model known by its parameter count only (a model card, the frontier table) is judged at Q4_K_M
DEFAULT_CONTEXT = 8192  # the context a model is judged at when none is given (advise, gap, --tier auto)
# Compute buffers and runtime context (llama.cpp's CPU/CUDA/Metal compute buffers at an 8k context, the CUDA context):
# llama.cpp logs 0.3-0.5 GiB of compute buffer for 8B models at 8k with the default -ub 512.
COMPUTE_BYTES = 0.5 * GIB
# KV cache per token when the architecture is unknown: 192 KiB x sqrt(params / 8B), f16 K and V. Real f16 values, from
# the models' config.json (layers x KV heads x head size x 2 x 2 bytes): Llama 3 8B 128 KiB, Qwen2.5 32B 256 KiB
# (estimate 384), Llama 3 70B 320 KiB (estimate 568), Gemma 2 27B 368 KiB (estimate 353). Over the estimate: old
# full-attention models (Llama 2 7B: 512 KiB) and Gemma 2 9B (336).
KV_BYTES_PER_TOKEN_AT_8B = 192 * 1024
# The share of a device's memory a model may use, by kind:
USABLE_SHARE: dict[str, float] = {
    "gpu": 0.9,  # a discrete card: the driver, the CUDA/ROCm context and the desktop keep ~10% of VRAM
    "unified": 0.75,  # Apple-silicon style: macOS lets the GPU wire ~75% of memory by default (iogpu.wired_limit_mb)
    "cpu": 0.6,  # system RAM for CPU inference: the OS, a browser and apps keep ~40%
}


@dataclass(frozen=True)
class Need:
    """Bytes a model needs at a context: weights + KV cache + compute buffers."""

    weights: float
    kv_cache: float
    compute: float
    kv_estimated: bool  # the KV cache is the parameter-count estimate, not the model's own shape

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.compute


def _positive(value: object, what: str) -> float:
    # cast: typeshed's numbers.Real declares no `>`; the comparison is the number's own
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not cast(float, value) > 0 or math.isinf(value):
        raise MeekError(f"{what} must be a positive number, not {value!r}")
    return float(value)


def weights_bytes(
    params_b: float, quant: str | None = None, file_size_bytes: int | None = None, bits_per_weight: float | None = None
) -> float:
    """The file size when known, else parameters times the bits per weight (given, or the quant's; Q4_K_M's when the quant
    is unknown or not in the table)."""
    if file_size_bytes:
        return float(file_size_bytes)
    bits = bits_per_weight or BITS_PER_WEIGHT.get((quant or "").upper(), BITS_PER_WEIGHT[DEFAULT_QUANT])
    return _positive(params_b, "the parameter count (billions)") * 1e9 * bits / 8


def params_from_file(file_size_bytes: int, quant: str | None) -> float:
    """Billions of parameters a file of this size holds at its quant (for a header that does not say)."""
    bits = BITS_PER_WEIGHT.get((quant or "").upper(), BITS_PER_WEIGHT[DEFAULT_QUANT])
    return file_size_bytes * 8 / bits / 1e9


def estimated_kv_bytes_per_token(params_total_b: float) -> float:
    """A conservative f16 KV-cache size per token for an unknown architecture: 192 KiB x sqrt(params / 8B).

    KV per token grows with layers x KV width while parameters grow with layers x width², so it grows about as sqrt(params).
    Calibrated to sit above current grouped-query-attention models (Llama 3, Qwen2.5, Mistral); see KV_BYTES_PER_TOKEN_AT_8B.
    """
    return KV_BYTES_PER_TOKEN_AT_8B * math.sqrt(_positive(params_total_b, "the parameter count (billions)") / 8)


def kv_bytes_per_token(facts: dict | None, type_k: str = "f16", type_v: str = "f16") -> float | None:
    """KV-cache bytes per token from a model's GGUF facts (every layer holds every token: an upper bound for sliding-window
    models); None when the facts lack a field (the caller then estimates from the parameter count)."""
    facts = facts or {}
    fields = ("block_count", "head_count_kv", "key_length", "value_length")
    sizes = [v for v in (facts.get(f) for f in fields) if isinstance(v, int) and v > 0]
    if len(sizes) != len(fields):
        return None
    layers, heads_kv, key_length, value_length = sizes
    return layers * heads_kv * (key_length * KV_BYTES_PER_ELEMENT[type_k] + value_length * KV_BYTES_PER_ELEMENT[type_v])


def need(
    params_total_b: float,
    quant: str | None = None,
    file_size_bytes: int | None = None,
    context: int = DEFAULT_CONTEXT,
    facts: dict | None = None,
    type_k: str = "f16",
    type_v: str = "f16",
    kv_per_token: float | None = None,
    bits_per_weight: float | None = None,
) -> Need:
    """What a model needs at `context` tokens. All parameters count, every expert of a mixture-of-experts model included:
    they must all be in memory. The KV cache comes from `kv_per_token`, else the GGUF `facts`, else the estimate from the
    parameter count (scaled from f16 to the cache types asked for)."""
    weights = weights_bytes(params_total_b, quant, file_size_bytes, bits_per_weight)
    per_token, estimated = kv_per_token, False
    if per_token is None:
        per_token = kv_bytes_per_token(facts, type_k, type_v)
    if per_token is None:
        scale = (KV_BYTES_PER_ELEMENT[type_k] + KV_BYTES_PER_ELEMENT[type_v]) / 4.0
        per_token, estimated = estimated_kv_bytes_per_token(params_total_b) * scale, True
    return Need(weights=weights, kv_cache=context * per_token, compute=COMPUTE_BYTES, kv_estimated=estimated)


def usable_bytes(kind: str, memory_bytes: float) -> float:
    """The memory a model may use on a device of this kind with this much memory."""
    return memory_bytes * USABLE_SHARE[kind]


def fits(need_bytes: float, kind: str, memory_bytes: float | None) -> bool:
    """The verdict: does a model needing `need_bytes` fit a device of `kind` with `memory_bytes`? A device whose memory is
    not fixed (a CPU in the hardware table: its buyer picks the RAM) holds anything."""
    if memory_bytes is None:
        return True
    return need_bytes <= usable_bytes(kind, memory_bytes)


def model_need(model: CatalogModel) -> Need:
    """What a catalogue model needs at the default context: its file (or parameters at its quant) and the KV estimate."""
    size = model.file_size_bytes or int((model.file_size_approx_gb or 0) * 1e9) or None
    return need(model.params_total_b, model.quant, size)


def device_fits(device: hardware.Device, needed_bytes: float) -> bool:
    """The verdict for a device of the hardware table (its memory_gb, as marketed, is GiB of VRAM or unified memory; a
    CPU's RAM is bought to suit and holds anything)."""
    return fits(needed_bytes, device.kind, device.memory_gb * GIB if device.memory_gb is not None else None)


@dataclass(frozen=True)
class Device:
    """Memory as the fit check sees a machine: its kind, its size, and where the figure comes from."""

    kind: Kind
    memory_bytes: float
    note: str


def this_machine(facts: dict) -> Device:
    """This machine (from its fingerprint) as a device: unified memory, its first discrete GPU's memory (the model whole
    on the GPU), or its RAM (CPU inference)."""
    gpus = facts.get("gpus") or []
    if facts.get("unified_memory"):
        return Device("unified", facts["memory_bytes"], f"{facts['memory_bytes'] / GIB:.0f} GiB unified memory")
    if gpus and gpus[0].get("memory_bytes"):
        return Device("gpu", gpus[0]["memory_bytes"], f"{gpus[0]['memory_bytes'] / GIB:.0f} GiB GPU memory ({gpus[0]['name']})")
    return Device("cpu", facts["memory_bytes"], f"{facts['memory_bytes'] / GIB:.0f} GiB RAM, CPU inference")


def free_bytes(offload: bool) -> int:
    """Memory a model may use right now: free RAM, plus GPU memory when layers are offloaded to a GPU."""
    total = psutil.virtual_memory().available
    if offload:
        total += sum(g["memory_bytes"] or 0 for g in gpu.list_gpus() if not g.get("unified_memory"))
    return total


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"
