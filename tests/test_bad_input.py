"""Every bad input: one clear line on stderr, a non-zero exit, no traceback."""

import shutil
import textwrap

import pytest


def assert_one_clear_line(code, stdout, stderr, *needles):
    assert code != 0
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_missing_model_file(run_meek, tmp_path):
    assert_one_clear_line(*run_meek("bench", "-m", str(tmp_path / "nope.gguf")), "model file not found")


@pytest.mark.parametrize("backend", ["llama-cpp-python", "llama-bench"])
def test_missing_model_file_is_a_usage_error(run_meek, tmp_path, backend):
    """The README: exit 2 for "a path that is not there", before anything runs."""
    code, stdout, stderr = run_meek("bench", "--backend", backend, "-m", "path/to/missing.gguf")
    assert code == 2, stderr
    assert_one_clear_line(code, stdout, stderr, "model file not found: path/to/missing.gguf")


def test_file_that_is_not_gguf(run_meek, tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_text("hello, I am not a model")
    assert_one_clear_line(*run_meek("bench", "-m", str(bogus)), "is not a GGUF file")


def test_truncated_gguf(run_meek, tmp_path, smollm2_path):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(smollm2_path.read_bytes()[: 40 * 2**20])
    assert_one_clear_line(*run_meek("bench", "-m", str(truncated)), "truncated")


def test_sha256_mismatch(run_meek, meek_home, tmp_path, smollm2_path):
    copy = tmp_path / "copy.gguf"
    shutil.copy(smollm2_path, copy)
    with copy.open("r+b") as handle:  # flip one byte of tensor data: header still valid, content not
        handle.seek(-10, 2)
        byte = handle.read(1)
        handle.seek(-10, 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    (meek_home / "models.yaml").write_text(
        textwrap.dedent(
            f"""
            models:
              - id: tampered-smollm2
                name: tampered
                family: smollm2
                tier: tiny
                params_total_b: 0.135
                params_active_b: 0.135
                quant: Q4_1
                release_date: "2024-11-01"
                license: apache-2.0
                context_length: 8192
                source: {{path: "{copy}"}}
                sha256: b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
            """
        )
    )
    try:
        assert_one_clear_line(*run_meek("bench", "-m", "tampered-smollm2"), "sha256 mismatch")
    finally:
        (meek_home / "models.yaml").unlink()


def test_context_that_cannot_fit(run_meek):
    code, stdout, stderr = run_meek("bench", "-p", "16", "-n", "0", "-d", "50000000")
    assert_one_clear_line(code, stdout, stderr, "cannot fit", "KV cache")


def test_unknown_model_suggests_near_names(run_meek):
    assert_one_clear_line(*run_meek("bench", "-m", "smollm2-135"), "unknown model", "Did you mean smollm2-135m")


@pytest.mark.parametrize("option, value", [("-p", "12x"), ("-d", "0-8192+0"), ("-t", "0"), ("-ctk", "q9_9"), ("-o", "xml")])
def test_malformed_sweep_value(run_meek, option, value):
    assert_one_clear_line(*run_meek("bench", option, value), option)


def test_sweep_with_one_broken_model_saves_the_good_one(run_meek, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 100)
    code, stdout, stderr = run_meek("bench", "-m", f"smollm2-135m,{broken}", "-p", "32", "-n", "8", "-r", "2")
    assert code == 1
    assert "Traceback" not in stderr
    assert f"error: {broken}: " in stderr and "damaged or truncated" in stderr
    from harness.results.store import read_result

    results = {p.name.split("-", 1)[1]: read_result(p) for p in (tmp_path / "results").glob("*/*.json")}
    good = results["smollm2-135m.json"]
    assert good.status == "complete" and {r.test for r in good.runs} == {"pp32", "tg8"}
    failed = results["broken.json"]
    assert failed.status == "failed" and failed.runs == []
    assert "damaged or truncated" in failed.errors[0].message
