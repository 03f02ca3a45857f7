"""The reference's log-probabilities on disk, so one reference serves many quants (`meek quality`).

One folder per reference file, text, context size and repack setting under $MEEK_HOME/kld-cache: `meta.json` (what it
holds), `tokens.npy` (the reference's tokens of the chunks scored) and one `chunk-NNNNN.npz` per chunk with the compact
rows of harness/quality/kld.py (llama-perplexity's uint16 values with their scale and offset per row, zeros left out,
and the row's top token).
A folder serves any request for as many chunks as it holds, or fewer. It is written in a temporary folder beside it and
renamed into place whole once every chunk is in, so an interrupted or failed run leaves no half cache behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.files import make_folder, write_inside
from harness.home import meek_home
from harness.quality.kld import CompactRows

CACHE_VERSION = 2
META = "meta.json"


def cache_root() -> Path:
    return make_folder(meek_home() / "kld-cache")


def folder_for(reference_sha256: str, text_sha256: str, ctx: int, repack: int) -> Path:
    return cache_root() / f"{reference_sha256[:16]}-{text_sha256[:16]}-c{ctx}-rpk{repack}-v{CACHE_VERSION}"


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The folder's description, or None when it is missing or not one of this version's."""
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION:
        return None
    return meta


def serves(folder: Path, reference_sha256: str, text_sha256: str, ctx: int, chunks: int) -> dict[str, Any] | None:
    """The folder's description when it holds the chunks asked for (or every chunk the text has, when it has fewer)."""
    meta = read_meta(folder)
    if meta is None or (meta.get("reference_sha256"), meta.get("text_sha256"), meta.get("ctx")) != (
        reference_sha256,
        text_sha256,
        ctx,
    ):
        return None
    held, most = int(meta.get("chunks", 0)), int(meta.get("chunks_in_text", 0))
    if held < min(chunks, most):
        return None
    if not all((folder / chunk_name(i)).is_file() for i in range(min(chunks, held))) or not (folder / "tokens.npy").is_file():
        return None
    return meta


def chunk_name(index: int) -> str:
    return f"chunk-{index:05d}.npz"


def new_partial(final: Path) -> Path:
    """An empty temporary folder beside `final`, to be filled and then installed."""
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))


def write_chunk(folder: Path, index: int, rows: CompactRows) -> None:
    with open(folder / chunk_name(index), "wb") as handle:
        np.savez(
            handle,
            scale=rows.scale,
            min_log_prob=rows.min_log_prob,
            starts=rows.starts,
            columns=rows.columns,
            values=rows.values,
            n_vocab=np.array(rows.n_vocab),
            top=rows.top,
        )


def read_chunk(folder: Path, index: int) -> CompactRows:
    with np.load(folder / chunk_name(index), allow_pickle=False) as data:
        return CompactRows(
            scale=data["scale"],
            min_log_prob=data["min_log_prob"],
            starts=data["starts"],
            columns=data["columns"],
            values=data["values"],
            n_vocab=int(data["n_vocab"]),
            top=data["top"],
        )


def finish(folder: Path, tokens: np.ndarray, meta: dict[str, Any]) -> None:
    """The last files of a partial folder: its tokens, then its description."""
    np.save(folder / "tokens.npy", np.asarray(tokens, dtype=np.int32), allow_pickle=False)
    write_inside(folder, META, json.dumps({"version": CACHE_VERSION, **meta}, indent=1) + "\n")


def read_tokens(folder: Path) -> np.ndarray:
    return np.load(folder / "tokens.npy", allow_pickle=False)


def install(partial: Path, final: Path) -> None:
    """Put a finished partial folder in place of `final` (an older, smaller cache there is removed)."""
    if final.exists():
        stale = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".old"))
        os.replace(final, stale / "old")
        os.replace(partial, final)
        shutil.rmtree(stale, ignore_errors=True)
    else:
        os.replace(partial, final)


def discard(partial: Path) -> None:
    shutil.rmtree(partial, ignore_errors=True)


def sweep(older_than_s: float = 86400.0) -> None:
    """Remove the partial folders a killed meek left behind (a day old or more: never another run's folder in use)."""
    import time

    for folder in cache_root().glob(".*"):
        try:
            stale = folder.is_dir() and time.time() - folder.stat().st_mtime > older_than_s
        except OSError:
            continue
        if stale and folder.name.endswith((".partial", ".old")):
            shutil.rmtree(folder, ignore_errors=True)
