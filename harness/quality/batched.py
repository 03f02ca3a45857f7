"""Batched scoring for meek-llamacpp: several questions' contexts and continuations as sequences of one llama.cpp decode.

Requests are grouped by context and the groups sorted (as the prefix-reuse strategy does), then packed in that order into
decodes of up to UBATCH tokens. Within a decode the requests' token sequences (context and continuation less its last
token) form a prefix tree: each tree node is one batch token, at the position it has from scratch, tagged with the
sequence id of every leaf below it, so a question's context is decoded once for all its choices, and contexts that
share their beginning share those tokens too. Logits are asked for only at the nodes where some request is scored. A
long prefix common to consecutive groups (few-shot examples) is held across decodes in sequence 0 and copied into every
sequence of the next decode (`llama_memory_seq_cp` on a unified KV cache adds the sequence to the same cells), so it is
decoded once per run of groups, not once per decode.

The KV cache is unified: one set of cells for all sequences, each token seeing exactly the cells of its own sequence at
positions up to its own, as from scratch. The strategy runs with flash attention on (`batched-flash`), in micro-batches
of UBATCH tokens, fewer than llama.cpp's flash-attention tile (GGML_FA_TILE_Q, 64 rows) and never a single row where a
decode has more than one token: llama.cpp's CPU flash attention then takes every row through its per-row kernel
(ggml_compute_forward_flash_attn_ext_f16_one_chunk), which walks the cells in order and skips the masked ones, so a
row's arithmetic does not depend on what other sequences' cells sit between its own or on the other rows of its batch.
Its reference, `plain-flash`, scores one request at a time under the same settings; on the bundled SmolLM2 the two give
the same log-likelihoods bit for bit (bench/eval_speed.py measures it). Without flash attention, or with 64 rows or
more, llama.cpp's attention arithmetic depends on where a sequence's cells sit (measured: up to 0.57 in a logit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness import memory_fit

Group = tuple[list[int], list[list[int]]]  # a context and its continuations
MIN_HELD = 32  # a prefix shorter than this is decoded in each batch's tree rather than held apart in sequence 0
UBATCH = 63  # tokens per decode: below GGML_FA_TILE_Q (64), so flash attention keeps every row on its per-row kernel
MAX_SEQ = UBATCH  # sequences per decode: leaves of one decode's tree, plus sequence 0 (llama.cpp wants n_seq <= n_batch)
ROWS_AT_ONCE = 64  # logit rows turned into log-probabilities together (bounds the temporary arrays)


def shape_of(lib, model, metadata: dict[str, str]) -> memory_fit.Shape:
    """The model's attention shape for the memory model, from llama.cpp and the GGUF metadata."""
    arch = metadata.get("general.architecture", "")
    heads = int(lib.llama_model_n_head(model))
    embedding = int(lib.llama_model_n_embd(model))
    head = embedding // max(1, heads)
    return memory_fit.Shape(
        layers=int(lib.llama_model_n_layer(model)),
        kv_heads=int(lib.llama_model_n_head_kv(model)),
        key_length=int(metadata.get(f"{arch}.attention.key_length", head)),
        value_length=int(metadata.get(f"{arch}.attention.value_length", head)),
        heads=heads,
        embedding=embedding,
        vocab=int(lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(model))),
    )


@dataclass(frozen=True)
class Sizing:
    n_batch: int  # tokens per decode (and per micro-batch)
    cells: int  # KV cells: the request context plus one decode, so a held prefix and a full batch always fit
    n_seq: int
    kv_bytes: float
    buffer_bytes: float  # compute buffer and logits of one decode

    def text(self) -> str:
        return (
            f"batch {self.n_batch} tokens, {self.n_seq} sequences, {self.cells} cells: KV {memory_fit.size_text(self.kv_bytes)}, "
            f"buffers {memory_fit.size_text(self.buffer_bytes)}"
        )


def size_batch(shape: memory_fit.Shape, n_ctx: int) -> Sizing:
    """UBATCH tokens per decode; the KV cache holds n_ctx + UBATCH cells (memory_fit.kv_cache_bytes), the compute buffer
    is flash attention's (memory_fit.compute_bytes) plus the logits of every row at most."""
    cells = n_ctx + UBATCH
    buffers = memory_fit.compute_bytes(shape, cells, flash_attn=True, ubatch=UBATCH) + 4.0 * UBATCH * (shape.vocab or 0)
    kv = memory_fit.kv_cache_bytes(shape, cells, swa_full=True, ubatch=UBATCH)
    return Sizing(UBATCH, cells, MAX_SEQ, kv, buffers)


