"""Worker isolation: a hang becomes an error entry, a load failure is reported with llama.cpp's reason."""

import pytest

from harness.measure.events import Loaded, Measured, Peaks, RepetitionDone
from harness.measure.protocol import LoadGroup, LoadSettings, TestInstance
from harness.measure.worker import WorkerFailed, _exit_reason, bench_group, run_in_worker
from harness.results.schema import Run, TestShape


def _group(path, repack=0) -> LoadGroup:
    return LoadGroup(model=str(path), load=LoadSettings(repack=repack), tests=[TestInstance(TestShape(16, 0), 1)])


def _bench(path, repetitions, warmup, timeout_s, repack=0):
    return list(run_in_worker(bench_group, (str(path), _group(path, repack), repetitions, warmup, 0), timeout_s))


def test_a_worker_that_makes_no_progress_is_stopped(smollm2_path):
    with pytest.raises(WorkerFailed, match="no progress for 0 s"):
        _bench(smollm2_path, repetitions=1, warmup=False, timeout_s=0.01)


def test_events_stream_from_the_real_model(smollm2_path, repack_default):
    events = _bench(smollm2_path, repetitions=2, warmup=True, timeout_s=120, repack=repack_default)
    assert [type(e) for e in events] == [Loaded, RepetitionDone, RepetitionDone, Measured, Peaks]
    loaded, measured = events[0], events[3]
    assert [e.done for e in events if isinstance(e, RepetitionDone)] == [1, 2]
    assert loaded.n_vocab == 49152 and loaded.load.load_time_ms > 0 and loaded.load.settings.repack == repack_default
    # the worker builds the result file's own Run: the parent files it as it comes
    assert isinstance(measured.run, Run) and measured.run.test == "pp16" and len(measured.run.samples_ns) == 2
    assert measured.run.settings == loaded.load.settings


def test_llama_cpp_load_failure_carries_its_reason(tmp_path, smollm2_path):
    damaged = tmp_path / "damaged.gguf"
    data = bytearray(smollm2_path.read_bytes())
    data[-5_000_000:] = b""  # tensor data cut short: llama.cpp refuses it
    damaged.write_bytes(bytes(data))
    with pytest.raises(WorkerFailed, match="could not load"):
        _bench(damaged, repetitions=1, warmup=False, timeout_s=120)


def test_a_worker_killed_by_a_signal_names_it(smollm2_path, monkeypatch):
    monkeypatch.setenv("MEEK_INJECT_FAULT", "bench-decode=SIGILL")
    with pytest.raises(WorkerFailed, match="died with SIGILL") as failure:
        _bench(smollm2_path, repetitions=1, warmup=False, timeout_s=120)
    assert failure.value.crashed and failure.value.signal_name == "SIGILL"


def test_exit_reasons_name_the_signal():
    assert "SIGKILL" in _exit_reason(-9) and "out of memory" in _exit_reason(-9)
    assert "SIGSEGV" in _exit_reason(-11)
    assert "code 3" in _exit_reason(3)


def test_a_termination_while_a_worker_starts_waits_until_the_start_is_whole():
    """meek turns SIGTERM into KeyboardInterrupt (harness/cli/common.py); arriving mid-start it cut the child's start-up
    data short and the child printed multiprocessing's 'EOFError: Ran out of input'. It is now held until the start is
    done, then raised as before."""
    import os
    import signal
    import time

    from harness.measure.worker import _start_deaf_to_ctrl_c

    class Starting:  # a fault injected where the real start writes the child's start-up data
        whole = False

        def start(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)  # Python runs a handler here, between two bytecodes
            self.whole = True

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        process = Starting()
        with pytest.raises(KeyboardInterrupt):
            _start_deaf_to_ctrl_c(process)
        assert process.whole and signal.getsignal(signal.SIGTERM) is interrupt
    finally:
        signal.signal(signal.SIGTERM, previous)
