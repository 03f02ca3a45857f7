"""A corpus of forged and hostile result files, each built from a genuine `meek bench` result with its content hash
recomputed (as any forger can: the hash is sha256 of the sorted-key JSON). One entry per class of issue 14; the tests in
tests/test_strangers_files.py check that each is refused with its reason and that the genuine file beside it still counts.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

from harness.results.document import content_hash
from harness.results.stats import summarize

GENUINE = Path(__file__).parent / "golden" / "result-v2-smollm2.json"


def genuine() -> dict:
    return json.loads(GENUINE.read_text())


def resigned(document: dict) -> dict:
    return {**document, "content_sha256": content_hash(document)}


def run_named(document: dict, test: str) -> dict:
    return next(run for run in document["runs"] if run["test"] == test)


def with_rate(run: dict, rate: float) -> None:
    """The run's samples at `rate` tokens/s, every summary made consistent (only physics can tell)."""
    tokens = run["n_prompt"] + run["n_gen"]
    run["samples_ns"] = [max(1, round(tokens * 1e9 / (rate * f))) for f in (1.0, 0.99, 1.01)]
    run["samples_ts"] = [tokens * 1e9 / ns for ns in run["samples_ns"]]
    run.update({k: v for k, v in summarize(tokens, run["samples_ns"]).items() if k in run})
    if run["ttft_ns"]:
        run["ttft_ns"] = [ns + 1000 for ns in run["samples_ns"]]


def forged(edit: Callable[[dict], None]) -> dict:
    document = copy.deepcopy(genuine())
    edit(document)
    return resigned(document)


def _size(value):
    def edit(d):
        d["model"]["file_size_bytes"] = value
        with_rate(run_named(d, "tg8"), 8.3e6)

    return edit


def _unknown_model(d):
    d["model"].update(sha256="ab" * 32, id=None, label="mystery", file_size_bytes=1, n_params=None, name=None, description=None)
    with_rate(run_named(d, "tg8"), 8.3e6)


def _score(d):
    d["scores"] = [
        {
            "task": "mmlu",
            "metric": "acc",
            "value": 1e7,
            "stderr": None,
            "primary": True,
            "shots": 0,
            "samples": 100,
            "subset": False,
            "subset_seed": None,
            "lm_eval_version": "0.4.13",
            "task_hash": "0123456789abcdef",
            "scoring": "prefix-reuse",
            "data": "local files",
            "elapsed_s": 1.0,
        }
    ]


def _power(d):
    run_named(d, "tg8")["power"] = [
        {"source": "nvml-gpu-0", "kind": "gpu", "avg_w": 50000.0, "energy_j": 50000.0, "seconds": 1.0}
    ]


PHYSICS: dict[str, tuple[Callable[[dict], None], str]] = {
    "size-1-with-catalogue-sha": (_size(1), "memory bandwidth"),
    "size-null-with-catalogue-sha": (_size(None), "memory bandwidth"),
    "unknown-model-size-1": (_unknown_model, "memory bandwidth"),
    "prompt-230m-ts": (lambda d: with_rate(run_named(d, "pp32"), 2.3e8), "TFLOPS"),
    "mmlu-1e9-percent": (_score, "a proportion is between 0 and 1"),
    "ttft-two-hours": (lambda d: run_named(d, "pp16+tg4").update(ttft_ns=[2 * 3600 * 10**9] * 3), "over an hour"),
    "ttft-before-prompt-end": (lambda d: run_named(d, "pp32").update(ttft_ns=[1000] * 3), "shorter than the prompt"),
    "load-ten-hours": (lambda d: d["loads"][0].update(load_time_ms=3.6e7), "a load time"),
    "rss-above-ram": (lambda d: run_named(d, "tg8").update(peak_rss_bytes=2**45), "above the machine's"),
    "power-50-kw": (_power, "above 2000 W"),
    "threads-10000": (lambda d: run_named(d, "tg8").update(n_threads=5000), "threads on a machine with 2"),
}

# Files that must not parse: a reason each, never a crash.
HOSTILE_TEXT: dict[str, tuple[str, str]] = {
    "int-10e400-samples": (
        json.dumps(genuine()).replace('"samples_ns": [', '"samples_ns": [1' + "0" * 400 + ", ", 1),
        "out of range",
    ),
    "int-10e400-ttft": (json.dumps(genuine()).replace('"ttft_ns": [', '"ttft_ns": [1' + "0" * 400 + ", ", 1), "out of range"),
    "duplicate-key": (json.dumps(genuine())[:-1] + ', "status": "failed"}', "appears twice"),
    "bool-for-number": (json.dumps(forged(lambda d: run_named(d, "tg8").update(n_threads=True))), "valid integer"),
    "string-for-number": (json.dumps(forged(lambda d: d["loads"][0].update(load_time_ms="168.7"))), "valid number"),
    "newline-fake-line": (json.dumps(forged(lambda d: d["model"].update(label="x\nok   results/fake.json"))), "control"),
    "carriage-return": (json.dumps(forged(lambda d: d["model"].update(name="a\rok"))), "control"),
    "c1-control": (json.dumps(forged(lambda d: d["model"].update(name="a\x9b31m"))), "control"),
    "bidi-override": (json.dumps(forged(lambda d: d["model"].update(label="smollm2\u202enosj.live"))), "direction"),
    "machine-id-trailing-dash": (
        json.dumps(forged(lambda d: d["machine"].update(machine_id="amd-epyc-24g-4d0c91-"))),
        "machine_id",
    ),
    "machine-id-81-chars": (json.dumps(forged(lambda d: d["machine"].update(machine_id="a" * 81))), "machine_id"),
}


def write_corpus(folder: Path) -> dict[Path, str]:
    """Every forgery and hostile file under `folder`, with the words its verdict must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (edit, reason) in PHYSICS.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(forged(edit)))
        expected[path] = reason
    for name, (text, reason) in HOSTILE_TEXT.items():
        path = folder / f"{name}.json"
        path.write_text(text)
        expected[path] = reason
    return expected
