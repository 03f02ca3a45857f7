"""The batched strategy: its prefix tree and packing, its sizing from the memory model, and its scores on the real model."""

import pytest

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from harness import memory_fit  # noqa: E402
from harness.quality import batched  # noqa: E402
from harness.quality.llama_lm import MeekLlamaCpp  # noqa: E402

SHOTS = "Question: What colour is the sky?\nAnswer: blue\n\nQuestion: What colour is grass?\nAnswer: green\n\n" * 2


def test_tree_shares_prefixes_and_counts_leaves():
    tree = batched.Tree(base=0)
    a = tree.insert([1, 2, 3])
    b = tree.insert([1, 2, 4, 5])
    c = tree.insert([1, 2])  # a prefix of both: no new node, no new sequence
    assert a[:2] == b[:2] == c and len(tree.tokens) == 5 and tree.leaves == 2
    ids = tree.sequence_ids()
    assert sorted(ids[a[0]]) == [1, 2] and len(ids[a[2]]) == 1 and ids[a[2]] != ids[b[3]]
    mark = tree.snapshot()
    tree.insert([7, 8])
    tree.rollback(mark)
    assert len(tree.tokens) == 5 and tree.leaves == 2 and 7 not in tree.root


def test_pack_holds_a_shared_prefix_and_respects_the_batch():
    shared = list(range(100, 160))
    groups = [(shared + [i, i + 1], [[7], [8, 9]]) for i in range(10)]
    packed = batched.pack(groups, 0, n_batch=12, cells=512, n_seq=64)
    assert packed is not None and packed.prefix == shared[: len(shared)]
    assert len(packed.tree.tokens) <= 12 and packed.groups == list(range(len(packed.groups))) and len(packed.groups) < 10
    # each request reads one row per continuation token, the first at its context's last token
    _, _, rows = packed.reads[1]
    assert [token for _, token in rows] == [8, 9] and packed.tree.tokens[rows[0][0]] == 1
    alone = batched.pack([(list(range(600)), [[1]])], 0, n_batch=64, cells=512, n_seq=64)
    assert alone is None  # too long for the cells: the caller scores it one continuation at a time


def test_sizing_follows_the_memory_model():
    shape = memory_fit.Shape(layers=30, kv_heads=3, key_length=64, value_length=64, heads=9, embedding=576, vocab=49152)
    sizing = batched.size_batch(shape, 2048)
    assert sizing.n_batch == batched.UBATCH < 64 and sizing.n_seq <= sizing.n_batch  # llama.cpp: n_seq_max <= n_batch
    assert sizing.kv_bytes == memory_fit.kv_cache_bytes(shape, 2048 + batched.UBATCH, swa_full=True, ubatch=batched.UBATCH)


def _requests(context, choices, start=0):
    return [Instance("loglikelihood", {}, (context, choice), start + i) for i, choice in enumerate(choices)]


def test_batched_scores_equal_one_request_at_a_time(smollm2_path, repack_default):
    """Several questions after the same few-shot examples, held across decodes and packed several to a decode: the same
    log-likelihoods as the plain path under the same flash-attention setting, bit for bit, the examples decoded once;
    prefix-reuse with flash on too. Flash attention off is another computation (scores differ)."""
    questions = [
        ("Question: What colour is snow?\nAnswer:", [" white", " black", " purple"]),
        ("Question: What colour is coal?\nAnswer:", [" black", " white"]),
        ("Question: Which planet do we live on?\nAnswer:", [" Earth", " Mars", " the Moon"]),
        ("Question: How many legs has a spider?\nAnswer:", [" eight", " six"]),
    ]
    requests = []
    for context, choices in questions:
        requests += _requests(SHOTS + context, choices, len(requests))
    results = {}
    for strategy in ("plain-flash", "batched-flash", "prefix-reuse-flash", "plain"):
        model = MeekLlamaCpp(path=str(smollm2_path), n_ctx=512, n_threads=2, strategy=strategy, repack=repack_default)
        results[strategy] = (model.loglikelihood(requests), model.tokens_evaluated)
        shots_tokens = len(model.tok_encode(SHOTS))
        if strategy == "batched-flash":
            assert model.sizing is not None and model.n_seq > 1 and model.flash_attn
        model.close()
    (plain, plain_tokens), (ours, our_tokens) = results["plain-flash"], results["batched-flash"]
    assert ours == plain
    assert results["prefix-reuse-flash"][0] == plain
    assert results["plain"][0] != plain  # flash off: the strategy name must say which
    assert shots_tokens > 40
    assert our_tokens < plain_tokens - (len(requests) - 1) * shots_tokens  # the examples once, not once per request


def test_batched_falls_back_when_a_context_overflows(smollm2_path, repack_default):
    """A context that with its continuations overflows the cells (512 + one batch) is scored one continuation at a time,
    as prefix-reuse scores it: bit for bit the same scores."""
    context = "The quick brown fox jumps over the lazy dog. " * 30
    tail = " It ran across the field, over the hill and down to the river, where it drank and rested in the shade"
    choices = [f" {i}." + tail * 3 for i in range(14)]
    requests = _requests(context, choices)
    scores = {}
    for strategy in ("prefix-reuse-flash", "batched-flash"):
        model = MeekLlamaCpp(path=str(smollm2_path), n_ctx=512, n_threads=2, strategy=strategy, repack=repack_default)
        grouped = [model._truncate(*map(list, model._encode_pair(*r.args))) for r in requests]
        if strategy == "batched-flash":
            ordered = [(grouped[0][0], [c for _, c in grouped])]
            assert batched.pack(ordered, 0, model.n_batch, model.cells, model.n_seq) is None
        scores[strategy] = model.loglikelihood(requests)
        model.close()
    assert scores["batched-flash"] == scores["prefix-reuse-flash"]
