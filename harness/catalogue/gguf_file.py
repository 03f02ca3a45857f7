"""Facts read from a GGUF file with the `gguf` library, and the checks that catch a file llama.cpp would choke on."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import MeekError, UsageError
from harness.home import meek_home

GGUF_MAGIC = b"GGUF"
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class GgufFacts:
    """What the header of a GGUF file says, in llama.cpp's key names (`{arch}.attention.head_count_kv` is head_count_kv);
    None where the header does not say. The shape fields are what the memory model sizes the KV cache and compute
    buffers by (harness/memory_fit.py)."""

    architecture: str  # "unknown" when the header does not say
    name: str | None
    quant: str | None  # Q4_K_M, Q8_0 ... (llama.cpp's file type without MOSTLY_), or typeN for one gguf does not know
    n_params: int  # every tensor's elements: all experts of a mixture
    n_tensors: int
    file_size_bytes: int
    context_length: int | None  # the context the model was trained for
    block_count: int | None  # layers
    embedding_length: int | None
    head_count: int | None  # the largest, where the header lists one per layer
    head_count_kv: int | None  # ditto
    key_length: int | None  # per head; embedding_length / head_count when the header does not say
    value_length: int | None
    expert_count: int | None
    vocab_size: int | None  # the logits row: the compute buffer's largest tensor
    sliding_window: int | None  # tokens a sliding-window layer keeps
    # llama.cpp's per-layer flags or its period; None: llama.cpp's default for the architecture
    sliding_window_pattern: tuple[bool, ...] | int | None
    expert_used_count: int | None

    def to_json(self) -> dict[str, Any]:
        """The facts as a JSON object, in the order above (the file-facts cache; `meek models info`)."""
        facts = dataclasses.asdict(self)
        if isinstance(self.sliding_window_pattern, tuple):
            facts["sliding_window_pattern"] = list(self.sliding_window_pattern)
        return facts

    @classmethod
    def from_json(cls, document: object) -> GgufFacts:
        """The facts from their JSON object (to_json's); ValueError for one with other keys (another version's)."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(document, dict) or set(document) != names:
            raise ValueError("not the GGUF facts of this version")
        return _facts(document)


def _facts(values: dict[str, Any]) -> GgufFacts:
    """GgufFacts from the values read, each of its field's type or None (a header can hold any type under any key); the
    per-layer flags of sliding_window_pattern as booleans."""
    pattern = values["sliding_window_pattern"]
    return GgufFacts(
        architecture=_text(values["architecture"]) or "unknown",
        name=_text(values["name"]),
        quant=_text(values["quant"]),
        n_params=_integer(values["n_params"]) or 0,
        n_tensors=_integer(values["n_tensors"]) or 0,
        file_size_bytes=_integer(values["file_size_bytes"]) or 0,
        context_length=_integer(values["context_length"]),
        block_count=_integer(values["block_count"]),
        embedding_length=_integer(values["embedding_length"]),
        head_count=_integer(values["head_count"]),
        head_count_kv=_integer(values["head_count_kv"]),
        key_length=_integer(values["key_length"]),
        value_length=_integer(values["value_length"]),
        expert_count=_integer(values["expert_count"]),
        vocab_size=_integer(values["vocab_size"]),
        sliding_window=_integer(values["sliding_window"]),
        sliding_window_pattern=tuple(bool(v) for v in pattern) if isinstance(pattern, list) else _integer(pattern),
        expert_used_count=_integer(values["expert_used_count"]),
    )


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def read_gguf_facts(path: Path) -> GgufFacts:
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
    # gguf-2: vocabulary and sliding window added
    return _cached(path, "gguf-2", lambda: _parse(path, size), GgufFacts.to_json, GgufFacts.from_json)


def _parse(path: Path, size: int) -> GgufFacts:
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

    def field(key: str, default: Any = None) -> Any:
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
    return _facts(
        {
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
            "vocab_size": len(tokens.data) if tokens is not None else None,
            "sliding_window": field(f"{arch}.attention.sliding_window"),
            "sliding_window_pattern": field(f"{arch}.attention.sliding_window_pattern"),
            "expert_used_count": field(f"{arch}.expert_used_count"),
        }
    )


def _first_int(value: Any) -> Any:
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

    return _cached(path, "sha256", compute, _checked_text, _checked_text, force=force)


def _checked_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a text: {value!r}")
    return value


def _cache_file() -> Path:
    return meek_home() / "file-facts.json"


def _cached(
    path: Path,
    what: str,
    compute: Callable[[], T],
    encode: Callable[[T], Any],
    decode: Callable[[object], T],
    force: bool = False,
) -> T:
    """compute() cached in $MEEK_HOME/file-facts.json by (path, size, mtime, what): `encode` makes the JSON value
    stored, `decode` reads it back and raises ValueError for one it cannot read (written by another version), which is
    then computed again."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{what}"
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if not force and key in cache:
        try:
            return decode(cache[key])
        except ValueError:
            pass
    value = compute()
    cache[key] = encode(value)
    temporary = cache_path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(cache))
    os.replace(temporary, cache_path)
    return value
