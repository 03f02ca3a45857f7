"""`meek submit`: check a result file as validate does, clean it of local paths, and place it in the results tree for a
pull request, or post it to a collector (harness/results/submit.py)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import EXIT_OK, UsageError
from harness.output import Output
from harness.results.store import check_results_dir
from harness.results.submit import check_for_submission, place, post, pull_request_steps


def run(path: Path, results_dir: Path, url: str | None, out: Output) -> int:
    if not path.is_file():
        raise UsageError(f"no such result file: {path}")
    if not url:
        check_results_dir(results_dir)
    report = check_for_submission(path)
    for warning in report.warnings:
        out.warn(warning)
    for run in report.noisy:
        out.warn(
            f"busy or unstable: {run} (it shows marked in compare and on the site; a rerun on a quieter machine "
            "gives a headline figure)"
        )
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
