"""Runs one load group in a child process, so a crash, an out-of-memory kill or a hang becomes an error entry.

The child streams events back as they happen; whatever arrived before a failure is kept.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import signal
import time
from collections.abc import Iterator

from harness.errors import MeekError
from harness.sweep import LoadGroup


class WorkerFailed(Exception):
    """The child process died, hung past its timeout, or reported an error before finishing."""


def _child(model_path: str, group: LoadGroup, repetitions: int, warmup: bool, events) -> None:
    from harness.backends.llamacpp import LlamaCppBackend
    from harness.throughput import run_group

    def emit(kind: str, payload: dict) -> None:
        events.put((kind, payload))

    try:
        run_group(LlamaCppBackend(), model_path, group, repetitions, warmup, emit)
        emit("done", {})
    except MeekError as error:
        emit("fatal", {"message": str(error)})
    except Exception as error:  # reported to the parent as this group's error, with its type
        emit("fatal", {"message": f"{type(error).__name__}: {error}"})


def run_in_worker(
    model_path: str, group: LoadGroup, repetitions: int, warmup: bool, timeout_s: float
) -> Iterator[tuple[str, dict]]:
    """Yield the child's events; raise WorkerFailed when it crashes, or sends nothing for `timeout_s` seconds."""
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    process = context.Process(target=_child, args=(model_path, group, repetitions, warmup, events), daemon=True)
    _start_deaf_to_ctrl_c(process)
    last_event = time.monotonic()
    try:
        while True:
            try:
                kind, payload = events.get(timeout=0.2)
            except queue_module.Empty:
                if process.is_alive():
                    if time.monotonic() - last_event > timeout_s:
                        raise WorkerFailed(f"no progress for {timeout_s:.0f} s (hung or far too slow); the worker was stopped")
                    continue
                try:  # the child is gone: read what it sent last, else report how it died
                    kind, payload = events.get(timeout=1)
                except queue_module.Empty:
                    raise WorkerFailed(_exit_reason(process.exitcode)) from None
            last_event = time.monotonic()
            if kind == "fatal":
                raise WorkerFailed(payload["message"])
            if kind == "done":
                return
            yield kind, payload
    finally:
        if process.is_alive():
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
        process.join()
        events.close()


def _start_deaf_to_ctrl_c(process) -> None:
    """Start the child with SIGINT blocked (the mask survives exec): Ctrl-C reaches only the parent, which stops the
    child and saves what finished, instead of every process printing its own KeyboardInterrupt."""
    if not hasattr(signal, "pthread_sigmask"):
        process.start()
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else str(-exitcode)
        hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
        return f"the worker process died with {name}{hint}"
    return f"the worker process exited with code {exitcode} before finishing"
