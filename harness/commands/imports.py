"""`meek import llama-bench|llama-bench-table|depth-campaign|geerling|scoreboard|localscore`: other tools' output and
published tables as result files, each marked imported with its source (the importers are harness/results/import_*.py).

A row that cannot be read or would not validate is refused alone, with one line naming it; the exit code is 1 when an
input gave nothing to import (every row refused: "0 written, N refused"), and 0 when it wrote files or when everything
it holds was already in the tree (a repeated import says "nothing new" and succeeds).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from harness.errors import EXIT_OK, UsageError, require_existing
from harness.output import Output
from harness.results.store import check_results_dir
from harness.results.submit import Present, write_imported


def llama_bench(paths: list[Path], results_dir: Path, out: Output) -> int:
    from harness.results.import_llama_bench import import_file

    require_existing(paths)
    check_results_dir(results_dir)
    present, code = Present(results_dir), EXIT_OK
    for path in paths:  # each file is imported and summed up on its own; the exit code is 1 when any gave nothing
        code = max(code, write_imported(import_file(path), path, results_dir, out, present))
    return code


def _day(date: str) -> dt.date:
    try:
        return dt.date.fromisoformat(date)
    except ValueError:
        raise UsageError(f"--date: '{date}' is not a date like 2026-02-05") from None


def table(path: Path, device: str, date: str, source: str, results_dir: Path, out: Output, depth: bool = False) -> int:
    """`meek import llama-bench-table` (or `depth-campaign`, with its repetitions): a published table as result files
    of one device."""
    from harness.results.import_tables import import_depth_csv
    from harness.results.import_tables import import_table as read_table

    require_existing([path])
    check_results_dir(results_dir)
    day = _day(date)
    if depth:
        from harness.catalogue.hardware import load_hardware

        if device not in {d.id for d in load_hardware()}:
            raise UsageError(f"--device: unknown device '{device}' (see the ids meek advise lists)")
    return write_imported((import_depth_csv if depth else read_table)(path, device, day, source), path, results_dir, out)


def geerling(path: Path, date: str, source: str, results_dir: Path, out: Output) -> int:
    """`meek import geerling`: Jeff Geerling's findings tables as summary-only result files, with peak wall power."""
    from harness.results.import_geerling import import_findings

    require_existing([path])
    check_results_dir(results_dir)
    return write_imported(import_findings(path, _day(date), source), path, results_dir, out)


def scoreboard(path: Path, date: str, source: str, results_dir: Path, out: Output) -> int:
    """`meek import scoreboard`: rows of llama.cpp's CUDA/ROCm/Vulkan scoreboards as summary-only result files, one per row."""
    from harness.results.import_scoreboard import import_scoreboard as read_scoreboard

    require_existing([path])
    check_results_dir(results_dir)
    return write_imported(read_scoreboard(path, _day(date), source), path, results_dir, out)


def localscore(path: Path, source: str, results_dir: Path, out: Output) -> int:
    """`meek import localscore`: LocalScore's leaderboard TSV as summary-only result files, one per accelerator and model."""
    from harness.results.import_localscore import import_tsv

    require_existing([path])
    check_results_dir(results_dir)
    return write_imported(import_tsv(path, source), path, results_dir, out)
