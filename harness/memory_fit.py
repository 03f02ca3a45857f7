"""Will it fit? Memory a model needs (weights plus KV cache for a context) against the memory this machine can use."""

from __future__ import annotations

import psutil

from harness.machine import gpu

# Bytes per element of KV-cache types (block size included) and bits per weight of common GGUF quants.
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
BITS_PER_WEIGHT = {
    "Q2_K": 2.96,
    "Q3_K_M": 3.91,
    "Q4_0": 4.55,
    "Q4_1": 5.0,
    "Q4_K_S": 4.58,
    "Q4_K_M": 4.89,
    "Q5_K_M": 5.7,
    "Q6_K": 6.56,
    "Q8_0": 8.5,
    "MXFP4": 4.25,
    "F16": 16.0,
    "BF16": 16.0,
}


def kv_cache_bytes(facts: dict, n_ctx: int, type_k: str = "f16", type_v: str = "f16") -> int | None:
    """An upper bound on the KV cache for `n_ctx` tokens from GGUF facts (every layer holds every token)."""
    layers, heads_kv = facts.get("block_count"), facts.get("head_count_kv")
    key_length, value_length = facts.get("key_length"), facts.get("value_length")
    if not all(isinstance(v, int) and v > 0 for v in (layers, heads_kv, key_length, value_length)):
        return None
    per_token = layers * heads_kv * (key_length * KV_BYTES_PER_ELEMENT[type_k] + value_length * KV_BYTES_PER_ELEMENT[type_v])
    return int(per_token * n_ctx)


def weights_bytes(params_b: float, quant: str, file_size_bytes: int | None = None) -> int:
    """The file size when known, else parameters times the quant's bits per weight."""
    if file_size_bytes:
        return file_size_bytes
    return int(params_b * 1e9 * BITS_PER_WEIGHT.get(quant.upper(), 8.5) / 8)


def usable_memory_bytes(offload: bool) -> int:
    """Memory a model may use: free RAM, plus GPU memory when layers are offloaded to a GPU."""
    total = psutil.virtual_memory().available
    if offload:
        total += sum(g["memory_bytes"] or 0 for g in gpu.list_gpus() if not g.get("unified_memory"))
    return total


def capacity_bytes() -> int:
    """What this machine can hold at most: all of its RAM plus the memory of discrete GPUs (unified memory counts once)."""
    return psutil.virtual_memory().total + sum(g["memory_bytes"] or 0 for g in gpu.list_gpus() if not g.get("unified_memory"))


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"
