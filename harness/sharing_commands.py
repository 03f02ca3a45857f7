"""What `meek validate`, `meek submit` and `meek import` do and print; the modules they call hold the logic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from harness.errors import MeekError, require_existing
from harness.results.validate import FileReport, validate_paths


def validate(paths: list[Path], as_json: bool, out: Console) -> int:
    """Print a verdict per file and a summary; exit code 1 when any file fails."""
    require_existing(paths)
    reports = validate_paths(paths)
    if as_json:
        print(json.dumps([_report_json(r) for r in reports], indent=1))
    else:
        paint = _painter(out.is_terminal)  # plain writes, not rich rendering: 10,000 files print in milliseconds
        sys.stdout.write("".join(line + "\n" for report in reports for line in _report_lines(report, paint)))
        failed = sum(not r.ok for r in reports)
        warned = sum(r.ok and bool(r.warnings) for r in reports)
        out.print(f"{len(reports)} file(s): {len(reports) - failed} valid ({warned} with warnings), {failed} failed")
    return 1 if any(not r.ok for r in reports) else 0


def _report_json(report: FileReport) -> dict:
    return {"path": str(report.path), "ok": report.ok, "failures": report.failures, "warnings": report.warnings}


def printable(text: str) -> str:
    """A file name as text a terminal shows, not obeys: control characters become '?'."""
    return "".join("?" if ord(c) < 32 or ord(c) == 127 else c for c in text)


def _painter(color: bool):
    codes = {"green": "32", "red": "31", "yellow": "33"}
    return lambda text, name: f"\033[{codes[name]}m{text}\033[0m" if color else text


def _report_lines(report: FileReport, paint) -> list[str]:
    verdict = paint("ok  ", "green") if report.ok else paint("FAIL", "red")
    lines = [f"{verdict} {printable(str(report.path))}"]
    lines += [f"     {paint('-', 'red')} {failure}" for failure in report.failures]
    lines += [f"     {paint('warning:', 'yellow')} {warning}" for warning in report.warnings]
    return lines


def submit(path: Path, results_dir: Path, url: str | None, out: Console) -> int:
    from harness.results.submit import check_for_submission, place, post, pull_request_steps

    if not path.is_file():
        raise MeekError(f"no such result file: {path}")
    report = check_for_submission(path)
    for warning in report.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if url:
        out.print(f"posted to {escape(url)}: {escape(post(report, url))}")
        return 0
    placed, new = place(report, results_dir)
    if not new:
        out.print(f"already in the results tree: {escape(str(placed))}")
        return 0
    out.print(f"checked, cleaned (no local paths) and written to {escape(str(placed))}")
    out.print("to share it, open a pull request:")
    for step in pull_request_steps(placed):
        out.print(f"  {escape(step)}")
    return 0


def import_llama_bench(paths: list[Path], results_dir: Path, out: Console) -> int:
    from harness.results.import_llama_bench import import_file
    from harness.results.schema import write_result
    from harness.results.submit import already_there

    written = 0
    for path in paths:
        imported = import_file(path)
        for skipped in imported.skipped:
            out.print(f"[yellow]skipped[/yellow] {escape(str(path))} {escape(skipped)}")
        for result in imported.results:
            existing = already_there(results_dir, result)
            if existing:
                out.print(f"already imported: {escape(str(existing))}")
                continue
            target = write_result(result, results_dir)
            written += 1
            out.print(f"{escape(str(target))}: {escape(result.model.label)}, {len(result.runs)} test(s), backend llama-bench")
    out.print(f"{written} result file(s) written")
    return 0


def compare(paths: list[Path], model: str | None, tests: list[str] | None, fmt: str, out: Console) -> int:
    from harness.aggregate.compare import compare_table, render, scores_table

    tree = _load(paths, out)
    table = compare_table(tree.runs, model, tests)
    scores = scores_table(tree.scores, model)
    if fmt == "json":
        print(json.dumps({"speed": json.loads(render(table, "json")), "scores": json.loads(render(scores, "json") or "[]")}))
        return 0
    print(render(table, fmt), end="")
    if not scores.empty:
        print("\n" if fmt == "md" else "", end="")
        print(render(scores, fmt), end="")
    return 0


def advise(paths: list[Path], model_id: str, budget: float | None, min_tg: float | None, fmt: str, out: Console) -> int:
    from harness.aggregate.advise import advise as rank_devices
    from harness.aggregate.compare import render
    from harness.catalogue.models import load_catalog, unknown_model_message

    catalog = load_catalog()
    model = catalog.get(model_id)
    if model is None:
        raise MeekError(unknown_model_message(model_id, catalog))
    tree = _load(paths, out)
    table, notes = rank_devices(tree.runs, model, budget, min_tg)
    if table.empty:
        out.print("no device in the hardware table meets all the conditions")
    else:
        print(render(table, fmt), end="")
    if fmt == "md":
        for note in notes:
            out.print(f"- {escape(note)}")
    return 0


def _load(paths: list[Path], out: Console):
    from harness.aggregate.tree import load_tree

    require_existing(paths)
    tree = load_tree(paths)
    if tree.rejected:
        Console(stderr=True).print(
            f"[yellow]warning:[/yellow] left out {len(tree.rejected)} file(s) that fail validation (see meek validate)"
        )
    return tree
