"""Issue 25, round 2: every writer a server or the command line reaches writes only files `meek validate` accepts, and
never the API key. The servers are hostile on purpose (tests/test_hostile_servers.py's real HTTP servers on 127.0.0.1):
their model ids and error pages carry markup, control characters, newlines, a bidirectional override and the key itself.
Each file written is checked by the real `meek validate`; each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_hostile_servers import KEY, hostile  # noqa: F401 (hostile: the fixture, used by name)

EVIL = f"<script>alert(1)</script> \x1b[31m red\nsecond line\r\u202eevil\u2066 {KEY} javascript:alert(2) <!-- x --> \x85 end"


def written(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.json"))


def assert_fit(run_meek, folder: Path, *outputs: str) -> None:
    """Each file under `folder` passes `meek validate` and holds no key; nor does anything the command printed."""
    files = written(folder)
    assert files, f"nothing was written under {folder}"
    for path in files:
        code, stdout, stderr = run_meek("validate", str(path))
        assert code == 0 and "1 valid" in stdout, stdout + stderr
        assert KEY not in path.read_text() and "sk-meek" not in path.read_text()
    for output in outputs:
        assert KEY not in output and "Traceback" not in output


def meek_with_key(run_meek, *args: str):
    return run_meek(*args, env={"MEEK_API_KEY": KEY}, timeout=120)


@pytest.mark.parametrize("backend", ["openai", "ollama"])
def test_bench_through_a_hostile_server_writes_a_valid_file_without_the_key(run_meek, hostile, tmp_path, backend):  # noqa: F811
    url, _ = hostile(model_id=EVIL, fail_pp_with=EVIL, models={"data": [{"id": EVIL}]})
    if backend == "ollama":  # ollama serves a list of names: the one asked for, and the hostile one beside it
        url, server = hostile(fail_pp_with=EVIL)
        server.plan["model_id"] = "plain"
    results = tmp_path / "results"
    args = ("bench", "--backend", backend, "--url", url, "-m", "plain", "-p", "4", "-n", "4", "-r", "1")
    code, stdout, stderr = meek_with_key(run_meek, *args, "--results-dir", str(results))
    assert code == 1 and "pp4: the server at" in stderr and "HTTP 500" in stderr, stderr
    assert_fit(run_meek, results, stdout, stderr)
    (error,) = json.loads(written(results)[0].read_text())["errors"]
    assert (
        "alert(1)" in error["message"] and "[key hidden]" in error["message"]
    )  # the server's words are kept, defused and without the key


def test_bench_saves_the_servers_hostile_model_id_defused(run_meek, hostile, tmp_path):  # noqa: F811
    url, _ = hostile(model_id=EVIL)
    results = tmp_path / "results"
    args = ("bench", "--backend", "openai", "--url", url, "-m", "plain", "-p", "4", "-n", "4", "-r", "1")
    code, stdout, stderr = meek_with_key(run_meek, *args, "--results-dir", str(results))
    assert code == 0, stderr
    assert_fit(run_meek, results, stdout, stderr)
    source = json.loads(written(results)[0].read_text())["model"]["source"]
    assert source.startswith("served as '‹script>alert(1)‹/script> ") and "[key hidden]" in source


def test_load_through_a_hostile_server_writes_a_valid_file_without_the_key(run_meek, hostile, tmp_path):  # noqa: F811
    """Its error pages (every request fails: the point's note and the run's error quote them), then its model id."""
    for index, plan in enumerate([{"completion": "status500", "error_body": EVIL}, {}]):
        url, _ = hostile(model_id=EVIL, **plan)
        results = tmp_path / str(index)
        args = ("load", "--url", url, "--concurrency", "1", "--requests", "2", "--seconds", "10", "-p", "4", "-n", "4")
        code, stdout, stderr = meek_with_key(run_meek, *args, "--results-dir", str(results))
        assert code == (0 if not plan else 1), stderr
        assert_fit(run_meek, results, stdout, stderr)
    (document,) = [json.loads(path.read_text()) for path in written(tmp_path / "0")]
    assert "‹script>" in document["serving"][0]["note"] and "[key hidden]" in document["errors"][0]["message"]


@pytest.mark.parametrize("option", [("bench", "-m"), ("load", "--serve")])
def test_a_model_path_with_markup_is_refused_before_anything_is_written(run_meek, tmp_path, option):
    command, flag = option
    model = tmp_path / "x<b>y.gguf"
    model.write_bytes(b"GGUF")
    code, stdout, stderr = run_meek(command, flag, str(model), "--results-dir", str(tmp_path / "results"))
    assert code == 2 and stderr.startswith(f"error: {flag}: ") and len(stderr.splitlines()) == 1, stderr
    assert not written(tmp_path / "results")
