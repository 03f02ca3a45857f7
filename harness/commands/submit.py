"""`meek submit`: check a result file as validate does, clean it of local paths, and place it in the results tree for a
pull request (harness/results/submit.py), or post it to a record served by `meek serve` or another collector
(harness/results/remote.py)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import EXIT_FAILED, EXIT_OK, UsageError
from harness.output import Output
from harness.results.remote import Address, Answer, address, post
from harness.results.store import check_results_dir
from harness.results.submit import check_for_submission, place, pull_request_steps


def run(path: Path, results_dir: Path, url: str | None, out: Output, token: str | None = None) -> int:
    """Without a URL, place the file in the results tree; with one (--url or MEEK_COLLECTOR), post it, with the token
    (--token or MEEK_TOKEN) when there is one. The token is sent as a bearer token and never printed."""
    where = address(url) if url else None  # a malformed address is said before the file is read
    if not path.is_file():
        raise UsageError(f"no such result file: {path}")
    if where is None:
        check_results_dir(results_dir)
    report = check_for_submission(path)
    for warning in report.warnings:
        out.warn(warning)
    for run in report.noisy:
        out.warn(
            f"busy or unstable: {run} (it shows marked in compare and on the site; a rerun on a quieter machine "
            "gives a headline figure)"
        )
    if where is not None:
        return said(where, post(report, where, token), set(report.warnings), out)
    placed, new = place(report, results_dir)
    if not new:
        out.say(f"already in the results tree: {placed}")
        return EXIT_OK
    out.say(f"checked, cleaned (no local paths) and written to {placed}")
    out.say("to share it, open a pull request:")
    for step in pull_request_steps(placed):
        out.say(f"  {step}")
    return EXIT_OK


def said(where: Address, answer: Answer, warned: set[str], out: Output) -> int:
    """What the other end answered, as the user reads it; the exit code (1 when it refused the file)."""
    for warning in answer.warnings:
        if warning not in warned:  # the checks here said the same already
            out.warn(f"the {where.role} notes: {warning}")
    if answer.refused:
        count = len(answer.reasons)
        out.error(f"the {where.role} at {where.shown} refused the file" + (f" ({count} reason(s)):" if count else ""))
        for reason in answer.reasons:
            out.line(f"  {reason}")
        return EXIT_FAILED
    if answer.id is None:  # a collector that is not a meek record: its reply as it came
        out.say(f"posted to {where.shown}: {answer.text}")
        return EXIT_OK
    if answer.existing:
        out.say(f"already in the record as result {answer.id} ({answer.reason}): {where.result_url(answer.id)}")
        return EXIT_OK
    out.say(f"stored as result {answer.id}: {where.result_url(answer.id)}")
    return EXIT_OK
