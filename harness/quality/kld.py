"""KL divergence of a quant from a reference, computed as llama-perplexity's --kl-divergence computes it (numpy only).

Facts from llama.cpp's tools/perplexity/perplexity.cpp, followed to the float:
- the reference's next-token log-probabilities are kept per scored position as uint16 values over the row's logit range:
  the row's largest logit `max`, its smallest `min` raised to at least `max - 16`, `scale = (max - min) / 65535`, each
  logit above `min` stored as round((logit - min) / scale) (round half to even), the rest as 0, and the log-probability
  of a stored 0 as `min - max - log(sum(exp(logit - max)))`; a stored value `q` means the log-probability `scale*q + that`;
- the quant's row is read in float32, its normaliser summed in float64 and rounded to float32 as llama.cpp does;
- a position's KL divergence sums p_ref * (log p_ref - log p_quant) over the tokens whose reference log-probability is
  above -16; "same top" compares the first largest logit of the quant with the reference's.
One deliberate difference: the reference's top token is kept exactly (its first largest logit), where llama-perplexity
reads it back from the rounded values, so that two tokens within 1/65535 of the row's range of each other tie and the
lower id wins: a file against itself then shows a top token "changed" (1 position in 5,100 on the default text);
- the negative log-likelihood of the next token under each (the reference's from its stored value), then means and their
  standard errors as llama-perplexity's mean_and_uncertainty (0 below 11 values), the perplexity ratio through the
  covariance of the two, the median and percentiles of the per-position divergences by linear interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ROWS_AT_ONCE = 64  # rows of logits handled together: bounds the float32 temporaries for a large vocabulary
LOG_FLOOR = -16.0  # log-probabilities at or below this do not count in the divergence (llama-perplexity's cut-off)


@dataclass
class CompactRows:
    """Reference log-probabilities of some positions, stored as llama-perplexity stores them (uint16 per token with a
    scale and an offset per row), with the zeros left out: row r's stored values are `values[starts[r]:starts[r+1]]` at
    the token ids `columns[starts[r]:starts[r+1]]`, every other token's value is 0."""

    scale: np.ndarray  # float32 [rows]
    min_log_prob: np.ndarray  # float32 [rows]
    starts: np.ndarray  # int64 [rows + 1]
    columns: np.ndarray  # uint16 or uint32 [stored]
    values: np.ndarray  # uint16 [stored]
    n_vocab: int
    top: np.ndarray  # int32 [rows]: the reference's most likely token, from its logits before rounding

    @property
    def rows(self) -> int:
        return int(self.scale.shape[0])

    def dense(self, first: int, last: int) -> np.ndarray:
        """Rows first..last-1 as a dense uint16 matrix."""
        out = np.zeros((last - first, self.n_vocab), dtype=np.uint16)
        begin, end = int(self.starts[first]), int(self.starts[last])
        row_of = np.repeat(np.arange(last - first), np.diff(self.starts[first : last + 1]))
        out[row_of, self.columns[begin:end].astype(np.int64)] = self.values[begin:end]
        return out


