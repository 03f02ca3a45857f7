"""Defects found in a read of the code (issue 13), each pinned by a test that failed before its fix."""

from __future__ import annotations

import bz2
import dataclasses
import datetime as dt
import json
import shutil
import threading
from http.server import HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import memory_budget
from harness.aggregate.advise import advise
from harness.aggregate.tree import RUN_COLUMNS
from harness.catalogue.hardware import Device
from harness.catalogue.models import CatalogModel, ModelSource
from harness.frontier.gap import MachineClass, best_open_that_fits, gap_table
from harness.measure.protocol import LoadGroup, LoadSettings, TestInstance
from harness.results.schema import SCHEMA_VERSION, TestShape
from harness.results.store import read_result
from tests.test_backends import FakeOllama

GOLDEN_V1 = Path(__file__).parent / "golden" / "result-v1-smollm2.json"


# ---- --seed reaches the worker and the tokens it decodes ------------------------------------------------------------
class RecordingBackend:
    """Records the random tokens the protocol asks for (pure logic: what the seed controls)."""

    name = "recording"

    def __init__(self):
        self.tokens = []

    def load(self, path, settings):
        pass

    def new_context(self, n_ctx, n_threads):
        pass

    def clear(self):
        pass

    def process_prompt(self, n_tokens, rng):
        self.tokens += rng.integers(0, 1000, size=n_tokens).tolist()

    def first_token(self):
        return 0

    def generate(self, n_tokens, rng):
        self.tokens += rng.integers(0, 1000, size=n_tokens).tolist()

    def describe(self):
        return {"description": "recording"}

    def close(self):
        pass


def _tokens(seed: int) -> list[int]:
    from harness.measure.throughput import run_group

    backend = RecordingBackend()
    group = LoadGroup(model="m", load=LoadSettings(), tests=[TestInstance(TestShape(8, 4), 1)])
    run_group(backend, "m.gguf", group, 2, True, lambda event: None, seed)
    return backend.tokens


def test_the_seed_decides_the_tokens_and_reaches_the_worker(monkeypatch, run_meek, tmp_path):
    assert _tokens(7) == _tokens(7) and _tokens(7) != _tokens(8)
    from harness.measure import runner

    sent = []

    def spy(target, args, timeout_s):  # the runner's hand-off to the worker process: what the worker gets
        sent.append(args)
        return iter(())

    monkeypatch.setattr(runner, "run_in_worker", spy)
    from harness.catalogue.models import load_catalog
    from harness.measure.protocol import SweepSpec
    from harness.measure.runner import BenchOptions, run_bench

    spec = SweepSpec(
        models=["smollm2-135m"],
        n_prompt=[8],
        n_gen=[0],
        pg=[],
        n_depth=[0],
        n_threads=[1],
        n_gpu_layers=[0],
        n_batch=[64],
        n_ubatch=[64],
        flash_attn=[0],
        type_k=["f16"],
        type_v=["f16"],
        repack=[0],
    )

    class Quiet:
        def line(self, text):
            pass

        def status(self, text):
            pass

    from harness.machine.facts import fingerprint

    run_bench(BenchOptions(spec=spec, seed=1234, results_dir=tmp_path), load_catalog(), fingerprint(), Quiet())
    assert sent and sent[0][-1] == 1234
    code, _, stderr = run_meek("bench", "-p", "16", "-n", "0", "-r", "1", "--seed", "42", "--results-dir", str(tmp_path / "r"))
    assert code == 0, stderr
    (file,) = (tmp_path / "r").glob("*/*.json")
    assert read_result(file).protocol.seed == 42


