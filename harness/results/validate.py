"""Validating result files (`meek validate`, and every reader of the record): each file is data from a stranger. Each file gets a verdict and a reason for every problem.

Checks, in order: a regular file of bounded size and strict JSON (harness/results/reading.py: numbers in range, no
duplicate keys, no markup, control or direction characters), the schema (no coercion), the content hash, then
plausibility: summary statistics that follow from the raw samples (serving points and a split's ratios too:
harness/results/consistency.py), the bounds of harness/results/plausible.py, sane dates
and versions, a model the catalogue knows; last, across files, copies (decided by evidence, never by path order).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import re
import statistics
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.catalogue.models import CatalogModel, load_catalog
from harness.errors import MeekError
from harness.results.consistency import consistency_problems
from harness.results.plausible import plausibility
from harness.results.reading import MAX_FILE_BYTES, Rejected, parse_untrusted
from harness.results.schema import SCHEMA_VERSION, BenchResult, Run, validate_document

EARLIEST = dt.datetime(2023, 3, 10, tzinfo=dt.timezone.utc)  # llama.cpp's first release
CLOCK_SKEW = dt.timedelta(days=1)
RELATIVE_TOLERANCE = 1e-6
VERSION = re.compile(r"^\d+(\.\d+){0,3}([.-]?(a|b|rc|dev|post)\d*)*(\+[A-Za-z0-9.]+)?$")
__all__ = ["MAX_FILE_BYTES", "FileReport", "Rejected", "Validator", "parse_untrusted", "result_files", "validate_paths"]


@dataclass
class FileReport:
    path: Path
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    result: BenchResult | None = None
    content_sha256: str | None = None
    noisy: list[str] = field(default_factory=list)  # runs flagged busy or unstable: valid, but not a headline figure

    @property
    def ok(self) -> bool:
        return not self.failures


def result_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The .json files under each path, in a stable order, without following symbolic links (a link can point anywhere)."""
    for path in paths:
        if path.is_symlink():
            yield path  # reported, not followed
        elif path.is_dir():
            for folder, subfolders, files in os.walk(path, followlinks=False):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(".json") and not name.startswith("."):
                        yield Path(folder) / name
        else:
            yield path


def _close(stored: float, expected: float) -> bool:
    return math.isclose(stored, expected, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-9)


def sample_problems(run: Run) -> list[str]:
    """Where the stored statistics do not follow from the raw samples (the samples are the record; summaries are derived)."""
    name = run.test
    if run.summary_only:  # nothing to recompute: the source's mean and spread are all there is
        return []
    if len(run.samples_ns) != len(run.samples_ts):
        return [f"{name}: {len(run.samples_ns)} time samples but {len(run.samples_ts)} rate samples"]
    tokens = run.n_prompt + run.n_gen
    if any(ns <= 0 for ns in run.samples_ns):
        return [f"{name}: a time sample is not positive"]
    problems = []
    if not all(_close(ts, tokens * 1e9 / ns) for ts, ns in zip(run.samples_ts, run.samples_ns)):
        problems.append(f"{name}: samples_ts do not follow from samples_ns and {tokens} tokens")
    rates = run.samples_ts
    mean = statistics.fmean(rates)
    expected = {
        "avg_ts": mean,
        "stddev_ts": math.sqrt(math.fsum((r - mean) ** 2 for r in rates) / (len(rates) - 1)) if len(rates) > 1 else 0.0,
        "median_ts": statistics.median(rates),
        "min_ts": min(rates),
        "max_ts": max(rates),
        "avg_ns": statistics.fmean(run.samples_ns),
    }
    wrong = [key for key, value in expected.items() if getattr(run, key) is None or not _close(getattr(run, key), value)]
    if wrong:
        problems.append(f"{name}: {', '.join(wrong)} do not follow from the raw samples")
    return problems


def noisy_runs(result: BenchResult) -> list[str]:
    """The runs whose figure should not be trusted at face value (a busy machine, a wide spread), each with why."""
    lines = []
    for run in (r for r in result.runs if r.unstable):
        threads = f" t{run.n_threads}" if run.n_threads is not None else ""
        lines.append(f"{run.test}{threads}: {'; '.join(run.unstable)}")
    return lines


def date_and_version_problems(result: BenchResult, now: dt.datetime) -> list[str]:
    problems = []
    created = result.created_utc if result.created_utc.tzinfo else result.created_utc.replace(tzinfo=dt.timezone.utc)
    if created > now + CLOCK_SKEW:
        problems.append(f"created_utc {created:%Y-%m-%d} is in the future")
    if created < EARLIEST:
        problems.append(f"created_utc {created:%Y-%m-%d} is before llama.cpp existed")
    versions = {"harness_version": result.machine.harness_version, "llama_cpp_python": result.machine.llama_cpp.llama_cpp_python}
    for name, version in versions.items():
        if version is not None and not VERSION.match(version):
            problems.append(f"{name} '{version}' is not a version number")
    return problems


