"""An lm-eval model that runs a GGUF file in-process through llama.cpp (registered as `meek-llamacpp`).

Scoring follows lm-eval's HF model: BOS as the model's vocabulary asks, the context/continuation boundary split by
encoding the whole text and the context apart. Requests are grouped by context and the groups sorted, so each context is
evaluated once and the part it shares with the previous context (few-shot examples, a shared question) not at all; each
continuation is then decoded on top of it in the KV cells one request at a time would use, and removed again. Logits are
read only at the positions that are scored.

Every token meets the same keys and values in the same cells, in batches cut so that each row goes through the same
matrix kernel, as when its request is scored from scratch (strategy `plain`, the reference). On the bundled SmolLM2 the
log-likelihoods are bitwise the same; where a model's weights go through llama.cpp's tiled CPU kernels, whose arithmetic
depends on the batch size, a few requests can still differ in the last digits (measured: 1 in 120 on Gemma 3 270M).

A strategy named `-flash` runs with flash attention on, in decodes of batched.UBATCH tokens (fewer than llama.cpp's
flash-attention tile) and never of a single row where more than one token is decoded, so every attention row goes
through llama.cpp's per-row flash kernel, whose arithmetic for a row is the same whatever other cells and rows the
decode holds. `batched-flash` (harness/quality/batched.py) decodes several questions' contexts and continuations as
sequences of one decode on a unified KV cache; its reference is `plain-flash`, one request at a time under the same
settings (bench/eval_speed.py compares them). Flash attention on and off are different computations (on this model
0.28 nats apart per request on average), so the strategy name, which the result file records and the request cache is
keyed by, says which.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from harness.measure import faults
from harness.measure.runtime.llamacpp import install_log_capture
from harness.quality import batched

STRATEGIES = ("prefix-reuse", "plain", "batched-flash", "prefix-reuse-flash", "plain-flash")
SCORING_VERSION = 2  # bump when scores of the same requests can change: keys the request cache
# llama.cpp's repacked CPU matrix kernels (Q4_0, Q4_K, IQ4_NL... on x86 and ARM) take a batch's rows 4 at a time and the
# rest one by one, in different arithmetic; a context split on a multiple of 4 keeps every row on its kernel.
ROW_BLOCK_REPACKED = 4
PROBE_TEXT = (
    "The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single step, "
    "and every step after it is measured twice before it is taken."
)


def token_logprob(row: np.ndarray, token: int) -> tuple[float, bool]:
    """log p(token) under the softmax of one row of logits, and whether the token is the row's most likely one."""
    peak = float(row.max())
    log_total = peak + math.log(float(np.exp(row - peak).sum(dtype=np.float64)))
    return float(row[token]) - log_total, int(row.argmax()) == token


