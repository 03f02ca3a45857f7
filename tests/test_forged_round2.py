"""Issue 25, hostile input round 2: a stranger's file whose figures contradict themselves is refused with a reason each.

Serving points (a real `meek load` file written here, and the shipped in-process one) with percentiles out of order,
end-to-end shorter than the first token, more TTFT samples than requests, more errors than requests, a throughput
without a completed request, or summaries that do not follow from the point's own times and counts; a split whose
stated ratio does not follow from its rates; and a split that no longer lifts the machine's bandwidth bound (a 4090
file claiming 1000 t/s on an 8B model is refused with or without a loopback `split` block). Each forgery is a copy of a
genuine file, re-signed as any forger can; the genuine file beside it passes."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.results.document import content_hash
from harness.results.schema import SCHEMA_VERSION
from harness.results.stats import percentiles
from harness.results.validate import validate_paths

ROOT = Path(__file__).resolve().parents[1]
IN_PROCESS = ROOT / "tests" / "golden" / "result-v4-serving-smollm2.json"  # `meek bench --parallel 1,4`, shipped
SINGLE = ROOT / "tests" / "golden" / "result-v2-smollm2.json"  # a `meek bench` of the bundled model, shipped
RTX_4090_8B = ROOT / "results" / "rtx-4090-localscore-17e03d" / "20250407T213000Z-llama-3.1-8b-q4_k_m.json"  # 103 t/s

Edit = Callable[[dict], None]


@pytest.fixture(scope="module")
def served(meek_home, smollm2_path, tmp_path_factory) -> Path:
    """A real `meek load` result: the bundled model behind llama-cpp-python's server, two load levels of 4 requests."""
    cwd = tmp_path_factory.mktemp("load")
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "load", "--serve", "smollm2-135m", "--server", "llama-cpp-python"]
        + ["--concurrency", "1,2", "-p", "16", "-n", "8", "--requests", "4", "--seconds", "60"],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=cwd,
        env={**os.environ, "MEEK_HOME": str(meek_home)},
    )
    assert completed.returncode == 0, completed.stderr
    (path,) = (cwd / "results").glob("*/*.json")
    return path


def forge(genuine: Path, edit: Edit, folder: Path, name: str) -> Path:
    document = copy.deepcopy(json.loads(genuine.read_text()))
    edit(document)
    document["content_sha256"] = content_hash(document)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document))
    return path


def failures_of(path: Path) -> list[str]:
    (report,) = validate_paths([path])
    return report.failures


def assert_refused(genuine: Path, edit: Edit, reason: str, tmp_path: Path) -> None:
    assert not failures_of(genuine), failures_of(genuine)
    failures = failures_of(forge(genuine, edit, tmp_path, "forged"))
    assert any(reason in failure for failure in failures), failures


# ---- 1. serving points through a server ------------------------------------------------------------------------------
def point(d: dict, index: int = 0) -> dict:
    return d["serving"][index]


def _scaled(spread: dict, factor: float) -> dict:
    return {q: v * factor for q, v in spread.items()}


def _extra_ttft(d: dict) -> None:
    p = point(d)
    p["ttft_ns"] = p["ttft_ns"] * 3  # 12 samples from 4 requests, the percentiles made to agree with them
    p50, p90, p99 = percentiles([float(t) for t in p["ttft_ns"]], [50, 90, 99])
    p["ttft"] = {"p50": p50, "p90": p90, "p99": p99}


def _all_failed(d: dict) -> None:
    p = point(d)
    p.update(errors=p["requests"], ttft_ns=[], ttft=None, itl=None, e2e=None)  # S_TG and the rates left standing


