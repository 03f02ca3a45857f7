"""`meek submit`: check a result file, strip what must not be shared, and place it for a pull request (or post it).

Local paths can carry a user name, so every absolute path in a string is cut to its last part before the file is shared.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from harness.errors import MeekError
from harness.results.schema import BenchResult, result_path, signed_document, write_result
from harness.results.validate import FileReport, Validator, result_files

# An absolute path (POSIX, home-relative or Windows) up to its last component.
LOCAL_PATH = re.compile(r"(?:~|[A-Za-z]:)?(?:[/\\][^\s/\\:\"']+)+[/\\](?=[^\s/\\]+)")


def without_local_paths(text: str) -> str:
    """'/home/ann/models/x.gguf' -> 'x.gguf': the file name says what was run, the folder only says who ran it."""
    return LOCAL_PATH.sub("", text)


def cleaned(result: BenchResult) -> BenchResult:
    """A copy fit to share: no local paths in the model source or in error messages."""
    shared = result.model_copy(deep=True)
    if shared.model.source:
        shared.model.source = without_local_paths(shared.model.source)
    for error in shared.errors:
        error.message = without_local_paths(error.message)
    shared.machine.warnings = [without_local_paths(w) for w in shared.machine.warnings]
    shared.content_sha256 = None
    return shared


def already_there(results_dir: Path, result: BenchResult) -> Path | None:
    """A file with the same content already in the results tree (same machine folder), if any."""
    digest = signed_document(result)["content_sha256"]
    folder = result_path(results_dir, result).parent
    for path in result_files([folder]) if folder.is_dir() else []:
        try:
            if json.loads(path.read_text()).get("content_sha256") == digest:
                return path
        except (OSError, ValueError):
            continue
    return None


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


def post(report: FileReport, url: str, timeout: float = 30) -> str:
    """POST the cleaned document as JSON to a collector; the collector's reply, in one line."""
    if not url.startswith(("https://", "http://")):
        raise MeekError(f"--url must start with https:// or http:// (got '{url}')")
    assert report.result is not None  # a report that validated (check_for_submission)
    document = signed_document(cleaned(report.result))
    request = urllib.request.Request(
        url, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(2000).decode(errors="replace").strip()
            return f"{response.status} {body[:200]}"
    except urllib.error.HTTPError as error:
        raise MeekError(f"the collector at {url} refused the file: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise MeekError(f"cannot reach the collector at {url}: {reason}") from None


def pull_request_steps(path: Path) -> list[str]:
    return [
        f"git checkout -b results-{path.parent.name}",
        f"git add {path}",
        f'git commit -m "Results: {path.parent.name} {path.stem}"',
        "git push -u origin HEAD   # then open a pull request against meek-harness main",
    ]
