"""The record served by `meek serve`, seen from another machine: `meek submit --url` posts a result file to it, and
`meek record pull` copies its files into a results tree (harness/commands/record.py).

Everything a server answers is untrusted: ids must be integers, reasons and details are shown as plain text of bounded
length, and a token sent is never shown (the HTTP client hides it in whatever the server echoes). A file pulled is read
through the same strict reader and checks as any result file before it is written, and written once, whole.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.errors import MeekError, UsageError
from harness.http import Client, public_url
from harness.output import printable_field
from harness.results.document import signed_document
from harness.results.reading import MAX_FILE_BYTES, Rejected, read_json
from harness.results.schema import BenchResult, validate_document
from harness.results.store import result_path
from harness.results.submit import Present, cleaned
from harness.results.validate import FileReport, Validator, result_files

API_PATH = "/api/v1/results"
PAGE = 500  # the most a record lists at once (harness/service/app.py MAX_PAGE)
MAX_REASONS = 50  # a refusal shows at most this many reasons (a hostile server may send a million)
MAX_TEXT = 500  # characters of one reason or detail shown
SUBMIT_TIMEOUT_S = 60.0
PULL_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Address:
    """Where to send: `url` (with any credentials in it), and whether it is a meek record's results API or another
    collector's own endpoint (posted to as given, its reply shown as text)."""

    url: str
    record: bool

    @property
    def shown(self) -> str:
        """The address as it may be printed: no user name, password or query string."""
        return public_url(self.url)

    @property
    def role(self) -> str:
        return "record" if self.record else "collector"

    def result_url(self, result_id: int) -> str:
        return f"{self.shown}/{result_id}"


def address(url: str, option: str = "--url", collector: bool = True) -> Address:
    """The results API of the record at `url`: a base address (http://host:port, or a path prefix ending in '/') gets
    /api/v1/results; an address ending in it is kept. Any other path is another collector's endpoint when `collector`
    (`meek submit --url` posts there as it always did), else taken as a base too (`meek record pull`)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option} must be an http:// or https:// address (got '{printable_field(url)[:200]}')")
    path = parts.path.rstrip("/")
    if not path.endswith(API_PATH):
        if parts.path and not parts.path.endswith("/") and collector:
            return Address(urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")), record=False)
        path += API_PATH
    return Address(urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", "")), record=True)


@dataclass
class Answer:
    """What the other end said to a submission: stored (a new id), existing (the id already holding the same
    measurement, and why it is the same), refused (every reason), or, from a collector that is not a meek record, its
    status and reply as one line of text."""

    status: int
    id: int | None = None
    existing: bool = False
    reason: str = ""
    refused: bool = False
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    text: str = ""


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _texts(client: Client, values: object) -> list[str]:
    """A list of strings from a server as lines fit to show (at most MAX_REASONS, each at most MAX_TEXT characters)."""
    if not isinstance(values, list):
        return []
    shown = [printable_field(client.scrub(value))[:MAX_TEXT] for value in values[:MAX_REASONS]]
    if len(values) > MAX_REASONS:
        shown.append(f"... and {len(values) - MAX_REASONS} more")
    return shown


def _detail(client: Client, response: httpx.Response) -> str:
    """The server's own words on an error: FastAPI's {"detail": ...}, else the start of its text."""
    body = _json(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    text = detail if isinstance(detail, str) else response.text[:2000]
    return printable_field(client.scrub(text.strip()))[:MAX_TEXT]


def _id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def submit(where: Address, document: dict, token: str | None, timeout_s: float = SUBMIT_TIMEOUT_S) -> Answer:
    """POST a result document; the answer, or a MeekError of one line (unreachable, a redirect, a token needed or
    refused, over the size cap, rate-limited, any other error status). A redirect is never followed: a POST replayed
    elsewhere, or turned into a GET, would report another address's answer."""
    with Client(where.url, api_key=token, timeout_s=timeout_s, role=where.role) as client:
        response = client.send(where.url, document, check=False)
        return _answer(client, where, response, token is not None)


