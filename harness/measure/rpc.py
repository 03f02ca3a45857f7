"""A model split across machines through llama.cpp's RPC backend (ggml-rpc): `rpc-server` on each worker, the main
host sending tensors to them. Its maintainers call it fragile and insecure: there is no authentication, so an
rpc-server must only listen on a trusted network. `meek rpc-server` binds to 127.0.0.1 unless told otherwise.

- `endpoints()` parses `--rpc host:port[,host:port]` (no credentials, no scheme).
- `rpc_server()` runs llama.cpp's rpc-server (the user's, or one built from the vendored source with RPC on) until
  Ctrl-C, or in the background with a pid file (pid, start time, name) that `--stop` checks before it stops anything.
- `rpc_devices()` asks an RPC-enabled llama-bench what each endpoint serves (`--list-devices`: its device and memory).
- `in_process_rpc()` says whether the installed llama-cpp-python has the RPC backend (it usually does not: its wheel
  is built without -DGGML_RPC=ON, and its own `rpc_servers` argument is broken, llama-cpp-python issue #1914).
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import re
import subprocess
import time
from pathlib import Path

from harness.errors import MeekError, UsageError
from harness.files import Refused, make_folder
from harness.home import meek_home
from harness.measure.processes import start, stop, stop_recorded, write_pid_file
from harness.results.schema import LocalBaseline, Run

DEFAULT_PORT = 50052
WARNING = (
    "rpc-server has no authentication: anyone who can reach this port can run code through it on this machine. "
    "Bind it to a trusted network only."
)
HOW_TO_REBUILD = (
    'CMAKE_ARGS="-DGGML_RPC=ON" pip install --force-reinstall --no-cache-dir llama-cpp-python, or measure '
    "with --backend llama-bench --bin <an RPC-enabled llama-bench> (python bench/rpc.py --build-only builds one)"
)


def endpoints(text: str) -> list[str]:
    """`host:port[,host:port]` as a list, each checked: an IP or host name and a port, nothing else."""
    found = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "@" in part or "/" in part:
            raise UsageError(f"--rpc: '{part}' must be host:port (no scheme, path or credentials)")
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--rpc: '{part}' is not host:port (e.g. 192.168.1.20:50052)")
        if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", host):
            raise UsageError(f"--rpc: '{host}' is not a host name or address")
        found.append(f"{host}:{int(port)}")
    if not found:
        raise UsageError("--rpc: give at least one host:port")
    if len(set(found)) != len(found):
        raise UsageError("--rpc: an endpoint is named twice")
    return found


def local_baselines(split_runs: list[Run], local_runs: list[Run]) -> list[LocalBaseline]:
    """Each split run beside the same test, at the same threads, run on this machine alone: its rate and the ratio."""
    local = {(run.test, run.n_threads): run.avg_ts for run in local_runs}
    return [
        LocalBaseline(test=run.test, avg_ts=local[key], ratio=run.avg_ts / local[key])
        for run in split_runs
        if local.get(key := (run.test, run.n_threads))
    ]


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _ggml():
    """The ggml library llama-cpp-python's llama.cpp is linked to (so registering a server reaches the registry it
    loads models from), or None. A wheel may ship libggml.so and libggml.so.0 as two copies, two registries: the one
    already mapped into this process is the one to use."""
    import llama_cpp

    library = Path(llama_cpp.__file__).parent / "lib"
    candidates = []
    maps = Path("/proc/self/maps")
    if maps.exists():
        candidates = [
            Path(line.split()[-1]) for line in maps.read_text().splitlines() if re.search(r"/libggml\.(so[.\d]*|dylib)$", line)
        ]
    candidates += [library / name for name in ("libggml.so.0", "libggml.so", "libggml.dylib", "ggml.dll")]
    for path in candidates:
        if path.exists():
            ggml = ctypes.CDLL(str(path))
            ggml.ggml_backend_reg_by_name.restype = ctypes.c_void_p
            ggml.ggml_backend_reg_by_name.argtypes = [ctypes.c_char_p]
            return ggml
    return None


def in_process_rpc() -> bool:
    """Whether the installed llama-cpp-python's ggml has the RPC backend registered."""
    ggml = _ggml()
    return bool(ggml and ggml.ggml_backend_reg_by_name(b"RPC"))


