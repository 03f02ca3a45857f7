"""The in-process runtime interface the measurement protocol drives (harness/measure/throughput.py): load, make a
context, clear it, decode timed batches. llama-cpp-python speaks it (llamacpp.py); an MLX runtime would be a second."""

from __future__ import annotations

from typing import Protocol

from harness.measure.protocol import LoadSettings


class Runtime(Protocol):
    """A loaded model that can process prompt tokens and generate tokens, one context at a time."""

    name: str

    def load(self, path: str, settings: LoadSettings) -> None:
        """Load the model weights (timed by the caller as the load time)."""

    def new_context(self, n_ctx: int, n_threads: int, n_seq: int = 1) -> None:
        """Replace the current context with a fresh one holding `n_ctx` tokens (shared by `n_seq` sequences)."""

    def parallel_prompts(self, n_seq: int, n_prompt: int, rng) -> None:
        """Decode a prompt of `n_prompt` random tokens for each of `n_seq` sequences, together."""

    def parallel_generate(self, n_seq: int, n_gen: int, start: int, rng) -> None:
        """Generate `n_gen` tokens for each of `n_seq` sequences, one batch of `n_seq` tokens per step."""

    def clear(self) -> None:
        """Empty the KV cache so the next test starts from position 0."""

    def snapshot(self) -> object:
        """The current KV cache state, to restore a filled context without recomputing it."""

    def restore(self, state: object) -> None:
        """Put back a state taken by snapshot() on this context."""

    def process_prompt(self, n_tokens: int, rng) -> None:
        """Decode `n_tokens` random tokens in batches of n_batch, returning once the results are ready."""

    def first_token(self) -> int:
        """Pick the next token greedily from the last logits (what a user waits for: time to first token)."""

    def generate(self, n_tokens: int, rng) -> None:
        """Decode `n_tokens` single random tokens one after another, as generation does."""

    def describe(self) -> dict:
        """Facts about the loaded model and the runtime build, for the result file."""

    def close(self) -> None:
        """Free the context and the model."""
