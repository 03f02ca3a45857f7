"""`meek validate`: a verdict per result file (schema, content hash, physics bounds, copies) and a summary
(harness/results/validate.py)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import EXIT_FAILED, EXIT_OK, MeekError, require_existing
from harness.output import Output, printable_field
from harness.results.validate import FileReport, validate_paths


def run(paths: list[Path], as_json: bool, out: Output) -> int:
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
        out.say(
            f"{len(reports)} file(s): {len(reports) - failed} valid ({warned} with warnings, {noisy} with busy or "
            f"unstable runs), {failed} failed"
        )
    return EXIT_FAILED if any(not r.ok for r in reports) else EXIT_OK


def _report_json(report: FileReport) -> dict:
    return {
        "path": str(report.path),
        "ok": report.ok,
        "failures": report.failures,
        "warnings": report.warnings,
        "noisy": report.noisy,
    }


def _report_lines(report: FileReport, out: Output) -> list[str]:
    verdict = out.paint("ok  ", "ok") if report.ok else out.paint("FAIL", "FAIL")
    lines = [f"{verdict} {printable_field(report.path)}"]
    lines += [f"     {out.paint('-', 'FAIL')} {printable_field(failure)}" for failure in report.failures]
    lines += [f"     {out.paint('warning:', 'warning')} {printable_field(warning)}" for warning in report.warnings]
    lines += [f"     {out.paint('busy or unstable:', 'warning')} {printable_field(run)}" for run in report.noisy]
    return lines
