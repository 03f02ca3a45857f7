"""Will it fit? What a model needs: weights, KV cache at a context and cache type, compute buffers. What a device lets
it use (its memory less what the driver, runtime and desktop keep; a share of unified memory) is harness/memory_budget.py,
which asks this module for the need.

Every "does this model fit" in the harness goes through the two: `meek bench --tier auto` (this machine), the fit check
before each bench test (memory free now), `meek advise` (devices for sale), `meek gap` and the site (machine classes).
The KV cache and compute buffer follow llama.cpp's own allocations (checked by bench/memory_fit.py; BENCHMARKS.md).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from harness.catalogue.gguf_file import GgufFacts
from harness.errors import MeekError

if TYPE_CHECKING:
    from harness.catalogue.models import CatalogModel, ModelShape

GIB = 2**30

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
DEFAULT_UBATCH = 512  # llama.cpp's -ub default: the compute buffer is sized for one micro-batch of this many tokens
KV_CELL_PADDING = 256  # llama.cpp rounds n_ctx (and a sliding-window cache) up to a multiple of 256 cells
# Compute buffers when the model's shape is unknown: 0.5 GiB at an 8k context (llama.cpp logs 0.3-0.7 GiB for 8-32B models
# at 8k with -ub 512), growing with the context without flash attention (the K*Q scores are n_ctx x n_ubatch x n_head).
COMPUTE_BYTES = 0.5 * GIB
# KV cache per token when the architecture is unknown: 192 KiB x sqrt(params / 8B), f16 K and V. Real f16 values, from
# the models' config.json (layers x KV heads x head size x 2 x 2 bytes): Llama 3 8B 128 KiB, Qwen2.5 32B 256 KiB
# (estimate 384), Llama 3 70B 320 KiB (estimate 568), Gemma 2 27B 368 KiB (estimate 353). Over the estimate: old
# full-attention models (Llama 2 7B: 512 KiB) and Gemma 2 9B (336).
KV_BYTES_PER_TOKEN_AT_8B = 192 * 1024
# llama.cpp's sliding-window layer pattern per architecture when the GGUF gives none (src/models/<arch>.cpp,
# load_swa_pattern(ml, n): layer il slides when il % n < n - 1): Gemma 3 five local layers to one global, gpt-oss alternate.
SWA_PERIOD = {
    "gemma2": 2,
    "gemma3": 6,
    "gemma3n": 5,
    "gemma-embedding": 6,
    "cohere2": 4,
    "gpt-oss": 2,
    "llama4": 4,
    "exaone4": 4,
    "olmo2": 4,
}


@dataclass(frozen=True)
class Shape:
    """What llama.cpp sizes the KV cache and compute buffers by: the attention shape, the width and the vocabulary."""

    layers: int
    kv_heads: int
    key_length: int
    value_length: int
    heads: int | None = None
    embedding: int | None = None
    vocab: int | None = None
    sliding_window: int = 0  # tokens a sliding-window layer keeps
    swa_layers: int = 0  # how many layers slide

    @classmethod
    def from_facts(cls, facts: GgufFacts | ModelShape | None) -> Shape | None:
        """The shape from GGUF facts (harness/catalogue/gguf_file.py) or a catalogue entry's shape; None without the
        attention fields."""
        if facts is None:
            return None
        if not isinstance(facts, GgufFacts):  # a catalogue entry's shape: every field given
            window = facts.sliding_window
            return cls(
                facts.layers,
                facts.kv_heads,
                facts.head_dim,
                facts.head_dim,
                heads=facts.heads,
                embedding=facts.embedding,
                vocab=facts.vocab,
                sliding_window=window,
                swa_layers=min(facts.swa_layers, facts.layers) if window else 0,
            )
        fields = (facts.block_count, facts.head_count_kv, facts.key_length, facts.value_length)
        sizes = [cast(int, v) for v in fields if _count(v)]
        if len(sizes) != len(fields):
            return None
        layers, kv_heads, key_length, value_length = sizes
        window = _int_or_none(facts.sliding_window) or 0
        return cls(
            layers,
            kv_heads,
            key_length,
            value_length,
            heads=_int_or_none(facts.head_count),
            embedding=_int_or_none(facts.embedding_length),
            vocab=_int_or_none(facts.vocab_size),
            sliding_window=window,
            swa_layers=_swa_layers(facts, layers) if window else 0,
        )


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _int_or_none(value: object) -> int | None:
    return cast(int, value) if _count(value) else None


def _swa_layers(facts: GgufFacts, layers: int) -> int:
    """How many layers slide: the GGUF's per-layer flags or period, or llama.cpp's default period for the architecture."""
    pattern = facts.sliding_window_pattern
    if isinstance(pattern, tuple):
        return sum(bool(flag) for flag in pattern[:layers])
    period = pattern if pattern is not None and _count(pattern) else SWA_PERIOD.get(facts.architecture, 0)
    return sum(1 for il in range(layers) if il % period < period - 1) if period else 0


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
    is unknown or not in the table). With every layer on a GPU llama.cpp keeps the token embedding in system RAM, so the
    file size overstates VRAM by that tensor (about 2% for a 32B model)."""
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


