"""The one HTTP client (httpx): a pooled, keep-alive connection per server, errors as one line naming the server (never
its credentials), redirects never followed, and the time to connect measured apart from what a request then takes.

A benchmark's time to first token must not include opening the TCP connection: `Client.connect()` opens it (timed) before
the timed requests, which then reuse it. A streamed request may carry a deadline that holds against a server that
never answers or streams forever. Text a server sends is untrusted: `plain_text` makes it fit to show and to save.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from harness.errors import MeekError
from harness.text import one_line

TIMEOUT_S = 600.0
CONNECT_TIMEOUT_S = 10.0
MAX_BODY_BYTES = 64 * 2**20  # a whole (not streamed) answer larger than this is refused, not held in memory
MAX_LINE_BYTES = 2**20  # a streamed line (one server-sent event) longer than this is not an event: the stream is cut
HIDDEN = "[key hidden]"
# What the result validator (harness/results/reading.py) refuses as markup: '<' before a letter, '!', '/' or '?' (a tag),
# and a javascript: URL. plain_text writes the '<' as '‹' (U+2039) and the colon as '∶' (U+2236): the text stays readable.
TAG_START = re.compile(r"<(?=[A-Za-z!/?])")
SCRIPT_URL = re.compile(r"(javascript):", re.IGNORECASE)


def public_url(url: str) -> str:
    """The URL as it may be shown and saved: no user name or password, no query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return urllib.parse.urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""), parts.path, "", ""))


def secret_forms(secret: str | None) -> tuple[str, ...]:
    """A secret as a server may echo it: as sent, and as written inside a JSON string."""
    if not secret:
        return ()
    return tuple({secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]})


def plain_text(text: object, secrets: Iterable[str] = ()) -> str:
    """Untrusted text (a server's answer, an id it lists) as it may be shown and saved: each secret (an API key it
    echoed) replaced by '[key hidden]', every run of control characters (newlines, bidirectional overrides) as one space,
    and no markup the result validator refuses: '<b>' becomes '‹b>', 'javascript:' becomes 'javascript∶'."""
    text = str(text)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, HIDDEN)
    return SCRIPT_URL.sub("\\1\u2236", TAG_START.sub("\u2039", one_line(text)))


