"""In-process llama.cpp through llama-cpp-python's C API, doing what llama-bench does step for step.

The raw C functions are used rather than `llama_cpp.Llama`, so that nothing runs between the timed decode calls
except the decode itself (no Python-side sampling, no logits copies), exactly as in llama-bench's test_prompt/test_gen.
"""

from __future__ import annotations

import ctypes
from collections import deque

import numpy as np

from harness.errors import MeekError
from harness.measure.protocol import LoadSettings

# ggml tensor types accepted for the KV cache (-ctk/-ctv), by llama-bench's names.
KV_CACHE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "iq4_nl": 20, "bf16": 30}
_LOG_LEVEL_WARN = 3
_log_lines: deque[str] = deque(maxlen=50)
_log_callback = None  # kept referenced: llama.cpp calls it for the life of the process


def _llama():
    import llama_cpp

    return llama_cpp


def install_log_capture() -> None:
    """Keep llama.cpp's warnings and errors (to explain a failure) and silence the rest."""
    global _log_callback
    if _log_callback is not None:
        return
    llama_cpp = _llama()

    @llama_cpp.llama_log_callback
    def capture(level, text, _user_data):
        if level >= _LOG_LEVEL_WARN and level != 5 and text:
            line = text.decode("utf-8", "replace").strip()
            if line:
                _log_lines.append(line)

    _log_callback = capture
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


def recent_llama_log() -> str:
    """The last warnings/errors llama.cpp logged, joined into one line."""
    return " | ".join(list(_log_lines)[-3:])


