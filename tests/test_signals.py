"""Issue 25: a server meek starts stops when meek itself is told to stop by SIGTERM or SIGHUP (a `kill`, a closed
terminal, a service manager), as it does on Ctrl-C, and dies with meek when meek is killed outright (SIGKILL: the
parent-death signal on Linux). Real `meek` processes, real ggml rpc-servers and a real llama-cpp-python server on
127.0.0.1; meek runs in its own session, so only meek gets the signal, never its children directly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.measure.serve import free_port

RPC_SERVER = os.environ.get("MEEK_RPC_SERVER")
needs_rpc_server = pytest.mark.skipif(
    not (RPC_SERVER and Path(RPC_SERVER).is_file()),
    reason="no ggml rpc-server binary (python bench/rpc.py --build-only builds one; .ci/run sets MEEK_RPC_SERVER)",
)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def gone(process: psutil.Process) -> bool:
    """Exited: no such process, or a zombie nobody reaped (an orphan's parent in a container may never reap it)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def meek(*args: str, meek_home: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "MEEK_HOME": str(meek_home)},
        start_new_session=True,  # a signal for meek alone, never for pytest or meek's children
    )


def foreground_rpc_server(meek_home: Path, cwd: Path) -> tuple[subprocess.Popen, psutil.Process, int]:
    """`meek rpc-server` in the foreground on a free port, once its rpc-server child listens: (meek, child, port)."""
    port = free_port()
    process = meek("rpc-server", "--port", str(port), "--bin", str(RPC_SERVER), "--threads", "1", meek_home=meek_home, cwd=cwd)
    try:
        wait_until(lambda: listening(port) or process.poll() is not None, 60, "the rpc-server did not listen within 60 s")
        assert process.poll() is None, process.communicate()[1]
        (server,) = psutil.Process(process.pid).children()
        return process, server, port
    except BaseException:
        process.kill()
        process.communicate()
        raise


def cleanup(*processes: psutil.Process | subprocess.Popen) -> None:
    for process in processes:
        try:
            process.kill()
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
        if isinstance(process, subprocess.Popen):
            process.communicate()


@needs_rpc_server
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_meek_rpc_server_stops_its_server_when_meek_gets(sig, meek_home, tmp_path):
    process, server, port = foreground_rpc_server(meek_home, tmp_path)
    try:
        os.kill(process.pid, sig)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 128 + sig, stderr  # 143 or 129, as a shell reports a process the signal ended
        assert f"stopped by {sig.name}" in stderr and "Traceback" not in stderr, stderr
        wait_until(lambda: gone(server), 5, f"the rpc-server (pid {server.pid}) outlived meek")
        assert not listening(port)
    finally:
        cleanup(server, process)


@needs_rpc_server
@linux_only
def test_meek_rpc_server_killed_outright_takes_its_server_with_it(meek_home, tmp_path):
    """SIGKILL runs no handler: the child's parent-death signal is what stops it."""
    process, server, port = foreground_rpc_server(meek_home, tmp_path)
    try:
        process.kill()
        process.wait(timeout=30)  # not communicate(): a server that outlived meek holds its output pipes open
        wait_until(lambda: gone(server), 5, f"the rpc-server (pid {server.pid}) outlived a killed meek")
        wait_until(lambda: not listening(port), 5, f"port {port} still listens")
    finally:
        cleanup(server, process)


def test_meek_load_stops_its_llama_cpp_python_server_on_sigterm(meek_home, smollm2_path, tmp_path):
    """Mid-sweep (a sweep far longer than the test waits), meek gets SIGTERM: the server it started is stopped, as on
    Ctrl-C, and meek says so in one line and exits 143."""
    process = meek(
        "load",
        "--serve",
        "smollm2-135m",
        "--server",
        "llama-cpp-python",
        "--concurrency",
        "1",
        "-p",
        "8",
        "-n",
        "256",
        "--requests",
        "64",
        "--seconds",
        "300",
        "--results-dir",
        str(tmp_path / "results"),
        meek_home=meek_home,
        cwd=tmp_path,
    )
    server = None
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 240
        seen = []
        while time.monotonic() < deadline and process.poll() is None:
            seen.append(process.stderr.readline())
            if seen[-1].startswith("building "):  # the server answers: the sweep (minutes of it) has begun
                break
        assert process.poll() is None, "".join(seen)
        (server,) = [p for p in psutil.Process(process.pid).children() if "lcpp_server" in " ".join(p.cmdline())]
        port = int(server.cmdline()[server.cmdline().index("--port") + 1])
        assert listening(port)
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 143, "".join(seen) + stderr
        assert "stopped llama-cpp-python" in stderr and "stopped by SIGTERM" in stderr, stderr
        assert "Traceback" not in stderr, stderr
        wait_until(lambda: gone(server), 5, f"the llama-cpp-python server (pid {server.pid}) outlived meek")
        assert not listening(port)
    finally:
        cleanup(*([server] if server else []), process)
