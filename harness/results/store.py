"""Result files on disk: where a command may write them, writing them without losing a measurement, and upgrading
files of an older schema_version in place."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from harness.errors import MeekError, UsageError
from harness.files import Refused, make_folder, replace_file
from harness.results.document import signed_document
from harness.results.schema import SCHEMA_VERSION, BenchResult, validate_document


def check_results_dir(results_dir: Path) -> None:
    """Stop before anything is measured or written when the results tree cannot take a file: one line, exit code 2."""
    if results_dir.exists() and not results_dir.is_dir():
        raise UsageError(f"--results-dir {results_dir} is a file, not a folder")
    probe_in = results_dir
    while not probe_in.exists():
        probe_in = probe_in.parent
    if not os.access(probe_in, os.W_OK | os.X_OK):
        raise UsageError(f"--results-dir {results_dir}: {probe_in} is not writable")


def save_result(result: BenchResult, results_dir: Path, say) -> Path:
    """Write the result into the results tree; when that fails (a full disk, a folder made read-only meanwhile), write it
    under $MEEK_HOME/unsaved-results instead and say where, so a measurement is never lost to a folder."""
    try:
        return write_result(result, results_dir)
    except (OSError, Refused) as error:  # Refused: a link planted in the tree; the measurement goes elsewhere, not lost
        from harness.home import meek_home

        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        fallback = write_result(result, meek_home() / "unsaved-results")
        say(f"warning: could not write into {results_dir} ({reason}); saved to {fallback} instead")
        return fallback


def upgrade_file(path: Path) -> bool:
    """Rewrite a result file of an older schema_version in place as the current version, with its content hash; False
    when it is current already. The file is replaced atomically (a temporary file created exclusively beside it, then
    renamed over it: nothing is written through a link planted there); MeekError when it is not a readable result or
    is itself a link."""
    from harness.results.reading import Rejected, read_json

    try:
        document = read_json(Path(path))
    except Rejected as error:
        raise MeekError(f"cannot read JSON ({error})") from None
    if not isinstance(document, dict):
        raise MeekError("not a JSON object")
    if document.get("schema_version") == SCHEMA_VERSION:
        return False
    result = validate_document({k: v for k, v in document.items() if k != "content_sha256"}, str(path))
    replace_file(Path(path), json.dumps(signed_document(result), indent=1) + "\n")
    return True


def read_result(path: Path) -> BenchResult:
    from harness.results.reading import Rejected, read_json

    try:
        document = read_json(Path(path))
    except Rejected as error:
        raise MeekError(f"{path}: cannot read JSON ({error})") from None
    return validate_document(document, str(path))  # type: ignore[arg-type]  # validate_document checks it is an object


def safe_name(text: str) -> str:
    """A file-name-safe slug: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "model"


def result_path(results_dir: Path, result: BenchResult) -> Path:
    stamp = result.created_utc.strftime("%Y%m%dT%H%M%SZ")
    return Path(results_dir) / result.machine.machine_id / f"{stamp}-{safe_name(result.model.label)}.json"


def write_result(result: BenchResult, results_dir: Path) -> Path:
    """Validate and write atomically (temp file, then link): an existing file is never overwritten, and no folder from
    results_dir down to the file may be a symbolic link (Refused: it would carry the file elsewhere)."""
    document = signed_document(result)
    target = result_path(results_dir, result)
    make_folder(target.parent, below=results_dir)
    text = json.dumps(document, indent=1) + "\n"
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
    try:  # written and flushed once, then linked under the first free name: no rewrite per name tried
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        for attempt in range(10_000):
            candidate = target if attempt == 0 else target.with_name(f"{target.stem}-{attempt}.json")
            try:
                os.link(temporary, candidate)  # fails if the name exists: no overwrite
                return candidate
            except FileExistsError:
                continue
    finally:
        os.unlink(temporary)
    raise MeekError(f"could not find a free file name for {target}")
