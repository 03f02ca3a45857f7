"""Power sensors against a fake sysfs tree in tmp_path, and NVML through a stand-in module: pure logic, no hardware.

The sampler's clock is injected and its interval is an hour, so the background thread never samples on its own: each
test writes the counters, calls `sample()` where it wants a reading, and knows every time stamp.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.machine import sensors
from harness.machine.sensors import PowerSampler, available_sensors, tokens_per_joule

NEVER = 3600.0  # interval_s: the background thread does not wake during a test


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def no_nvml(monkeypatch):
    """Keep a real GPU (on a GPU machine) out of the sysfs tests."""
    monkeypatch.setattr(sensors, "_open_nvml", lambda: None)


@pytest.fixture()
def linux(monkeypatch):
    monkeypatch.setattr(sensors.platform, "system", lambda: "Linux")


def rapl_zone(root: Path, zone: str, name: str, energy_uj: int, max_range_uj: int = 262_143_328_850) -> Path:
    path = root / "sys/class/powercap" / zone
    path.mkdir(parents=True, exist_ok=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    return path


def amd_hwmon(root: Path, card: str = "card0", vendor: str = "0x1002", hwmon: str = "hwmon3") -> Path:
    device = root / "sys/class/drm" / card / "device"
    path = device / "hwmon" / hwmon
    path.mkdir(parents=True, exist_ok=True)
    (device / "vendor").write_text(f"{vendor}\n")
    return path


def write(path: Path, value: int) -> None:
    path.write_text(f"{value}\n")


def test_rapl_energy_difference_and_average_power(tmp_path, no_nvml):
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    clock = Clock(10.0)
    sampler = PowerSampler(interval_s=NEVER, sysfs_root=tmp_path, clock=clock).start()
    write(zone / "energy_uj", 31_000_000)
    clock.now = 13.0
    result = sampler.stop()
    assert result == {
        "cpu-package-0": {
            "source": "rapl-package-0",
            "kind": "cpu-package",
            "avg_w": pytest.approx(10.0),
            "energy_j": pytest.approx(30.0),
            "seconds": pytest.approx(3.0),
            "samples": 2,
            "max_temp_c": None,
            "throttled": None,
            "throttle_reasons": [],
        }
    }


def test_rapl_counter_wraparound(tmp_path, no_nvml):
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 99_000_000, max_range_uj=100_000_000)
    clock = Clock(0.0)
    sampler = PowerSampler(interval_s=NEVER, sysfs_root=tmp_path, clock=clock).start()
    write(zone / "energy_uj", 1_000_000)  # 1 J to the top, then 1 J after the wrap
    clock.now = 0.5
    result = sampler.stop()["cpu-package-0"]
    assert result["energy_j"] == pytest.approx(2.0)
    assert result["avg_w"] == pytest.approx(4.0)


def test_rapl_wraps_in_several_intervals_are_each_counted(tmp_path, no_nvml):
    """Summing per-sample deltas survives runs longer than one counter range, as long as each interval wraps once."""
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 90, max_range_uj=100)
    clock = Clock(0.0)
    sampler = PowerSampler(interval_s=NEVER, sysfs_root=tmp_path, clock=clock).start()
    for now, reading in ((1.0, 40), (2.0, 10), (3.0, 30)):  # +50, +70, +20 µJ
        write(zone / "energy_uj", reading)
        clock.now = now
        sampler.sample()
    result = sampler.stop()["cpu-package-0"]
    assert result["energy_j"] == pytest.approx(140e-6)
    assert result["samples"] == 5


def test_rapl_wrap_without_a_known_range_is_absent(tmp_path, no_nvml):
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 90)
    (zone / "max_energy_range_uj").unlink()
    clock = Clock(0.0)
    sampler = PowerSampler(interval_s=NEVER, sysfs_root=tmp_path, clock=clock).start()
    write(zone / "energy_uj", 10)
    clock.now = 1.0
    assert sampler.stop() == {}


def test_rapl_only_top_level_package_domains(tmp_path, no_nvml, linux):
    rapl_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    rapl_zone(tmp_path, "intel-rapl:0:0", "core", 0)
    rapl_zone(tmp_path, "intel-rapl:0:1", "uncore", 0)
    rapl_zone(tmp_path, "intel-rapl:1", "psys", 0)
    rapl_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)
    rapl_zone(tmp_path, "intel-rapl:2", "package-1", 0)
    assert available_sensors(tmp_path) == [
        "cpu-package-0 (cpu-package): rapl-package-0",
        "cpu-package-1 (cpu-package): rapl-package-1",
    ]
    clock = Clock(0.0)
    sampler = PowerSampler(interval_s=NEVER, sysfs_root=tmp_path, clock=clock).start()
    clock.now = 1.0
    assert sorted(sampler.stop()) == ["cpu-package-0", "cpu-package-1"]


def test_rapl_unreadable_file_is_absent_with_its_reason(tmp_path, no_nvml, linux):
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 5_000_000)
    (zone / "energy_uj").chmod(0)
    try:
        (zone / "energy_uj").read_text()
        pytest.skip("running as root (or without permission checks): chmod 000 does not stop reads here")
    except PermissionError:
        pass
    assert available_sensors(tmp_path) == ["rapl: intel-rapl:0 energy_uj not readable (root only since Linux 5.10)"]
    with PowerSampler(interval_s=NEVER, sysfs_root=tmp_path) as sampler:
        pass
    assert sampler.results == {}
    assert sampler.notes == ["rapl: intel-rapl:0 energy_uj not readable (root only since Linux 5.10)"]


def test_rapl_permission_denied_is_absent_with_its_reason_even_as_root(tmp_path, no_nvml, linux, monkeypatch):
    """The same case as above, with the denial simulated, so it is covered where tests run as root."""
    zone = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 5_000_000)
    real_read_text = Path.read_text

    def read_text(self, *args, **kwargs):
        if self == zone / "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    assert available_sensors(tmp_path) == ["rapl: intel-rapl:0 energy_uj not readable (root only since Linux 5.10)"]
    with PowerSampler(interval_s=NEVER, sysfs_root=tmp_path) as sampler:
        pass
    assert sampler.results == {}


def test_hwmon_power_average_and_max_temperature(tmp_path, no_nvml):
    hwmon = amd_hwmon(tmp_path)
    amd_hwmon(tmp_path, card="card0-DP-1")  # a connector, not a card
    other = amd_hwmon(tmp_path, card="card1", vendor="0x8086")  # an Intel iGPU
    write(other / "power1_average", 5_000_000)
    clock = Clock(1.0)
    write(hwmon / "power1_average", 20_000_000)
    write(hwmon / "power1_input", 99_000_000)  # power1_average wins where both exist
    write(hwmon / "temp1_input", 50_000)
    sampler = PowerSampler(interval_s=NEVER, sysfs_root=tmp_path, clock=clock).start()
    write(hwmon / "power1_average", 40_000_000)
    write(hwmon / "temp1_input", 65_000)
    clock.now = 2.0
    sampler.sample()
    write(hwmon / "power1_average", 30_000_000)
    write(hwmon / "temp1_input", 55_000)
    clock.now = 3.0
    assert sampler.stop() == {
        "amd-gpu-card0": {
            "source": "hwmon-power1_average",
            "kind": "gpu",
            "avg_w": pytest.approx(30.0),
            "energy_j": pytest.approx(60.0),
            "seconds": pytest.approx(2.0),
            "samples": 3,
            "max_temp_c": pytest.approx(65.0),
            "throttled": None,
            "throttle_reasons": [],
        }
    }


def test_hwmon_power1_input_without_temperature(tmp_path, no_nvml):
    hwmon = amd_hwmon(tmp_path, card="card1")
    write(hwmon / "power1_input", 12_000_000)
    clock = Clock(0.0)
    sampler = PowerSampler(interval_s=NEVER, sysfs_root=tmp_path, clock=clock).start()
    clock.now = 2.0
    result = sampler.stop()["amd-gpu-card1"]
    assert result["source"] == "hwmon-power1_input"
    assert result["avg_w"] == pytest.approx(12.0)
    assert result["max_temp_c"] is None


def test_no_sensors_gives_an_empty_dict_not_zeros(tmp_path, no_nvml, linux):
    assert available_sensors(tmp_path) == []
    with PowerSampler(interval_s=NEVER, sysfs_root=tmp_path) as sampler:
        assert sampler._thread is None  # nothing to read: no thread waking up on a small machine
    assert sampler.results == {}


def test_apple_is_listed_as_not_readable(tmp_path, no_nvml, monkeypatch):
    monkeypatch.setattr(sensors.platform, "system", lambda: "Darwin")
    assert available_sensors(tmp_path) == [sensors.APPLE_NOTE]


def test_tokens_per_joule():
    assert tokens_per_joule(100, 50.0) == pytest.approx(2.0)
    assert tokens_per_joule(0, 10.0) == 0.0
    assert tokens_per_joule(100, None) is None
    assert tokens_per_joule(100, 0.0) is None


class NVMLError(Exception):
    pass


class FakeNvml:
    """A stand-in for the pynvml module: each per-GPU function reads from a dict of value lists or raises NVMLError.

    Only the parsing and throttle-reason logic is tested here; real NVML readings need a GPU machine.
    """

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, **series) -> None:
        self.series = series  # function name -> list of values (consumed in order) or an exception to raise
        self.shutdowns = 0

    def _next(self, name: str):
        values = self.series.get(name, NVMLError("Not Supported"))
        if isinstance(values, Exception):
            raise values
        return values.pop(0) if len(values) > 1 else values[0]

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return f"handle-{index}"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return self._next("energy_mj")

    def nvmlDeviceGetPowerUsage(self, handle):
        return self._next("power_mw")

    def nvmlDeviceGetTemperature(self, handle, sensor):
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self._next("temp_c")

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self._next("reasons")

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle):
        return self._next("old_reasons")

    def nvmlShutdown(self):
        self.shutdowns += 1


def run_with(monkeypatch, tmp_path, nvml, times=(0.0, 2.0)) -> dict:
    monkeypatch.setattr(sensors, "_open_nvml", lambda: nvml)
    clock = Clock(times[0])
    sampler = PowerSampler(interval_s=NEVER, sysfs_root=tmp_path, clock=clock).start()
    for now in times[1:-1]:
        clock.now = now
        sampler.sample()
    clock.now = times[-1]
    return sampler.stop()


def test_nvml_energy_counter_temperature_and_throttling(monkeypatch, tmp_path):
    """Energy counter in mJ (the probe at discovery is the first value); idle is ignored, the power cap is throttling."""
    nvml = FakeNvml(
        energy_mj=[1_000_000, 1_000_000, 1_150_000, 1_300_000],
        temp_c=[60, 83, 70],
        reasons=[0x1, 0x4 | 0x1, 0x2],
    )
    result = run_with(monkeypatch, tmp_path, nvml, times=(0.0, 1.0, 2.0))
    assert result == {
        "nvidia-gpu-0": {
            "source": "nvml-energy",
            "kind": "gpu",
            "avg_w": pytest.approx(150.0),
            "energy_j": pytest.approx(300.0),
            "seconds": pytest.approx(2.0),
            "samples": 3,
            "max_temp_c": 83,
            "throttled": True,
            "throttle_reasons": ["sw_power_cap"],
        }
    }
    assert nvml.shutdowns == 1


def test_nvml_power_samples_and_older_throttle_function(monkeypatch, tmp_path):
    """No energy counter (before Volta): sampled mW are averaged; the older reasons function is used; idle is not throttling."""
    nvml = FakeNvml(power_mw=[100_000, 200_000, 300_000], temp_c=[50], reasons=NVMLError("Function Not Found"), old_reasons=[0x1])
    result = run_with(monkeypatch, tmp_path, nvml, times=(0.0, 1.0, 4.0))["nvidia-gpu-0"]
    assert result["source"] == "nvml-power"
    assert result["avg_w"] == pytest.approx(200.0)
    assert result["energy_j"] == pytest.approx(800.0)
    assert result["throttled"] is False
    assert result["throttle_reasons"] == []


def test_nvml_thermal_reasons_are_named(monkeypatch, tmp_path):
    nvml = FakeNvml(power_mw=[100_000], reasons=[0x20 | 0x40 | 0x8 | 0x80 | 0x10 | 0x100])
    result = run_with(monkeypatch, tmp_path, nvml)["nvidia-gpu-0"]
    assert result["throttled"] is True
    assert result["throttle_reasons"] == ["hw_power_brake_slowdown", "hw_slowdown", "hw_thermal_slowdown", "sw_thermal_slowdown"]


def test_nvml_unreadable_fields_are_none(monkeypatch, tmp_path):
    nvml = FakeNvml(power_mw=[100_000])  # temperature and both reason functions raise NVMLError
    result = run_with(monkeypatch, tmp_path, nvml)["nvidia-gpu-0"]
    assert result["max_temp_c"] is None
    assert result["throttled"] is None
    assert result["avg_w"] == pytest.approx(100.0)


def test_nvml_gpu_without_power_or_energy_is_absent(monkeypatch, tmp_path):
    nvml = FakeNvml(temp_c=[40], reasons=[0])
    assert run_with(monkeypatch, tmp_path, nvml) == {}
    assert nvml.shutdowns == 1
    monkeypatch.setattr(sensors.platform, "system", lambda: "Linux")
    assert available_sensors(tmp_path) == ["nvidia-gpu-0 (gpu): nvml-power"]  # found, though nothing it gives is a reading


def test_this_machine_reads_without_error():
    """The real sysfs and NVML here: whatever exists is read (probably nothing on a box without powercap or a GPU)."""
    lines = available_sensors()
    assert all(isinstance(line, str) for line in lines)
    sampler = PowerSampler(interval_s=0.01)
    with sampler:
        time.sleep(0.05)
    assert isinstance(sampler.results, dict)
    for summary in sampler.results.values():
        assert summary["avg_w"] >= 0 and summary["seconds"] > 0 and summary["samples"] >= 2
