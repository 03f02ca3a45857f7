"""Peak memory: this process's peak RSS from the kernel, and GPU memory in use sampled where NVML can read it; and the
CPU time other processes took while a test ran.

The sampler wakes rarely (every 0.1 s): on a small machine every wake-up steals time from the compute threads. The
other-CPU meter reads the kernel's counters only at a test's start and end.
"""

from __future__ import annotations

import sys
import threading
import time

try:
    import resource
except ImportError:  # Windows: no getrusage, the sampled peak stands alone
    resource = None  # type: ignore[assignment]  # mypy types the name as the module; None marks it missing

import psutil

from harness.machine import gpu


class PeakMemorySampler:
    """Samples every `interval_s` and keeps the peaks since the last reset; a context manager."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._gpu = gpu.NvmlMemoryReader.open()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.gpu_baseline_bytes = self._gpu.used_bytes() if self._gpu else None
        self._thread = threading.Thread(target=self._run, name="meek-memory-sampler", daemon=True)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._peak_rss = 0
            self._peak_gpu: int | None = None
        self.sample()

    def sample(self) -> None:
        rss = self._process.memory_info().rss
        used = self._gpu.used_bytes() if self._gpu else None
        with self._lock:
            self._peak_rss = max(self._peak_rss, rss)
            if used is not None:
                self._peak_gpu = max(self._peak_gpu or 0, used)

    def peaks(self) -> dict:
        """Peak RSS since the last reset, and peak GPU memory in use on the device (None when no GPU can be read)."""
        self.sample()
        with self._lock:
            return {"peak_rss_bytes": self._peak_rss, "peak_gpu_used_bytes": self._peak_gpu}

    def process_peaks(self) -> dict:
        """Peaks over the whole process: the kernel's exact high-water mark of RSS, not a sample."""
        peaks = self.peaks()
        if resource is None:
            return peaks
        max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peaks["peak_rss_bytes"] = max(peaks["peak_rss_bytes"], max_rss if sys.platform == "darwin" else max_rss * 1024)
        return peaks

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> PeakMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self._gpu:
            self._gpu.close()


# The kernel counts CPU time in ticks (10 ms on Linux): over a shorter window the share is mostly rounding, so none is given.
OTHER_CPU_MIN_WINDOW_S = 0.5


class OtherCpuMeter:
    """CPU time that other processes (and, on a virtual machine, the hypervisor's steal) took while this process
    measured, as a share (0..1) of the machine's whole CPU capacity over that wall time: the machine's busy time minus
    this process's own (every llama.cpp thread is one of its threads). Two reads of the kernel's counters, at the start
    and the end: nothing runs while the test is timed."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._start: tuple[float, float, float] | None = None

    def _read(self) -> tuple[float, float, float] | None:
        try:
            machine = psutil.cpu_times()
            own = self._process.cpu_times()
        except (psutil.Error, OSError):
            return None
        fields = machine._asdict()
        # idle and waiting for I/O are not busy; Linux counts a guest's time inside `user` as well, so it is not added twice
        busy = sum(fields.values()) - sum(fields.get(k, 0.0) for k in ("idle", "iowait", "guest", "guest_nice"))
        return time.monotonic(), busy, own.user + own.system

    def start(self) -> OtherCpuMeter:
        self._start = self._read()
        return self

    def stop(self) -> float | None:
        """The share since start(); None when the counters cannot be read or the window was too short to tell."""
        end = self._read()
        if self._start is None or end is None:
            return None
        wall = end[0] - self._start[0]
        if wall < OTHER_CPU_MIN_WINDOW_S:
            return None
        other = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return min(1.0, max(0.0, other / (wall * (psutil.cpu_count() or 1))))
