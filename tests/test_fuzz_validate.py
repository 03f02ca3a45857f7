"""Property-based fuzzing of the parser and the validator over mutated genuine files (hypothesis): no exception escapes,
every verdict carries its reasons, and a tree holding a bad file still gives a verdict on every other file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.results.document import content_hash
from harness.results.validate import validate_paths
from tests.forgeries import GENUINE, genuine

EXAMPLES = 120  # bounded for CI: about 20 s on 2 cores


def _paths(node, prefix=()):
    """Every key and index path into the document, leaves and containers alike."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


PATHS = [p for p in _paths(genuine()) if p and p[0] != "content_sha256"]
VALUES = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.booleans(),
    st.none(),
    st.lists(st.integers(min_value=-(10**20), max_value=10**20), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
MUTATION = st.tuples(st.sampled_from(PATHS), st.one_of(VALUES, st.just("<delete>")))


def _mutate(document: dict, path: tuple, value) -> None:
    node = document
    for step in path[:-1]:
        node = node[step]
    if value == "<delete>":
        del node[path[-1]]
    else:
        node[path[-1]] = value


def _verdicts(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "results" / "m"
        tree.mkdir(parents=True)
        (tree / "a-genuine.json").write_text(GENUINE.read_text())
        (tree / "b-mutated.json").write_text(text)
        reports = {r.path.name: r for r in validate_paths([tree.parent])}
    assert set(reports) == {"a-genuine.json", "b-mutated.json"}
    for report in reports.values():
        assert report.ok or (report.failures and all(isinstance(f, str) and f for f in report.failures))
    genuine_report = reports["a-genuine.json"]
    assert genuine_report.ok or all("raw samples" in f or "duplicate" in f for f in genuine_report.failures)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4), resign=st.booleans())
def test_mutated_documents_get_a_verdict_never_an_exception(mutations, resign):
    document = genuine()
    for path, value in mutations:
        try:
            _mutate(document, path, value)
        except (KeyError, IndexError, TypeError):  # an earlier mutation removed or replaced the container
            continue
    if resign:
        document["content_sha256"] = content_hash(document)
    _verdicts(json.dumps(document))


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(at=st.integers(min_value=0), junk=st.binary(min_size=1, max_size=12))
def test_corrupted_bytes_get_a_verdict_never_an_exception(at, junk):
    raw = GENUINE.read_bytes()
    at %= len(raw)
    _verdicts((raw[:at] + junk + raw[at:]).decode("utf-8", "replace"))
