import pytest

from harness.machine.facts import compiled_backends, fingerprint, missing_simd
from harness.results.schema import Machine


def test_fingerprint_is_complete_and_anonymous():
    import getpass
    import socket

    facts = fingerprint()
    assert isinstance(facts, Machine)  # the shape stored in result files
    assert facts.cpu.logical_cores and facts.cpu.logical_cores >= 1 and facts.memory_bytes and facts.memory_bytes > 0
    assert facts.llama_cpp.commit and "CPU" in facts.llama_cpp.backends
    text = facts.model_dump_json().lower()
    assert socket.gethostname().lower() not in text
    assert getpass.getuser().lower() not in facts.machine_id
    assert fingerprint().machine_id == facts.machine_id, "the id must be stable"


def test_the_fingerprint_is_a_value_and_the_verdict_goes_into_a_copy():
    import pydantic

    from harness.measure import preflight

    facts = fingerprint()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        facts.machine_id = "another-machine"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        facts.llama_cpp.commit = "another-commit"  # type: ignore[misc]
    crashed = preflight.Verdict(
        repack_default=0,
        checked_utc="2026-01-01T00:00:00+00:00",
        model="m.gguf",
        key={},
        crashed="SIGILL on the first decode with --repack 1",
        cpu_paths_disabled=[{"path": "amx", "reason": "SIGILL on the first decode with --repack 1"}],
    )
    probed = preflight.apply(facts, crashed)
    assert [p.path for p in probed.cpu_paths_disabled] == ["amx"] and facts.cpu_paths_disabled == []
    assert preflight.apply(facts, None) is facts
    # `meek machine --json`: what was read, with the keys it had as a dict (no defaults for what was not found)
    assert "cpu_paths_disabled" not in facts.model_dump(exclude_unset=True)
    assert "cpu_paths_disabled" in probed.model_dump(exclude_unset=True)


def test_the_hardware_only_fingerprint_has_an_empty_build():
    facts = fingerprint(include_build=False)
    assert facts.llama_cpp.llama_cpp_python is None and facts.warnings == []
    assert facts.machine_id == fingerprint().machine_id


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


def test_meek_machine_shows_the_measured_bandwidth_beside_the_table_peak(run_meek):
    from harness.machine.bandwidth import copy_bandwidth_gbs

    gbs = copy_bandwidth_gbs(32 * 2**20, repeats=2)
    assert 0.5 < gbs < 5000  # GB/s: a copy of 2 x 32 MiB, read plus written
    code, stdout, stderr = run_meek("machine")
    assert code == 0, stderr
    (line,) = [line for line in stdout.splitlines() if line.strip().startswith("bandwidth:")]
    assert "GB/s measured by a copy test" in line
    (peak,) = [line for line in stdout.splitlines() if line.strip().startswith("bandwidth peak:")]
    assert "GB/s table peak (" in peak or "not in the hardware table" in peak
