"""Stopping processes, one way for all of meek, and pid files that let a later `meek` stop a process it started, its
identity checked first.

- `start()` starts a child (subprocess.Popen) that, on Linux, gets SIGTERM when meek's process ends however it ends
  (SIGKILL included: prctl PR_SET_PDEATHSIG), so a server meek runs in the foreground never outlives it.
- `stop()` stops a process meek holds (a subprocess.Popen, a multiprocessing.Process or a psutil.Process): SIGTERM, a
  grace period, SIGKILL, then the exit waited for (and reaped when it is meek's child); its children too when asked.
- `write_pid_file()` records a process's pid, start time and name, written atomically (a temporary file created with
  O_EXCL|O_NOFOLLOW, then os.replace, which never writes through a link planted at the pid file's name).
- `stop_recorded()` reads such a file strictly and stops the process only while it is still the one recorded. An
  empty, garbled or old-format file (a bare pid, from an earlier meek), a pid that is not running, or a pid now used by
  another process is refused with one line: nothing is signalled whose identity was not checked. psutil checks the
  identity again (pid and start time) right before each signal it sends.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import NoReturn, Union

import psutil

from harness.errors import MeekError

GRACE_S = 10.0  # from SIGTERM to SIGKILL, and then for the exit after SIGKILL
PID_FILE_FORMAT = "meek-pid/1"
START_TOLERANCE_S = 1.0  # a start time is read as boot time + ticks since boot; the boot time can move by a second
MAX_PID_FILE_BYTES = 4096

Stoppable = Union[subprocess.Popen, BaseProcess, psutil.Process]
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def start(command: list[str], **options) -> subprocess.Popen:
    """subprocess.Popen(command, **options), the child armed (on Linux) to get SIGTERM when the meek that started it
    ends, however it ends: belt and braces beside the SIGTERM/SIGHUP handlers of the `meek` command, for the kill
    nothing can catch (SIGKILL, the out-of-memory killer). Not for a process meant to outlive meek (`--background`)."""
    arm = _parent_death_signal()
    return subprocess.Popen(command, preexec_fn=arm, **options) if arm else subprocess.Popen(command, **options)


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to send the child SIGTERM when its parent ends, and ends the child at once when the
    parent ended before it was armed; None where there is no prctl (macOS, Windows). prctl is looked up here, before the
    fork: the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between the fork and the prctl: no signal will come
            os._exit(143)

    return arm


def stop(process: Stoppable, grace_s: float = GRACE_S, children: bool = False) -> bool:
    """Stop `process`: SIGTERM, up to `grace_s` seconds for it to exit, SIGKILL, up to `grace_s` more; with `children`,
    its descendants (found before it is signalled) the same way after it. Whether everything is gone (a process stuck
    in the kernel can outlive SIGKILL). A process that already exited is only reaped."""
    descendants = _descendants(process) if children else []
    if isinstance(process, subprocess.Popen):
        gone = _stop_popen(process, grace_s)
    elif isinstance(process, BaseProcess):
        gone = _stop_multiprocessing(process, grace_s)
    elif isinstance(process, psutil.Process):
        gone = _stop_psutil([process], grace_s)
    else:
        raise TypeError(f"cannot stop a {type(process).__name__}")
    return _stop_psutil(descendants, grace_s) and gone


def _descendants(process: Stoppable) -> list[psutil.Process]:
    """The process's children and theirs, while it still runs (so its pid is still its own)."""
    if isinstance(process, subprocess.Popen):
        running = process.poll() is None
    elif isinstance(process, BaseProcess):
        running = process.is_alive()
    else:
        running = process.is_running()
    if not running or process.pid is None:
        return []
    try:
        parent = process if isinstance(process, psutil.Process) else psutil.Process(process.pid)
        return parent.children(recursive=True)
    except psutil.Error:
        return []


def _stop_popen(process: subprocess.Popen, grace_s: float) -> bool:
    if process.poll() is not None:
        return True
    process.terminate()  # Popen signals only a child it has not reaped: the pid is still this process's
    try:
        process.wait(timeout=grace_s)
        return True
    except subprocess.TimeoutExpired:
        pass
    process.kill()
    try:
        process.wait(timeout=grace_s)
        return True
    except subprocess.TimeoutExpired:
        return False


def _stop_multiprocessing(process: BaseProcess, grace_s: float) -> bool:
    if process.pid is None:  # never started
        return True
    if process.is_alive():
        process.terminate()
        process.join(grace_s)
        if process.is_alive():
            process.kill()
            process.join(grace_s)
    if process.is_alive():
        return False
    process.join()  # reaped: it has exited
    return True


def _stop_psutil(processes: list[psutil.Process], grace_s: float) -> bool:
    for sig in ("terminate", "kill"):
        alive = [p for p in processes if not _gone(p)]
        if not alive:
            return True
        for process in alive:
            _signal(process, sig)
        processes = _wait_gone(alive, grace_s)
    return not processes


def _signal(process: psutil.Process, how: str) -> None:
    """terminate() or kill(); psutil refuses (NoSuchProcess) when the pid now names another process than `process`."""
    try:
        getattr(process, how)()
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        raise MeekError(f"not allowed to stop pid {process.pid}: it belongs to another user") from None


