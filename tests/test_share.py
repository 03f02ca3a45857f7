"""`meek import llama-bench`, `meek submit` and `meek compare` on real files: llama-bench's own output and real bench runs."""

from __future__ import annotations

import json
import shutil
import threading
import typing
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from harness.results.document import signed_document
from harness.results.schema import validate_document
from harness.results.store import read_result
from harness.results.validate import Validator

LLAMA_BENCH = Path(__file__).parent / "fixtures" / "llama-bench"


def test_import_llama_bench_json_and_jsonl(tmp_path, run_meek):
    results = tmp_path / "results"
    code, stdout, stderr = run_meek(
        "import",
        "llama-bench",
        str(LLAMA_BENCH / "smollm2-cpu.json"),
        str(LLAMA_BENCH / "smollm2-cpu.jsonl"),
        "--results-dir",
        str(results),
    )
    assert code == 0, stderr
    files = sorted(results.glob("*/*.json"))
    assert len(files) == 2 and stdout.count("1 result file(s) written, 0 skipped") == 2  # one line per input file
    records = json.loads((LLAMA_BENCH / "smollm2-cpu.json").read_text())
    imported = read_result(next(f for f in files if len(read_result(f).runs) == len(records)))
    assert imported.protocol.backend == "llama-bench" and "llama-bench -o json" in imported.protocol.imported_from
    assert imported.model.id == "smollm2-135m" and imported.model.quant == "Q4_1"
    assert imported.model.file_name == "SmolLM2-135M-Instruct.Q4_1.gguf"  # the local folder is not kept
    for record, run in zip(records, imported.runs):
        assert run.samples_ns == record["samples_ns"]
        assert run.avg_ts == pytest.approx(record["avg_ts"], rel=1e-3)
        assert (run.n_prompt, run.n_gen, run.n_depth) == (record["n_prompt"], record["n_gen"], record["n_depth"])
    assert {r.test for r in imported.runs} >= {"pp64", "tg16", "pp32+tg8", "pp64 @ d128"}
    for file in files:
        report = Validator().check(file)
        assert report.ok, report.failures
        assert report.warnings == ["model sha256 not recorded: the file cannot be tied to a known model file"]
    code, stdout, _ = run_meek("import", "llama-bench", str(LLAMA_BENCH / "smollm2-cpu.json"), "--results-dir", str(results))
    assert code == 0 and "already imported" in stdout and len(list(results.glob("*/*.json"))) == 2


def test_import_skips_bad_records_with_their_reason(tmp_path, run_meek):
    lines = (LLAMA_BENCH / "smollm2-cpu.jsonl").read_text().splitlines()
    broken = json.loads(lines[0])
    broken.pop("samples_ns")
    lying = json.loads(lines[1])
    lying["avg_ts"] *= 3
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join([json.dumps(broken), json.dumps(lying), *lines[2:]]) + "\n")
    code, stdout, stderr = run_meek("import", "llama-bench", str(source), "--results-dir", str(tmp_path / "r"))
    assert code == 0, stderr
    assert "warning: skipped" in stderr and "record 1: samples_ns: Field required" in stderr
    assert "record 2: avg_ts" in stderr and "does not follow from samples_ns" in stderr
    (file,) = (tmp_path / "r").glob("*/*.json")
    assert len(read_result(file).runs) == len(lines) - 2


def test_import_of_a_file_that_is_not_llama_bench_output(tmp_path, run_meek):
    source = tmp_path / "x.json"
    source.write_text("<html>")
    code, _, stderr = run_meek("import", "llama-bench", str(source))
    assert code == 1 and stderr.startswith("error:") and "not llama-bench json or jsonl output" in stderr


class Collector(BaseHTTPRequestHandler):
    received: typing.ClassVar[list[dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.received.append(json.loads(body))
        self.send_response(201)
        self.end_headers()
        self.wfile.write(b"stored")

    def log_message(self, *args):
        pass


def test_submit_cleans_places_and_posts(tmp_path, real_results, run_meek):
    document = json.loads(real_results[0].read_text())
    document["model"]["source"] = "path /home/alice/secret-models/my.gguf"
    document["errors"] = [{"stage": "test", "message": "failed reading /home/alice/x/y.bin", "test": None}]
    document["status"] = "partial"
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(signed_document(validate_document(document))))
    results = tmp_path / "checkout" / "results"

    code, stdout, stderr = run_meek("submit", str(mine), "--results-dir", str(results))
    assert code == 0, stderr
    (placed,) = results.glob("*/*.json")
    assert placed.parent.name == document["machine"]["machine_id"] and "git push" in stdout
    text = placed.read_text()
    assert "alice" not in text and '"source": "path my.gguf"' in text and "failed reading y.bin" in text
    assert Validator().check(placed).ok
    code, stdout, _ = run_meek("submit", str(mine), "--results-dir", str(results))
    assert code == 0 and "already in the results tree" in stdout

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, stdout, stderr = run_meek("submit", str(mine), "--url", f"http://127.0.0.1:{server.server_port}/results")
    finally:
        server.shutdown()
    assert code == 0, stderr
    assert "201 stored" in stdout and len(Collector.received) == 1
    assert "alice" not in json.dumps(Collector.received[0])


def test_submit_refuses_a_tampered_file_and_an_unreachable_collector(tmp_path, real_results, run_meek):
    document = json.loads(real_results[0].read_text())
    document["runs"][0]["avg_ts"] *= 2
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    code, _, stderr = run_meek("submit", str(tampered), "--results-dir", str(tmp_path / "results"))
    assert code == 1 and "was edited" in stderr and not (tmp_path / "results").exists()
    code, _, stderr = run_meek("submit", str(real_results[0]), "--url", "http://127.0.0.1:9/none")
    assert code == 1 and "\nerror: cannot reach the collector" in "\n" + stderr  # a noisy run adds a warning first


def test_compare_lines_up_meek_bench_and_imported_llama_bench(tmp_path, real_results, run_meek):
    results = tmp_path / "results"
    for file in real_results:
        (results / file.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(file, results / file.parent.name / file.name)
    run_meek("import", "llama-bench", str(LLAMA_BENCH / "smollm2-cpu.json"), "--results-dir", str(results))
    code, stdout, stderr = run_meek("compare", "--results-dir", str(results), "--model", "smollm2-135m", "--format", "json")
    assert code == 0, stderr
    rows = json.loads(stdout)["speed"]
    assert {r["backend"] for r in rows} == {"llama-cpp-python", "llama-bench"}
    assert {r["test"] for r in rows} >= {"pp32", "tg8", "pp64", "tg16"}
    assert all(r["model"] == "smollm2-135m" and r["t/s"] > 0 for r in rows)
    code, stdout, _ = run_meek("compare", "--results-dir", str(results), "--model", "smollm2-135m", "--test", "tg8")
    assert code == 0 and stdout.startswith("| model | test | machine_id |") and "tg8" in stdout
    code, _, stderr = run_meek("compare", "--results-dir", str(results), "--model", "no-such-model")
    assert code == 2 and "no results for model 'no-such-model'" in stderr
