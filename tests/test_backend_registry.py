"""meek bench's backends are declared, not special-cased: each registered backend says which options it honours, and the
refusal of the others comes from that declaration (harness/measure/backends/)."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.measure.backends import BACKENDS, FLAGS, lookup, refuse_unhonoured


@pytest.mark.parametrize("name", list(BACKENDS))
def test_each_backend_declares_what_it_honours_and_refuses_the_rest(name):
    backend = lookup(name)
    assert backend.name == name and backend.honours <= set(FLAGS)
    refuse_unhonoured(backend, frozenset(backend.honours))  # everything it honours passes
    for option in set(FLAGS) - backend.honours:
        with pytest.raises(UsageError) as refused:
            refuse_unhonoured(backend, frozenset({option}))
        assert str(refused.value).startswith(f"{FLAGS[option]}: ") and backend.refusal in str(refused.value)


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(UsageError, match="--backend: unknown 'mlx' \\(choose llama-cpp-python, openai, ollama, llama-bench\\)"):
        lookup("mlx")


def test_the_in_process_backend_honours_every_sweep_option_and_a_server_none():
    assert lookup("llama-cpp-python").honours == set(FLAGS) - {"url", "binary", "api_key"}
    assert lookup("openai").honours == {"url", "api_key", "seed"}
