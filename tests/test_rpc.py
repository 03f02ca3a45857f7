"""Issue 18: a model split across two rpc-server processes on 127.0.0.1 through llama.cpp's RPC backend, measured with
an RPC-enabled llama-bench built from the vendored source (.ci/run builds both: MEEK_RPC_LLAMA_BENCH, MEEK_RPC_SERVER),
against the local run; every server stopped on every path out."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import psutil
import pytest

from harness.errors import UsageError
from harness.measure.rpc import endpoints, in_process_rpc
from harness.measure.serve import free_port

LLAMA_BENCH = os.environ.get("MEEK_RPC_LLAMA_BENCH")
RPC_SERVER = os.environ.get("MEEK_RPC_SERVER")
needs_rpc = pytest.mark.skipif(
    not (LLAMA_BENCH and RPC_SERVER and Path(LLAMA_BENCH).is_file() and Path(RPC_SERVER).is_file()),
    reason="no RPC-enabled llama-bench and rpc-server (python bench/rpc.py --build-only; .ci/run sets them)",
)


@contextlib.contextmanager
def rpc_servers(run_meek, count: int):
    """`count` real rpc-servers on free loopback ports, started with `meek rpc-server --background` and stopped after,
    however the test ends; yields their host:port list."""
    ports = [free_port() for _ in range(count)]
    try:
        for port in ports:
            code, stdout, stderr = run_meek("rpc-server", "--background", "--port", str(port), "--bin", str(RPC_SERVER))
            assert code == 0 and f"127.0.0.1:{port}" in stdout and "no authentication" in stderr, stderr
        yield [f"127.0.0.1:{p}" for p in ports]
    finally:
        for port in ports:
            run_meek("rpc-server", "--stop", "--port", str(port))


def command_of(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:  # gone since it was listed
        return []


def rpc_servers_left() -> list[int]:
    return [p.pid for p in psutil.process_iter(["name", "cmdline"]) if "rpc-server" in " ".join(p.info["cmdline"] or [])]


def test_endpoints_are_host_port_and_nothing_else():
    assert endpoints("127.0.0.1:50052, 10.0.0.2:50053") == ["127.0.0.1:50052", "10.0.0.2:50053"]
    for bad in ("http://127.0.0.1:50052", "user:pw@host:1", "host", "host:0", "h:1,h:1", ""):
        with pytest.raises(UsageError):
            endpoints(bad)


@needs_rpc
@pytest.mark.skipif(in_process_rpc(), reason="this llama-cpp-python has RPC: --rpc splits in process")
def test_rpc_without_a_backend_measures_through_the_rpc_llama_bench_and_says_why(run_meek, tmp_path):
    with rpc_servers(run_meek, 1) as (endpoint,):
        code, _, stderr = run_meek(
            "bench",
            "-m",
            "smollm2-135m",
            "--rpc",
            endpoint,
            "-p",
            "16",
            "-n",
            "8",
            "-r",
            "1",
            "--results-dir",
            str(tmp_path / "results"),
            env={"MEEK_RPC_LLAMA_BENCH": str(LLAMA_BENCH)},
        )
        assert code == 0, stderr
        assert "built without ggml's RPC backend" in stderr and "GGML_RPC=ON" in stderr
        (path,) = (tmp_path / "results").glob("*/*.json")
        assert [e["address"] for e in json.loads(path.read_text())["split"]["endpoints"]] == [endpoint]


@needs_rpc
def test_two_loopback_rpc_servers_split_the_bundled_model_with_its_ratio_to_the_local_run(run_meek, tmp_path):
    with rpc_servers(run_meek, 2) as addresses:
        rpc = ",".join(addresses)
        code, stdout, stderr = run_meek(
            "bench",
            "-m",
            "smollm2-135m",
            "--backend",
            "llama-bench",
            "--bin",
            str(LLAMA_BENCH),
            "--rpc",
            rpc,
            "--link",
            "loopback",
            "-p",
            "32",
            "-n",
            "16",
            "-r",
            "2",
            "--results-dir",
            str(tmp_path / "results"),
            timeout=600,
        )
        assert code == 0, stderr
        (path,) = (tmp_path / "results").glob("*/*.json")
        split = json.loads(path.read_text())["split"]
        assert [e["address"] for e in split["endpoints"]] == addresses and split["link"] == "loopback"
        assert all(e["serves"] for e in split["endpoints"]) and "free memory" in split["tensor_split"]
        assert {b["test"] for b in split["local"]} == {"pp32", "tg16"} and all(b["ratio"] > 0 for b in split["local"])
        code, stdout, stderr = run_meek("compare", "--results-dir", str(tmp_path / "results"), "--format", "json")
        assert code == 0 and all(row["split"].startswith("RPC over loopback: 127.0.0.1:") for row in json.loads(stdout)["speed"])
        dead = free_port()
        code, _, stderr = run_meek(
            "bench",
            "-m",
            "smollm2-135m",
            "--backend",
            "llama-bench",
            "--bin",
            str(LLAMA_BENCH),
            "--rpc",
            f"127.0.0.1:{dead}",
            "-p",
            "8",
            "-n",
            "4",
            "-r",
            "1",
            "--results-dir",
            str(tmp_path / "other"),
        )
        assert code == 1 and f"127.0.0.1:{dead}" in stderr and "did not answer" in stderr
    assert not rpc_servers_left()


@needs_rpc
def test_an_endpoint_that_dies_mid_run_is_one_line_and_the_finished_tests_are_kept(run_meek, tmp_path):
    """The endpoint is stopped once llama-bench has printed pp16's line (seen through a `tee` in front of it), with
    llama-bench held still (SIGSTOP) from that moment until the endpoint is gone: pp16 is finished and tg512 is not,
    however fast or slow the host is."""
    import shlex
    import subprocess
    import sys
    import time

    progress = tmp_path / "llama-bench.jsonl"
    wrapper = tmp_path / "bin" / "llama-bench"  # the same name, so the result reads as llama-bench's
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/bash\nset -o pipefail\n{shlex.quote(str(LLAMA_BENCH))} "$@" | tee -a {shlex.quote(str(progress))}\n'
    )
    wrapper.chmod(0o755)

    def finished() -> list[str]:
        lines = progress.read_text().splitlines() if progress.exists() else []
        records = [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]
        return [f"{'pp' if r['n_gen'] == 0 else 'tg'}{r['n_prompt'] or r['n_gen']}" for r in records if "n_prompt" in r]

    with rpc_servers(run_meek, 2) as addresses:
        meek = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "bench",
                "-m",
                "smollm2-135m",
                "--backend",
                "llama-bench",
                "--bin",
                str(wrapper),
                "--rpc",
                ",".join(addresses),
                "-p",
                "16",
                "-n",
                "512",
                "-r",
                "5",
                "--repack",
                "0",
                "--results-dir",
                str(tmp_path / "results"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        try:
            deadline = time.monotonic() + 240
            while "pp16" not in finished():
                assert meek.poll() is None, f"meek ended before pp16 finished: {meek.communicate()[1]}"
                assert time.monotonic() < deadline, "pp16 did not finish within 240 s"
                time.sleep(0.05)
            (bench,) = [p for p in psutil.Process(meek.pid).children(recursive=True) if command_of(p)[:1] == [str(LLAMA_BENCH)]]
            bench.suspend()  # it cannot finish tg512 while the endpoint goes
            try:
                assert finished() == ["pp16"]
                code, _, stderr = run_meek("rpc-server", "--stop", "--port", addresses[1].rsplit(":", 1)[1])
                assert code == 0, stderr
            finally:
                bench.resume()
            _, stderr = meek.communicate(timeout=300)
        finally:
            if meek.poll() is None:
                meek.kill()
                meek.communicate()
    assert meek.returncode == 1
    assert "an RPC endpoint stopped answering mid-run" in stderr, stderr
    document = json.loads(next((tmp_path / "results").glob("*/*.json")).read_text())
    assert document["status"] == "partial" and [r["test"] for r in document["runs"]] == ["pp16"]
    assert not rpc_servers_left()


@pytest.mark.skipif(
    not (RPC_SERVER and in_process_rpc()), reason="needs a llama-cpp-python built with -DGGML_RPC=ON and MEEK_RPC_SERVER"
)
def test_in_process_the_model_splits_across_two_loopback_servers_with_the_local_run_beside(run_meek, tmp_path):
    with rpc_servers(run_meek, 2) as addresses:
        code, stdout, stderr = run_meek(
            "bench",
            "-m",
            "smollm2-135m",
            "--rpc",
            ",".join(addresses),
            "--link",
            "loopback",
            "-p",
            "16",
            "-n",
            "8",
            "-r",
            "2",
            "--results-dir",
            str(tmp_path / "results"),
            timeout=600,
        )
        assert code == 0, stderr
        documents = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*/*.json")]
        (split,) = [d["split"] for d in documents if d.get("split")]
        assert len(documents) == 2  # the local run is a result of its own
        assert [e["address"] for e in split["endpoints"]] == addresses and all("MiB" in e["serves"] for e in split["endpoints"])
        assert {b["test"] for b in split["local"]} == {"pp16", "tg8"} and "free memory" in split["tensor_split"]
    assert not rpc_servers_left()
