"""Power, temperature and throttling while a benchmark runs: CPU package energy from RAPL (powercap), NVIDIA GPUs
through NVML, AMD GPUs through hwmon. Results give average power, tokens per joule and a throttling flag.

As in gpu.py, a sensor that cannot be read is absent from the results, never a zero. Apple Silicon needs root
`powermetrics`, so it is listed as not readable and never sampled.
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness.machine import gpu

RAPL_ROOT_ONLY = "not readable (root only since Linux 5.10)"
APPLE_NOTE = "apple: power needs root `powermetrics`; not read"

# Clock-event reason bits (nvml.h) meaning heat or a power limit slowed the GPU. Idle, application clocks, sync boost
# and display clock are the GPU doing what it was asked, not throttling, so they are left out.
THROTTLE_REASONS = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
}


def _open_nvml():
    """NVML initialised, or None without library, driver or device; a seam tests replace with a stand-in."""
    return gpu._nvml()


def _nvml_call(nvml, name: str, *args):
    """One NVML call, or None on NVMLError (not supported on this GPU, a function this driver lacks) or no such function."""
    function = getattr(nvml, name, None)
    if function is None:
        return None
    try:
        return function(*args)
    except nvml.NVMLError:
        return None


def _read_int(path: Path) -> int | None:
    """An integer sysfs file, or None when it is missing, unreadable or not a number."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class _Sensor:
    """One source sampled over a run; subclasses read it in `read`, this keeps times, sums and the result."""

    kind = "gpu"

    def __init__(self, name: str, source: str, counter: bool) -> None:
        self.name, self.source, self.counter = name, source, counter
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.samples = 0
        self.energy_j: float | None = 0.0  # counters add to it; None once a reading cannot be trusted
        self.power_w: list[float] = []  # sampled power, where there is no energy counter
        self.max_temp_c: float | None = None
        self.throttled: bool | None = None
        self.reasons: set[str] = set()

    def read(self) -> bool:
        """Take one reading; False when the power or energy could not be read this time."""
        raise NotImplementedError

    def sample(self, now: float) -> None:
        if self.read():
            self.first_t = now if self.first_t is None else self.first_t
            self.last_t = now
            self.samples += 1

    def temperature(self, celsius: float | None) -> None:
        if celsius is not None:
            self.max_temp_c = celsius if self.max_temp_c is None else max(self.max_temp_c, celsius)

    def result(self) -> dict | None:
        """The summary, or None (absent) with fewer than two readings, no elapsed time or an untrustworthy counter."""
        if self.samples < 2 or self.first_t is None or self.last_t is None or self.last_t <= self.first_t:
            return None
        seconds = self.last_t - self.first_t
        if self.counter:
            if self.energy_j is None:
                return None
            energy, avg = self.energy_j, self.energy_j / seconds
        else:
            avg = sum(self.power_w) / len(self.power_w)
            energy = avg * seconds
        return {
            "source": self.source,
            "kind": self.kind,
            "avg_w": avg,
            "energy_j": energy,
            "seconds": seconds,
            "samples": self.samples,
            "max_temp_c": self.max_temp_c,
            "throttled": self.throttled,
            "throttle_reasons": sorted(self.reasons),
        }


class _Rapl(_Sensor):
    """A CPU package's energy counter (µJ); deltas summed per sample, so each interval may wrap once."""

    kind = "cpu-package"
    last_uj: int | None  # the previous reading; None before the first

    def __init__(self, zone: Path, label: str, max_range_uj: int | None) -> None:
        super().__init__(f"cpu-{label}", f"rapl-{label}", counter=True)
        self.path, self.max_range_uj, self.last_uj = zone / "energy_uj", max_range_uj, None

    def read(self) -> bool:
        uj = _read_int(self.path)
        if uj is None:
            return False
        if self.last_uj is not None and self.energy_j is not None:
            delta = uj - self.last_uj
            if delta >= 0:
                self.energy_j = self.energy_j + delta / 1e6
            elif self.max_range_uj:  # wrapped at max_energy_range_uj
                self.energy_j = self.energy_j + (delta + self.max_range_uj) / 1e6
            else:  # wrapped, and without that range the reading cannot be trusted
                self.energy_j = None
        self.last_uj = uj
        return True


