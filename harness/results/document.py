"""A result as the document written to disk: its canonical JSON, the content hash over it, and the signed document
(strings on one line, validated before it is written)."""

from __future__ import annotations

import hashlib
import json

from harness.results.schema import BenchResult, validate_document
from harness.text import one_line


def canonical_text(document: dict) -> str:
    """The canonical JSON (sorted keys, no spaces, UTF-8) of the document without its content_sha256."""
    body = {key: value for key, value in document.items() if key != "content_sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(document: dict) -> str:
    """sha256 over the canonical JSON of the document without its content_sha256."""
    return hashlib.sha256(canonical_text(document).encode()).hexdigest()


def map_strings(value, change):
    """The JSON value with `change` applied to every string in it (keys left alone)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [map_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {key: map_strings(item, change) for key, item in value.items()}
    return value


def signed_document(result: BenchResult) -> dict:
    """The result as the JSON document written to disk, with its content hash; control characters in its strings (a
    multi-line message caught from a crash) become spaces, so the harness never writes a file its validator refuses."""
    document = map_strings(result.model_dump(mode="json", exclude={"content_sha256"}), one_line)
    validate_document(document, "result to write")
    return {**document, "content_sha256": content_hash(document)}
