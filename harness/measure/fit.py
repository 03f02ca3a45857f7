"""`meek fit`'s search: the largest context that loads and generates here, and the memory model's prediction of it.

From `start` tokens the context doubles until a probe fails or the trained context (or --max-ctx) is reached, then the
interval between the last context that ran and the first that failed is bisected down to STEP tokens (llama.cpp
allocates the KV cache in steps of 256 cells, so a finer answer would not be a different allocation). Each probe is a
fresh worker process (harness/measure/fit_probe.py): a failed allocation, an out-of-memory kill, a crash or a hang is
the probe's result, with its reason, and the search goes on. A probe slower than `min_tg` counts as failing.
"""

from __future__ import annotations

import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

from harness import memory_budget, memory_fit
from harness.catalogue.gguf_file import GgufFacts
from harness.errors import MeekError
from harness.measure.fit_probe import ProbeDone, ProbeFailed, ProbeFilling, ProbeLoaded, last_words, probe
from harness.measure.protocol import LoadSettings, settings_of
from harness.measure.worker import WorkerFailed, run_in_worker
from harness.results.schema import ContextFit, FitProbe, Machine

STEP = memory_fit.KV_CELL_PADDING
REASON_LENGTH = 500  # FitProbe.reason's longest


class Progress(typing.Protocol):
    def line(self, text: str) -> None: ...

    def status(self, text: str) -> None: ...


class NotLoaded(MeekError):
    """The model did not load at all (not a context that failed): there is nothing to search."""


@dataclass
class FitOptions:
    settings: LoadSettings
    n_threads: int
    trained_ctx: int  # the largest context searched: the model's trained context, or --max-ctx
    n_gen: int = 32
    fill: float = 1.0
    start: int = 512
    min_tg: float | None = None
    memory_limit: int | None = None  # bytes the worker may allocate beyond its start-up
    timeout_s: float = 600.0
    seed: int = 0