# ---- the Ollama backend sends the API key it was given ---------------------------------------------------------------
def test_ollama_sends_the_api_key(run_meek, tmp_path):
    seen = []

    class Recording(FakeOllama):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            super().do_GET()

        def do_POST(self):
            seen.append(self.headers.get("Authorization"))
            super().do_POST()

    server = HTTPServer(("127.0.0.1", 0), Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, _, stderr = run_meek(
            "bench",
            "--backend",
            "ollama",
            "--url",
            f"http://127.0.0.1:{server.server_port}",
            "-m",
            "llama3.1:8b",
            "-p",
            "8",
            "-n",
            "4",
            "-r",
            "1",
            "--api-key",
            "sekrit",
            "--results-dir",
            str(tmp_path),
        )
    finally:
        server.shutdown()
    assert code == 0, stderr
    assert seen and all(header == "Bearer sekrit" for header in seen)
    (file,) = tmp_path.glob("*/*.json")
    assert "sekrit" not in file.read_text()  # sent, never saved


# ---- v1 result files: `meek results upgrade` signs them as v2 --------------------------------------------------------
def test_v1_files_are_upgraded_and_then_used(run_meek, tmp_path):
    tree = tmp_path / "results" / "m"
    tree.mkdir(parents=True)
    old = tree / "v1.json"
    shutil.copy(GOLDEN_V1, old)
    code, stdout, _ = run_meek("validate", str(old))
    assert code == 1 and "meek results upgrade" in stdout
    code, stdout, stderr = run_meek("results", "upgrade", str(tmp_path / "results"))
    assert code == 0 and "1 file(s) upgraded" in stdout, stderr
    assert json.loads(old.read_text())["schema_version"] == SCHEMA_VERSION
    code, stdout, stderr = run_meek("validate", str(old))
    assert code == 0, stdout + stderr
    code, stdout, stderr = run_meek("compare", "--results-dir", str(tmp_path / "results"), "--format", "json")
    assert code == 0 and json.loads(stdout)["speed"], stderr
    code, stdout, _ = run_meek("results", "upgrade", str(old))
    assert code == 0 and "0 file(s) upgraded, 1 already current" in stdout


# ---- lm-eval gives no item count: subtasks are weighed by what was scored --------------------------------------------
def test_pooled_score_weighs_subtasks_by_their_items_when_lm_eval_gives_no_count():
    from harness.quality.evaluate import PlannedTask, _scores_from
    from harness.quality.tasks import LocalTask

    local = LocalTask("mmlu", [{"task": "mmlu_a"}, {"task": "mmlu_b"}], {"mmlu_a": 10, "mmlu_b": 30}, "acc", 0)
    task = PlannedTask(name="mmlu", local=local, shots=0)
    output = {"results": {"mmlu_a": {"acc,none": 1.0}, "mmlu_b": {"acc,none": 0.0}}}  # no "n-samples"
    (score,) = _scores_from(task, output, 1.0, "plain", False)
    assert score["value"] == pytest.approx(0.25) and score["samples"] == 40  # not (1 + 0) / 2 over "1 + 1" items


# ---- a header without the attention shape: the fit check estimates the KV cache --------------------------------------
def test_fit_check_estimates_the_kv_cache_when_the_header_does_not_say(monkeypatch, smollm2_path):
    from harness.catalogue.gguf_file import read_gguf_facts
    from harness.catalogue.models import ResolvedModel
    from harness.measure import runner
    from harness.results.schema import BenchResult

    facts = dataclasses.replace(read_gguf_facts(smollm2_path), head_count_kv=None, key_length=None)  # unreadable in the header
    monkeypatch.setattr(runner, "read_gguf_facts", lambda path: facts)
    monkeypatch.setattr(memory_budget, "free_bytes", lambda offload: facts.file_size_bytes + 2**20)
    group = LoadGroup(model="m", load=LoadSettings(), tests=[TestInstance(TestShape(512, 0, 8192), 1)])
    result = BenchResult.model_construct(errors=[])
    resolved = ResolvedModel(spec=str(smollm2_path), path=smollm2_path, entry=None)
    kept = runner._drop_tests_that_cannot_fit(resolved, group, result, None)
    assert not kept.tests  # before: the KV cache counted as 0 bytes and the test was kept
    assert "estimated from the parameter count" in result.errors[0].message


# ---- the HellaSwag source file is closed -----------------------------------------------------------------------------
def test_hellaswag_source_is_closed(monkeypatch, tmp_path):
    from harness.quality import tasks

    source = tmp_path / "hellaswag_val_full.txt.bz2"
    source.write_bytes(bz2.compress(b"a context\n0\nend one\nend two\nend three\nend four\n"))
    opened = []
    real_open = bz2.open

    def tracking(*args, **kwargs):
        handle = real_open(*args, **kwargs)
        opened.append(handle)
        return handle

    monkeypatch.setattr(tasks.bz2, "open", tracking)
    tasks.hellaswag_jsonl(source)
    assert opened and all(handle.closed for handle in opened)


# ---- the gap's yearly checkpoints follow the calendar, not a list ending in 2026 -------------------------------------
def test_gap_checkpoints_run_to_todays_year():
    rows = [("frontier", f"{year}-03-01", False, None, 40.0 + 5 * i) for i, year in enumerate(range(2023, 2029))]
    rows += [("open", f"{year}-06-01", True, 7.0, 30.0 + 5 * i) for i, year in enumerate(range(2023, 2029))]
    frame = pd.DataFrame(rows, columns=["model", "release_date", "open_weights", "params_total_b", "score"])
    frame = frame.assign(benchmark="mmlu", setting=None, source_link="x")
    table = gap_table(frame, "mmlu", {"24gb-gpu": MachineClass(24, "gpu", "")}, today="2028-12-01")
    assert {"lag_2027-01", "lag_2028-01"} <= set(table.columns)


# ---- meek report leaves the caller's frames alone --------------------------------------------------------------------
def test_write_site_does_not_change_the_callers_tree(example_tree, tmp_path):
    from harness.aggregate.tree import load_tree
    from harness.site.build import write_site

    tree = load_tree([example_tree])
    before = list(tree.runs.columns)
    write_site(tree, tmp_path / "site", frontier_benchmarks=())
    assert list(tree.runs.columns) == before


# ---- advise and gap: one fit verdict for the same model and memory ---------------------------------------------------
def _device(kind: str, memory_gb: float) -> Device:
    return Device(
        id="test-device",
        name="Test device",
        vendor="nvidia",
        kind=kind,
        memory_gb=memory_gb,
        memory_type="x",
        bandwidth_gbs=500,
        power_w=300,
        launch_price_usd=1000,
        release_date=dt.date(2025, 1, 1),
        match=["test"],
        sources=["https://example.com/test-device"],
    )


def _model(params_b: float) -> CatalogModel:
    return CatalogModel(
        id=f"m-{params_b:g}b",
        name="m",
        family="m",
        tier="large",
        params_total_b=params_b,
        params_active_b=params_b,
        quant="Q4_K_M",
        release_date=dt.date(2025, 1, 1),
        license="x",
        context_length=32768,
        source=ModelSource(path="/nowhere.gguf"),
    )


@pytest.mark.parametrize("kind", ["gpu", "unified"])
def test_advise_and_gap_give_the_same_fit_verdict(kind):
    empty = pd.DataFrame(columns=RUN_COLUMNS)  # nobody measured anything: the verdict alone decides
    verdicts = []
    for params_b in np.arange(2, 130, 3.5):
        frame = pd.DataFrame(
            [
                {
                    "model": "open",
                    "release_date": "2025-01-01",
                    "open_weights": True,
                    "benchmark": "mmlu",
                    "setting": None,
                    "params_total_b": params_b,
                    "score": 60.0,
                    "source_link": "x",
                }
            ]
        )
        for memory in (8, 12, 16, 24, 32, 48, 64, 96, 128):
            table, _, _ = advise(empty, _model(params_b), None, None, hardware=[_device(kind, memory)])
            by_advise = not table.empty
            classes = {"c": MachineClass(memory, kind, "", vendor="nvidia")}  # the device's maker: unified shares differ by it
            by_gap = best_open_that_fits(frame, "mmlu", "c", "2026-01-01", classes=classes) is not None
            assert by_advise == by_gap, (params_b, memory)
            verdicts.append(by_gap)
    assert any(verdicts) and not all(verdicts)  # the sweep crosses the boundary