@dataclass
class Tree:
    """One decode's prefix tree over token sequences that start at position `base`."""

    base: int
    tokens: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    children: list[dict[int, int]] = field(default_factory=list)
    root: dict[int, int] = field(default_factory=dict)
    leaves: int = 0

    def insert(self, sequence: list[int]) -> list[int]:
        """Add a sequence; return its path (node per token)."""
        path, parent, below = [], -1, self.root
        for token in sequence:
            node = below.get(token)
            if node is None:
                node = len(self.tokens)
                if parent < 0 or self.children[parent]:
                    self.leaves += 1  # a new branch; extending a leaf keeps the count
                self.tokens.append(token)
                self.parents.append(parent)
                self.children.append({})
                below[token] = node
            path.append(node)
            parent, below = node, self.children[node]
        return path

    def snapshot(self) -> tuple[int, int]:
        return len(self.tokens), self.leaves

    def rollback(self, mark: tuple[int, int]) -> None:
        size, self.leaves = mark
        for node in range(len(self.tokens) - 1, size - 1, -1):
            parent = self.parents[node]
            (self.root if parent < 0 else self.children[parent]).pop(self.tokens[node])
        del self.tokens[size:], self.parents[size:], self.children[size:]

    def sequence_ids(self) -> list[list[int]]:
        """Each node's sequence ids (1..leaves, one per leaf), in node order: parents come before their children."""
        ids: list[list[int]] = [[] for _ in self.tokens]
        next_id = 1
        for node in range(len(self.tokens) - 1, -1, -1):  # children were appended after their parents
            if not self.children[node]:
                ids[node].append(next_id)
                next_id += 1
            if self.parents[node] >= 0:
                ids[self.parents[node]].extend(ids[node])
        return ids


@dataclass
class Packed:
    """One decode: the held prefix, the groups (indices), the tree of what follows the prefix, and where each request
    reads its rows: (group index, continuation index, [(node, token)...])."""

    prefix: list[int]
    groups: list[int]
    tree: Tree
    reads: list[tuple[int, int, list[tuple[int, int]]]]


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _held_prefix(groups: list[Group], start: int) -> list[int]:
    """What to hold in sequence 0 for the decode that starts with group `start`: the part of its context it shares with
    the next group's, short of both contexts' last two tokens (scored rows are decoded in the tree, and a decode of
    one row would take llama.cpp's flash attention through another kernel); empty when short."""
    context = groups[start][0]
    if start + 1 >= len(groups):
        return []
    following = groups[start + 1][0]
    n = min(_common(context, following), len(context) - 2, len(following) - 2)
    return context[:n] if n >= MIN_HELD else []


def pack(groups: list[Group], start: int, n_batch: int, cells: int, n_seq: int) -> Packed | None:
    """The next decode from group `start` on: groups in order while they start with the held prefix and their tree fits
    n_batch tokens and n_seq - 1 sequences; None when group `start` alone does not fit the cells."""
    prefix = _held_prefix(groups, start)
    tree = Tree(base=len(prefix))
    packed = Packed(prefix, [], tree, [])
    for index in range(start, len(groups)):
        context, continuations = groups[index]
        if context[: len(prefix)] != prefix or len(context) - 2 < len(prefix):
            break
        mark = tree.snapshot()
        reads = []
        for number, continuation in enumerate(continuations):
            whole = context + continuation
            path = tree.insert(whole[len(prefix) : -1])
            first = len(context) - 1 - len(prefix)  # the row of the last context token predicts the first continuation token
            reads.append((index, number, [(path[first + k], token) for k, token in enumerate(continuation)]))
        room = n_batch if packed.groups else cells - len(prefix)  # one group alone may take several decodes
        if len(tree.tokens) > room or tree.leaves > n_seq - 1:
            tree.rollback(mark)
            break
        packed.groups.append(index)
        packed.reads += reads
    return packed if packed.groups else None


def log_softmax_at(rows: np.ndarray, wanted: list[list[int]]) -> list[list[tuple[float, bool]]]:
    """For each row, log p(token) and whether it is the row's most likely token, for the tokens wanted of it (the same
    arithmetic as llama_lm.token_logprob: float32 exp after the peak, summed in float64)."""
    out = []
    for begin in range(0, len(rows), ROWS_AT_ONCE):
        block = rows[begin : begin + ROWS_AT_ONCE]
        peak = block.max(axis=1)
        totals = np.exp(block - peak[:, None]).sum(axis=1, dtype=np.float64)
        top = block.argmax(axis=1)
        for r in range(len(block)):
            log_total = float(peak[r]) + math.log(float(totals[r]))
            out.append([(float(block[r, t]) - log_total, int(top[r]) == t) for t in wanted[begin + r]])
    return out


