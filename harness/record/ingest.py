"""Taking a result file into the record: the checks of `meek validate` (harness/results/validate.py, on the bytes as
received, written to a private file and read back through the strict reader), then one insert under the unique keys.

The same file twice, or a copy of its raw samples, is stored once: the database refuses the second row (an
IntegrityError on a unique key) and the answer names the row already there. Nothing is looked up before the insert,
so concurrent submissions of one file cannot both pass a check and both be stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from harness.record.rows import Catalogue, result_rows
from harness.record.tables import RUN_FIELDS, results, runs
from harness.results.reading import MAX_FILE_BYTES, Rejected, read_regular
from harness.results.schema import BenchResult
from harness.results.validate import FileReport, result_files

STORED, EXISTING, REFUSED = "stored", "existing", "refused"


@dataclass
class Outcome:
    """What became of one submission: stored (a new id), existing (the id of the same measurement already there, and
    why it is the same), or refused (every reason, nothing stored)."""

    status: str
    id: int | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def samples_key(result: BenchResult) -> str | None:
    """sha256 over the raw samples of every run (what validate's copy check compares); None for summary-only runs."""
    samples = [run.samples_ns for run in result.runs if run.samples_ns]
    return hashlib.sha256(json.dumps(samples).encode()).hexdigest() if samples else None


class Ingestor:
    """Checks and stores result files; one per process, used from many threads (each check reads its own file)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.catalogue = Catalogue()
        self.folder = Path(tempfile.mkdtemp(prefix="meek-ingest-"))  # mode 0700: only this user reads what was sent

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def check(self, body: bytes) -> FileReport:
        """`meek validate`'s verdict on the bytes, as if they were a file of the tree (Validator.check, then finish)."""
        if len(body) > MAX_FILE_BYTES:
            report = FileReport(Path("submission.json"))
            report.failures.append(f"file is {len(body) / 2**20:.1f} MiB, over the {MAX_FILE_BYTES / 2**20:g} MiB limit")
            return report
        validator = self.catalogue.validator
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix="submission-", suffix=".json") as handle:
            handle.write(body)
            handle.flush()
            validator.now = dt.datetime.now(dt.timezone.utc)  # a long-running service checks dates against today
            return validator.finish([validator.check(Path(handle.name))])[0]

    def ingest(self, body: bytes, sender: str) -> Outcome:
        report = self.check(body)
        if not report.ok or report.result is None:
            return Outcome(REFUSED, reasons=report.failures, warnings=report.warnings)
        return self.store(report.result, report, body.decode("utf-8"), sender)

    def store(self, result: BenchResult, report: FileReport, text: str, sender: str) -> Outcome:
        assert report.content_sha256 is not None  # a file that validated carries its hash
        run_rows, _, _ = result_rows(result, Path("submission"), self.catalogue)
        content, samples = report.content_sha256, samples_key(result)
        row = {
            "content_sha256": content,
            "samples_sha256": samples,
            "schema_version": result.schema_version,
            "machine_id": result.machine.machine_id,
            "model": run_rows[0]["model"] if run_rows else self.catalogue.model_key(result),
            "created_utc": result.created_utc,
            "received_utc": dt.datetime.now(dt.timezone.utc),
            "sender": sender,
            "document": text,
        }
        try:
            with self.engine.begin() as connection:
                key = connection.execute(sa.insert(results).values(**row)).inserted_primary_key
                assert key is not None
                new_id = int(key[0])
                if run_rows:
                    connection.execute(
                        sa.insert(runs), [{"result_id": new_id, **{name: r[name] for name in RUN_FIELDS}} for r in run_rows]
                    )
        except IntegrityError:
            found = self.existing(content, samples)
            if found is None:  # a conflict on no key of ours: not a duplicate, so not to be hidden
                raise
            return Outcome(EXISTING, id=found[0], reasons=[found[1]], warnings=report.warnings)
        return Outcome(STORED, id=new_id, warnings=report.warnings)

    def existing(self, content: str, samples: str | None) -> tuple[int, str] | None:
        """The stored row holding either key, and which: the same file, or the same raw samples."""
        with self.engine.connect() as connection:
            same = connection.execute(sa.select(results.c.id).where(results.c.content_sha256 == content)).scalar()
            if same is not None:
                return same, "the same file is stored already"
            if samples is None:
                return None
            copy = connection.execute(sa.select(results.c.id).where(results.c.samples_sha256 == samples)).scalar()
            return (copy, "a file with the same raw samples is stored already") if copy is not None else None


@dataclass
class ImportSummary:
    stored: int = 0
    existing: int = 0
    refused: list[tuple[Path, list[str]]] = field(default_factory=list)

    @property
    def files(self) -> int:
        return self.stored + self.existing + len(self.refused)


def import_tree(
    ingestor: Ingestor, paths: Iterable[Path], sender: str = "import", progress: Callable[[int, Path], None] | None = None
) -> ImportSummary:
    """Every result file under the paths (validate's walk, in its order), each through the same ingest as a POST."""
    summary = ImportSummary()
    for number, path in enumerate(result_files(paths), start=1):
        try:
            outcome = ingestor.ingest(read_regular(path), sender)
        except Rejected as error:
            outcome = Outcome(REFUSED, reasons=[str(error)])
        if outcome.status == STORED:
            summary.stored += 1
        elif outcome.status == EXISTING:
            summary.existing += 1
        else:
            summary.refused.append((path, outcome.reasons))
        if progress:
            progress(number, path)
    return summary
