from harness.machine.facts import compiled_backends, fingerprint, missing_simd
from harness.results.schema import Machine


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


def test_nvidia_gpu_without_memory_info_is_read_as_unified_not_a_crash(monkeypatch):
    """DGX Spark's GB10 answers NotSupported for memory info; that must not break the fingerprint (stand-in NVML)."""
    from harness.machine import gpu

    class FakeNvml:
        class NVMLError(Exception):
            pass

        def nvmlSystemGetDriverVersion(self):
            return "580.95"

        def nvmlDeviceGetCount(self):
            return 1

        def nvmlDeviceGetHandleByIndex(self, index):
            return index

        def nvmlDeviceGetName(self, handle):
            return "NVIDIA GB10"

        def nvmlDeviceGetMemoryInfo(self, handle):
            raise FakeNvml.NVMLError("Not Supported")

        def nvmlShutdown(self):
            pass

    monkeypatch.setattr(gpu, "_nvml", lambda: FakeNvml())
    (found,) = gpu.nvidia_gpus()
    assert found["name"] == "NVIDIA GB10" and found["memory_bytes"] is None and found["unified_memory"] is True