def _answer(client: Client, where: Address, response: httpx.Response, sent_token: bool) -> Answer:
    status, the = response.status_code, f"the {where.role} at {where.shown}"
    if response.is_redirect:
        moved = printable_field(client.scrub(response.headers.get("Location", "elsewhere")))[:200]
        raise MeekError(f"{the} answered HTTP {status} (moved to {moved}): the file was not posted; use the address it names")
    body = _json(response)
    if status == 401:
        if not sent_token:
            raise MeekError(
                f"{the} needs a token: --token or MEEK_TOKEN (whoever runs it makes one with `meek serve tokens create NAME`)"
            )
        raise MeekError(f"{the} refused the token ({_detail(client, response)}): check --token or MEEK_TOKEN")
    if status == 413:
        raise MeekError(f"{the} refused the file as too large: {_detail(client, response)}")
    if status == 429:
        retry = response.headers.get("Retry-After", "").strip()
        after = f" (Retry-After {int(retry)} s)" if retry.isdigit() and len(retry) < 9 else ""
        raise MeekError(f"{the} takes no more submissions from this token for now: {_detail(client, response)}{after}")
    if isinstance(body, dict) and status == 422 and isinstance(body.get("reasons"), list):
        return Answer(
            status, refused=True, reasons=_texts(client, body["reasons"]), warnings=_texts(client, body.get("warnings"))
        )
    if isinstance(body, dict) and status in (200, 201) and _id(body.get("id")) is not None:
        reason = body.get("reason") if isinstance(body.get("reason"), str) else "the same measurement is stored already"
        return Answer(
            status,
            id=_id(body["id"]),
            existing=body.get("existing") is True or status == 200,
            reason=printable_field(client.scrub(reason))[:MAX_TEXT],
            warnings=_texts(client, body.get("warnings")),
        )
    if status >= 400:
        detail = _detail(client, response)
        hint = (
            " (is it a meek serve? give its address, http://host:port/, or the full .../api/v1/results)"
            if status in (404, 405)
            else ""
        )
        reason = printable_field(client.scrub(response.reason_phrase))[:80]
        raise MeekError(f"{the} refused the file: HTTP {status} {reason}" + (f": {detail}" if detail else "") + hint)
    return Answer(status, text=f"{status} {printable_field(client.scrub(response.text[:2000].strip()))[:200]}")


def post(report: FileReport, where: Address, token: str | None = None, timeout_s: float = SUBMIT_TIMEOUT_S) -> Answer:
    """`meek submit --url`: the file that validated (check_for_submission), cleaned of local paths, posted."""
    assert report.result is not None  # a report that validated
    return submit(where, signed_document(cleaned(report.result)), token, timeout_s)