def kv_bytes_per_token(facts: GgufFacts | ModelShape | None, type_k: str = "f16", type_v: str = "f16") -> float | None:
    """KV-cache bytes per token of context if every layer held every token (an upper bound for sliding-window models);
    None when the facts lack a field (the caller then estimates from the parameter count)."""
    shape = Shape.from_facts(facts)
    return None if shape is None else shape.layers * _per_layer_token(shape, type_k, type_v)


def _per_layer_token(shape: Shape, type_k: str, type_v: str) -> float:
    return shape.kv_heads * (shape.key_length * KV_BYTES_PER_ELEMENT[type_k] + shape.value_length * KV_BYTES_PER_ELEMENT[type_v])


def _cells(context: int) -> int:
    return -(-int(context) // KV_CELL_PADDING) * KV_CELL_PADDING


def _swa_cells(shape: Shape, context: int, swa_full: bool, ubatch: int) -> int:
    """Cells of a sliding-window layer's cache: llama.cpp keeps window + one micro-batch (llama-kv-cache-iswa.cpp), or the
    whole context with swa_full (llama-cpp-python's default; llama-server's is off)."""
    cells = _cells(context)
    return cells if swa_full else min(cells, _cells(shape.sliding_window + ubatch))


def kv_cache_bytes(
    shape: Shape, context: int, type_k: str = "f16", type_v: str = "f16", swa_full: bool = False, ubatch: int = DEFAULT_UBATCH
) -> float:
    """llama.cpp's KV cache for `shape` at `context` tokens: full-attention layers hold every cell, sliding ones their window."""
    full = shape.layers - shape.swa_layers
    swa = _swa_cells(shape, context, swa_full, ubatch) if shape.swa_layers else 0
    return _per_layer_token(shape, type_k, type_v) * (full * _cells(context) + shape.swa_layers * swa)


def compute_bytes(
    shape: Shape | None, context: int, flash_attn: bool = False, ubatch: int = DEFAULT_UBATCH, swa_full: bool = False
) -> float:
    """llama.cpp's compute buffer: the largest of its per-micro-batch f32 tensors, which is the logits (vocabulary x
    ubatch) or, without flash attention, the attention scores (heads + mask x cached cells x ubatch). An unknown shape
    gets COMPUTE_BYTES at 8k, growing with the context when flash attention is off."""
    if shape is None or shape.vocab is None or shape.embedding is None:
        return COMPUTE_BYTES * (1.0 if flash_attn else max(1.0, context / DEFAULT_CONTEXT))
    logits = 4 * ubatch * (shape.vocab + 2 * shape.embedding)
    if flash_attn:
        return float(logits)
    cells = _cells(context) if shape.swa_layers < shape.layers else _swa_cells(shape, context, swa_full, ubatch)
    scores = 4 * ubatch * (((shape.heads or shape.kv_heads) + 1) * cells + 6 * shape.embedding)
    return float(max(logits, scores))


def need(
    params_total_b: float,
    quant: str | None = None,
    file_size_bytes: int | None = None,
    context: int = DEFAULT_CONTEXT,
    facts: GgufFacts | ModelShape | None = None,
    type_k: str = "f16",
    type_v: str = "f16",
    kv_per_token: float | None = None,
    bits_per_weight: float | None = None,
    *,
    flash_attn: bool = False,
    swa_full: bool = False,
    ubatch: int = DEFAULT_UBATCH,
) -> Need:
    """What a model needs at `context` tokens. All parameters count, every expert of a mixture-of-experts model included:
    they must all be in memory. The KV cache comes from `kv_per_token`, else the shape in the GGUF `facts` (or a catalogue
    entry's shape), else the estimate from the parameter count (scaled from f16 to the cache types asked for). Flash attention
    off by default: llama-cpp-python's default and the larger compute buffer."""
    weights = weights_bytes(params_total_b, quant, file_size_bytes, bits_per_weight)
    context = int(_positive(context, "the context (tokens)"))
    shape = Shape.from_facts(facts)
    compute = compute_bytes(shape, context, flash_attn, ubatch, swa_full)
    if kv_per_token is not None:
        return Need(weights, context * kv_per_token, compute, kv_estimated=False)
    if shape is not None:
        return Need(weights, kv_cache_bytes(shape, context, type_k, type_v, swa_full, ubatch), compute, kv_estimated=False)
    scale = (KV_BYTES_PER_ELEMENT[type_k] + KV_BYTES_PER_ELEMENT[type_v]) / 4.0
    return Need(weights, context * estimated_kv_bytes_per_token(params_total_b) * scale, compute, kv_estimated=True)


def model_need(
    model: CatalogModel, context: int = DEFAULT_CONTEXT, type_k: str = "f16", type_v: str = "f16", flash_attn: bool = False
) -> Need:
    """What a catalogue model needs at `context`: its file (or parameters at its quant), and its KV cache and compute
    buffer from the shape models.yaml gives (the estimate where it gives none)."""
    size = model.file_size_bytes or int((model.file_size_approx_gb or 0) * 1e9) or None
    return need(model.params_total_b, model.quant, size, context, model.shape, type_k, type_v, flash_attn=flash_attn)


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def size_text(n: float) -> str:
    """Bytes for a line: '256 MiB' below a GiB, '1.5 GiB' from there."""
    return f"{n / 2**20:,.0f} MiB" if n < GIB else f"{n / GIB:,.1f} GiB"


def largest_context(
    usable: float,
    trained: int,
    params_total_b: float,
    quant: str | None = None,
    file_size_bytes: int | None = None,
    facts: GgufFacts | ModelShape | None = None,
    type_k: str = "f16",
    type_v: str = "f16",
    *,
    flash_attn: bool = False,
    ubatch: int = DEFAULT_UBATCH,
) -> int:
    """The largest context, up to the `trained` one, whose need fits in `usable` bytes: `trained` itself, else a multiple
    of KV_CELL_PADDING (llama.cpp allocates the cache in steps of 256 cells); 0 when not even one step fits."""

    def fits_at(context: int) -> bool:
        found = need(params_total_b, quant, file_size_bytes, context, facts, type_k, type_v, flash_attn=flash_attn, ubatch=ubatch)
        return found.total <= usable

    trained = int(_positive(trained, "the trained context (tokens)"))
    if fits_at(trained):
        return trained
    low, high = 0, -(-trained // KV_CELL_PADDING)  # steps: low fits (0 trivially), high does not (its cells >= trained's)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits_at(middle * KV_CELL_PADDING) else (low, middle)
    return low * KV_CELL_PADDING