def _submit(lm: Any, tokens: list[int], positions: list[int], seqs: list[list[int]], logits: list[bool]) -> None:
    """One llama_decode of these tokens (at most n_batch)."""
    lib, batch = lm._lib, lm._batch
    batch.n_tokens = len(tokens)
    for j, token in enumerate(tokens):
        batch.token[j] = token
        batch.pos[j] = positions[j]
        batch.n_seq_id[j] = len(seqs[j])
        for k, seq in enumerate(seqs[j]):
            batch.seq_id[j][k] = seq
        batch.logits[j] = logits[j]
    result = lib.llama_decode(lm.ctx, batch)
    if result != 0:
        lib.llama_memory_clear(lm.memory, True)
        raise RuntimeError(f"llama_decode failed with code {result} ({len(tokens)} tokens in {lm.cells} cells)")
    lm.tokens_evaluated += len(tokens)


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    """n items in the fewest chunks of at most `size`, of near-equal length (no decode of a single row where avoidable:
    llama.cpp runs one row through other kernels)."""
    count = max(1, -(-n // size))
    bounds = [round(i * n / count) for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def hold(lm: Any, held: list[int], prefix: list[int]) -> list[int]:
    """Make sequence 0 hold `prefix` (and only it), decoding from where it stops agreeing with what is held."""
    lib = lm._lib
    keep = _common(held, prefix)
    if 0 < keep == len(prefix) - 1:
        keep -= 1  # decode two rows rather than one
    if not lib.llama_memory_seq_rm(lm.memory, 0, keep, -1):
        lib.llama_memory_clear(lm.memory, True)
        keep = 0
    rest = prefix[keep:]
    for begin, end in _chunks(len(rest), lm.n_batch) if rest else []:
        n = end - begin
        _submit(lm, rest[begin:end], list(range(keep + begin, keep + end)), [[0]] * n, [False] * n)
    return list(prefix)


def decode_packed(lm: Any, packed: Packed, held: list[int]) -> tuple[list[int], list[tuple[float, bool]]]:
    """Decode one packed batch on top of the held prefix; return what sequence 0 now holds and each read's
    (log-likelihood, greedy), in packed.reads' order. Every sequence but 0 is removed again afterwards."""
    lib, tree = lm._lib, packed.tree
    held = hold(lm, held, packed.prefix)
    seqs = tree.sequence_ids()
    n_seqs = tree.leaves
    if packed.prefix:
        for seq in range(1, n_seqs + 1):
            lib.llama_memory_seq_cp(lm.memory, 0, seq, -1, -1)
    wanted: dict[int, list[int]] = {}
    for _, _, rows in packed.reads:
        for node, token in rows:
            wanted.setdefault(node, [])
            if token not in wanted[node]:
                wanted[node].append(token)
    # nodes in depth-first order keep each sequence's tokens in position order across chunks
    order: list[int] = []
    stack = list(reversed(tree.root.values()))
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(reversed(tree.children[node].values()))
    depth: dict[int, int] = {}
    for node in order:
        parent = tree.parents[node]
        depth[node] = 0 if parent < 0 else depth[parent] + 1
    scores: dict[tuple[int, int], tuple[float, bool]] = {}
    try:
        for begin, end in _chunks(len(order), lm.n_batch):
            nodes = order[begin:end]
            _submit(
                lm,
                [tree.tokens[n] for n in nodes],
                [tree.base + depth[n] for n in nodes],
                [seqs[n] for n in nodes],
                [n in wanted for n in nodes],
            )
            out_nodes = [n for n in nodes if n in wanted]
            if out_nodes:
                logits = np.empty((len(out_nodes), lm.n_vocab), dtype=np.float32)
                for r, j in enumerate(j for j, n in enumerate(nodes) if n in wanted):
                    logits[r] = np.ctypeslib.as_array(lib.llama_get_logits_ith(lm.ctx, j), shape=(lm.n_vocab,))
                for node, results in zip(out_nodes, log_softmax_at(logits, [wanted[n] for n in out_nodes])):
                    for token, result in zip(wanted[node], results):
                        scores[(node, token)] = result
    finally:
        for seq in range(1, n_seqs + 1):
            lib.llama_memory_seq_rm(lm.memory, seq, -1, -1)
    results = []
    for _, _, rows in packed.reads:
        total, greedy = 0.0, True
        for node, token in rows:
            logprob, top = scores[(node, token)]
            total += logprob
            greedy = greedy and top
        results.append((total, greedy))
    return held, results
