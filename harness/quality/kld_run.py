"""`meek quality`'s measurement: the reference's pass (cached), then the quant's, each in a worker process.

Chunking as llama-perplexity's --kl-divergence-base / --kl-divergence: the text is tokenized whole by the reference (BOS
added when its vocabulary asks for it), cut into chunks of `ctx` tokens from the start, the first token of each chunk
replaced by BOS when the vocabulary adds one; each chunk is decoded from an empty KV cache in batches of up to 2048
tokens, logits kept from position ctx/2 on, and the ctx - 1 - ctx/2 positions that have a next token in the chunk are
scored. The quant reads the reference's tokens, so both score the same positions; a quant whose vocabulary tokenizes the
text otherwise is refused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import MeekError, UsageError
from harness.quality import kld_cache
from harness.quality.kld import Tally, compact, summary

MAX_BATCH = 2048  # llama-perplexity's default -b: a chunk longer than this is decoded in several batches


@dataclass(frozen=True)
class Settings:
    """How both files are run: tokens per chunk, chunks, threads, GPU layers, repack, and the no-progress timeout."""

    ctx: int = 512
    chunks: int = 20
    threads: int = 1
    n_gpu_layers: int = -1
    repack: int = 1
    timeout_s: float = 600.0


@dataclass(frozen=True)
class Refused:
    """The worker found the request cannot be done (a text too short, another vocabulary): one line, exit code 2."""

    message: str


@dataclass(frozen=True)
class Tokenized:
    tokens: int  # the text's tokens
    chunks: int  # the chunks that will be scored


@dataclass(frozen=True)
class ChunkDone:
    done: int
    total: int


@dataclass(frozen=True)
class Compared:
    figures: dict[str, Any]


class Decoder:
    """One model loaded through llama_cpp's low-level API with a context of `ctx` tokens, as harness/quality/llama_lm.py
    loads it (repack as the preflight found it runs)."""

    def __init__(self, model_path: str, settings: Settings) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaModel

        from harness.measure.runtime.llamacpp import install_log_capture

        install_log_capture()
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0x7FFFFFFF if settings.n_gpu_layers == -1 else settings.n_gpu_layers
        params.use_extra_bufts = bool(settings.repack)
        self.lib = llama_cpp
        self.llm = LlamaModel(path_model=model_path, params=params, verbose=False)
        self.vocab = self.llm.vocab
        self.n_vocab = self.llm.n_vocab()
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self.bos = self.llm.token_bos()
        self.ctx_size = settings.ctx
        self.n_batch = min(settings.ctx, MAX_BATCH)
        context = llama_cpp.llama_context_default_params()
        context.n_ctx = settings.ctx
        context.n_batch = self.n_batch
        context.n_ubatch = min(self.n_batch, context.n_ubatch)
        context.n_seq_max = 1
        context.n_threads = context.n_threads_batch = settings.threads
        self.ctx = llama_cpp.llama_init_from_model(self.llm.model, context)
        if not self.ctx:
            self.llm.close()
            raise MeekError(f"llama.cpp could not create a context of {settings.ctx} tokens for {Path(model_path).name}")
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)

    def tokenize(self, text: str) -> np.ndarray:
        return np.asarray(self.llm.tokenize(text.encode("utf-8"), add_bos=self.add_bos, special=False), dtype=np.int32)

    def scored_logits(self, chunk: np.ndarray) -> np.ndarray:
        """Decode one chunk from an empty cache; the logits (float32) of positions ctx/2 .. ctx-2, whose next token is in
        the chunk."""
        lib, batch, first = self.lib, self.batch, self.ctx_size // 2
        tokens = chunk.tolist()
        if self.add_bos:
            tokens[0] = self.bos
        lib.llama_memory_clear(lib.llama_get_memory(self.ctx), True)
        rows = []
        for start in range(0, len(tokens), self.n_batch):
            end = min(len(tokens), start + self.n_batch)
            batch.n_tokens = end - start
            for i in range(start, end):
                j = i - start
                batch.token[j] = tokens[i]
                batch.pos[j] = i
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                batch.logits[j] = i >= first
            code = lib.llama_decode(self.ctx, batch)
            if code != 0:
                raise MeekError(f"llama_decode failed with code {code}")
            outputs = max(0, end - max(start, first))
            if outputs:
                pointer = lib.llama_get_logits(self.ctx)
                rows.append(np.ctypeslib.as_array(pointer, shape=(outputs, self.n_vocab)).copy())
        return np.concatenate(rows)[:-1]

    def close(self) -> None:
        self.lib.llama_batch_free(self.batch)
        self.lib.llama_free(self.ctx)
        self.llm.close()


def chunks_in(n_tokens: int, ctx: int, wanted: int) -> int:
    return min(wanted, n_tokens // ctx)


def too_short(n_tokens: int, ctx: int) -> str:
    return f"the text is {n_tokens:,} tokens long, shorter than one chunk of --ctx {ctx}: give a longer --text or a smaller --ctx"


def reference_child(emit, model_path: str, text: str, settings: Settings, partial: str, meta: dict[str, Any]) -> None:
    """In the worker: the reference's pass, each chunk's compact rows written into the partial cache folder."""
    decoder = Decoder(model_path, settings)
    try:
        tokens = decoder.tokenize(text)
        chunks = chunks_in(len(tokens), settings.ctx, settings.chunks)
        if chunks < 1:
            emit(Refused(too_short(len(tokens), settings.ctx)))
            return
        emit(Tokenized(len(tokens), chunks))
        folder = Path(partial)
        for index in range(chunks):
            chunk = tokens[index * settings.ctx : (index + 1) * settings.ctx]
            kld_cache.write_chunk(folder, index, compact(decoder.scored_logits(chunk)))
            emit(ChunkDone(index + 1, chunks))
        described = {**meta, "chunks": chunks, "chunks_in_text": len(tokens) // settings.ctx, "n_vocab": decoder.n_vocab}
        kld_cache.finish(folder, tokens[: chunks * settings.ctx], described)
    finally:
        decoder.close()


def quant_child(emit, model_path: str, text: str, settings: Settings, folder: str, chunks: int) -> None:
    """In the worker: the quant's pass over the reference's tokens, compared chunk by chunk with the cached rows."""
    cache = Path(folder)
    decoder = Decoder(model_path, settings)
    try:
        reference = kld_cache.read_tokens(cache)[: chunks * settings.ctx]
        meta = kld_cache.read_meta(cache) or {}
        mine = decoder.tokenize(text)[: len(reference)]
        if decoder.n_vocab != meta.get("n_vocab") or not np.array_equal(mine, reference):
            emit(Refused(different_vocabularies(meta.get("n_vocab"), decoder.n_vocab)))
            return
        emit(Tokenized(len(mine), chunks))
        tally = Tally()
        first = settings.ctx // 2
        for index in range(chunks):
            chunk = reference[index * settings.ctx : (index + 1) * settings.ctx]
            tally.add(decoder.scored_logits(chunk), kld_cache.read_chunk(cache, index), chunk[first + 1 :])
            emit(ChunkDone(index + 1, chunks))
        emit(Compared(summary(tally)))
    finally:
        decoder.close()


def different_vocabularies(reference: object, quant: object) -> str:
    sizes = f" ({reference} and {quant} tokens)" if reference != quant else ""
    return (
        f"the two files have different vocabularies{sizes}: they tokenize the text differently, so their next-token "
        "distributions cannot be compared; give a reference of the same model"
    )


@dataclass
class Measured:
    """What a comparison gives: the figures (QuantQuality's names), the chunks scored, and each pass's time."""

    figures: dict[str, Any]
    chunks: int
    reference_s: float | None  # None when the reference came from the cache
    quant_s: float


def _run(target: Callable, args: tuple, settings: Settings, say: Callable[[str], None], what: str) -> list:
    """Run one pass in a worker; say its progress; a refusal becomes UsageError, a crash MeekError."""
    from harness.measure.preflight import crash_hint
    from harness.measure.worker import WorkerFailed, run_in_worker

    events: list = []
    started = time.monotonic()
    try:
        for event in run_in_worker(target, args, settings.timeout_s):
            if isinstance(event, Refused):
                raise UsageError(event.message)
            if isinstance(event, ChunkDone):
                step = max(1, event.total // 10)
                if event.done == 1 or event.done % step == 0 or event.done == event.total:
                    elapsed = time.monotonic() - started
                    left = elapsed / event.done * (event.total - event.done)
                    say(f"{what}: chunk {event.done}/{event.total} ({elapsed:.0f} s, about {left:.0f} s left)")
            events.append(event)
    except WorkerFailed as error:
        raise MeekError(f"{what} stopped: {error}{crash_hint(error.signal_name, settings.repack)}") from None
    return events


def measure(
    quant: Path,
    reference: Path,
    reference_sha256: str,
    text: str,
    text_sha256: str,
    settings: Settings,
    say: Callable[[str], None],
    reference_label: str = "reference",
    quant_label: str = "quant",
) -> Measured:
    """Compare `quant` with `reference` over `text`; the reference's pass is read from the cache when it is there."""
    kld_cache.sweep()
    final = kld_cache.folder_for(reference_sha256, text_sha256, settings.ctx, settings.repack)
    meta = kld_cache.serves(final, reference_sha256, text_sha256, settings.ctx, settings.chunks)
    reference_s = None
    if meta is None:
        started = time.monotonic()
        partial = kld_cache.new_partial(final)
        try:
            described = {
                "reference_sha256": reference_sha256,
                "reference_file": reference.name,
                "text_sha256": text_sha256,
                "ctx": settings.ctx,
                "repack": settings.repack,
                "created_by": f"meek pid {os.getpid()}",
            }
            args = (str(reference), text, settings, str(partial), described)
            _run(reference_child, args, settings, say, f"{reference_label} (reference)")
            kld_cache.install(partial, final)
        finally:
            kld_cache.discard(partial)  # gone already once installed
        reference_s = time.monotonic() - started
        meta = kld_cache.read_meta(final)
        if meta is None:
            raise MeekError(f"the reference's cache {final} could not be read back after it was written")
        size = sum(f.stat().st_size for f in final.iterdir())
        say(f"{reference_label} (reference): {size / 2**20:,.0f} MiB cached in {final} for the next quant")
    else:
        say(f"{reference_label} (reference): read from the cache ({final.name})")
    chunks = min(settings.chunks, int(meta["chunks"]))
    if chunks < settings.chunks:
        say(f"the text has {chunks} chunks of {settings.ctx} tokens, fewer than --chunks {settings.chunks}: scoring {chunks}")
    started = time.monotonic()
    events = _run(quant_child, (str(quant), text, settings, str(final), chunks), settings, say, quant_label)
    quant_s = time.monotonic() - started
    compared = [e for e in events if isinstance(e, Compared)]
    if not compared:
        raise MeekError(f"{quant_label}: the worker finished without its figures")
    return Measured(figures=compared[-1].figures, chunks=chunks, reference_s=reference_s, quant_s=quant_s)