def _gone(process: psutil.Process) -> bool:
    """Exited (reaped here when it is this process's child), or a zombie its own parent has still to reap, or its pid
    now another process's."""
    if not process.is_running():
        return True
    try:
        process.wait(timeout=0)  # reaps it when it is our child and has exited
        return True
    except psutil.TimeoutExpired:
        pass
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _wait_gone(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Those of `processes` still there after up to `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        processes = [p for p in processes if not _gone(p)]
        if not processes or time.monotonic() >= deadline:
            return processes
        time.sleep(0.05)


@dataclass(frozen=True)
class Recorded:
    """What a pid file says: the process's pid, its start time (seconds since the epoch, as psutil reads it) and name."""

    pid: int
    started: float
    name: str


def write_pid_file(path: Path, pid: int) -> Recorded:
    """Record the running process `pid` (its start time and name beside it) in `path`, atomically: a temporary file of
    a fresh name beside it (created with O_EXCL|O_NOFOLLOW: a link planted there is refused, not followed), then
    os.replace (which replaces a link planted at `path` instead of writing through it)."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            recorded = Recorded(pid=pid, started=process.create_time(), name=process.name())
    except psutil.Error as error:
        raise MeekError(f"could not read pid {pid} to record it in {path}: {error}") from None
    text = json.dumps({"format": PID_FILE_FORMAT, "pid": recorded.pid, "started": recorded.started, "name": recorded.name})
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as error:
        raise MeekError(f"could not write the pid file {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise MeekError(f"could not write the pid file {path}: {error.strerror or error}") from None
    return recorded


def stop_recorded(path: Path, grace_s: float = GRACE_S) -> Recorded:
    """Stop the process `path` records, once it is checked to be the very process recorded (pid, start time, name);
    what was stopped. Anything else is refused with a MeekError of one line and no signal sent: a link or something
    not a file at `path`, an empty or garbled file, an old-format file (a bare pid: nothing to check it against), a pid
    that is not running, a pid now used by another process. A refused file is removed (it can never be acted on),
    except a link or something not a file, which is left for the user to look at."""
    recorded = _read_pid_file(path)
    try:
        process = psutil.Process(recorded.pid)
        with process.oneshot():
            started, name = process.create_time(), process.name()
    except (psutil.NoSuchProcess, ValueError, OverflowError):
        _refuse(path, f"pid {recorded.pid} ({recorded.name}) recorded in {path} is not running: it already stopped", remove=True)
    except psutil.AccessDenied:
        raise MeekError(f"cannot check pid {recorded.pid} recorded in {path} (access denied): not stopping it") from None
    if abs(started - recorded.started) > START_TOLERANCE_S or name != recorded.name or recorded.pid == os.getpid():
        _refuse(
            path,
            f"pid {recorded.pid} is now another process ({name}, started {_when(started)}), not the {recorded.name} "
            f"started {_when(recorded.started)} that {path} records: not stopping it",
            remove=True,
        )
    if not stop(process, grace_s):
        raise MeekError(f"pid {recorded.pid} ({recorded.name}) did not exit after SIGKILL; {path} is kept")
    path.unlink(missing_ok=True)
    return recorded


def _read_pid_file(path: Path) -> Recorded:
    """The pid file's record, read strictly: never through a link, never from a FIFO or device (opened non-blocking,
    then checked to be a regular file), at most MAX_PID_FILE_BYTES."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if path.is_symlink():
            _refuse(path, f"{path} is a symbolic link, not a pid file meek wrote: not stopping anything", remove=False)
        raise MeekError(f"could not read the pid file {path}: {error.strerror or error}") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            _refuse(path, f"{path} is not a regular file, so not a pid file meek wrote: not stopping anything", remove=False)
        data = handle.read(MAX_PID_FILE_BYTES + 1)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = None
    if text == "":
        _refuse(path, f"{path} is empty: no process to check, not stopping anything", remove=True)
    if text is None or len(data) > MAX_PID_FILE_BYTES:
        _refuse(path, f"{path} is not a pid file meek wrote: not stopping anything", remove=True)
    if _is_integer(text):
        bare = int(text)
        if bare <= 0:
            _refuse(path, _not_a_process(path, bare), remove=True)
        _refuse(
            path,
            f"{path} holds only a pid ({bare}), as an earlier meek wrote it: with no start time recorded, meek cannot check "
            f"that pid {bare} is still the process it started, so it is not stopping it (look with `ps -p {bare}`)",
            remove=True,
        )
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get("format") != PID_FILE_FORMAT:
        _refuse(path, f"{path} is not a pid file meek wrote: not stopping anything", remove=True)
    pid, started, name = record.get("pid"), record.get("started"), record.get("name")
    if not (
        isinstance(pid, int)
        and not isinstance(pid, bool)
        and isinstance(started, (int, float))
        and not isinstance(started, bool)
        and math.isfinite(started)
        and isinstance(name, str)
    ):
        _refuse(path, f"{path} is not a pid file meek wrote (no pid, start time or name): not stopping anything", remove=True)
    if pid <= 0:
        _refuse(path, _not_a_process(path, pid), remove=True)
    return Recorded(pid=pid, started=float(started), name=name)


def _not_a_process(path: Path, pid: int) -> str:
    return f"{path} names pid {pid}, which is not one process (a pid is above 0): not stopping anything"


def _is_integer(text: str) -> bool:
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isascii() and digits.isdigit()


def _refuse(path: Path, message: str, remove: bool) -> NoReturn:
    """Raise MeekError(message), having removed the pid file at `path` first when `remove` (saying so)."""
    if remove:
        try:
            path.unlink(missing_ok=True)
            message += "; removed the pid file"
        except OSError as error:
            message += f"; could not remove the pid file ({error.strerror or error})"
    raise MeekError(message)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
