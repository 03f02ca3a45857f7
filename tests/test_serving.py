"""Issue 17: serving capacity. `meek bench --parallel` through real llama.cpp in process, `meek load` against a real
llama-cpp-python server on loopback (started by meek, or by the test and killed mid-sweep), the schema's serving points
and their plausibility bound. Small sizes, bounded in requests and seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from harness.measure.serve import free_port
from harness.results.schema import SCHEMA_VERSION


def servers_left() -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "lcpp_server" in command or "llama-server" in command:
            found.append(command)
    return found


def test_bench_parallel_writes_both_points_with_batched_bench_fields(run_meek, tmp_path):
    code, stdout, stderr = run_meek(
        "bench", "--parallel", "1,4", "-p", "16", "-n", "8", "-r", "2", "--results-dir", str(tmp_path / "results")
    )
    assert code == 0, stderr
    assert "| B | PP | TG | N_KV |" in stdout.replace(" mode |", "") or "N_KV" in stdout
    (path,) = (tmp_path / "results").glob("*/*.json")
    document = json.loads(path.read_text())
    assert document["schema_version"] == SCHEMA_VERSION and not document["runs"]
    one, four = sorted(document["serving"], key=lambda p: p["n_parallel"])
    assert (one["n_parallel"], four["n_parallel"]) == (1, 4) and four["n_kv"] == 4 * (16 + 8)
    assert len(four["t_pp_ns"]) == len(four["t_tg_ns"]) == 2 and len(four["ttft_ns"]) == 4 * 2
    assert four["tg_per_stream"] == pytest.approx(four["s_tg"] / 4)
    assert four["s_tg"] > one["s_tg"] or "not above one stream's" in (four["note"] or "")  # measured, or said why not
    code, stdout, _ = run_meek("validate", str(tmp_path / "results"))
    assert code == 0 and "1 valid" in stdout
    code, stdout, stderr = run_meek("compare", "--results-dir", str(tmp_path / "results"), "--format", "json")
    assert code == 0, stderr
    (row,) = json.loads(stdout)["serving"]
    assert row["mode"] == "in-process" and row["serves"].endswith("t/s") and row["source"] == "measured here"
    code, _, stderr = run_meek("report", "--results-dir", str(tmp_path / "results"), "--out", str(tmp_path / "site"))
    assert code == 0 and '"serves": "in-process: ' in (tmp_path / "site" / "assets" / "data.js").read_text(), stderr


def test_a_serving_point_faster_than_the_bandwidth_allows_fails_validation(run_meek, tmp_path):
    code, _, stderr = run_meek("bench", "--parallel", "2", "-p", "8", "-n", "4", "-r", "1", "--results-dir", str(tmp_path / "r"))
    assert code == 0, stderr
    (path,) = (tmp_path / "r").glob("*/*.json")
    document = json.loads(path.read_text())
    from harness.results.document import content_hash

    document["serving"][0]["s_tg"] = 1e8  # 10^8 t/s over 2 streams of a 94 MiB model: far past any memory bus
    document["content_sha256"] = content_hash(document)
    path.write_text(json.dumps(document))
    code, stdout, _ = run_meek("validate", str(path))
    assert code == 1 and "serving B=2" in stdout and "GB/s" in stdout


def test_load_serves_the_bundled_model_prints_the_table_and_capacity_and_stops_the_server(run_meek, tmp_path):
    code, stdout, stderr = run_meek(
        "load",
        "--serve",
        "smollm2-135m",
        "--server",
        "llama-cpp-python",
        "--concurrency",
        "1,2",
        "-p",
        "16",
        "-n",
        "8",
        "--requests",
        "4",
        "--seconds",
        "60",
        "--results-dir",
        str(tmp_path / "results"),
        timeout=400,
    )
    assert code == 0, stderr
    assert "| 1 streams | 4 | 0 |" in stdout and "| 2 streams | 4 |" in stdout
    assert "capacity: serves" in stdout or "capacity: no load level" in stdout
    assert "stopped llama-cpp-python" in stderr and not servers_left()
    (path,) = (tmp_path / "results").glob("*/*.json")
    points = json.loads(path.read_text())["serving"]
    assert [p["mode"] for p in points] == ["server", "server"] and points[0]["server"].startswith("http://127.0.0.1:")
    assert all(p["ttft"]["p50"] <= p["ttft"]["p90"] <= p["ttft"]["p99"] and p["itl"] and p["e2e"] for p in points)


def test_a_server_that_dies_mid_sweep_is_one_line_and_the_finished_points_are_kept(
    meek_home, smollm2_path, repack_default, tmp_path
):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.measure.runtime.lcpp_server",
            "--repack",
            str(repack_default),
            "--model",
            str(smollm2_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "512",
            "--interrupt_requests",
            "False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                import urllib.request

                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the test's server did not start"
                time.sleep(0.5)
        meek = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "load",
                "--url",
                f"http://127.0.0.1:{port}",
                "--concurrency",
                "1,2,3",
                "-p",
                "8",
                "-n",
                "48",
                "--requests",
                "3",
                "--results-dir",
                str(tmp_path / "results"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MEEK_HOME": str(meek_home)},
        )
        assert meek.stderr is not None
        for line in meek.stderr:
            if line.strip().startswith("concurrency 1:"):
                server.kill()  # the server dies after the first point
                break
        stdout, rest = meek.communicate(timeout=120)
    finally:
        server.kill()
        server.wait()
    assert meek.returncode == 1
    assert any(line.startswith("error: concurrency 2: every request failed") for line in rest.splitlines()), rest
    document = json.loads(next((tmp_path / "results").glob("*/*.json")).read_text())
    assert document["status"] == "partial" and document["serving"][0]["errors"] == 0
    assert document["errors"][0]["stage"] == "serve" and "| 1 streams | 3 | 0 |" in stdout


def test_load_bad_input_is_one_line(run_meek):
    code, _, stderr = run_meek("load", "--url", "http://127.0.0.1:9", "--concurrency", "1")
    assert code == 1 and stderr.startswith("error: cannot reach a server at http://127.0.0.1:9")
    code, _, stderr = run_meek("load", "--serve", "smollm2-135m", "--concurrency", "1", "--rate", "2")
    assert code == 2 and "two modes" in stderr
    code, _, stderr = run_meek("load", "--url", "http://127.0.0.1:9", "--rate", "fast")
    assert code == 2 and "--rate" in stderr


def test_the_capacity_line_names_the_largest_load_that_meets_the_objective():
    from harness.commands.load import capacity_line
    from harness.measure.load import Objective
    from harness.results.schema import ServingPoint, Spread

    def point(streams: int, p10: float, ttft_p90_s: float) -> ServingPoint:
        ttft = Spread(p50=ttft_p90_s * 5e8, p90=ttft_p90_s * 1e9, p99=ttft_p90_s * 1e9)
        return ServingPoint(
            mode="server",
            n_parallel=streams,
            n_prompt=8,
            n_gen=4,
            s_tg=p10 * streams,
            tg_per_stream=p10,
            tg_per_stream_p10=p10,
            ttft=ttft,
            requests=8,
        )

    points = [point(1, 40, 0.2), point(2, 25, 0.5), point(4, 12, 1.5), point(8, 6, 3.0)]
    assert capacity_line(points, Objective()).startswith("capacity: serves 4 concurrent streams at >= 12.0 t/s")
    assert capacity_line(points, Objective(min_stream_tps=50)).startswith("capacity: no load level")


def test_ctrl_c_mid_sweep_keeps_the_finished_points_and_stops_the_server(meek_home, tmp_path):
    import signal

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "load",
            "--serve",
            "smollm2-135m",
            "--server",
            "llama-cpp-python",
            "--concurrency",
            "1,2",
            "-p",
            "8",
            "-n",
            "64",
            "--requests",
            "6",
            "--results-dir",
            str(tmp_path / "results"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MEEK_HOME": str(meek_home)},
        start_new_session=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.stderr.readline().strip().startswith("concurrency 1:"):
            break
    time.sleep(0.5)  # inside the second point
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 130 and "| 1 streams | 6 | 0 |" in stdout
    document = json.loads(next((tmp_path / "results").glob("*/*.json")).read_text())
    assert document["status"] == "interrupted" and document["serving"][0]["n_parallel"] == 1
    assert not servers_left()
