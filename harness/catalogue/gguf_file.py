"""Facts read from a GGUF file with the `gguf` library, and the checks that catch a file llama.cpp would choke on."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from harness.errors import MeekError, UsageError
from harness.home import meek_home

GGUF_MAGIC = b"GGUF"


def read_gguf_facts(path: Path) -> dict:
    """Architecture, parameter count, quantisation, context length and attention shape of a GGUF file.

    Raises MeekError for a file that is missing, not GGUF, or truncated. Cached by (path, size, mtime).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    size = path.stat().st_size
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise MeekError(f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF'); convert it or pick a .gguf model")
    return _cached(path, "gguf-2", lambda: _parse(path, size))  # gguf-2: vocabulary and sliding window added


def _parse(path: Path, size: int) -> dict:
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as error:  # the gguf parser reports truncation as shape or index errors
        raise MeekError(
            f"{path} is a damaged or truncated GGUF file ({size:,} bytes; the parser stopped with: {error}); download it again"
        ) from None
    data_end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if data_end > size:
        raise MeekError(f"{path} is truncated: its tensors need {data_end:,} bytes but the file has {size:,}; download it again")

    def field(key, default=None):
        item = reader.fields.get(key)
        if item is None:
            return default
        try:
            return item.contents()
        except Exception:
            return default

    arch = field("general.architecture", "unknown")
    file_type = field("general.file_type")
    try:
        quant = gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_") if file_type is not None else None
    except ValueError:
        quant = f"type{file_type}"
    head_count = field(f"{arch}.attention.head_count")
    head_count_kv = field(f"{arch}.attention.head_count_kv", head_count)
    embedding = field(f"{arch}.embedding_length")
    head_dim = embedding // head_count if embedding and isinstance(head_count, int) and head_count else None
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    pattern = field(f"{arch}.attention.sliding_window_pattern")
    return {
        "architecture": arch,
        "name": field("general.name"),
        "quant": quant,
        "n_params": int(sum(int(t.n_elements) for t in reader.tensors)),
        "n_tensors": len(reader.tensors),
        "file_size_bytes": size,
        "context_length": field(f"{arch}.context_length"),
        "block_count": field(f"{arch}.block_count"),
        "embedding_length": embedding,
        "head_count": _first_int(head_count),
        "head_count_kv": _first_int(head_count_kv),
        "key_length": field(f"{arch}.attention.key_length", head_dim),
        "value_length": field(f"{arch}.attention.value_length", head_dim),
        "expert_count": field(f"{arch}.expert_count"),
        "vocab_size": len(tokens.data) if tokens is not None else None,  # the logits row: the compute buffer's largest tensor
        "sliding_window": field(f"{arch}.attention.sliding_window"),
        # llama.cpp's per-layer flags (a list) or its period; absent: llama.cpp's default for the architecture
        "sliding_window_pattern": [bool(v) for v in pattern] if isinstance(pattern, list) else pattern,
        "expert_used_count": field(f"{arch}.expert_used_count"),
    }


def _first_int(value):
    """Some architectures store a per-layer list of head counts; the largest bounds the KV cache."""
    if isinstance(value, list):
        return max(value) if value else None
    return value


def sha256_of(path: Path, force: bool = False) -> str:
    """The file's sha256, cached by (path, size, mtime) so a large model is hashed once."""
    path = Path(path)

    def compute() -> str:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(8 * 1024 * 1024), b""):
                digest.update(block)
        return digest.hexdigest()

    return _cached(path, "sha256", compute, force=force)


def _cache_file() -> Path:
    return meek_home() / "file-facts.json"


def _cached(path: Path, what: str, compute, force: bool = False):
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{what}"
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if not force and key in cache:
        return cache[key]
    value = compute()
    cache[key] = value
    temporary = cache_path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(cache))
    os.replace(temporary, cache_path)
    return value
