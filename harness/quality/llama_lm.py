"""An lm-eval model that runs a GGUF file in-process through llama.cpp (registered as `meek-llamacpp`).

Scoring follows lm-eval's HF model: BOS as the model's vocabulary asks, the context/continuation boundary split by
encoding the whole text and the context apart. Requests that share a context evaluate it once; the continuations are
then decoded side by side, each as its own sequence sharing the context's KV cells, and logits are read only at the
positions that are scored.
Strategy `plain` scores every request from scratch in one pass: the reference for speed and accuracy.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from tqdm import tqdm

STRATEGIES = ("prefix-reuse", "plain")
MAX_SEQUENCES = 8  # continuations decoded side by side on top of one shared context


def log_softmax(row: np.ndarray) -> np.ndarray:
    row = row.astype(np.float64)
    peak = row.max()
    return row - peak - np.log(np.exp(row - peak).sum())


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
        flash_attn: bool = False,
        strategy: str = "prefix-reuse",
        max_gen_toks: int = 256,
        **_ignored,
    ) -> None:
        super().__init__()
        import llama_cpp
        from llama_cpp import Llama

        model_path = path or pretrained
        if not model_path:
            raise ValueError("meek-llamacpp needs path=<file.gguf>")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}")
        threads = int(n_threads or os.cpu_count() or 1)
        # The Llama object gives the model, tokenizer and metadata; scoring uses a context of our own (below).
        self.llm = Llama(
            model_path=str(model_path), n_ctx=64, n_batch=64, n_threads=threads, n_gpu_layers=int(n_gpu_layers), verbose=False
        )
        self._lib = llama_cpp
        self.model = self.llm._model.model
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self.n_vocab = self.llm.n_vocab()
        self.n_ctx = int(n_ctx)
        self.n_batch = int(n_batch)
        self.strategy = strategy
        self.max_gen_toks = int(max_gen_toks)
        self.model_path = str(model_path)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_ctx
        params.n_batch = params.n_ubatch = self.n_batch
        params.n_seq_max = MAX_SEQUENCES
        params.kv_unified = True  # continuations share the context's cells instead of copies
        params.n_threads = params.n_threads_batch = threads
        params.flash_attn_type = int(bool(flash_attn))
        self.ctx = llama_cpp.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise RuntimeError(f"could not create a context of {self.n_ctx} tokens")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, MAX_SEQUENCES)
        self.tokens_evaluated = 0  # every token sent through llama_decode, for speed comparisons

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
        return self.llm.detokenize(tokens).decode("utf-8", errors="ignore")

    # --- decoding ---------------------------------------------------------------------------------------------------
    def _clear(self) -> None:
        self._lib.llama_memory_clear(self.memory, True)

    def _decode(self, tokens: list[int], positions: list[int], seqs: list[int], want: list[bool]) -> list[np.ndarray]:
        """Decode tokens (at their positions, on their sequences) in batches; return log-probabilities where `want`."""
        lib, batch, rows = self._lib, self._batch, []
        for offset in range(0, len(tokens), self.n_batch):
            end = min(offset + self.n_batch, len(tokens))
            batch.n_tokens = end - offset
            for i in range(offset, end):
                j = i - offset
                batch.token[j] = tokens[i]
                batch.pos[j] = positions[i]
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = seqs[i]
                batch.logits[j] = want[i]
            result = lib.llama_decode(self.ctx, batch)
            if result != 0:
                raise RuntimeError(f"llama_decode failed with code {result} (context of {self.n_ctx} tokens full?)")
            self.tokens_evaluated += end - offset
            for i in range(offset, end):
                if want[i]:
                    pointer = lib.llama_get_logits_ith(self.ctx, i - offset)
                    rows.append(log_softmax(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))))
        return rows

    def _decode_sequence(self, tokens: list[int], start: int, want: list[bool], seq: int = 0) -> list[np.ndarray]:
        return self._decode(tokens, list(range(start, start + len(tokens))), [seq] * len(tokens), want)

    def _truncate(self, context: list[int], continuation: list[int]) -> tuple[list[int], list[int]]:
        """Keep the last n_ctx tokens, cutting the context from the left as lm-eval's HF model does."""
        whole = (context + continuation)[-(self.n_ctx + 1) :]
        n_cont = min(len(continuation), len(whole) - 1)
        return whole[:-n_cont], whole[-n_cont:]

    @staticmethod
    def _score(rows: list[np.ndarray], continuation: list[int]) -> tuple[float, bool]:
        total, greedy = 0.0, True
        for row, token in zip(rows, continuation):
            total += float(row[token])
            greedy = greedy and int(np.argmax(row)) == token
        return total, greedy

    def _score_plain(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        """One request from scratch: context and continuation in one pass, logits from the last context token on."""
        self._clear()
        tokens = context + continuation[:-1]
        rows = self._decode_sequence(tokens, 0, [i >= len(context) - 1 for i in range(len(tokens))])
        return self._score(rows, continuation)

    def _score_shared(self, context: list[int], continuations: list[list[int]]) -> list[tuple[float, bool]]:
        """The context once on sequence 0; then the continuations side by side, each on its own sequence sharing the
        context's cells, in as few decode calls as the batch size allows."""
        lib, n = self._lib, len(context)
        self._clear()
        first_row = self._decode_sequence(context, 0, [False] * (n - 1) + [True])[0]
        results = []
        for chunk_start in range(0, len(continuations), MAX_SEQUENCES - 1):
            chunk = continuations[chunk_start : chunk_start + MAX_SEQUENCES - 1]
            tokens, positions, seqs = [], [], []
            for seq, continuation in enumerate(chunk, start=1):
                lib.llama_memory_seq_cp(self.memory, 0, seq, 0, n)
                body = continuation[:-1]
                tokens += body
                positions += range(n, n + len(body))
                seqs += [seq] * len(body)
            rows = self._decode(tokens, positions, seqs, [True] * len(tokens)) if tokens else []
            for continuation in chunk:
                mine, rows = rows[: len(continuation) - 1], rows[len(continuation) - 1 :]
                results.append(self._score([first_row, *mine], continuation))
            for seq in range(1, len(chunk) + 1):
                lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
        return results

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        groups: OrderedDict[tuple, list[tuple[int, list[int]]]] = OrderedDict()
        for index, (_, context, continuation) in enumerate(requests):
            context, continuation = self._truncate(list(context), list(continuation))
            groups.setdefault(tuple(context), []).append((index, continuation))
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        with tqdm(total=len(requests), disable=disable_tqdm, desc="scoring", unit="req") as bar:
            for context, members in groups.items():
                context = list(context)
                fits = len(context) + sum(len(c) for _, c in members) <= self.n_ctx
                if self.strategy == "plain" or not fits:
                    scored = [self._score_plain(context, continuation) for _, continuation in members]
                else:
                    scored = self._score_shared(context, [continuation for _, continuation in members])
                for (index, _), score in zip(members, scored):
                    results[index] = score
                bar.update(len(members))
        return results  # type: ignore[return-value]

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
        return scores

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        outputs = []
        for request in tqdm(requests, disable=disable_tqdm, desc="generating"):
            context, gen_kwargs = request.args
            until = gen_kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(gen_kwargs.get("max_gen_toks", self.max_gen_toks))
            outputs.append(self.greedy(context, until, max_new))
        return outputs

    def greedy(self, context: str, until: list[str], max_new: int) -> str:
        """Greedy decoding until a stop string, the end-of-text token, or `max_new` tokens; the stop string is cut off."""
        prompt = self.tok_encode(context)[-max(1, self.n_ctx - max_new) :]
        self._clear()
        row = self._decode_sequence(prompt, 0, [False] * (len(prompt) - 1) + [True])[0]
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
            row = self._decode_sequence([token], len(prompt) + step, [True])[0]
        cut = min((text.index(stop) for stop in until if stop in text), default=len(text))
        return text[:cut]

    # --- chat template for instruct models ------------------------------------------------------------------------
    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.llm.metadata.get("tokenizer.chat_template", "")

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
        return formatter(messages=chat_history).prompt

    def close(self) -> None:
        if getattr(self, "_batch", None) is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "ctx", None):
            self._lib.llama_free(self.ctx)
            self.ctx = None
        self.llm.close()