@register_model("meek-llamacpp")
class MeekLlamaCpp(TemplateLM):
    """lm-eval LM over llama_cpp: `--model meek-llamacpp --model_args path=model.gguf,n_ctx=2048,n_threads=2`."""

    def __init__(
        self,
        path: str | None = None,
        pretrained: str | None = None,
        n_ctx: int = 2048,
        n_batch: int = 512,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        strategy: str = "prefix-reuse",
        max_gen_toks: int = 256,
        repack: int | str | None = None,
        on_progress=None,
        **_ignored,
    ) -> None:
        super().__init__()
        import llama_cpp
        from llama_cpp._internals import LlamaModel

        model_path = path or pretrained
        if not model_path:
            raise ValueError("meek-llamacpp needs path=<file.gguf>")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}")
        threads = int(n_threads or os.cpu_count() or 1)
        install_log_capture()  # llama.cpp's own log lines stay out of the progress bar; warnings are kept for errors
        # llama_cpp.Llama fills llama_model_params itself and has no argument for use_extra_bufts (llama-bench's --repack),
        # so the model is loaded through the LlamaModel wrapper that Llama itself uses, with params of our own: the same
        # tokenizer and metadata calls, and the repack setting the preflight probe found to run (harness/measure/preflight.py).
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0x7FFFFFFF if int(n_gpu_layers) == -1 else int(n_gpu_layers)
        if repack is None:  # from lm-eval's command line, say: what the preflight probe finds runs on this machine
            from harness.measure.preflight import default_repack

            repack = default_repack(Path(model_path), threads)
        params.use_extra_bufts = str(repack).strip().lower() not in ("0", "false", "no", "off")
        self.llm = LlamaModel(path_model=str(model_path), params=params, verbose=False)
        self._lib = llama_cpp
        self.model = self.llm.model
        self.on_progress = on_progress
        self.requests_scored = 0  # requests computed by this process (not read from the cache)
        self.vocab = self.llm.vocab
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self.n_vocab = self.llm.n_vocab()
        self.n_ctx = int(n_ctx)
        self.n_batch = int(n_batch)
        self.strategy = strategy.removesuffix("-flash")  # the method: plain, prefix-reuse or batched
        self.flash_attn = strategy.endswith("-flash")
        if self.flash_attn:
            self.n_batch = batched.UBATCH
        self.max_gen_toks = int(max_gen_toks)
        self.model_path = str(model_path)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.cells = self.n_ctx
        params.n_seq_max = self.n_seq = 1
        self.sizing: batched.Sizing | None = None
        if self.strategy == "batched":  # a unified KV cache, the decode sized by the memory model (harness/quality/batched.py)
            self.sizing = batched.size_batch(batched.shape_of(llama_cpp, self.model, self.llm.metadata()), self.n_ctx)
            self.n_batch, params.n_ctx, params.n_seq_max = self.sizing.n_batch, self.sizing.cells, self.sizing.n_seq
            self.n_seq = self.sizing.n_seq
            self.cells = self.sizing.cells
            params.kv_unified = True
        params.n_batch = params.n_ubatch = self.n_batch
        params.n_threads = params.n_threads_batch = threads
        params.flash_attn_type = int(self.flash_attn)  # 0 off, 1 on (not -1, auto)
        self.ctx = llama_cpp.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise RuntimeError(f"could not create a context of {self.n_ctx} tokens")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, int(params.n_seq_max))
        self._held: list[int] = []  # batched: the prefix sequence 0 holds
        self._cached: list[int] = []  # the tokens whose keys and values are in cells 0.. now
        self.tokens_evaluated = 0  # every token sent through llama_decode, for speed comparisons
        self.row_block = self._measure_row_block()
        self.tokens_evaluated = 0  # the probe does not count

    # --- tokenisation, as lm-eval's HF model does it --------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.llm.token_eos()

    @property
    def prefix_token_id(self) -> int:
        return self.llm.token_bos() if self.add_bos else self.eot_token_id

    @property
    def max_length(self) -> int:
        return self.n_ctx

    @property
    def tokenizer_name(self) -> str:
        return os.path.basename(self.model_path)

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        add_bos = self.add_bos if add_special_tokens is None else bool(add_special_tokens) and self.add_bos
        return self.llm.tokenize(string.encode("utf-8"), add_bos=add_bos, special=False)

    def tok_decode(self, tokens: list[int]) -> str:
        return self.llm.detokenize(list(tokens)).decode("utf-8", errors="ignore")

    # --- decoding ---------------------------------------------------------------------------------------------------
    def _clear(self) -> None:
        self._lib.llama_memory_clear(self.memory, True)
        self._cached = []
        self._held = []

    def _keep(self, n: int) -> bool:
        """Drop every cell from position n on, keeping the first n; False when llama.cpp cannot (then all is cleared)."""
        if n > 0 and self._lib.llama_memory_seq_rm(self.memory, 0, n, -1):
            self._cached = self._cached[:n]
            return True
        self._clear()
        return n == 0

    def _measure_row_block(self) -> int:
        """1 when logits do not depend on where a decode is split (this build and model run every batch row through
        the same arithmetic), else ROW_BLOCK_REPACKED. Measured: 40 tokens decoded whole and split after 17 (a row that
        whole falls in a block of 4, split becomes a single), compared bit for bit."""
        probe = (self.tok_encode(PROBE_TEXT) * 4)[:40]
        if len(probe) < 40 or self.n_ctx < 40:
            return ROW_BLOCK_REPACKED
        want = [i >= 32 for i in range(40)]
        self._clear()
        whole = self._decode(probe, 0, want)
        self._clear()
        self._decode(probe[:17], 0, want[:17])
        split = self._decode(probe[17:], 17, want[17:])
        self._clear()
        return 1 if all(np.array_equal(a, b) for a, b in zip(whole, split)) else ROW_BLOCK_REPACKED

    def _decode(self, tokens: list[int], start: int, want: list[bool]) -> list[np.ndarray]:
        """Decode tokens at positions start.. in batches that end where a from-scratch decode's batches end (multiples
        of n_batch); return a copy of the logits where `want`."""
        lib, batch, rows = self._lib, self._batch, []
        offset = 0
        while offset < len(tokens):
            end = min(len(tokens), (start + offset) // self.n_batch * self.n_batch + self.n_batch - start)
            if self.flash_attn and len(tokens) - offset > 1:  # no batch of one row: flash attention has other kernels
                if end - offset == 1:
                    end = offset + 2
                if len(tokens) - end == 1:
                    end = len(tokens) if len(tokens) - offset <= self.n_batch else end - 1
            batch.n_tokens = end - offset
            for i in range(offset, end):
                j = i - offset
                batch.token[j] = tokens[i]
                batch.pos[j] = start + i
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                batch.logits[j] = want[i]
            result = lib.llama_decode(self.ctx, batch)
            if result != 0:
                self._clear()
                raise RuntimeError(f"llama_decode failed with code {result} (context of {self.n_ctx} tokens full?)")
            self.tokens_evaluated += end - offset
            for i in range(offset, end):
                if want[i]:
                    pointer = lib.llama_get_logits_ith(self.ctx, i - offset)
                    rows.append(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())
            offset = end
        self._cached = self._cached[:start] + list(tokens)
        return rows

    def _truncate(self, context: list[int], continuation: list[int]) -> tuple[list[int], list[int]]:
        """Keep the last n_ctx tokens, cutting the context from the left as lm-eval's HF model does."""
        whole = (context + continuation)[-(self.n_ctx + 1) :]
        n_cont = min(len(continuation), len(whole) - 1)
        return whole[:-n_cont], whole[-n_cont:]

    @staticmethod
    def _score(rows: list[np.ndarray], continuation: list[int]) -> tuple[float, bool]:
        total, greedy = 0.0, True
        for row, token in zip(rows, continuation):
            logprob, top = token_logprob(row, token)
            total += logprob
            greedy = greedy and top
        return total, greedy

    def _score_plain(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        """One request from scratch: context and continuation in one pass, logits from the last context token on."""
        self._clear()
        tokens = context + continuation[:-1]
        rows = self._decode(tokens, 0, [i >= len(context) - 1 for i in range(len(tokens))])
        return self._score(rows, continuation)

    def _prefill(self, context: list[int]) -> int:
        """Make the cells hold the context up to its last whole block of rows before its last two tokens, decoding
        only from where it stops agreeing with what they hold; return where the rest starts."""
        block = self.row_block
        # at least two rows go with each continuation: llama.cpp runs a batch of one row through other kernels
        aligned = max(0, len(context) - 2) // block * block
        common = 0
        for cached, token in zip(self._cached, context[:aligned]):
            if cached != token:
                break
            common += 1
        start = common // block * block
        if self.flash_attn and aligned - start == 1 and start > 0:  # two rows, not one (see _decode)
            start -= 1
        start = start if self._keep(start) else 0
        self._decode(context[start:aligned], start, [False] * (aligned - start))
        return aligned

    def _score_shared(self, context: list[int], continuations: list[list[int]]) -> list[tuple[float, bool]]:
        """The context once, less what it shares with the previous one; then, for each continuation, the context's
        last few tokens and the continuation on top, removed again before the next.

        The split falls on a multiple of row_block and batches end where a from-scratch decode's do, so every row goes
        through the same kernel as when its request is scored from scratch."""
        n = len(context)
        aligned = self._prefill(context)
        results = []
        for continuation in continuations:
            if self._cached != context[:aligned]:  # llama.cpp could not drop the previous continuation's cells alone
                self._prefill(context)
            tokens = context[aligned:] + continuation[:-1]
            rows = self._decode(tokens, aligned, [aligned + i >= n - 1 for i in range(len(tokens))])
            results.append(self._score(rows, continuation))
            self._keep(aligned)
        return results

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        groups: OrderedDict[tuple, list[tuple[int, list[int]]]] = OrderedDict()
        for index, (_, context, continuation) in enumerate(requests):
            context, continuation = self._truncate(list(context), list(continuation))
            groups.setdefault(tuple(context), []).append((index, continuation))
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        with tqdm(total=len(requests), disable=disable_tqdm, desc="scoring", unit="req") as bar:
            for members, score in self._steps(groups):
                self._before_scoring(len(members))
                for (index, _), result in zip(members, score()):
                    results[index] = result
                    if requests[index][0] is not None:  # lm-eval's cache key (context, continuation); None for rolling windows
                        self.cache_hook.add_partial("loglikelihood", requests[index][0], result)
                self._scored(len(members))
                bar.update(len(members))
        return results  # type: ignore[return-value]

    def _steps(self, groups: OrderedDict[tuple, list[tuple[int, list[int]]]]) -> Iterator[tuple[list, Callable[[], list]]]:
        """The scoring in steps: the (request index, continuation) pairs each step scores and the call that scores them.
        plain and prefix-reuse take one context at a time; batched one packed decode of several contexts."""
        if self.strategy != "batched":
            for context in list(groups) if self.strategy == "plain" else sorted(groups):  # sorted: shared prefixes adjacent
                members, tokens = groups[context], list(context)
                if self.strategy == "plain":
                    yield members, partial(self._score_each, tokens, [c for _, c in members])
                else:
                    yield members, partial(self._score_shared, tokens, [c for _, c in members])
            return
        contexts = sorted(groups)
        ordered = [(list(context), [c for _, c in groups[context]]) for context in contexts]
        start = 0
        while start < len(ordered):
            packed = batched.pack(ordered, start, self.n_batch, self.cells, self.n_seq)
            if packed is None:  # one context with its continuations overflows the cells: one continuation at a time
                members = groups[contexts[start]]
                yield members, partial(self._score_shared, ordered[start][0], [c for _, c in members])
                start += 1
                continue
            members = [groups[contexts[g]][n] for g, n, _ in packed.reads]
            yield members, partial(self._decode_packed, packed)
            start = packed.groups[-1] + 1

    def _score_each(self, context: list[int], continuations: list[list[int]]) -> list[tuple[float, bool]]:
        return [self._score_plain(context, continuation) for continuation in continuations]

    def _decode_packed(self, packed: batched.Packed) -> list[tuple[float, bool]]:
        self._cached = []  # the prefix-reuse fallback's bookkeeping: sequence 0 is now the held prefix
        self._held, scores = batched.decode_packed(self, packed, self._held)
        return scores

    # --- progress and the request cache -----------------------------------------------------------------------------
    def _before_scoring(self, n: int) -> None:
        """Where a test's injected crash (harness/measure/faults.py: eval-request-N) happens: before request N is scored."""
        for point in faults.planned():
            number = point.removeprefix("eval-request-")
            if number != point and number.isdigit() and self.requests_scored < int(number) <= self.requests_scored + n:
                faults.at(point)

    def _scored(self, n: int) -> None:
        """Count scored requests and tell the worker's parent (its no-progress timeout). Each request already went to
        lm-eval's request cache (an SQLite file committed on every write), so a crash after this loses none of them."""
        self.requests_scored += n
        if self.on_progress is not None:
            self.on_progress(self.requests_scored)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        scores = []
        for request in tqdm(requests, disable=disable_tqdm, desc="rolling"):
            (text,) = request.args
            windows = [
                make_disjoint_window(w)
                for w in get_rolling_token_windows(
                    token_list=self.tok_encode(text, add_special_tokens=False),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.n_ctx,
                    context_len=1,
                )
            ]
            pieces = self._loglikelihood_tokens([(None, c, t) for c, t in windows], disable_tqdm=True)
            scores.append(sum(score for score, _ in pieces))
            self.cache_hook.add_partial("loglikelihood_rolling", (text,), scores[-1])
        return scores

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        outputs = []
        for request in tqdm(requests, disable=disable_tqdm, desc="generating"):
            context, gen_kwargs = request.args
            until = gen_kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(gen_kwargs.get("max_gen_toks", self.max_gen_toks))
            self._before_scoring(1)
            outputs.append(self.greedy(context, until, max_new))
            self.cache_hook.add_partial("generate_until", request.args, outputs[-1])
            self._scored(1)
        return outputs

    def greedy(self, context: str, until: list[str], max_new: int) -> str:
        """Greedy decoding until a stop string, the end-of-text token, or `max_new` tokens; the stop string is cut off."""
        prompt = self.tok_encode(context)[-max(1, self.n_ctx - max_new) :]
        self._clear()
        row = self._decode(prompt, 0, [False] * (len(prompt) - 1) + [True])[0]
        generated: list[int] = []
        text = ""
        for step in range(max_new):
            token = int(np.argmax(row))
            if self._lib.llama_vocab_is_eog(self.vocab, token):
                break
            generated.append(token)
            text = self.tok_decode(generated)
            if any(stop in text for stop in until):
                break
            if len(prompt) + len(generated) >= self.n_ctx:
                break
            row = self._decode([token], len(prompt) + step, [True])[0]
        cut = min((text.index(stop) for stop in until if stop in text), default=len(text))
        return text[:cut]

    # --- chat template for instruct models ------------------------------------------------------------------------
    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.llm.metadata().get("tokenizer.chat_template", "")

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.chat_template()
        if not template:
            raise ValueError(f"{self.tokenizer_name} has no chat template in its GGUF metadata")
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self.tok_decode([self.eot_token_id]),
            bos_token=self.tok_decode([self.llm.token_bos()]),
            add_generation_prompt=add_generation_prompt,
        )
        return formatter(messages=chat_history).prompt  # type: ignore[arg-type]  # lm-eval's messages are these dicts

    def close(self) -> None:
        if getattr(self, "_batch", None) is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "ctx", None):
            self._lib.llama_free(self.ctx)
            self.ctx = None
        self.llm.close()
