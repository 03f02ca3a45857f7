"""`meek models list|info|verify`: the catalogue, one entry with its GGUF header, a file's checksum."""

from __future__ import annotations

from pathlib import Path

from harness.catalogue.gguf_file import read_gguf_facts, sha256_of
from harness.catalogue.models import TIERS, load_catalog, local_file, looks_like_path, resolve, unknown_model_message
from harness.errors import MeekError, UsageError
from harness.memory_fit import gib, weights_bytes
from harness.output import Output


def list_models(tier: str | None, out: Output) -> int:
    catalog = load_catalog()
    if tier and tier not in TIERS:
        raise UsageError(f"--tier: unknown tier '{tier}' (choose from {', '.join(TIERS)})")
    rows = []
    for m in catalog.models:
        if tier and m.tier != tier:
            continue
        size = weights_bytes(m.params_total_b, m.quant, m.file_size_bytes)
        params = f"{m.params_total_b:g}" + (f" ({m.params_active_b:g} active)" if m.moe else "")
        rows.append(
            (
                m.id,
                m.tier,
                params,
                m.quant,
                gib(size) if m.file_size_bytes else f"~{gib(size)}",
                m.release_date,
                m.license,
                "yes" if local_file(m) else "-",
                "*" if m.standard else "",
            )
        )
    # the id is never shortened: it is what you type after -m
    out.table(("id", "tier", "params (B)", "quant", "size", "released", "licence", "here", "std"), rows)
    out.say("here: file present locally; std: the tier's standard model. Details: meek models info ID")
    return 0


def info(model_id: str, out: Output) -> int:
    catalog = load_catalog()
    entry = catalog.get(model_id)
    if entry is None and not looks_like_path(model_id):
        raise UsageError(unknown_model_message(model_id, catalog))
    if entry:
        for key, value in entry.model_dump(exclude_none=True).items():
            if key == "source":
                value = entry.source.describe()
            out.say(f"{key:>18}: {value}")
        path = local_file(entry)
    else:
        path = Path(model_id).expanduser()
    if path is None:
        assert entry is not None  # only a catalogue entry's file can be missing
        out.say(f"{'file':>18}: not here yet (meek models verify {entry.id} fetches and checks it)")
        return 0
    out.say(f"{'file':>18}: {path}")
    for key, value in read_gguf_facts(path).to_json().items():
        out.say(f"{'gguf.' + key:>18}: {value}")
    return 0


def verify(model_id: str, out: Output) -> int:
    resolved = resolve(model_id, load_catalog(), verify_sha256=False)
    actual = sha256_of(resolved.path, force=True)
    expected = resolved.entry.sha256 if resolved.entry else None
    out.say(f"{resolved.path}\n  GGUF header and size: ok\n  sha256: {actual}")
    if expected and actual != expected:
        raise MeekError(f"sha256 mismatch for {model_id}: expected {expected}, got {actual}; delete the file and fetch it again")
    out.say("  matches the catalogue" if expected else "  (the catalogue has no sha256 for this model to compare with)")
    return 0