class LlamaCppRuntime:
    """One model loaded in this process, with at most one context at a time."""

    name = "llama-cpp-python"
    # the loaded model's vocabulary, set by load()
    n_vocab: int
    add_bos: bool
    bos: int

    def __init__(self) -> None:
        install_log_capture()
        self._lib = _llama()
        self._lib.llama_backend_init()
        self.model = None
        self.ctx = None
        self.settings: LoadSettings | None = None
        self.rpc_served: list[str] = []  # what each RPC endpoint serves, once registered
        self._batch_buffer: ctypes.Array[ctypes.c_int32] | None = None  # llama_token[n_batch], set by new_context()
        self._multi = None  # a llama_batch for several sequences, set by new_context(n_seq > 1)
        self._multi_size = 0

    def load(self, path: str, settings: LoadSettings) -> None:
        lib = self._lib
        params = lib.llama_model_default_params()
        params.n_gpu_layers = settings.n_gpu_layers
        params.use_extra_bufts = settings.repack != 0  # llama-bench's --repack; None (not set) is llama.cpp's default, on
        if settings.rpc and not self.rpc_served:  # once per worker process: registering twice would double the devices
            from harness.measure.rpc import register_servers

            self.rpc_served = register_servers(settings.rpc)
        _log_lines.clear()
        self.model = lib.llama_model_load_from_file(path.encode(), params)
        if not self.model:
            raise MeekError(f"llama.cpp could not load {path}: {recent_llama_log() or 'no reason given'}")
        self.settings = settings
        vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab = lib.llama_vocab_n_tokens(vocab)
        self.add_bos = bool(lib.llama_vocab_get_add_bos(vocab))
        self.bos = lib.llama_vocab_bos(vocab)

    def new_context(self, n_ctx: int, n_threads: int, n_seq: int = 1) -> None:
        lib, settings = self._lib, self.settings
        assert settings is not None, "load() a model first"
        self._free_context()
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = settings.n_batch
        params.n_ubatch = settings.n_ubatch
        params.n_seq_max = n_seq
        params.kv_unified = n_seq > 1  # one cache the sequences share, as llama-batched-bench -kvu
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.flash_attn_type = settings.flash_attn
        params.type_k = KV_CACHE_TYPES[settings.type_k]
        params.type_v = KV_CACHE_TYPES[settings.type_v]
        params.swa_full = False  # as llama-bench: a sliding-window cache sized to the window, not the context
        _log_lines.clear()
        self.ctx = lib.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise MeekError(f"llama.cpp could not create a context of {n_ctx} tokens: {recent_llama_log() or 'no reason given'}")
        self._batch_buffer = (lib.llama_token * settings.n_batch)()
        self._multi_size = max(settings.n_batch, n_seq)
        self._multi = lib.llama_batch_init(self._multi_size, 0, 1)  # for the parallel tests: a token per sequence

    def _decode_entries(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, sequence, wants logits) entries in batches of n_batch, as llama-batched-bench's
        decode_helper does; returns once the results are ready."""
        lib, batch = self._lib, self._multi
        assert batch is not None, "new_context() first"
        for start in range(0, len(entries), self._multi_size):
            chunk = entries[start : start + self._multi_size]
            for i, (token, pos, seq, logits) in enumerate(chunk):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
                batch.seq_id[i][0], batch.logits[i] = seq, logits
            batch.n_tokens = len(chunk)
            result = lib.llama_decode(self.ctx, batch)
            if result != 0:
                raise MeekError(f"llama_decode failed with code {result}: {recent_llama_log() or 'no reason given'}")
        lib.llama_synchronize(self.ctx)

    def parallel_prompts(self, n_seq: int, n_prompt: int, rng: np.random.Generator) -> None:
        """Each of `n_seq` sequences its own prompt of `n_prompt` random tokens, interleaved by position, logits for the
        batch's last token only: llama-batched-bench's prompt step exactly."""
        tokens = rng.integers(0, self.n_vocab, size=(n_prompt, n_seq), dtype=np.int32)
        if self.add_bos:
            tokens[0, :] = self.bos
        entries = [(int(tokens[pos, seq]), pos, seq, False) for pos in range(n_prompt) for seq in range(n_seq)]
        entries[-1] = (*entries[-1][:3], True)
        self._decode_entries(entries)

    def parallel_generate(self, n_seq: int, n_gen: int, start: int, rng: np.random.Generator) -> None:
        """`n_gen` steps, each one new token for every sequence in one batch, as llama-batched-bench's generation."""
        tokens = rng.integers(0, self.n_vocab, size=(n_gen, n_seq), dtype=np.int32)
        for step in range(n_gen):
            self._decode_entries([(int(tokens[step, seq]), start + step, seq, True) for seq in range(n_seq)])

    def clear(self) -> None:
        self._lib.llama_memory_clear(self._lib.llama_get_memory(self.ctx), False)

    def snapshot(self):
        lib = self._lib
        size = lib.llama_state_seq_get_size(self.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        if lib.llama_state_seq_get_data(self.ctx, buffer, size, 0) == 0:
            raise MeekError("llama.cpp could not save the context state for the depth fill")
        return buffer

    def restore(self, state) -> None:
        if self._lib.llama_state_seq_set_data(self.ctx, state, len(state), 0) == 0:
            raise MeekError("llama.cpp could not restore the context state for the depth fill")

    def _decode(self, n_tokens: int) -> None:
        lib = self._lib
        result = lib.llama_decode(self.ctx, lib.llama_batch_get_one(self._batch_buffer, n_tokens))
        if result != 0:
            raise MeekError(f"llama_decode failed with code {result}: {recent_llama_log() or 'no reason given'}")

    def process_prompt(self, n_tokens: int, rng: np.random.Generator) -> None:
        assert self.settings is not None and self._batch_buffer is not None, "new_context() first"
        n_batch = self.settings.n_batch
        buffer = self._batch_buffer
        done = 0
        while done < n_tokens:
            chunk = min(n_batch, n_tokens - done)
            tokens = rng.integers(0, self.n_vocab, size=chunk, dtype=np.int32)
            if done == 0 and self.add_bos:
                tokens[0] = self.bos
            ctypes.memmove(buffer, tokens.ctypes.data, chunk * 4)
            self._decode(chunk)
            done += chunk
        self._lib.llama_synchronize(self.ctx)

    def first_token(self) -> int:
        logits = self._lib.llama_get_logits_ith(self.ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(logits, shape=(self.n_vocab,))))

    def generate(self, n_tokens: int, rng: np.random.Generator) -> None:
        lib, ctx, buffer = self._lib, self.ctx, self._batch_buffer
        assert buffer is not None, "new_context() first"
        tokens = rng.integers(0, self.n_vocab, size=n_tokens, dtype=np.int32)
        if self.add_bos:
            tokens[0] = self.bos
        for token in tokens.tolist():
            buffer[0] = token
            self._decode(1)
            lib.llama_synchronize(ctx)

    def describe(self) -> dict:
        lib = self._lib
        text = ctypes.create_string_buffer(256)
        lib.llama_model_desc(self.model, text, 256)
        return {
            "description": text.value.decode("utf-8", "replace"),
            "size_bytes": int(lib.llama_model_size(self.model)),
            "n_params": int(lib.llama_model_n_params(self.model)),
            "n_layer": int(lib.llama_model_n_layer(self.model)),
            "n_vocab": int(self.n_vocab),
            "rpc_devices": list(self.rpc_served),
        }

    def _free_context(self) -> None:
        if self._multi is not None:
            self._lib.llama_batch_free(self._multi)
            self._multi = None
        if self.ctx:
            self._lib.llama_free(self.ctx)
            self.ctx = None

    def close(self) -> None:
        self._free_context()
        if self.model:
            self._lib.llama_model_free(self.model)
            self.model = None