class RecordReader:
    """The files of a record, read over one pooled connection: the ids it lists, then each file as it was received."""

    def __init__(self, where: Address, timeout_s: float = PULL_TIMEOUT_S):
        self.where = where
        self.client = Client(where.url, timeout_s=timeout_s, role="record")

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _not_a_record(self, what: str) -> MeekError:
        return MeekError(
            f"the record at {self.where.shown} {what}: is it a meek serve? (give its address, http://host:port/, or the "
            "full .../api/v1/results)"
        )

    def _status(self, response: httpx.Response, what: str) -> MeekError:
        """One line for an answer other than 200 to a GET: a redirect (never followed), no such API, any other error."""
        status, the = response.status_code, f"the record at {self.where.shown}"
        if response.is_redirect:
            moved = printable_field(self.client.scrub(response.headers.get("Location", "elsewhere")))[:200]
            return MeekError(f"{the} answered HTTP {status} for {what} (moved to {moved}): redirects are not followed")
        if status in (404, 405):
            return self._not_a_record(f"answered HTTP {status} for {what}")
        reason = printable_field(self.client.scrub(response.reason_phrase))[:80]
        detail = _detail(self.client, response)
        return MeekError(f"{the} answered HTTP {status} {reason} for {what}" + (f": {detail}" if detail else ""))

    def ids(self) -> list[int]:
        """Every result id the record lists, page by page in the order it stored them (each id once: a listing that
        repeats itself ends, it does not loop)."""
        found: list[int] = []
        seen: set[int] = set()
        offset = 0
        while True:
            response = self.client.send(f"{self.where.url}?limit={PAGE}&offset={offset}", check=False)
            if response.status_code != 200:
                raise self._status(response, "its results listing")
            page = _json(response)
            rows = page.get("results") if isinstance(page, dict) else None
            total = page.get("total") if isinstance(page, dict) else None
            if not isinstance(rows, list) or _id(total) is None:
                raise self._not_a_record("did not answer with a listing of results")
            ids = [_id(row.get("id")) if isinstance(row, dict) else None for row in rows]
            if any(i is None for i in ids):
                raise self._not_a_record("listed a result without a numeric id")
            new = [i for i in ids if i is not None and i not in seen]
            seen.update(new)
            found += new
            offset += len(rows)
            if not new or offset >= (_id(total) or 0):
                return found

    def document(self, result_id: int) -> bytes | None:
        """The stored file's bytes; None when the record no longer has it (404)."""
        response = self.client.send(f"{self.where.url}/{result_id}", check=False)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._status(response, f"result {result_id}")
        return response.content


def check_received(data: bytes, folder: Path, validator: Validator, name: str) -> FileReport:
    """`meek validate`'s verdict on bytes from elsewhere, as a file of the tree: written to a private temporary file in
    `folder` and read back through the strict reader (size cap, strict JSON, no markup or control characters), then
    the schema, content hash and plausibility checks."""
    report = FileReport(Path(name))
    if len(data) > MAX_FILE_BYTES:
        report.failures.append(f"file is {len(data) / 2**20:.1f} MiB, over the {MAX_FILE_BYTES / 2**20:g} MiB limit")
        return report
    with tempfile.NamedTemporaryFile(dir=folder, prefix="pulled-", suffix=".json") as handle:
        handle.write(data)
        handle.flush()
        validator.now = dt.datetime.now(dt.timezone.utc)
        checked = validator.check(Path(handle.name))
    checked.path = Path(name)
    return checked


def samples_of(result: BenchResult) -> tuple:
    """The raw samples of every run, as `meek validate` compares them to find a copy (empty for summary-only runs)."""
    return tuple(tuple(run.samples_ns) for run in result.runs if run.samples_ns)


class Held(Present):
    """What a results tree holds already, by machine folder: the same file (Present: by content hash, an older
    schema_version as migrated), or a file with the same raw samples under other details (the submitter's own copy
    before `meek submit` cleaned its local paths): a measurement the tree has, which validate would count once."""

    def __init__(self, results_dir: Path) -> None:
        super().__init__(results_dir)
        self.samples: dict[Path, dict[tuple, Path]] = {}

    def _samples(self, result: BenchResult) -> dict[tuple, Path]:
        folder = result_path(self.results_dir, result).parent
        if folder not in self.samples:
            found: dict[tuple, Path] = {}
            for path in result_files([folder]) if folder.is_dir() and not folder.is_symlink() else []:
                try:
                    document = read_json(path)
                    if isinstance(document, dict):
                        found.setdefault(samples_of(validate_document(document, str(path))), path)
                except (Rejected, MeekError):  # not a readable result: holds no measurement
                    continue
            found.pop((), None)
            self.samples[folder] = found
        return self.samples[folder]

    def find(self, result: BenchResult) -> Path | None:
        samples = samples_of(result)
        return super().find(result) or (self._samples(result).get(samples) if samples else None)

    def add(self, result: BenchResult, path: Path) -> None:
        super().add(result, path)
        if samples_of(result):
            self._samples(result).setdefault(samples_of(result), path)
