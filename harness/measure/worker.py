"""Runs llama.cpp work in a child process, so a crash, an out-of-memory kill or a hang becomes an error the parent reports.

The child streams events back as they happen; whatever arrived before a failure is kept. Three kinds of work run this
way: a `meek bench` load group (`bench_group`), the preflight probe (harness/measure/preflight.py) and `meek eval`'s scoring
(harness/quality/evaluate.py). Each is a top-level function `target(emit, *args)`; `emit(event)` sends one of the typed
events of harness/measure/events.py.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterator

from harness.errors import MeekError
from harness.measure.events import Event, Fatal, Finished
from harness.measure.processes import stop
from harness.measure.protocol import LoadGroup

# Signals by which llama.cpp dies when it runs an instruction this CPU (or its hypervisor) does not run, or faults in
# a kernel: SIGILL for a missing instruction, SIGSEGV for a general-protection fault (AMX's ldtilecfg under some
# hypervisors), SIGBUS for a misaligned access.
CRASH_SIGNALS = ("SIGILL", "SIGSEGV", "SIGBUS")


class WorkerFailed(Exception):
    """The child process died, hung past its timeout, or reported an error before finishing."""

    def __init__(self, message: str, signal_name: str | None = None) -> None:
        super().__init__(message)
        self.signal_name = signal_name  # set when the child died on a signal

    @property
    def crashed(self) -> bool:
        """Died on a signal that means an instruction or memory fault (not a kill from outside)."""
        return self.signal_name in CRASH_SIGNALS


def _bootstrap(target: Callable, args: tuple, connection) -> None:
    """The child's entry point: deaf to Ctrl-C, no core file if llama.cpp crashes, then the work, its errors sent as
    events."""
    # SIGINT is blocked until here (see _start_deaf_to_ctrl_c), but a pending one can still reach a thread that
    # unblocks it and land inside llama.cpp's log callback as "Exception ignored ... KeyboardInterrupt": ignore it for
    # good. The parent stops this process with SIGTERM once it has saved what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass

    try:
        target(connection.send, *args)
        connection.send(Finished())
    except MeekError as error:
        connection.send(Fatal(str(error)))
    except Exception as error:  # reported to the parent as this work's error, with its type
        connection.send(Fatal(f"{type(error).__name__}: {error}"))
    finally:
        connection.close()


def bench_group(emit, model_path: str, group: LoadGroup, repetitions: int, warmup: bool, seed: int) -> None:
    """A `meek bench` load group: load once, run every test, stream each result."""
    from harness.measure.runtime.llamacpp import LlamaCppRuntime
    from harness.measure.throughput import run_group

    run_group(LlamaCppRuntime(), model_path, group, repetitions, warmup, emit, seed)


def run_in_worker(target: Callable, args: tuple, timeout_s: float) -> Iterator[Event]:
    """Run `target(emit, *args)` in a child; yield its events; raise WorkerFailed when it crashes, reports an error, or
    sends nothing for `timeout_s` seconds."""
    context = multiprocessing.get_context("spawn")
    # A pipe, not a Queue: a child killed mid-send leaves no semaphore behind, and the end of the pipe says it is gone.
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_bootstrap, args=(target, args, sender), daemon=True)
    _start_deaf_to_ctrl_c(process)
    sender.close()  # the child holds its own copy: when it dies, the pipe ends
    last_event = time.monotonic()
    try:
        while True:
            if not receiver.poll(0.2):
                if time.monotonic() - last_event > timeout_s:
                    raise WorkerFailed(f"no progress for {timeout_s:.0f} s (hung or far too slow); the worker was stopped")
                continue
            try:
                event = receiver.recv()
            except (EOFError, OSError):  # the child is gone without a last word: report how it died
                process.join(5)
                raise WorkerFailed(_exit_reason(process.exitcode), _signal_name(process.exitcode)) from None
            last_event = time.monotonic()
            if isinstance(event, Fatal):
                raise WorkerFailed(event.message)
            if isinstance(event, Finished):
                return
            yield event
    finally:
        stop(process, grace_s=5)
        receiver.close()


def _start_deaf_to_ctrl_c(process) -> None:
    """Start the child with SIGINT blocked (the mask survives exec): Ctrl-C reaches only the parent, which stops the
    child and saves what finished, instead of every process printing its own KeyboardInterrupt.

    A Ctrl-C, SIGTERM or SIGHUP that comes while the child is being started is held until it has started: raised in
    the middle of `start()` it would cut the child's start-up data short, and the child would print multiprocessing's
    own "EOFError: Ran out of input" traceback. It is then handled as it would have been, once the start is whole."""
    held: list[int] = []
    deferred = _hold_signals(held)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if hasattr(signal, "pthread_sigmask") else None
    try:
        process.start()
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for signum, handler in deferred.items():
            signal.signal(signum, handler)
    if held:
        handler = deferred[held[0]]
        if callable(handler):
            handler(held[0], None)  # a KeyboardInterrupt, as when it came a moment later
        elif handler == signal.SIG_DFL:
            signal.raise_signal(held[0])


HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _hold_signals(held: list[int]) -> dict:
    """Record SIGINT, SIGTERM and SIGHUP in `held` instead of acting on them; the handlers replaced, to put back. Nothing
    outside the main thread, where Python runs no signal handler anyway."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def hold(signum, frame) -> None:
        held.append(signum)

    replaced = {}
    for signum in HELD_SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_IGN, None):
            continue
        replaced[signum] = signal.signal(signum, hold)
    return replaced


def _signal_name(exitcode: int | None) -> str | None:
    if exitcode is not None and exitcode < 0:
        return signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else str(-exitcode)
    return None


def _exit_reason(exitcode: int | None) -> str:
    name = _signal_name(exitcode)
    if name:
        hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
        return f"the worker process died with {name}{hint}"
    return f"the worker process exited with code {exitcode} before finishing"