@dataclass
class FitSearch:
    """The search over one model; `probes` holds every finished probe, so an interrupted search keeps them."""

    model_path: str
    options: FitOptions
    progress: Progress
    probes: list[FitProbe] = field(default_factory=list)

    def run(self) -> None:
        """Double, then bisect; each probe appended to `probes` as it finishes. NotLoaded when the first probe cannot
        even load the model."""
        top = self.options.trained_ctx
        low, high = 0, None
        context = min(self.options.start, top)
        while True:
            if self.probe(context).ok:
                low = context
            else:
                high = context
                break
            if context >= top:
                break
            context = min(context * 2, top)
        while high is not None and high - low > STEP:
            middle = low + max(STEP, (high - low) // 2 // STEP * STEP)
            if middle >= high:
                break
            if self.probe(middle).ok:
                low = middle
            else:
                high = middle

    def probe(self, n_ctx: int) -> FitProbe:
        """One probe in a worker of its own; the result is appended to `probes` and reported in a line."""
        o = self.options
        with tempfile.TemporaryDirectory(prefix="meek-fit-") as folder:
            stderr_path = str(Path(folder) / "stderr")
            args = (self.model_path, o.settings, n_ctx, o.n_threads, o.n_gen, o.fill, o.seed, o.memory_limit, stderr_path)
            result = self._run(n_ctx, args, stderr_path)
        self.probes.append(result)
        self.progress.line(probe_line(result))
        return result

    def _run(self, n_ctx: int, args: tuple, stderr_path: str) -> FitProbe:
        self.progress.status(f"ctx {n_ctx:,}: loading")
        started = time.monotonic()
        loaded = False
        outcome: object = None  # the worker's ProbeDone or ProbeFailed (events are typed as the bench's; these are fit's)
        try:
            for event in run_in_worker(probe, args, self.options.timeout_s):
                if isinstance(event, ProbeLoaded):
                    loaded = True
                    self.progress.status(f"ctx {n_ctx:,}: creating the context")
                elif isinstance(event, ProbeFilling):
                    self.progress.status(f"ctx {n_ctx:,}: filling {event.done:,}/{event.total:,}")
                elif isinstance(event, ProbeDone | ProbeFailed):
                    outcome = event
        except WorkerFailed as error:
            words = last_words(stderr_path) if error.signal_name or "exited with code" in str(error) else ""
            reason = f"{error} ({words})" if words else str(error)
            if not loaded and not self.probes:
                raise NotLoaded(reason) from None
            outcome = ProbeFailed(reason if loaded else f"the model did not load: {reason}")
        return self._result(n_ctx, outcome, time.monotonic() - started)

    def _result(self, n_ctx: int, outcome: object, seconds: float) -> FitProbe:
        if isinstance(outcome, ProbeDone):
            min_tg = self.options.min_tg
            slow = min_tg is not None and outcome.tg_ts < min_tg
            reason = f"generation at {outcome.tg_ts:.2f} t/s is below --min-tg {min_tg:g}" if slow else None
            peaks = (outcome.peak_rss_bytes, outcome.peak_gpu_used_bytes)
            return FitProbe(
                ctx=n_ctx,
                ok=not slow,
                reason=reason,
                tg_ts=outcome.tg_ts,
                peak_rss_bytes=peaks[0],
                peak_gpu_used_bytes=peaks[1],
                seconds=seconds,
            )
        if isinstance(outcome, ProbeFailed):
            return FitProbe(
                ctx=n_ctx,
                ok=False,
                reason=outcome.reason[:REASON_LENGTH],
                peak_rss_bytes=outcome.peak_rss_bytes,
                peak_gpu_used_bytes=outcome.peak_gpu_used_bytes,
                seconds=seconds,
            )
        return FitProbe(ctx=n_ctx, ok=False, reason="the worker finished without a result", seconds=seconds)

    def result(self, predicted_ctx: int | None, usable_bytes: float | None) -> ContextFit:
        """The fit as the result file records it, from the probes so far."""
        ran = [p for p in self.probes if p.ok]
        best = max(ran, key=lambda p: p.ctx, default=None)
        failed = [p.ctx for p in self.probes if not p.ok and (best is None or p.ctx > best.ctx)]
        o = self.options
        return ContextFit(
            ctx_max=best.ctx if best else None,
            ctx_failed=min(failed, default=None),
            trained_ctx=o.trained_ctx,
            n_gen=o.n_gen,
            min_tg=o.min_tg,
            tg_ts=best.tg_ts if best else None,
            memory_limit_bytes=o.memory_limit,
            predicted_ctx=predicted_ctx,
            usable_bytes=int(usable_bytes) if usable_bytes is not None else None,
            fill=o.fill,
            settings=settings_of(o.settings),
            probes=list(self.probes),
        )


def probe_line(p: FitProbe) -> str:
    """A probe as a progress line: '  ctx  2,048  ok      tg 152.5 t/s  peak RSS 216 MiB  (3.1 s)'."""
    memory = f"  peak RSS {p.peak_rss_bytes / 2**20:,.0f} MiB" if p.peak_rss_bytes else ""
    memory += f"  GPU {p.peak_gpu_used_bytes / 2**20:,.0f} MiB" if p.peak_gpu_used_bytes else ""
    rate = f"  tg {p.tg_ts:8.2f} t/s" if p.tg_ts is not None else ""
    verdict = "ok    " if p.ok else "failed"
    why = f"  {p.reason}" if p.reason else ""
    return f"  ctx {p.ctx:>9,}  {verdict}{rate}{memory}  ({p.seconds:.1f} s){why}"


def usable_memory(machine: Machine, settings: LoadSettings, memory_limit: int | None) -> tuple[float, str]:
    """What the memory model may fill, and where that figure comes from: the limit; with every layer offloaded, the GPU's
    memory less what the driver keeps (a share of unified memory); else the memory free now."""
    if memory_limit is not None:
        return float(memory_limit), f"the {memory_fit.size_text(memory_limit)} limit"
    device = memory_budget.this_machine(machine)
    offload = settings.n_gpu_layers != 0 and bool(machine.llama_cpp.gpu_offload)
    if offload and device.kind in ("gpu", "unified"):
        usable = memory_budget.usable_bytes(device.kind, device.memory_bytes, device.vendor)
        return usable, f"{memory_fit.gib(usable)} usable of {device.note}"
    free = memory_budget.free_bytes(offload=False)
    return float(free), f"{memory_fit.gib(free)} of memory free now"


def predict(facts: GgufFacts, settings: LoadSettings, usable: float, trained_ctx: int) -> int:
    """The memory model's largest context up to `trained_ctx` (harness/memory_fit.py): weights, KV cache at the cache
    types asked for and compute buffers within `usable`. Flash attention 'auto' counts as on: llama.cpp turns it on
    where every device supports it, as the CPU, CUDA and Metal backends do."""
    params_b = facts.n_params / 1e9 if facts.n_params else memory_fit.params_from_file(facts.file_size_bytes, facts.quant)
    return memory_fit.largest_context(
        usable,
        trained_ctx,
        params_b,
        facts.quant,
        facts.file_size_bytes,
        facts,
        settings.type_k,
        settings.type_v,
        flash_attn=settings.flash_attn != 0,
        ubatch=settings.n_ubatch,
    )


def prediction_line(fit: ContextFit) -> str:
    """'memory model: 12,288 (measured 11,776, +4%)': the prediction and its error against the measured largest context."""
    if fit.predicted_ctx is None:
        return "memory model: no prediction"
    predicted = f"memory model: {fit.predicted_ctx:,}" if fit.predicted_ctx else "memory model: not even 256 tokens fit"
    if not fit.ctx_max:
        return f"{predicted} (measured: no context ran)"
    error = (fit.predicted_ctx - fit.ctx_max) / fit.ctx_max
    both_at_top = fit.ctx_max == fit.predicted_ctx == fit.trained_ctx
    note = ", both at the largest context searched: memory does not limit it here" if both_at_top else ""
    return f"{predicted} (measured {fit.ctx_max:,}, {error:+.0%}{note})"