SERVER: dict[str, tuple[Edit, str]] = {
    "ttft-p50-above-p99": (lambda d: point(d)["ttft"].update(p50=point(d)["ttft"]["p99"] * 2), "TTFT percentiles out of order"),
    "e2e-p90-above-p99": (
        lambda d: point(d)["e2e"].update(p90=point(d)["e2e"]["p99"] * 1.5),
        "end-to-end latency percentiles out of order",
    ),
    "itl-p50-above-p90": (
        lambda d: point(d)["itl"].update(p50=point(d)["itl"]["p90"] * 1.5),
        "inter-token latency percentiles out of order",
    ),
    "p10-above-median": (
        lambda d: point(d).update(tg_per_stream_p10=point(d)["tg_per_stream"] * 1.5),
        "the per-stream rate's p10",
    ),
    "e2e-shorter-than-ttft": (
        lambda d: point(d).update(e2e=_scaled(point(d)["ttft"], 0.5)),
        "shorter than the time to first token",
    ),
    "more-ttft-samples-than-requests": (_extra_ttft, "12 TTFT samples but 4 completed requests"),
    "errors-above-requests": (lambda d: point(d).update(errors=point(d)["requests"] + 1), "5 errors but only 4 requests"),
    "throughput-without-a-completed-request": (_all_failed, "with no completed request"),
    "s-tg-not-from-its-counts": (lambda d: point(d).update(s_tg=point(d)["s_tg"] * 3), "S_TG"),
    "requests-per-s-not-from-its-counts": (
        lambda d: point(d).update(requests_per_s=point(d)["requests_per_s"] * 2),
        "requests/s",
    ),
    "ttft-percentiles-not-from-ttft-ns": (
        lambda d: point(d).update(ttft=_scaled(point(d)["ttft"], 0.5)),
        "TTFT percentiles do not follow from its 4 ttft_ns",
    ),
    "e2e-longer-than-the-point": (
        lambda d: point(d)["e2e"].update(p99=point(d)["duration_s"] * 3e9),
        "longer than the whole point",
    ),
    "throughput-without-duration": (lambda d: point(d).update(duration_s=None), "without the duration_s"),
}


@pytest.mark.parametrize("case", SERVER)
def test_a_server_point_that_contradicts_itself_is_refused(served, tmp_path, case):
    edit, reason = SERVER[case]
    assert_refused(served, edit, reason, tmp_path)


# ---- 1. serving points in process (llama-batched-bench's figures) ---------------------------------------------------
IN_PROCESS_CASES: dict[str, tuple[Edit, str]] = {
    "s-tg-not-from-t-tg": (
        lambda d: point(d, 1).update(s_tg=point(d, 1)["s_tg"] * 1.5, tg_per_stream=point(d, 1)["tg_per_stream"] * 1.5),
        "S_TG, t/s per stream do not follow",
    ),
    "s-pp-not-from-t-pp": (lambda d: point(d, 1).update(s_pp=point(d, 1)["s_pp"] * 2), "S_PP do not follow"),
    "per-stream-not-s-tg-over-b": (lambda d: point(d, 1).update(tg_per_stream=point(d, 1)["s_tg"]), "t/s per stream"),
    "n-kv-not-b-times-tokens": (lambda d: point(d, 1).update(n_kv=10**6), "N_KV 1000000 is not B x (PP + TG) = 384"),
    "more-ttft-than-sequences": (
        lambda d: point(d, 1).update(ttft_ns=point(d, 1)["ttft_ns"] * 2),
        "24 TTFT samples but 4 sequences x 3 repetitions",
    ),
}


@pytest.mark.parametrize("case", IN_PROCESS_CASES)
def test_an_in_process_point_whose_summaries_do_not_follow_from_its_times_is_refused(tmp_path, case):
    edit, reason = IN_PROCESS_CASES[case]
    assert_refused(IN_PROCESS, edit, reason, tmp_path)


# ---- 2. a split's ratio, and its bound ---------------------------------------------------------------------------------
def loopback_split(local: list[dict]) -> dict:
    endpoints = [
        {"address": "127.0.0.1:50052", "serves": "RPC0: 127.0.0.1:50052 (24105 MiB, 24105 MiB free)"},
        {"address": "[::1]:50053", "serves": "RPC1: [::1]:50053 (24105 MiB, 24105 MiB free)"},
    ]
    return {"endpoints": endpoints, "link": "loopback", "tensor_split": "by free memory (llama.cpp's default)", "local": local}


