"""`meek validate`: every result file is data from a stranger. Each file gets a verdict and a reason for every problem.

Checks, in order: size and JSON (no NaN, no infinities, nesting Python's parser can take), no markup or control
characters in any string, the schema, the content hash, then plausibility: summary statistics that follow from the raw samples, a generation rate the device's memory
bandwidth allows, sane dates and versions, a model the catalogue knows; last, duplicates across files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.catalogue.models import CatalogModel, load_catalog
from harness.errors import MeekError
from harness.machine.hardware import max_bandwidth_gbs
from harness.results.facts import bytes_per_token, device_of, offloaded
from harness.results.schema import SCHEMA_VERSION, BenchResult, Run, canonical_text, validate_document

MAX_FILE_BYTES = 5 * 2**20  # a real result file with thousands of samples is well under 1 MB
EARLIEST = dt.datetime(2023, 3, 10, tzinfo=dt.timezone.utc)  # llama.cpp's first release
CLOCK_SKEW = dt.timedelta(days=1)
BANDWIDTH_MARGIN = 1.25  # spec sheets round; tolerate 25% before calling a rate impossible
CACHE_RESIDENT_BYTES = 2**30  # below this a model may sit in a big CPU or GPU cache, so only the fastest device bounds it
RELATIVE_TOLERANCE = 1e-6
# Searched in the canonical JSON text, where a string's control characters appear as escapes and '<' as itself.
TAG = re.compile(r"<[A-Za-z!/?]")
CONTROL_ESCAPE = re.compile(r"\\\\|(\\[bf]|\\u00[01][0-9a-f])")  # an escaped backslash, or (a control character)
VERSION = re.compile(r"^\d+(\.\d+){0,3}([.-]?(a|b|rc|dev|post)\d*)*(\+[A-Za-z0-9.]+)?$")


class Rejected(Exception):
    """A file that cannot be read as a result document; the message is the reason."""


@dataclass
class FileReport:
    path: Path
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    result: BenchResult | None = None
    content_sha256: str | None = None

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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constants(name: str):
    raise ValueError(f"{name} is not allowed in a result file")


def parse_untrusted(path: Path) -> tuple[dict, str]:
    """Read one file defensively: bounded size, strict JSON, no markup or control characters in any string or key.

    Returns the document and its canonical text (the text the content hash covers).
    """
    if path.is_symlink():
        raise Rejected("symbolic link: not followed")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Rejected(f"file is {size / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit for a result file")
        raw = path.read_bytes()
    except OSError as error:
        raise Rejected(f"cannot read: {error.strerror or error}") from None
    try:
        document = json.loads(raw.decode("utf-8"), parse_float=_finite_float, parse_constant=_no_constants)
        if not isinstance(document, dict):
            raise Rejected("not a JSON object")
        text = canonical_text(document)
    except UnicodeDecodeError:
        raise Rejected("not UTF-8 text") from None
    except RecursionError:
        raise Rejected("JSON nested too deeply") from None
    except ValueError as error:
        raise Rejected(f"malformed JSON: {error}") from None
    if has_markup_or_control(text):
        raise Rejected("markup, script or control characters in a string")
    return document, text


def has_markup_or_control(text: str) -> bool:
    """An HTML tag, a javascript: URL or a control character anywhere in the canonical JSON (cheap tests first)."""
    if "<" in text and TAG.search(text):
        return True
    if "javascript:" in text.lower() or "\x7f" in text:
        return True
    return "\\" in text and any(escape.group(1) for escape in CONTROL_ESCAPE.finditer(text))


def _close(stored: float, expected: float) -> bool:
    return math.isclose(stored, expected, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-9)


def sample_problems(run: Run) -> list[str]:
    """Where the stored statistics do not follow from the raw samples (the samples are the record; summaries are derived)."""
    name = run.test
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
    wrong = [key for key, value in expected.items() if not _close(getattr(run, key), value)]
    if wrong:
        problems.append(f"{name}: {', '.join(wrong)} do not follow from the raw samples")
    return problems


def bandwidth_problems(result: BenchResult, model: CatalogModel | None) -> list[str]:
    """A generation rate that would need more memory bandwidth than the device has is not a measurement."""
    per_token = bytes_per_token(result, model)
    if not per_token:
        return []
    problems = []
    for run in result.runs:
        if run.n_gen == 0 or run.n_prompt:
            continue
        device = device_of(result.machine, offloaded(run, result.machine)) if per_token >= CACHE_RESIDENT_BYTES else None
        limit, what = (device.bandwidth_gbs, device.name) if device else (max_bandwidth_gbs(), "the fastest device known")
        needed = run.max_ts * per_token / 1e9
        if needed > limit * BANDWIDTH_MARGIN:
            problems.append(
                f"{run.test}: {run.max_ts:.1f} t/s x {per_token / 1e9:.2f} GB per token needs {needed:.0f} GB/s, "
                f"beyond {what}'s {limit:.0f} GB/s memory bandwidth"
            )
    return problems


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
        self.seen_hashes: dict[str, Path] = {}
        self.seen_samples: dict[tuple, Path] = {}

    def check(self, path: Path) -> FileReport:
        report = FileReport(path)
        try:
            document, text = parse_untrusted(path)
            stored_hash = document.get("content_sha256")
            report.result = validate_document(document, "schema")
        except (Rejected, MeekError) as error:
            report.failures.append(str(error))
            return report
        result = report.result
        if stored_hash is None:
            older = isinstance(document.get("schema_version"), int) and document["schema_version"] < SCHEMA_VERSION
            report.failures.append(
                "no content_sha256: cannot tell whether the file was edited"
                + (f" (a schema_version {document['schema_version']} file: `meek results upgrade` signs it as the current version)" if older else "")
            )
        elif stored_hash != hashlib.sha256(text.encode()).hexdigest():
            report.failures.append("content_sha256 does not match the content: the file was edited after it was written")
        report.content_sha256 = stored_hash
        model = self.by_sha.get(result.model.sha256 or "") or self.by_id.get(result.model.id or "")
        for run in result.runs:
            report.failures.extend(sample_problems(run))
        report.failures.extend(bandwidth_problems(result, model))
        report.failures.extend(date_and_version_problems(result, self.now))
        report.warnings.extend(self._model_warnings(result))
        if path.parent.name != result.machine.machine_id and path.parent.parent.name == "results":
            report.warnings.append(f"file is under {path.parent.name}/ but its machine_id is {result.machine.machine_id}")
        self._check_duplicates(report)
        return report

    def _model_warnings(self, result: BenchResult) -> list[str]:
        sha, model_id = result.model.sha256, result.model.id
        if sha is None:
            return ["model sha256 not recorded: the file cannot be tied to a known model file"]
        if sha in self.by_sha:
            return []
        if model_id in self.by_id and self.by_id[model_id].sha256:
            return [f"model sha256 differs from the catalogue's {model_id}: a different file under a known name"]
        return ["model sha256 not in the catalogue: an unlisted model file"]

    def _check_duplicates(self, report: FileReport) -> None:
        if report.content_sha256 in self.seen_hashes:
            report.failures.append(f"duplicate of {self.seen_hashes[report.content_sha256]}")
            return
        if report.content_sha256:
            self.seen_hashes[report.content_sha256] = report.path
        assert report.result is not None  # checked only once the file has validated
        samples = tuple(tuple(run.samples_ns) for run in report.result.runs)
        if samples and samples in self.seen_samples:
            report.failures.append(f"same raw samples as {self.seen_samples[samples]}: a copy with its details changed")
        elif samples:
            self.seen_samples[samples] = report.path


def validate_paths(paths: Iterable[Path]) -> list[FileReport]:
    validator = Validator()
    return [validator.check(path) for path in result_files(paths)]
