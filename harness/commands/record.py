"""`meek record pull URL`: copy the result files of a record served by `meek serve` into a results tree, each as an
ordinary result file under its machine folder (harness/results/remote.py reads the record; harness/results/store.py
writes).

Every file is read through the same strict reader and checks as any result file before it is written, and written once,
whole (a temporary file linked under its name), so a pull stopped halfway keeps each file it finished and no part of
another; a file the tree holds already (the same file, or the same raw samples) is skipped, so a second pull writes
nothing new.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, MeekError
from harness.output import Output, printable_field
from harness.results.remote import Held, RecordReader, address, check_received
from harness.results.store import check_results_dir, write_result
from harness.results.validate import Validator


@dataclass
class Pulled:
    """What a pull did: files written, already in the tree, refused by the checks, gone from the record meanwhile."""

    listed: int = 0
    accepted: int = 0  # passed the checks (then written, already here, or only packed into a snapshot)
    written: list[Path] = field(default_factory=list)
    here: int = 0
    refused: int = 0
    gone: int = 0

    @property
    def done(self) -> int:
        return self.accepted + self.refused + self.gone


def pull(url: str, results_dir: Path | None, out: Output, snapshot: bool = False) -> int:
    """Pull every result of the record at `url` into `results_dir`; a summary line on stdout, progress and refusals
    on stderr. Exit 1 when the record could not be read (unreachable, not a record, stopped answering: what was written
    before stays), or when it listed files and every one was refused; 130 when interrupted (what was written stays).
    With `snapshot`: also (or, without a results dir, only) pack the whole record as the user's record snapshot, which
    compare and advise read where no results folder is at hand; replaced only by a pull that read every file."""
    where = address(url, option="URL", collector=False)
    if results_dir is not None:
        check_results_dir(results_dir)
    pulled = Pulled()
    with RecordReader(where) as record, tempfile.TemporaryDirectory(prefix="meek-pull-") as private, out:
        fresh = Path(private) / "snapshot"  # the snapshot's tree: every file of the record, whatever results_dir holds
        try:
            pull_into(record, results_dir, Path(private), pulled, out, fresh if snapshot else None)
        except KeyboardInterrupt:
            out.line(f"interrupted after {pulled.done} of {pulled.listed} result(s): {summary(where.shown, pulled)}")
            if snapshot:
                out.line("the record snapshot was not changed (only a whole pull replaces it)")
            out.line("each file written is whole; run the same pull again for the rest")
            return EXIT_INTERRUPTED
        except MeekError as error:
            if pulled.listed == 0:
                raise
            out.line(f"stopped after {pulled.done} of {pulled.listed} result(s): {summary(where.shown, pulled)}")
            raise MeekError(f"{error} (the files written so far stay; run the same pull again for the rest)") from None
        out.say(summary(where.shown, pulled, into_tree=results_dir is not None))
        if pulled.listed and not pulled.accepted and not pulled.gone:
            out.error(f"every file the record at {where.shown} listed was refused: nothing could be pulled")
            return EXIT_FAILED
        if snapshot:
            refresh_snapshot(fresh, where.shown, out)
    return EXIT_OK


def refresh_snapshot(tree: Path, source: str, out: Output) -> None:
    from harness.home import meek_home
    from harness.record import snapshot

    tree.mkdir(exist_ok=True)
    target = meek_home() / snapshot.NAME
    files = snapshot.pack(tree, target, source=source)
    made = snapshot.read(target)
    out.say(
        f"record snapshot refreshed from {source}: {files} result file(s), made {made.made_utc:%Y-%m-%d %H:%M} UTC ({target})"
    )


def summary(shown: str, pulled: Pulled, into_tree: bool = True) -> str:
    line = f"pulled {pulled.done} result(s) from {shown}: "
    if into_tree:
        line += f"{len(pulled.written)} written, {pulled.here} already here, {pulled.refused} refused"
    else:
        line += f"{pulled.accepted} accepted, {pulled.refused} refused"
    return line + (f", {pulled.gone} gone from the record meanwhile" if pulled.gone else "")


def pull_into(
    record: RecordReader, results_dir: Path | None, private: Path, pulled: Pulled, out: Output, fresh: Path | None = None
) -> None:
    """The pull itself, counting into `pulled` as it goes (so an interrupted or failed pull can say what it did):
    the ids the record lists, then each file fetched, checked in the private folder, and written unless the tree has it;
    with `fresh`, every accepted file is also written into that new tree (the snapshot's)."""
    out.status(f"listing {record.where.shown}")
    ids = record.ids()
    pulled.listed = len(ids)
    validator = Validator()
    held = Held(results_dir) if results_dir is not None else None
    for number, result_id in enumerate(ids, start=1):
        out.status(f"result {number} of {len(ids)}: {result_id}")
        data = record.document(result_id)
        if data is None:
            pulled.gone += 1
            continue
        report = check_received(data, private, validator, f"result {result_id}")
        if not report.ok or report.result is None:
            pulled.refused += 1
            reasons = "; ".join(report.failures) or "not a result file"
            out.warn(f"refused result {result_id} of {record.where.shown}: {printable_field(reasons)[:1000]}")
            continue
        pulled.accepted += 1
        if fresh is not None:
            write_result(report.result, fresh)
        if held is None or results_dir is None:  # a snapshot only
            continue
        if held.find(report.result):
            pulled.here += 1
            continue
        path = write_result(report.result, results_dir)
        held.add(report.result, path)
        pulled.written.append(path)
        if len(pulled.written) % 500 == 0:
            out.line(f"written {len(pulled.written)} file(s)...")