class Validator:
    """Checks files one by one, remembering content hashes and raw samples to catch duplicates across files."""

    def __init__(self, now: dt.datetime | None = None):
        self.now = now or dt.datetime.now(dt.timezone.utc)
        catalog = load_catalog()
        self.by_sha = {m.sha256: m for m in catalog.models if m.sha256}
        self.by_id = {m.id: m for m in catalog.models}

    def check(self, path: Path) -> FileReport:
        """The verdict on one file, with every reason; never raises for anything the file holds."""
        report = FileReport(path)
        try:
            document, text = parse_untrusted(path)
        except Rejected as error:
            report.failures.append(str(error))
            return report
        return self.check_document(document, text, report)

    def check_document(self, document: dict, text: str, report: FileReport) -> FileReport:
        """The checks after parsing (schema, hash, plausibility), for a file or a document about to be written."""
        try:
            return self._check_document(document, text, report)
        except Exception as error:  # a check that cannot cope with a value is a verdict on the file, not a crash
            report.failures.append(f"could not be checked ({type(error).__name__}: {str(error)[:200]})")
            report.result = None
            return report

    def _check_document(self, document: dict, text: str, report: FileReport) -> FileReport:
        stored_hash = document.get("content_sha256")
        try:
            report.result = validate_document(document, "schema")
        except MeekError as error:
            report.failures.append(str(error))
            return report
        result = report.result
        if stored_hash is None:
            older = isinstance(document.get("schema_version"), int) and document["schema_version"] < SCHEMA_VERSION
            report.failures.append(
                "no content_sha256: cannot tell whether the file was edited"
                + (
                    f" (a schema_version {document['schema_version']} file: `meek results upgrade` signs it as the current version)"
                    if older
                    else ""
                )
            )
        elif stored_hash != hashlib.sha256(text.encode()).hexdigest():
            report.failures.append("content_sha256 does not match the content: the file was edited after it was written")
        report.content_sha256 = stored_hash
        model = self.model_of(result)
        for run in result.runs:
            report.failures.extend(sample_problems(run))
        report.failures.extend(consistency_problems(result))
        report.noisy = noisy_runs(result)
        imported = bool(result.protocol and result.protocol.imported_from)
        if not imported and any(run.summary_only for run in result.runs):
            report.failures.append("summary-only runs belong to imported tables: a measurement keeps its raw samples")
        failures, warnings = plausibility(result, model)
        report.failures.extend(failures)
        report.failures.extend(date_and_version_problems(result, self.now))
        report.warnings.extend(self._model_warnings(result))
        report.warnings.extend(warnings)
        path = report.path
        if path.parent.name != result.machine.machine_id and path.parent.parent.name == "results":
            report.warnings.append(f"file is under {path.parent.name}/ but its machine_id is {result.machine.machine_id}")
        return report

    def model_of(self, result: BenchResult) -> CatalogModel | None:
        """The catalogue entry for the result's model file: by sha256, else by id when the file records no sha256."""
        sha = result.model.sha256
        if sha in self.by_sha:
            return self.by_sha[sha]
        entry = self.by_id.get(result.model.id or "")
        if sha and entry and entry.sha256:
            return None  # a different file under a known name: the catalogue's facts are not its facts
        return entry

    def _model_warnings(self, result: BenchResult) -> list[str]:
        sha, model_id = result.model.sha256, result.model.id
        if sha is None:
            return ["model sha256 not recorded: the file cannot be tied to a known model file"]
        if sha in self.by_sha:
            return []
        if model_id in self.by_id and self.by_id[model_id].sha256:
            return [f"model sha256 differs from the catalogue's {model_id}: a different file under a known name"]
        return ["model sha256 not in the catalogue: an unlisted model file"]

    def finish(self, reports: list[FileReport]) -> list[FileReport]:
        """Copies across files, decided by evidence: files with the same content are one measurement, counted once (the
        one in its own machine's folder, or the first added to the record's git history, stays); files sharing raw
        samples under different details are a copy and its original: the one added to git history first stays, and
        when no history says which came first, both are left out with the reason."""
        valid = [r for r in reports if r.ok and r.result is not None]
        by_hash: dict[str | None, list[FileReport]] = {}
        for report in valid:
            by_hash.setdefault(report.content_sha256, []).append(report)
        for group in (g for g in by_hash.values() if len(g) > 1):
            keep = _original(group) or min(group, key=lambda r: (not _in_own_folder(r), str(r.path)))
            for report in group:
                if report is not keep:
                    report.failures.append(f"duplicate of {keep.path}: the same measurement, counted once")
        by_samples: dict[tuple, list[FileReport]] = {}
        for report in (r for r in valid if r.ok):
            assert report.result is not None
            samples = tuple(tuple(run.samples_ns) for run in report.result.runs if run.samples_ns)  # summary-only runs have none
            if samples:
                by_samples.setdefault(samples, []).append(report)
        for group in (g for g in by_samples.values() if len(g) > 1):
            first = _original(group)
            for report in group:
                if report is first:
                    continue
                others = ", ".join(str(r.path) for r in group if r is not report)
                if first is not None:
                    report.failures.append(f"same raw samples as {first.path}, which the record's git history has first: a copy")
                else:
                    report.failures.append(
                        f"same raw samples as {others} with other details: one is a copy, and nothing "
                        "says which came first, so neither counts"
                    )
        return reports


def _in_own_folder(report: FileReport) -> bool:
    return report.result is not None and report.path.parent.name == report.result.machine.machine_id


def _added_at(path: Path) -> int | None:
    """When git history first has the file (seconds since the epoch); None outside a repository or for an untracked file."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(path.parent), "log", "--diff-filter=A", "--format=%ct", "--", path.name],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    stamps = [int(line) for line in completed.stdout.split() if line.isdigit()] if completed.returncode == 0 else []
    return min(stamps) if stamps else None


def _original(group: list[FileReport]) -> FileReport | None:
    """The one file of the group that git history has strictly first, if history says."""
    added = [(_added_at(r.path), r) for r in group]
    if any(stamp is None for stamp, _ in added):
        return None
    added.sort(key=lambda pair: pair[0] or 0)
    return added[0][1] if added[0][0] != added[1][0] else None


def validate_paths(paths: Iterable[Path]) -> list[FileReport]:
    validator = Validator()
    return validator.finish([validator.check(path) for path in result_files(paths)])