def _split_with_ratio(factor: float, test: str = "tg8") -> Edit:
    """The shipped run as a split, beside a local baseline at half its rate: ratio 2, times `factor`."""

    def edit(d: dict) -> None:
        run = next(r for r in d["runs"] if r["test"] == "tg8")
        d["split"] = loopback_split([{"test": test, "avg_ts": run["avg_ts"] / 2, "ratio": 2.0 * factor}])

    return edit


def test_a_split_whose_ratio_does_not_follow_from_its_rates_is_refused_and_one_that_does_passes(tmp_path):
    consistent = forge(SINGLE, _split_with_ratio(1.0), tmp_path, "consistent")
    assert not failures_of(consistent), failures_of(consistent)
    assert_refused(SINGLE, _split_with_ratio(1.5), "split: tg8 ratio 3 does not follow from its rates", tmp_path)
    assert_refused(SINGLE, _split_with_ratio(1.0, "tg999"), "a test the split did not run", tmp_path)


def _as_split(rate: float | None, endpoints: list[dict] | None = None) -> Edit:
    """The shipped 4090 file (schema 3) as a current one, its generation at `rate`, with a split over `endpoints`."""

    def edit(d: dict) -> None:
        d["schema_version"] = SCHEMA_VERSION
        if rate is not None:
            next(r for r in d["runs"] if r["n_gen"] and not r["n_prompt"])["avg_ts"] = rate
        if endpoints is not None:
            d["split"] = {**loopback_split([]), "endpoints": endpoints}

    return edit


LOOPBACK = loopback_split([])["endpoints"] + [{"address": "localhost:50054", "serves": "RPC2: localhost:50054 (NVIDIA B200)"}]
REMOTE = [{"address": "10.0.0.2:50052", "serves": "RPC0: 10.0.0.2:50052 (NVIDIA B200, 183000 MiB)"}]


def test_a_split_lifts_no_bandwidth_bound_an_endpoint_merely_claims(tmp_path):
    """1000 t/s x 4.9 GB is 4,900 GB/s: past a 4090's 1,008 GB/s; a split over loopback endpoints (this machine) or over
    a remote one that says it serves a B200 does not make it possible. The file as shipped, and as a split, passes."""
    assert not failures_of(forge(RTX_4090_8B, _as_split(None, LOOPBACK), tmp_path, "split-as-measured"))
    assert_refused(RTX_4090_8B, _as_split(1000.0), "beyond NVIDIA GeForce RTX 4090's", tmp_path)
    assert_refused(RTX_4090_8B, _as_split(1000.0, LOOPBACK), "its RPC endpoints add none", tmp_path)
    assert_refused(RTX_4090_8B, _as_split(1000.0, REMOTE), "beyond NVIDIA GeForce RTX 4090's", tmp_path)


# ---- the command: one reason line each, no traceback, the genuine files beside them stand ---------------------------
def test_meek_validate_refuses_the_corpus_with_a_line_each_and_keeps_the_genuine_files(run_meek, served, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    corpus = {forge(served, edit, folder, f"server-{name}"): reason for name, (edit, reason) in SERVER.items()}
    corpus |= {forge(IN_PROCESS, e, folder, f"in-process-{name}"): r for name, (e, r) in IN_PROCESS_CASES.items()}
    corpus[forge(SINGLE, _split_with_ratio(1.5), folder, "split-ratio")] = "does not follow from its rates"
    corpus[forge(RTX_4090_8B, _as_split(1000.0, LOOPBACK), folder, "split-4090-1000-ts")] = "its RPC endpoints add none"
    genuine = [forge(path, lambda d: None, folder, f"genuine-{i}") for i, path in enumerate((served, IN_PROCESS, SINGLE))]
    code, stdout, stderr = run_meek("validate", str(folder), timeout=120)
    assert code == 1 and "Traceback" not in stderr, stderr
    for path in genuine:
        assert f"ok   {path}" in stdout, stdout
    reasons: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if line.startswith("FAIL "):
            current = reasons.setdefault(line.removeprefix("FAIL "), [])
        elif line.startswith("     - "):
            current.append(line)
    assert len(reasons) == len(corpus), stdout
    for path, reason in corpus.items():
        assert any(reason in line for line in reasons[str(path)]), (path.name, reasons[str(path)])
