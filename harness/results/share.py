"""What `meek validate`, `meek submit`, `meek import llama-bench` and `meek results upgrade` do and print."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import EXIT_FAILED, EXIT_OK, MeekError, UsageError, require_existing
from harness.output import Output
from harness.results.store import check_results_dir
from harness.results.validate import FileReport, result_files, validate_paths


def validate(paths: list[Path], as_json: bool, out: Output) -> int:
    """Print a verdict per file and a summary; exit code 1 when any file fails."""
    require_existing(paths)
    reports = validate_paths(paths)
    if not reports:
        raise MeekError(f"no result files (*.json) under {', '.join(map(str, paths))}: nothing was validated")
    if as_json:
        out.data(json.dumps([_report_json(r) for r in reports], indent=1) + "\n")
    else:  # plain writes, not rich rendering: 10,000 files print in milliseconds
        out.data("".join(line + "\n" for report in reports for line in _report_lines(report, out)))
        failed = sum(not r.ok for r in reports)
        warned = sum(r.ok and bool(r.warnings) for r in reports)
        noisy = sum(r.ok and bool(r.noisy) for r in reports)
        out.say(f"{len(reports)} file(s): {len(reports) - failed} valid ({warned} with warnings, {noisy} with busy or "
                f"unstable runs), {failed} failed")
    return EXIT_FAILED if any(not r.ok for r in reports) else EXIT_OK


def _report_json(report: FileReport) -> dict:
    return {"path": str(report.path), "ok": report.ok, "failures": report.failures, "warnings": report.warnings,
            "noisy": report.noisy}


def _report_lines(report: FileReport, out: Output) -> list[str]:
    from harness.output import printable_field

    verdict = out.paint("ok  ", "ok") if report.ok else out.paint("FAIL", "FAIL")
    lines = [f"{verdict} {printable_field(report.path)}"]
    lines += [f"     {out.paint('-', 'FAIL')} {printable_field(failure)}" for failure in report.failures]
    lines += [f"     {out.paint('warning:', 'warning')} {printable_field(warning)}" for warning in report.warnings]
    lines += [f"     {out.paint('busy or unstable:', 'warning')} {printable_field(run)}" for run in report.noisy]
    return lines


def submit(path: Path, results_dir: Path, url: str | None, out: Output) -> int:
    from harness.results.submit import check_for_submission, place, post, pull_request_steps

    if not path.is_file():
        raise UsageError(f"no such result file: {path}")
    from harness.results.store import check_results_dir

    if not url:
        check_results_dir(results_dir)
    report = check_for_submission(path)
    for warning in report.warnings:
        out.warn(warning)
    for run in report.noisy:
        out.warn(f"busy or unstable: {run} (it shows marked in compare and on the site; a rerun on a quieter machine "
                 "gives a headline figure)")
    if url:
        out.say(f"posted to {url}: {post(report, url)}")
        return EXIT_OK
    placed, new = place(report, results_dir)
    if not new:
        out.say(f"already in the results tree: {placed}")
        return EXIT_OK
    out.say(f"checked, cleaned (no local paths) and written to {placed}")
    out.say("to share it, open a pull request:")
    for step in pull_request_steps(placed):
        out.say(f"  {step}")
    return EXIT_OK


def import_llama_bench(paths: list[Path], results_dir: Path, out: Output) -> int:
    from harness.results.import_llama_bench import import_file

    require_existing(paths)
    check_results_dir(results_dir)
    for path in paths:
        write_imported(import_file(path), path, results_dir, out)
    return EXIT_OK


def _day(date: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(date)
    except ValueError:
        raise UsageError(f"--date: '{date}' is not a date like 2026-02-05") from None


def import_table(path: Path, device: str, date: str, source: str, results_dir: Path, out: Output, depth: bool = False) -> int:
    """`meek import llama-bench-table` (or `depth-campaign`, with its repetitions): a published table as result files
    of one device."""
    from harness.results.import_tables import import_depth_csv
    from harness.results.import_tables import import_table as read_table

    require_existing([path])
    check_results_dir(results_dir)
    day = _day(date)
    if depth:
        from harness.machine.hardware import load_hardware

        if device not in {d.id for d in load_hardware()}:
            raise UsageError(f"--device: unknown device '{device}' (see the ids meek advise lists)")
    return write_imported((import_depth_csv if depth else read_table)(path, device, day, source), path, results_dir, out)


def import_geerling(path: Path, date: str, source: str, results_dir: Path, out: Output) -> int:
    """`meek import geerling`: Jeff Geerling's findings tables as summary-only result files, with peak wall power."""
    from harness.results.import_geerling import import_findings

    require_existing([path])
    check_results_dir(results_dir)
    return write_imported(import_findings(path, _day(date), source), path, results_dir, out)


def import_scoreboard(path: Path, date: str, source: str, results_dir: Path, out: Output) -> int:
    """`meek import scoreboard`: rows of llama.cpp's CUDA/ROCm/Vulkan scoreboards as summary-only result files, one per row."""
    from harness.results.import_scoreboard import import_scoreboard as read_scoreboard

    require_existing([path])
    check_results_dir(results_dir)
    return write_imported(read_scoreboard(path, _day(date), source), path, results_dir, out)


def import_localscore(path: Path, source: str, results_dir: Path, out: Output) -> int:
    """`meek import localscore`: LocalScore's leaderboard TSV as summary-only result files, one per accelerator and model."""
    from harness.results.import_localscore import import_tsv

    require_existing([path])
    check_results_dir(results_dir)
    return write_imported(import_tsv(path, source), path, results_dir, out)


def write_imported(imported, path: Path, results_dir: Path, out: Output) -> int:
    """Write what an importer accepted (each already validated), skipping files already in the tree; say what was skipped."""
    from harness.results.store import write_result
    from harness.results.submit import already_there

    for skipped in imported.skipped:
        out.warn(f"skipped {path} {skipped}")
    written = 0
    for result in imported.results:
        existing = already_there(results_dir, result)
        if existing:
            out.say(f"already imported: {existing}")
            continue
        target = write_result(result, results_dir)
        written += 1
        out.say(f"{target}: {result.model.label}, {len(result.runs)} test(s)")
    out.say(f"{written} result file(s) written, {len(imported.skipped)} skipped")
    return EXIT_OK


def upgrade(paths: list[Path], out: Output) -> int:
    """Rewrite result files of an older schema_version in place as the current one, signed with a new content hash (as
    `asv update` migrates its results). A file already current is left alone; one that is not a result file fails."""
    from harness.results.store import upgrade_file

    require_existing(paths)
    upgraded = current = failed = 0
    for path in result_files(paths):
        try:
            changed = upgrade_file(path)
        except Exception as error:  # one bad file does not stop the others; it is named with its reason
            out.error(f"{path}: {error}")
            failed += 1
            continue
        if changed:
            upgraded += 1
            out.say(f"upgraded {path}")
        else:
            current += 1
    out.say(f"{upgraded} file(s) upgraded, {current} already current, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK
