from harness.machine import compiled_backends, fingerprint, missing_simd
from harness.results import Machine


def test_fingerprint_is_complete_and_anonymous():
    import getpass
    import socket

    facts = fingerprint()
    Machine.model_validate(facts)  # the shape stored in result files
    assert facts["cpu"]["logical_cores"] >= 1 and facts["memory_bytes"] > 0
    assert facts["llama_cpp"]["commit"] and "CPU" in facts["llama_cpp"]["backends"]
    text = str(facts).lower()
    assert socket.gethostname().lower() not in text
    assert getpass.getuser().lower() not in facts["machine_id"]
    assert fingerprint()["machine_id"] == facts["machine_id"], "the id must be stable"


def test_missing_simd_features_are_named():
    assert missing_simd(["avx", "avx2", "fma"], ["AVX", "FMA"]) == ["AVX2"]
    assert missing_simd(["avx2"], ["AVX2", "FMA"]) == []


def test_backends_parsed_from_system_info():
    info = "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | CPU : SSE3 = 1 | AVX2 = 1 |"
    assert compiled_backends(info) == ["CUDA", "CPU"]
    assert compiled_backends("CPU : AVX = 1 |") == ["CPU"]
