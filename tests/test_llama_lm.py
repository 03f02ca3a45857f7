"""The lm-eval adapter on the real bundled model: log-likelihoods agree with llama.cpp computed directly; generation stops."""

import numpy as np
import pytest

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from harness.quality.llama_lm import MeekLlamaCpp  # noqa: E402

CONTEXT = "Question: Which planet do we live on?\nAnswer:"
CHOICES = [" Earth", " Mars", " the Moon", " a very large and distant star"]


@pytest.fixture(scope="module")
def models(smollm2_path, repack_default):
    shared = MeekLlamaCpp(path=str(smollm2_path), n_ctx=512, n_threads=2, strategy="prefix-reuse", repack=repack_default)
    plain = MeekLlamaCpp(path=str(smollm2_path), n_ctx=512, n_threads=2, strategy="plain", repack=repack_default)
    yield shared, plain
    shared.close()
    plain.close()


def _requests(context, choices):
    return [Instance("loglikelihood", {}, (context, choice), i) for i, choice in enumerate(choices)]


def direct_loglikelihood(path, context: str, continuation: str, repack: int) -> float:
    """Reference: llama-cpp-python's own Llama with logits for every position, one request at a time (loaded with this
    machine's repack setting: Llama has no argument for it, so its default model parameters are swapped while it loads)."""
    from llama_cpp import Llama

    from harness.measure.runtime.lcpp_server import llama_repack

    with llama_repack(repack):
        llm = Llama(str(path), n_ctx=512, logits_all=True, verbose=False, n_threads=2)
    whole = llm.tokenize((context + continuation).encode(), add_bos=False)
    n_context = len(llm.tokenize(context.encode(), add_bos=False))
    llm.eval(whole)
    logits = np.array(llm.scores[: len(whole)], dtype=np.float64)
    total = 0.0
    for position in range(n_context, len(whole)):
        row = logits[position - 1]
        total += row[whole[position]] - (row.max() + np.log(np.exp(row - row.max()).sum()))
    llm.close()
    return float(total)


def test_loglikelihood_agrees_with_direct_llama_cpp(models, smollm2_path, repack_default):
    shared, plain = models
    ours_shared = [score for score, _ in shared.loglikelihood(_requests(CONTEXT, CHOICES))]
    ours_plain = [score for score, _ in plain.loglikelihood(_requests(CONTEXT, CHOICES))]
    reference = [direct_loglikelihood(smollm2_path, CONTEXT, choice, repack_default) for choice in CHOICES]
    tokens = [len(shared.tok_encode(choice)) for choice in CHOICES]
    for ours, ref, n in zip(ours_plain, reference, tokens):
        # a different batch layout moves log-probs by small amounts; a broken boundary or missing token by whole nats
        assert ours == pytest.approx(ref, abs=0.05 * n)
    assert ours_shared == ours_plain  # reusing the context is the same computation, bit for bit
    assert np.argmax(ours_shared) == np.argmax(reference) == 0  # the model knows where it lives


def test_shared_prefixes_are_decoded_once_with_the_same_scores(smollm2_path, repack_default):
    """Two questions after the same few-shot examples: the examples are decoded once, and every score is bit for bit
    what scoring each request from scratch gives."""
    shots = "Question: What colour is the sky?\nAnswer: blue\n\nQuestion: What colour is grass?\nAnswer: green\n\n"
    requests = _requests(shots + "Question: What colour is snow?\nAnswer:", [" white", " black", " purple"])
    requests += _requests(shots + "Question: What colour is coal?\nAnswer:", [" black", " white"])
    results = {}
    for strategy in ("plain", "prefix-reuse"):
        model = MeekLlamaCpp(path=str(smollm2_path), n_ctx=512, n_threads=2, strategy=strategy, repack=repack_default)
        results[strategy] = (model.loglikelihood(requests), model.tokens_evaluated)
        shots_tokens = len(model.tok_encode(shots))
        model.close()
    (plain, plain_tokens), (shared, shared_tokens) = results["plain"], results["prefix-reuse"]
    assert shared == plain
    assert shots_tokens > 20
    assert shared_tokens <= plain_tokens - 4 * (shots_tokens - 4)  # the examples once instead of five times


def test_boundary_tokens_follow_lm_eval(models):
    shared, _ = models
    context_tokens, continuation_tokens = shared._encode_pair("The sky is ", "blue")
    assert shared.tok_decode(continuation_tokens) == " blue"  # the trailing space moves to the continuation
    assert shared.add_bos is False and context_tokens[0] != shared.llm.token_bos()


def test_generate_until_stops_at_stop_sequences(models):
    shared, _ = models
    free = shared.greedy("Count: 1, 2, 3, 4, 5,", [], 24)
    assert " 6" in free
    stopped = shared.generate_until(
        [Instance("generate_until", {}, ("Count: 1, 2, 3, 4, 5,", {"until": [" 8"], "max_gen_toks": 24}), 0)]
    )[0]
    assert " 8" not in stopped and free.startswith(stopped) and len(stopped) < len(free)


def test_max_gen_toks_bounds_generation(models):
    shared, _ = models
    text = shared.greedy("Once upon a time", [], 5)
    assert 0 < len(shared.tok_encode(text)) <= 6


def test_rolling_loglikelihood_prefers_natural_text(models):
    shared, _ = models
    natural = "The cat sat on the mat and looked out of the window at the rain."
    shuffled = "window the mat rain cat on out of sat looked The the and at the."
    scores = shared.loglikelihood_rolling(
        [Instance("loglikelihood_rolling", {}, (text,), i) for i, text in enumerate([natural, shuffled])]
    )
    assert all(np.isfinite(scores)) and all(score < 0 for score in scores)
    assert scores[0] > scores[1] + 5  # same words, same length: order alone is worth several nats to a language model