class Client:
    """Requests to one server over one pooled connection. Use as a context manager, or call close()."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = TIMEOUT_S, role: str = "server"):
        self.base_url = base_url.rstrip("/")
        self.role = role  # how errors name the other end: "the server at ...", "the collector at ..."
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.secrets = secret_forms(api_key)
        self.timeout_s = timeout_s
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            follow_redirects=False,  # a POST is never replayed to another address
            limits=httpx.Limits(max_keepalive_connections=64, max_connections=256),
            trust_env=False,  # no proxy from the environment between us and the server we time
        )
        self.connect_ns: list[int] = []  # each TCP (and TLS) connect this client made, in ns

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def scrub(self, text: object) -> str:
        """Text from this server as it may be shown and saved (plain_text, this client's key hidden)."""
        return plain_text(text, self.secrets)

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def _trace(self, event: str, info: dict) -> None:
        """httpx's trace hook: the time from starting a connect to having it (TCP, then TLS where there is one)."""
        if event in ("connection.connect_tcp.started", "connection.start_tls.started"):
            self._started = time.perf_counter_ns()
        elif event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.connect_ns.append(time.perf_counter_ns() - self._started)

    def _fail(self, url: str, error: Exception) -> MeekError:
        if isinstance(error, httpx.TimeoutException):
            return MeekError(f"the {self.role} at {public_url(url)} did not answer in time ({type(error).__name__})")
        article = "a" if self.role == "server" else "the"
        return MeekError(f"cannot reach {article} {self.role} at {public_url(url)}: {self.scrub(error)[:300]}")

    def _check(self, url: str, response: httpx.Response) -> None:
        where = f"the {self.role} at {public_url(url)}"
        if response.is_redirect:
            moved = self.scrub(response.headers.get("Location", "elsewhere"))[:200]
            raise MeekError(f"{where} answered HTTP {response.status_code} (moved to {moved}); redirects are not followed")
        if response.status_code >= 400:
            # read past the 300 characters shown by the longest key's length: a key cut in two is still hidden
            limit = 300 + 2 * max(map(len, self.secrets), default=0)
            detail = self.scrub(_head(response, limit).decode(errors="replace").strip())[:300]
            reason = self.scrub(response.reason_phrase)[:80]
            raise MeekError(f"{where} answered HTTP {response.status_code} {reason}: {detail}")

    def connect(self) -> None:
        """Open the pooled connection now (a HEAD of the base URL; any answer will do), so timed requests reuse it."""
        try:
            self._client.request("HEAD", self.base_url + "/", extensions={"trace": self._trace})
        except httpx.HTTPError as error:
            raise self._fail(self.base_url, error) from None

    def send(
        self, path: str, body: Any = None, timeout_s: float | None = None, method: str | None = None, check: bool = True
    ) -> httpx.Response:
        """The whole response to a GET (no body) or a POST of JSON, read within `timeout_s` (default: the client's) in
        all and at most MAX_BODY_BYTES of it (a server that answers forever is cut, not waited for or held in memory);
        a redirect or an HTTP error status is a MeekError unless `check` is false (the caller reads the status itself)."""
        url = self._url(path)
        limit_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.perf_counter() + limit_s
        timeout = httpx.Timeout(limit_s, connect=min(CONNECT_TIMEOUT_S, limit_s))
        verb = method or ("GET" if body is None else "POST")
        try:
            with self._client.stream(verb, url, json=body, timeout=timeout, extensions={"trace": self._trace}) as streamed:
                data = bytearray()
                for chunk in streamed.iter_bytes():
                    data += chunk
                    if len(data) > MAX_BODY_BYTES:
                        raise MeekError(
                            f"the {self.role} at {public_url(url)} answered over {MAX_BODY_BYTES // 2**20} MiB: cut off"
                        )
                    if time.perf_counter() > deadline:
                        raise MeekError(f"the {self.role} at {public_url(url)} was still answering after {limit_s:g} s: cut off")
        except httpx.HTTPError as error:
            raise self._fail(url, error) from None
        skip = {"content-encoding", "content-length", "transfer-encoding"}  # the body is kept decoded, whole
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in skip]
        response = httpx.Response(
            streamed.status_code, headers=headers, content=bytes(data), request=streamed.request, extensions=streamed.extensions
        )
        if check:
            self._check(url, response)
        return response

    def json(self, path: str, body: Any = None, timeout_s: float | None = None) -> Any:
        """The JSON a GET (no body) or a POST of JSON answers."""
        response = self.send(path, body, timeout_s)
        try:
            return response.json()
        except (ValueError, RecursionError):  # not JSON, or JSON nested past what the parser takes
            raise MeekError(
                f"the server at {public_url(self._url(path))} did not answer with JSON: is it the right kind of server?"
            ) from None

    @contextmanager
    def lines(self, path: str, body: Any, deadline: float | None = None) -> Iterator[Iterator[tuple[int, str]]]:
        """A streamed POST: its lines as they arrive, each with its arrival time (perf_counter_ns). With a `deadline`
        (a time.perf_counter() value) the request ends there whatever the server does: no wait (connect, send, read)
        runs past it, and a stream still going at it is cut with a MeekError."""
        url = self._url(path)
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if deadline is not None:  # no single wait (connect, send, a read) outlasts the deadline
            left = max(0.001, deadline - time.perf_counter())
            timeout = httpx.Timeout(min(self.timeout_s, left), connect=min(CONNECT_TIMEOUT_S, left))
        try:
            with self._client.stream("POST", url, json=body, timeout=timeout, extensions={"trace": self._trace}) as response:
                self._check(url, response)

                def arrivals() -> Iterator[tuple[int, str]]:
                    try:
                        yield from _split_lines(response.iter_bytes(), url, deadline, self.role)
                    except httpx.HTTPError as error:
                        raise self._fail(url, error) from None

                yield arrivals()
        except httpx.HTTPError as error:
            raise self._fail(url, error) from None

    def events(self, path: str, body: Any, deadline: float | None = None) -> Iterator[tuple[int, dict]]:
        """A server-sent-events stream (OpenAI's `data: {...}` lines until `data: [DONE]`), each event with its arrival;
        an event that is not a JSON object is a MeekError (a stream of lists or numbers is not a completion)."""
        done = events = False
        with self.lines(path, body, deadline) as lines:
            for arrived, line in lines:  # read to the end even after [DONE]: a response left unread closes the connection
                line = line.strip()
                if done or not line.startswith("data:"):
                    continue
                events = True
                payload = line[5:].strip()
                if payload == "[DONE]":
                    done = True
                    continue
                try:
                    event = json.loads(payload)
                except (ValueError, RecursionError):
                    raise MeekError(f"the server at {public_url(self._url(path))} streamed a line that is not JSON") from None
                if not isinstance(event, dict):
                    raise MeekError(
                        f"the server at {public_url(self._url(path))} streamed a {type(event).__name__}, not an event object"
                    )
                yield arrived, event
        if not events:
            raise MeekError(f"the server at {public_url(self._url(path))} answered with no server-sent event (no 'data:' line)")


def _head(response: httpx.Response, limit: int) -> bytes:
    """At most about `limit` bytes of a response's body (an error page may be endless: the rest is never read)."""
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


def _split_lines(chunks: Iterator[bytes], url: str, deadline: float | None, role: str) -> Iterator[tuple[int, str]]:
    """Lines (split at \\n, \\r or \\r\\n, decoded as UTF-8) from a body's chunks, each with the time it is handed on
    (perf_counter_ns); the deadline is checked at every chunk (a server that streams forever is cut there) and a line
    over MAX_LINE_BYTES is refused (one that never ends would fill the memory)."""
    pending = b""
    for chunk in chunks:
        if deadline is not None and time.perf_counter() > deadline:
            raise MeekError(f"the {role} at {public_url(url)} was still answering at the request's deadline: cut off")
        pieces = (pending + chunk).splitlines(keepends=True)
        pending = pieces.pop() if pieces and not pieces[-1].endswith((b"\n", b"\r")) else b""
        if len(pending) > MAX_LINE_BYTES:
            raise MeekError(f"the {role} at {public_url(url)} sent a line over {MAX_LINE_BYTES // 2**20} MiB: not an event")
        for piece in pieces:
            yield time.perf_counter_ns(), piece.rstrip(b"\r\n").decode(errors="replace")
    if pending:
        yield time.perf_counter_ns(), pending.decode(errors="replace")
