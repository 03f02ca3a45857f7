"""`meek bench --backend openai|ollama|llama-bench` against real servers on loopback: llama-cpp-python's own server with the
bundled model, a stand-in speaking Ollama's documented API, and a llama-bench binary built from the vendored source."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from harness.results.store import read_result
from harness.results.validate import Validator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(smollm2_path, repack_default):
    """llama-cpp-python's OpenAI-compatible server with the bundled SmolLM2, on a free loopback port, with this
    machine's repack setting (through harness.measure.runtime.lcpp_server: the server itself has no option for it)."""
    pytest.importorskip("uvicorn", reason='needs llama-cpp-python[server] (pip install -e ".[test]")')
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.measure.runtime.lcpp_server",
            "--repack",
            str(repack_default),
            "--model",
            str(smollm2_path),
            "--port",
            str(port),
            "--n_threads",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/v1/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama-cpp-python's server did not start within 60 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def only_result(folder: Path):
    (path,) = folder.glob("*/*.json")
    report = Validator().check(path)
    assert report.ok, report.failures
    return path, read_result(path)


def test_openai_backend_measures_through_a_real_server(llama_server, run_meek, tmp_path):
    code, stdout, stderr = run_meek(
        "bench",
        "--backend",
        "openai",
        "--url",
        llama_server,
        "-m",
        "smollm2-135m",
        "-p",
        "32",
        "-n",
        "8",
        "-r",
        "2",
        "--results-dir",
        str(tmp_path),
    )
    assert code == 0, stderr
    _, result = only_result(tmp_path)
    assert result.protocol.backend == "openai" and result.protocol.server == llama_server
    assert result.model.id == "smollm2-135m" and result.status == "complete"
    by_test = {run.test: run for run in result.runs}
    assert set(by_test) == {"pp32", "tg8"}
    assert len(by_test["tg8"].samples_ns) == 2 and len(by_test["tg8"].warmup_ns) == 1
    assert by_test["tg8"].timing_source == "stream: first to last generated token"
    assert by_test["pp32"].timing_source.startswith("stream: request sent to first token")
    assert by_test["pp32"].settings is None and by_test["pp32"].ttft_ns
    # one pooled keep-alive connection, opened before the tests: no timed request (no TTFT) included a connect
    assert by_test["pp32"].connect_ns == [] and by_test["tg8"].connect_ns == []
    assert "tg8" in stdout


def test_unreachable_or_wrong_server_is_one_line(run_meek, tmp_path):
    code, _, stderr = run_meek("bench", "--backend", "openai", "--url", f"http://127.0.0.1:{free_port()}", "-m", "x")
    assert code == 1 and stderr.startswith("error: cannot reach a server at http://127.0.0.1:")  # a failed run
    code, _, stderr = run_meek("bench", "--backend", "openai", "-m", "x")
    assert code == 2 and "needs --url" in stderr
    code, _, stderr = run_meek("bench", "--backend", "openai", "--url", "ftp://x", "-m", "x")
    assert code == 2 and "--url must look like" in stderr
    code, _, stderr = run_meek("bench", "--backend", "vllm-magic", "-m", "x")
    assert code == 2 and "--backend: unknown 'vllm-magic'" in stderr


class FakeOllama(BaseHTTPRequestHandler):
    """Ollama's documented /api/tags and /api/generate: 2 ms per prompt token and 10 ms per generated token, as reported."""

    def _reply(self, document: dict) -> None:
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply({"models": [{"name": "llama3.1:8b", "model": "llama3.1:8b"}]})

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt_tokens = len(request["prompt"].split())  # the stand-in counts a word as a token
        generated = request["options"]["num_predict"]
        self._reply(
            {
                "model": request["model"],
                "done": True,
                "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": prompt_tokens * 2_000_000,
                "eval_count": generated,
                "eval_duration": generated * 10_000_000,
                "load_duration": 1_000_000,
            }
        )

    def log_message(self, *args):
        pass


def test_ollama_backend_reads_its_counts_and_durations(run_meek, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), FakeOllama)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        code, _, stderr = run_meek(
            "bench",
            "--backend",
            "ollama",
            "--url",
            url,
            "-m",
            "llama3.1:8b",
            "-p",
            "16",
            "-n",
            "20",
            "-r",
            "3",
            "--results-dir",
            str(tmp_path),
        )
        assert code == 0, stderr
        _, result = only_result(tmp_path)
        by_test = {run.test: run for run in result.runs}
        assert by_test["pp16"].samples_ts == pytest.approx([500.0] * 3)  # 16 tokens in 32 ms
        assert by_test["tg20"].samples_ts == pytest.approx([100.0] * 3)  # 20 tokens in 200 ms
        assert by_test["tg20"].timing_source == "ollama eval_duration" and result.protocol.backend == "ollama"
        code, _, stderr = run_meek("bench", "--backend", "ollama", "--url", url, "-m", "mistral")
        assert code == 2 and "ollama has no model 'mistral' (pull it first); it has: llama3.1:8b" in stderr
    finally:
        server.shutdown()


def llama_bench_binary() -> Path | None:
    """A llama-bench built from the vendored llama.cpp (.ci/run builds one and names it in MEEK_LLAMA_BENCH)."""
    for candidate in (os.environ.get("MEEK_LLAMA_BENCH"), shutil.which("llama-bench")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def test_three_backends_line_up_in_compare(llama_server, run_meek, tmp_path, real_results):
    binary = llama_bench_binary()
    if binary is None:
        pytest.skip("no llama-bench binary (set MEEK_LLAMA_BENCH; bench/fidelity.py --build-only builds one)")
    results = tmp_path / "results"
    shutil.copytree(real_results[0].parent, results / real_results[0].parent.name)  # in process: pp32, tg8
    for backend in (["--backend", "openai", "--url", llama_server], ["--backend", "llama-bench", "--bin", str(binary)]):
        code, _, stderr = run_meek(
            "bench", *backend, "-m", "smollm2-135m", "-p", "32", "-n", "8", "-r", "2", "--results-dir", str(results)
        )
        assert code == 0, stderr
    code, stdout, stderr = run_meek(
        "compare", "--results-dir", str(results), "--model", "smollm2-135m", "--test", "tg8", "--format", "json"
    )
    assert code == 0, stderr
    rows = json.loads(stdout)["speed"]
    assert {r["backend"] for r in rows} == {"llama-cpp-python", "openai", "llama-bench"}
    assert len({r["machine_id"] for r in rows}) == 1  # all three measured this machine


def fake_llama_bench(tmp_path: Path, body: str) -> Path:
    """A stand-in for the user's llama-bench binary: a shell script (an injected fault, not a measurement)."""
    script = tmp_path / "llama-bench"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_a_failing_llama_bench_is_one_plain_line(run_meek, tmp_path, smollm2_path):
    binary = fake_llama_bench(tmp_path, "echo 'loading...' >&2; echo 'error: failed to load model' >&2; exit 3")
    code, _, stderr = run_meek("bench", "--backend", "llama-bench", "--bin", str(binary), "--repack", "0", "-r", "1")
    assert code != 0 and "Traceback" not in stderr
    assert stderr.strip() == "error: llama-bench failed (exit 3): error: failed to load model"  # no Python list around it


def test_llama_bench_honours_the_timeout(run_meek, tmp_path, smollm2_path):
    binary = fake_llama_bench(tmp_path, "sleep 60")
    code, _, stderr = run_meek("bench", "--backend", "llama-bench", "--bin", str(binary), "--repack", "0", "--timeout", "2")
    assert code != 0 and "did not finish within --timeout 2 s" in stderr
