"""Sharing a result file (`meek submit`): check it, strip what must not be shared, and place it for a pull request (or post
it to a record: harness/results/remote.py).

Local paths can carry a user name, so every absolute path in every string of the file (error messages, file names,
imported_from, model names, OS details, warnings ...) is cut to its last part before the file is shared: one rule, applied
to the whole document.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import MeekError
from harness.output import Output
from harness.results.document import map_strings, signed_document
from harness.results.reading import Rejected, read_json
from harness.results.schema import SCHEMA_VERSION, BenchResult, validate_document
from harness.results.store import result_path, write_result
from harness.results.validate import FileReport, Validator, result_files

# An absolute path up to its last separator: POSIX (/home/ann/, /root/, /Users/ann/), home-relative (~/ and ~ann/),
# Windows (C:\Users\ann\, \\server\share\), a file: URL (file:///home/ann/, file://localhost/..., file:///C:/...) and a
# path after a label's colon (model:/home/ann/). Folder names may hold spaces ("/home/Ann Smith/"). Not a URL
# ("http://host/path": a ':' or '/' before the first separator) and not inside a word ("and/or").
LOCAL_PATH = re.compile(
    r"(?:\bfile:/*(?:localhost/)?(?:[A-Za-z]:)?"  # a file: URL, its slashes, host and drive included
    r"|~[\w.-]*"  # ~/ and ~user/
    r"|\b[A-Za-z]:"  # a Windows drive
    r"|(?<![\w.:/\\~-])"  # a path that starts a word
    r"|(?<=[\w-]:)(?=/[^/])"  # a path right after a label's colon (model:/home/...), never a URL's ://
    r")[/\\](?:[^/\\\n\"'<>|]*[/\\])+"
)


def without_local_paths(text: str) -> str:
    """'/home/ann/models/x.gguf' -> 'x.gguf': the file name says what was run, the folder only says who ran it."""
    return LOCAL_PATH.sub("", text)


def cleaned(result: BenchResult) -> BenchResult:
    """A copy fit to share: every string of the document without local paths (and without its old content hash)."""
    document = map_strings(result.model_dump(mode="json", exclude={"content_sha256"}), without_local_paths)
    return validate_document(document, "cleaned result")


def folder_contents(folder: Path) -> dict[str, Path]:
    """content hash -> file, for every readable result in one machine folder; a file of an older schema_version under
    the hash it has once migrated (as `meek results upgrade` would sign it)."""
    contents: dict[str, Path] = {}
    for path in result_files([folder]) if folder.is_dir() and not folder.is_symlink() else []:
        try:
            document = read_json(path)
        except Rejected:  # not a readable result: not a copy of anything
            continue
        if not isinstance(document, dict):
            continue
        digest = document.get("content_sha256")
        if document.get("schema_version") != SCHEMA_VERSION:
            try:
                digest = signed_document(validate_document(document, str(path)))["content_sha256"]
            except MeekError:  # not a valid result of any version: not a copy of anything
                continue
        if isinstance(digest, str):
            contents.setdefault(digest, path)
    return contents


class Present:
    """The results already in a tree, by machine folder: each folder is read once, when a result for it first comes,
    and what is written meanwhile is added. An import of N files into a folder of M reads M files once, not N x M."""

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = results_dir
        self.folders: dict[Path, dict[str, Path]] = {}

    def _folder(self, result: BenchResult) -> dict[str, Path]:
        folder = result_path(self.results_dir, result).parent
        if folder not in self.folders:
            self.folders[folder] = folder_contents(folder)
        return self.folders[folder]

    def find(self, result: BenchResult) -> Path | None:
        return self._folder(result).get(signed_document(result)["content_sha256"])

    def add(self, result: BenchResult, path: Path) -> None:
        self._folder(result).setdefault(signed_document(result)["content_sha256"], path)


def already_there(results_dir: Path, result: BenchResult) -> Path | None:
    """A file with the same content already in the results tree (same machine folder), if any; a file of an older
    schema_version counts when it has that content once migrated (as `meek results upgrade` would sign it)."""
    return Present(results_dir).find(result)


def check_for_submission(path: Path) -> FileReport:
    report = Validator().check(path)
    if report.failures:
        raise MeekError(f"{path} does not validate: {'; '.join(report.failures)}")
    return report


def place(report: FileReport, results_dir: Path) -> tuple[Path, bool]:
    """Write the cleaned file under results_dir/<machine-id>/ with its canonical name; (path, whether it was new)."""
    assert report.result is not None  # a report that validated (check_for_submission)
    shared = cleaned(report.result)
    existing = already_there(results_dir, shared)
    if existing:
        return existing, False
    return write_result(shared, results_dir), True


def pull_request_steps(path: Path) -> list[str]:
    return [
        f"git checkout -b results-{path.parent.name}",
        f"git add {path}",
        f'git commit -m "Results: {path.parent.name} {path.stem}"',
        "git push -u origin HEAD   # then open a pull request against meek-harness main",
    ]


def write_imported(imported, path: Path, results_dir: Path, out: Output, present: Present | None = None) -> int:
    """Write what an importer accepted (each already validated), skipping files already in the tree; say what was
    skipped and refused, and end with one summary line. The exit code: 1 when nothing could be imported (every row
    refused, or no row at all), with the line "0 written, N refused"; 0 otherwise, also when nothing was new because
    every result was already there (a repeated import is not a failure: it says so). The tree is read once per machine
    folder (`present`, shared by the imports of one command), so an import takes time linear in its rows."""
    from harness.errors import EXIT_FAILED, EXIT_OK

    present = present or Present(results_dir)
    for skipped in imported.skipped:
        out.warn(f"skipped {path} {skipped}")
    written = there = 0
    for result in imported.results:
        existing = present.find(result)
        if existing:
            there += 1
            out.say(f"already imported: {existing}")
            continue
        target = write_result(result, results_dir)
        present.add(result, target)
        written += 1
        out.say(f"{target}: {result.model.label}, {len(result.runs)} test(s)")
    refused = len(imported.skipped)
    out.say(f"{written} result file(s) written, {refused} skipped" + (f", {there} already there" if there else ""))
    if written == 0 and there:
        out.say(f"nothing new: all {there} result file(s) already there")
    if written == 0 and there == 0:
        out.error(f"{path}: 0 written, {refused} refused: nothing could be imported")
        return EXIT_FAILED
    return EXIT_OK