def register_servers(rpc: tuple[str, ...] | list[str]) -> list[str]:
    """Register each endpoint's devices with ggml, as llama.cpp's --rpc does (ggml_backend_rpc_add_server through the
    RPC backend's proc address, then ggml_backend_register), so the next model load offloads onto them; what each
    serves (its device description and memory), in order."""
    ggml = _ggml()
    reg = ggml.ggml_backend_reg_by_name(b"RPC") if ggml else None
    if not reg:
        raise MeekError(f"this llama-cpp-python has no RPC backend: rebuild it with {HOW_TO_REBUILD}")
    ggml.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
    ggml.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    address = ggml.ggml_backend_reg_get_proc_address(ctypes.c_void_p(reg), b"ggml_backend_rpc_add_server")
    if not address:
        raise MeekError("this ggml's RPC backend has no ggml_backend_rpc_add_server")
    add_server = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)(address)
    for name, restype, argtypes in (
        ("ggml_backend_register", None, [ctypes.c_void_p]),
        ("ggml_backend_reg_dev_count", ctypes.c_size_t, [ctypes.c_void_p]),
        ("ggml_backend_reg_dev_get", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_size_t]),
        ("ggml_backend_dev_description", ctypes.c_char_p, [ctypes.c_void_p]),
        ("ggml_backend_dev_name", ctypes.c_char_p, [ctypes.c_void_p]),
        ("ggml_backend_dev_memory", None, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]),
    ):
        getattr(ggml, name).restype, getattr(ggml, name).argtypes = restype, argtypes
    served = []
    for endpoint in rpc:
        if not answers(endpoint):
            raise MeekError(f"the RPC endpoint {endpoint} did not answer: is `meek rpc-server` running there?")
        server = add_server(endpoint.encode())
        if not server:
            raise MeekError(f"ggml could not add the RPC server {endpoint}")
        ggml.ggml_backend_register(ctypes.c_void_p(server))
        parts = []
        for index in range(ggml.ggml_backend_reg_dev_count(ctypes.c_void_p(server))):
            device = ggml.ggml_backend_reg_dev_get(ctypes.c_void_p(server), index)
            free, total = ctypes.c_size_t(), ctypes.c_size_t()
            ggml.ggml_backend_dev_memory(ctypes.c_void_p(device), ctypes.byref(free), ctypes.byref(total))
            name = (ggml.ggml_backend_dev_name(ctypes.c_void_p(device)) or b"").decode(errors="replace")
            text = (ggml.ggml_backend_dev_description(ctypes.c_void_p(device)) or b"").decode(errors="replace")
            parts.append(f"{name}: {text} ({total.value // 2**20} MiB, {free.value // 2**20} MiB free)")
        served.append(("; ".join(parts) or "no device")[:200])
    return served


def answers(endpoint: str) -> bool:
    """Whether something accepts a TCP connection at host:port (within 5 s)."""
    import socket

    host, _, port = endpoint.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        return True
    except OSError:
        return False


def rpc_devices(llama_bench: Path, rpc: list[str]) -> dict[str, str]:
    """endpoint -> what it serves ("RPC0: 127.0.0.1:50052 (24105 MiB, 24105 MiB free)"), from llama-bench; every
    endpoint is reached first (a dead one makes llama.cpp abort), and one that is not is named."""
    for endpoint in rpc:
        if not answers(endpoint):
            raise MeekError(f"the RPC endpoint {endpoint} did not answer: is `meek rpc-server` running there?")
    try:
        listed = subprocess.run(
            [str(llama_bench), "-rpc", ",".join(rpc), "--list-devices"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MeekError(f"could not ask {llama_bench} for the RPC devices: {error}") from None
    devices = {}
    for line in (listed.stdout + listed.stderr).splitlines():
        for endpoint in rpc:
            if re.match(rf"\s*RPC\d+: {re.escape(endpoint)}\b", line) and endpoint not in devices:
                devices[endpoint] = line.strip()[:200]
    missing = [e for e in rpc if e not in devices]
    if missing:
        raise MeekError(f"the RPC endpoint(s) {', '.join(missing)} did not answer (is `meek rpc-server` running there?)")
    return devices


def pid_file(port: int) -> Path:
    return meek_home() / "rpc" / f"{port}.pid"


def rpc_server(binary: Path, host: str, port: int, cache: bool, threads: int | None, background: bool, say) -> int:
    """Run rpc-server until Ctrl-C (or start it in the background); the exit code."""
    if not is_loopback(host):
        say(f"warning: binding to {host}, not loopback. {WARNING}")
    else:
        say(f"note: {WARNING}")
    command = [str(binary), "-H", host, "-p", str(port), *(["-c"] if cache else []), *(["-t", str(threads)] if threads else [])]
    if background:
        log = _open_log(make_folder(meek_home() / "rpc") / f"{port}.log")
        process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        time.sleep(1.0)
        if process.poll() is not None:
            raise MeekError(f"rpc-server exited with code {process.returncode}: see {meek_home() / 'rpc' / f'{port}.log'}")
        try:
            write_pid_file(pid_file(port), process.pid)  # its start time and name too: --stop checks it is still this one
        except MeekError:
            stop(process)
            raise
        say(f"rpc-server listening on {host}:{port} (pid {process.pid}); stop it with: meek rpc-server --stop --port {port}")
        return 0
    process = start(command)  # ends with meek, however meek ends (SIGKILL included, on Linux)
    say(f"rpc-server listening on {host}:{port}; Ctrl-C stops it")
    try:
        return process.wait()
    except KeyboardInterrupt:
        stop(process)
        say("rpc-server stopped")
        return 130


def _open_log(path: Path):
    """The background server's log, truncated, opened never through a link planted at its name (O_NOFOLLOW)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as error:
        if path.is_symlink():
            raise Refused(f"{path} is a symbolic link: not followed (remove it)") from None
        raise MeekError(f"could not write the log {path}: {error.strerror or error}") from None
    return os.fdopen(descriptor, "w")


def stop_server(port: int, say) -> int:
    """Stop the background rpc-server meek started on `port`, once its pid file's pid, start time and name show it is
    still that process; a pid file that does not (stale, garbled, or from an earlier meek) is refused with one line."""
    path = pid_file(port)
    if not os.path.lexists(path):
        raise UsageError(f"no rpc-server started by meek on port {port} ({path} is not there)")
    stopped = stop_recorded(path, grace_s=5)
    say(f"stopped the rpc-server on port {port} (pid {stopped.pid})")
    return 0
