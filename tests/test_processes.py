"""Issue 24: one way to stop a process (harness/measure/processes.py), and `meek rpc-server --stop` signalling only the
process its pid file recorded, its start time and name checked: every hostile pid file is one line, exit 1, and the
process it names (a real one, started here) is still running afterwards."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import time

import psutil
import pytest

from harness.errors import MeekError
from harness.measure.processes import PID_FILE_FORMAT, stop, stop_recorded, write_pid_file
from harness.measure.rpc import pid_file
from harness.measure.serve import free_port


@pytest.fixture()
def sleeper():
    """A real `sleep 60` in a session (and process group) of its own, killed after the test however it ends."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def running(process: subprocess.Popen) -> bool:
    """Still running: not exited, not a zombie (a signal from `meek` leaves our child a zombie until we reap it)."""
    try:
        return process.poll() is None and psutil.Process(process.pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def record(pid: int, started: float, name: str) -> str:
    return json.dumps({"format": PID_FILE_FORMAT, "pid": pid, "started": started, "name": name})


def identity(process: subprocess.Popen) -> tuple[float, str]:
    found = psutil.Process(process.pid)
    return found.create_time(), found.name()


def recorded_an_hour_early(p: subprocess.Popen) -> str:
    started, name = identity(p)
    return record(p.pid, started - 3600, name)


def recorded_under_another_name(p: subprocess.Popen) -> str:
    started, _ = identity(p)
    return record(p.pid, started, "ggml-rpc-server")


HOSTILE = {
    "empty": (lambda p: "", "is empty"),
    "blank": (lambda p: " \n", "is empty"),
    "text": (lambda p: "rpc-server\n", "is not a pid file meek wrote"),
    "bytes": (lambda p: b"\xff\xfe\x00".decode("latin-1"), "is not a pid file meek wrote"),
    "zero": (lambda p: "0", "names pid 0"),
    "minus one": (lambda p: "-1", "names pid -1"),
    "the sleeper's group": (lambda p: f"-{p.pid}", "which is not one process"),
    "old format": (lambda p: f"{p.pid}\n", "holds only a pid"),
    "json pid 0": (lambda p: record(0, time.time(), "sleep"), "names pid 0"),
    "json pid -1": (lambda p: record(-1, time.time(), "sleep"), "names pid -1"),
    "json pid as text": (lambda p: record(p.pid, 0, "sleep").replace(f'"pid": {p.pid}', f'"pid": "{p.pid}"'), "no pid"),
    "json start time not a number": (lambda p: record(p.pid, 0, "sleep").replace('"started": 0', '"started": NaN'), "no pid"),
    "json without its format": (lambda p: json.dumps({"pid": p.pid, "started": identity(p)[0]}), "is not a pid file"),
    "wrong start time": (recorded_an_hour_early, "is now another process (sleep, started"),
    "wrong name": (recorded_under_another_name, "not the ggml-rpc-server started"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_pid_file_is_one_line_exit_1_and_signals_nothing(case, sleeper, run_meek):
    port = free_port()
    path = pid_file(port)
    path.parent.mkdir(parents=True, exist_ok=True)
    write, says = HOSTILE[case]
    path.write_text(write(sleeper))
    try:
        code, stdout, stderr = run_meek("rpc-server", "--stop", "--port", str(port), timeout=60)
        time.sleep(0.2)  # a signal sent would have landed by now
        assert running(sleeper), f"{case}: the process the pid file names was signalled"
        assert code == 1, (code, stderr)
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
        assert says in stderr, stderr
        assert "not stopping" in stderr and stdout == ""
        assert not path.exists()  # refused for good: removed, and said so
        assert "removed the pid file" in stderr
    finally:
        path.unlink(missing_ok=True)


def test_a_pid_file_that_names_a_process_gone_since_is_refused_and_removed(run_meek):
    gone = subprocess.Popen(["true"])
    gone.wait()
    port = free_port()
    path = pid_file(port)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record(gone.pid, time.time() - 10, "true"))
    code, _, stderr = run_meek("rpc-server", "--stop", "--port", str(port), timeout=60)
    assert code == 1 and f"pid {gone.pid} (true)" in stderr and "is not running" in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and not path.exists()


def test_a_link_or_a_fifo_at_the_pid_file_is_refused_and_left_alone(sleeper, run_meek, tmp_path):
    port = free_port()
    path = pid_file(port)
    path.parent.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "looks-right.pid"
    target.write_text(record(sleeper.pid, *identity(sleeper)))
    try:
        path.symlink_to(target)
        code, _, stderr = run_meek("rpc-server", "--stop", "--port", str(port), timeout=60)
        assert code == 1 and "is a symbolic link" in stderr and len(stderr.strip().splitlines()) == 1, stderr
        assert running(sleeper) and path.is_symlink()
        path.unlink()
        os.mkfifo(path)
        code, _, stderr = run_meek("rpc-server", "--stop", "--port", str(port), timeout=60)  # does not block on the FIFO
        assert code == 1 and "is not a regular file" in stderr and len(stderr.strip().splitlines()) == 1, stderr
        assert running(sleeper)
    finally:
        path.unlink(missing_ok=True)


def test_no_pid_file_is_a_usage_error_as_before(run_meek):
    port = free_port()
    code, _, stderr = run_meek("rpc-server", "--stop", "--port", str(port), timeout=60)
    assert code == 2 and f"no rpc-server started by meek on port {port}" in stderr, stderr


def test_a_pid_file_meek_wrote_stops_its_process(sleeper, run_meek):
    port = free_port()
    path = pid_file(port)
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded = write_pid_file(path, sleeper.pid)
    assert json.loads(path.read_text()) == {
        "format": PID_FILE_FORMAT,
        "pid": sleeper.pid,
        "started": recorded.started,
        "name": "sleep",
    }
    code, stdout, stderr = run_meek("rpc-server", "--stop", "--port", str(port), timeout=60)
    assert code == 0 and stdout.strip() == f"stopped the rpc-server on port {port} (pid {sleeper.pid})", stderr
    assert sleeper.wait(timeout=10) == -signal.SIGTERM and not path.exists()


def test_stop_recorded_in_process_refuses_with_a_meek_error(sleeper, tmp_path):
    path = tmp_path / "x.pid"
    path.write_text(str(sleeper.pid))
    with pytest.raises(MeekError, match="holds only a pid"):
        stop_recorded(path)
    assert running(sleeper)


def test_writing_a_pid_file_replaces_a_planted_link_instead_of_writing_through_it(sleeper, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    path = tmp_path / "rpc.pid"
    path.symlink_to(victim)
    write_pid_file(path, sleeper.pid)
    assert victim.read_text() == "precious" and not path.is_symlink()
    assert json.loads(path.read_text())["pid"] == sleeper.pid and (path.stat().st_mode & 0o777) == 0o600
    assert {p.name for p in tmp_path.iterdir()} == {"victim", "rpc.pid"}  # no temporary file left behind


def deaf_to_sigterm() -> subprocess.Popen:
    """A `sleep` that ignores SIGTERM (the trap is set before it says ready, so no signal can arrive before it)."""
    process = subprocess.Popen(["sh", "-c", "trap '' TERM; echo ready; exec sleep 60"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def test_stop_kills_a_popen_that_ignores_sigterm_after_the_grace_period():
    process = deaf_to_sigterm()
    try:
        began = time.monotonic()
        assert stop(process, grace_s=0.5)
        assert process.returncode == -signal.SIGKILL and time.monotonic() - began >= 0.5
    finally:
        process.kill()
        process.wait()


def test_stop_terminates_a_popen_that_listens():
    process = subprocess.Popen(["sleep", "60"])
    try:
        assert stop(process, grace_s=10) and process.returncode == -signal.SIGTERM
        assert stop(process)  # already stopped: nothing to do
    finally:
        process.kill()
        process.wait()


def test_stop_kills_a_psutil_process_that_ignores_sigterm():
    process = deaf_to_sigterm()
    try:
        found = psutil.Process(process.pid)
        assert stop(found, grace_s=0.5) and not found.is_running()
    finally:
        process.kill()
        process.wait()


def _ignore_sigterm_then_sleep(ready) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    time.sleep(60)


def test_stop_kills_a_multiprocessing_process_that_ignores_sigterm():
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=_ignore_sigterm_then_sleep, args=(ready,), daemon=True)
    process.start()
    try:
        assert ready.wait(60)
        assert stop(process, grace_s=0.5) and process.exitcode == -signal.SIGKILL
    finally:
        if process.is_alive():
            process.kill()
        process.join()


def test_stop_with_children_stops_what_the_process_started():
    process = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    child = psutil.Process(int(process.stdout.readline()))
    try:
        assert stop(process, grace_s=5, children=True)
        assert process.returncode == -signal.SIGTERM
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    finally:
        if child.is_running():
            child.kill()  # psutil checks it is still that child first
        process.kill()
        process.wait()