class _Nvml(_Sensor):
    """An NVIDIA GPU: the energy counter (mJ, Volta and later) or else sampled power (mW), temperature, throttling."""

    def __init__(self, nvml, index: int, handle) -> None:
        counter = _nvml_call(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle) is not None
        super().__init__(f"nvidia-gpu-{index}", "nvml-energy" if counter else "nvml-power", counter)
        self.nvml, self.handle, self.start_mj = nvml, handle, None

    def read(self) -> bool:
        nvml, handle = self.nvml, self.handle
        self.temperature(_nvml_call(nvml, "nvmlDeviceGetTemperature", handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)))
        reasons = _nvml_call(nvml, "nvmlDeviceGetCurrentClocksEventReasons", handle)
        if reasons is None:  # drivers before 535 only have the older name
            reasons = _nvml_call(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", handle)
        if reasons is not None:
            names = [name for bit, name in THROTTLE_REASONS.items() if int(reasons) & bit]
            self.reasons.update(names)
            self.throttled = bool(self.throttled) or bool(names)
        if self.counter:
            mj = _nvml_call(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle)
            if mj is None:
                return False
            self.start_mj = mj if self.start_mj is None else self.start_mj
            self.energy_j = (mj - self.start_mj) / 1000
            return True
        mw = _nvml_call(nvml, "nvmlDeviceGetPowerUsage", handle)
        if mw is None:
            return False
        self.power_w.append(mw / 1000)
        return True


class _Hwmon(_Sensor):
    """An AMD GPU's hwmon: power (µW) and edge temperature (m°C). On an APU the power covers the whole SoC."""

    def __init__(self, card: str, hwmon: Path, power_file: str) -> None:
        super().__init__(f"amd-gpu-{card}", f"hwmon-{power_file}", counter=False)
        self.hwmon, self.power_file = hwmon, power_file

    def read(self) -> bool:
        millidegrees = _read_int(self.hwmon / "temp1_input")
        self.temperature(None if millidegrees is None else millidegrees / 1000)
        microwatts = _read_int(self.hwmon / self.power_file)
        if microwatts is None:
            return False
        self.power_w.append(microwatts / 1e6)
        return True


def _rapl_sensors(sysfs_root: Path) -> tuple[list[_Sensor], list[str]]:
    """Top-level package domains (intel-rapl:N; AMD Zen uses the same names), and why any cannot be read."""
    sensors: list[_Sensor] = []
    notes: list[str] = []
    for zone in sorted((sysfs_root / "sys/class/powercap").glob("intel-rapl:*")):
        if zone.name.count(":") != 1:  # intel-rapl:N:M: core, uncore or dram inside a package
            continue
        try:
            label = (zone / "name").read_text().strip()
        except OSError:
            label = zone.name
        if label != zone.name and not label.startswith("package"):  # psys: the whole platform, not the CPU
            continue
        try:
            int((zone / "energy_uj").read_text())
        except PermissionError:
            notes.append(f"rapl: {zone.name} energy_uj {RAPL_ROOT_ONLY}")
            continue
        except (OSError, ValueError) as error:
            notes.append(f"rapl: {zone.name} energy_uj not readable ({error})")
            continue
        sensors.append(_Rapl(zone, label, _read_int(zone / "max_energy_range_uj")))
    return sensors, notes


def _hwmon_sensors(sysfs_root: Path) -> list[_Sensor]:
    """AMD cards (vendor 0x1002) whose hwmon reports power1_average, or power1_input on newer kernels."""
    sensors: list[_Sensor] = []
    for card in sorted((sysfs_root / "sys/class/drm").glob("card[0-9]*")):
        try:
            if "-" in card.name or (card / "device" / "vendor").read_text().strip() != "0x1002":
                continue
        except OSError:
            continue
        for hwmon in sorted((card / "device" / "hwmon").glob("hwmon*")):
            power_file = next((f for f in ("power1_average", "power1_input") if _read_int(hwmon / f) is not None), None)
            if power_file:
                sensors.append(_Hwmon(card.name, hwmon, power_file))
                break
    return sensors


def _nvml_sensors() -> tuple[list[_Sensor], object]:
    """One sensor per NVIDIA GPU, and the NVML module to shut down afterwards (None when there is none)."""
    nvml = _open_nvml()
    if nvml is None:
        return [], None
    sensors: list[_Sensor] = []
    for index in range(_nvml_call(nvml, "nvmlDeviceGetCount") or 0):
        handle = _nvml_call(nvml, "nvmlDeviceGetHandleByIndex", index)
        if handle is not None:
            sensors.append(_Nvml(nvml, index, handle))
    if not sensors:
        _nvml_call(nvml, "nvmlShutdown")
        return [], None
    return sensors, nvml


def _discover(sysfs_root: Path) -> tuple[list[_Sensor], list[str], object]:
    """Every readable sensor, notes on those that exist but cannot be read, and the NVML module to shut down."""
    sensors, notes = _rapl_sensors(sysfs_root)
    gpus, nvml = _nvml_sensors()
    if platform.system() == "Darwin":
        notes.append(APPLE_NOTE)
    return sensors + gpus + _hwmon_sensors(sysfs_root), notes, nvml


def available_sensors(sysfs_root: Path = Path("/")) -> list[str]:
    """One line per power sensor this machine can read, then one per sensor that exists but cannot be read, and why."""
    sensors, notes, nvml = _discover(sysfs_root)
    if nvml is not None:
        _nvml_call(nvml, "nvmlShutdown")
    return [f"{s.name} ({s.kind}): {s.source}" for s in sensors] + notes


def tokens_per_joule(tokens: int, energy_j: float | None) -> float | None:
    """Tokens per joule, or None where the energy was not measured (or is not positive)."""
    if energy_j is None or energy_j <= 0:
        return None
    return tokens / energy_j


class PowerSampler:
    """Samples every readable power sensor every `interval_s` in a background thread; a context manager.

    `stop()` returns {sensor name: summary}; sensors that could not be read are absent, never zero.
    """

    def __init__(self, interval_s: float = 0.1, sysfs_root: Path = Path("/"), *, clock: Callable[[], float] = time.monotonic):
        self.interval_s, self.sysfs_root, self._clock = interval_s, sysfs_root, clock
        self.notes: list[str] = []
        self.results: dict[str, dict] | None = None
        self._sensors: list[_Sensor] = []
        self._nvml: object | None = None  # the NVML module while it is initialised
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PowerSampler:
        """Find the sensors, take the first reading, and start sampling (no thread when nothing can be read)."""
        self._sensors, self.notes, self._nvml = _discover(self.sysfs_root)
        self.sample()
        if self._sensors:
            self._thread = threading.Thread(target=self._run, name="meek-power-sampler", daemon=True)
            self._thread.start()
        return self

    def sample(self) -> None:
        """One reading of every sensor, all stamped with the same clock time."""
        with self._lock:
            now = self._clock()
            for sensor in self._sensors:
                sensor.sample(now)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> dict[str, dict]:
        """Stop sampling, take the last reading, and return each readable sensor's summary."""
        if self.results is not None:
            return self.results
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        if self._nvml is not None:
            _nvml_call(self._nvml, "nvmlShutdown")
            self._nvml = None
        self.results = {s.name: r for s in self._sensors if (r := s.result()) is not None}
        return self.results

    def __enter__(self) -> PowerSampler:  # noqa: PYI034 (typing.Self needs Python 3.11; this package supports 3.10)
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
