"""The other commands as a user runs them: help that teaches, models list/info/verify, machine."""

import json


def test_help_teaches_the_sweep_syntax(run_meek):
    code, stdout, _ = run_meek("bench", "--help")
    assert code == 0
    for needle in ("0-8192+2048", "--tier", "-ngl", "results"):
        assert needle in stdout


def test_models_list_shows_tiers_and_local_files(run_meek):
    code, stdout, _ = run_meek("models", "list")
    assert code == 0
    lines = {line.split()[0]: line for line in stdout.splitlines() if line.strip()}
    assert "yes" in lines["smollm2-135m"] and "tiny" in lines["smollm2-135m"]
    assert "gpt-oss-120b-mxfp4" in lines and "xl" in lines["gpt-oss-120b-mxfp4"]


def test_models_info_reads_the_gguf_header(run_meek):
    code, stdout, _ = run_meek("models", "info", "smollm2-135m")
    assert code == 0
    assert "gguf.architecture: llama" in stdout and "gguf.quant: Q4_1" in stdout and "2024-11-01" in stdout


def test_models_verify_checks_sha256(run_meek):
    code, stdout, _ = run_meek("models", "verify", "smollm2-135m")
    assert code == 0
    assert "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53" in stdout and "matches the catalogue" in stdout


def test_models_info_unknown_id(run_meek):
    code, _, stderr = run_meek("models", "info", "gemma3-270")
    assert code != 0 and "Did you mean gemma3-270m" in stderr and "Traceback" not in stderr


def test_machine_json(run_meek):
    code, stdout, _ = run_meek("machine", "--json")
    assert code == 0
    facts = json.loads(stdout)
    assert facts["machine_id"] and facts["llama_cpp"]["llama_cpp_python"]


def test_machine_text(run_meek):
    code, stdout, _ = run_meek("machine")
    assert code == 0 and "llama.cpp commit" in stdout and "machine id" in stdout