def _normaliser(logits: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """log(sum(exp(logit - max))) per row: exponentials in float32, their sum in float64, the log rounded to float32."""
    total = np.exp(logits - peak[:, None]).sum(axis=1, dtype=np.float64)
    return np.log(total).astype(np.float32)


def compact(logits: np.ndarray) -> CompactRows:
    """The reference's rows of logits (float32 [rows, n_vocab]) as llama-perplexity's base file stores them."""
    logits = np.asarray(logits, dtype=np.float32)
    n_rows, n_vocab = logits.shape
    scales, offsets, starts, columns, values = [], [], [np.zeros(1, dtype=np.int64)], [], []
    top = logits.argmax(axis=1).astype(np.int32) if n_rows else np.zeros(0, dtype=np.int32)
    index_type = np.uint16 if n_vocab <= 1 << 16 else np.uint32
    stored = 0
    for first in range(0, n_rows, ROWS_AT_ONCE):
        block = logits[first : first + ROWS_AT_ONCE]
        peak = block.max(axis=1)
        low = np.maximum(block.min(axis=1), peak - np.float32(16))
        normaliser = _normaliser(block, peak)
        offsets.append((low - peak - normaliser).astype(np.float32))
        scale = ((peak - low) / np.float32(65535)).astype(np.float32)
        scales.append(scale)
        with np.errstate(divide="ignore"):
            inverse = np.where(scale > 0, np.float32(1) / scale, np.float32(0)).astype(np.float32)
        quantised = np.rint(inverse[:, None] * (block - low[:, None]))
        quantised = np.where(block > low[:, None], np.clip(quantised, 0, 65535), 0).astype(np.uint16)
        row, column = np.nonzero(quantised)
        columns.append(column.astype(index_type))
        values.append(quantised[row, column])
        counts = np.bincount(row, minlength=block.shape[0])
        starts.append(stored + np.cumsum(counts))
        stored += int(counts.sum())
    return CompactRows(
        scale=np.concatenate(scales),
        min_log_prob=np.concatenate(offsets),
        starts=np.concatenate(starts),
        columns=np.concatenate(columns) if columns else np.zeros(0, dtype=index_type),
        values=np.concatenate(values) if values else np.zeros(0, dtype=np.uint16),
        n_vocab=n_vocab,
        top=top,
    )


@dataclass
class Tally:
    """The running sums of llama-perplexity's kl_divergence_result, and every position's divergence (for percentiles)."""

    sum_nll: float = 0.0
    sum_nll2: float = 0.0
    sum_nll_base: float = 0.0
    sum_nll_base2: float = 0.0
    sum_nll_nll_base: float = 0.0
    sum_kld: float = 0.0
    sum_kld2: float = 0.0
    same_top: int = 0
    count: int = 0
    klds: list[np.ndarray] = field(default_factory=list)

    def add(self, logits: np.ndarray, reference: CompactRows, next_tokens: np.ndarray) -> None:
        """Score the quant's rows of logits (float32 [rows, n_vocab]) against the reference's rows for the same positions;
        `next_tokens[r]` is the token that follows position r."""
        logits = np.asarray(logits, dtype=np.float32)
        if logits.shape != (reference.rows, reference.n_vocab) or len(next_tokens) != reference.rows:
            raise ValueError(f"logits {logits.shape} do not match the reference's {reference.rows} rows of {reference.n_vocab}")
        for first in range(0, reference.rows, ROWS_AT_ONCE):
            last = min(reference.rows, first + ROWS_AT_ONCE)
            self._add_block(logits[first:last], reference, first, last, np.asarray(next_tokens[first:last], dtype=np.int64))

    def _add_block(self, block: np.ndarray, reference: CompactRows, first: int, last: int, tokens: np.ndarray) -> None:
        rows = np.arange(last - first)
        peak = block.max(axis=1)
        top = block.argmax(axis=1)
        normaliser = _normaliser(block, peak)
        nll = (peak + normaliser - block[rows, tokens]).astype(np.float32)
        scale = reference.scale[first:last, None]
        base = (scale * reference.dense(first, last).astype(np.float32) + reference.min_log_prob[first:last, None]).astype(
            np.float32
        )
        nll_base = -base[rows, tokens]
        top_base = reference.top[first:last]
        log_total = (peak + normaliser).astype(np.float32)
        with np.errstate(under="ignore"):
            terms = np.exp(base) * (base - block + log_total[:, None])
        kld = np.where(base > np.float32(LOG_FLOOR), terms, np.float32(0)).sum(axis=1, dtype=np.float64)
        nll64, base64 = nll.astype(np.float64), nll_base.astype(np.float64)
        self.sum_nll += float(nll64.sum())
        self.sum_nll2 += float((nll64 * nll64).sum())
        self.sum_nll_base += float(base64.sum())
        self.sum_nll_base2 += float((base64 * base64).sum())
        self.sum_nll_nll_base += float((nll64 * base64).sum())
        self.sum_kld += float(kld.sum())
        self.sum_kld2 += float((kld * kld).sum())
        self.same_top += int((top == top_base).sum())
        self.count += last - first
        self.klds.append(kld.astype(np.float32))


def mean_and_uncertainty(total: float, total2: float, count: int) -> tuple[float, float]:
    """llama-perplexity's mean and its standard error (0 for 10 values or fewer, or no spread)."""
    if count < 1:
        return 0.0, 0.0
    mean = total / count
    spread = total2 / count - mean * mean
    return mean, (math.sqrt(spread / (count - 1)) if spread > 0 and count > 10 else 0.0)


def covariance(total_a: float, total_b: float, total_ab: float, count: int) -> float:
    if count < 10:
        return 0.0
    return (total_ab / count - (total_a / count) * (total_b / count)) / (count - 1)


def percentile(ordered: np.ndarray, fraction: float) -> float:
    """llama-perplexity's percentile of sorted values: linear interpolation at fraction * (n - 1)."""
    if fraction <= 0:
        return float(ordered[0])
    if fraction >= 1:
        return float(ordered[-1])
    position = np.float32(fraction) * np.float32(len(ordered) - 1)
    index = int(position)
    rest = float(position - index)
    return (1 - rest) * float(ordered[index]) + rest * float(ordered[min(index + 1, len(ordered) - 1)])


def summary(tally: Tally) -> dict[str, float]:
    """The figures of a finished comparison, named as QuantQuality's fields."""
    if tally.count < 2:
        raise ValueError("fewer than two scored positions: nothing to summarise")
    log_ppl, log_ppl_err = mean_and_uncertainty(tally.sum_nll, tally.sum_nll2, tally.count)
    log_base, log_base_err = mean_and_uncertainty(tally.sum_nll_base, tally.sum_nll_base2, tally.count)
    shared = covariance(tally.sum_nll, tally.sum_nll_base, tally.sum_nll_nll_base, tally.count)
    ratio_log = log_ppl - log_base
    ratio_err = math.sqrt(max(0.0, log_ppl_err**2 + log_base_err**2 - 2 * shared))
    kld, kld_err = mean_and_uncertainty(tally.sum_kld, tally.sum_kld2, tally.count)
    ordered = np.sort(np.concatenate(tally.klds))
    half = len(ordered) // 2
    median = 0.5 * (float(ordered[half]) + float(ordered[half - 1])) if len(ordered) % 2 == 0 else float(ordered[half])
    same = tally.same_top / tally.count
    return {
        "tokens_scored": tally.count,
        "kld_mean": kld,
        "kld_mean_stderr": kld_err,
        "kld_median": median,
        "kld_p90": percentile(ordered, 0.90),
        "kld_p99": percentile(ordered, 0.99),
        "kld_max": float(ordered[-1]),
        "same_top": same,
        "same_top_stderr": math.sqrt(same * (1 - same) / (tally.count - 1)),
        "ppl": math.exp(log_ppl),
        "ppl_stderr": math.exp(log_ppl) * log_ppl_err,
        "ppl_reference": math.exp(log_base),
        "ppl_reference_stderr": math.exp(log_base) * log_base_err,
        "ppl_ratio": math.exp(ratio_log),
        "ppl_ratio_stderr": math.exp(ratio_log) * ratio_err,
    }
