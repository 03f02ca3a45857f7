"""The one HTTP client (httpx): a pooled, keep-alive connection per server, errors as one line naming the server (never
its credentials), redirects never followed, and the time to connect measured apart from what a request then takes.

A benchmark's time to first token must not include opening the TCP connection: `Client.connect()` opens it (timed) before
the timed requests, which then reuse it.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from harness.errors import MeekError
from harness.output import printable_field

TIMEOUT_S = 600.0
CONNECT_TIMEOUT_S = 10.0


def public_url(url: str) -> str:
    """The URL as it may be shown and saved: no user name or password, no query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return urllib.parse.urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""), parts.path, "", ""))


class Client:
    """Requests to one server over one pooled connection. Use as a context manager, or call close()."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = TIMEOUT_S, role: str = "server"):
        self.base_url = base_url.rstrip("/")
        self.role = role  # how errors name the other end: "the server at ...", "the collector at ..."
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
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
        return MeekError(f"cannot reach {article} {self.role} at {public_url(url)}: {error}")

    def _check(self, url: str, response: httpx.Response) -> None:
        where = f"the {self.role} at {public_url(url)}"
        if response.is_redirect:
            moved = printable_field(response.headers.get("Location", "elsewhere"))[:200]
            raise MeekError(f"{where} answered HTTP {response.status_code} (moved to {moved}); redirects are not followed")
        if response.status_code >= 400:
            detail = printable_field(response.read()[:300].decode(errors="replace").strip())
            raise MeekError(f"{where} answered HTTP {response.status_code} {response.reason_phrase}: {detail}")

    def connect(self) -> None:
        """Open the pooled connection now (a HEAD of the base URL; any answer will do), so timed requests reuse it."""
        try:
            self._client.request("HEAD", self.base_url + "/", extensions={"trace": self._trace})
        except httpx.HTTPError as error:
            raise self._fail(self.base_url, error) from None

    def send(
        self, path: str, body: Any = None, timeout_s: float | None = None, method: str | None = None, check: bool = True
    ) -> httpx.Response:
        """The whole response to a GET (no body) or a POST of JSON; a redirect or an HTTP error status is a MeekError
        unless `check` is false (the caller reads the status itself)."""
        url = self._url(path)
        extra = {"timeout": timeout_s} if timeout_s is not None else {}
        try:
            response = self._client.request(
                method or ("GET" if body is None else "POST"),
                url,
                json=body,
                extensions={"trace": self._trace},
                **extra,  # type: ignore[arg-type]
            )
        except httpx.HTTPError as error:
            raise self._fail(url, error) from None
        if check:
            self._check(url, response)
        return response

    def json(self, path: str, body: Any = None, timeout_s: float | None = None) -> Any:
        """The JSON a GET (no body) or a POST of JSON answers."""
        response = self.send(path, body, timeout_s)
        try:
            return response.json()
        except ValueError:
            raise MeekError(
                f"the server at {public_url(self._url(path))} did not answer with JSON: is it the right kind of server?"
            ) from None

    @contextmanager
    def lines(self, path: str, body: Any) -> Iterator[Iterator[tuple[int, str]]]:
        """A streamed POST: its lines as they arrive, each with its arrival time (perf_counter_ns)."""
        url = self._url(path)
        try:
            with self._client.stream("POST", url, json=body, extensions={"trace": self._trace}) as response:
                self._check(url, response)

                def arrivals() -> Iterator[tuple[int, str]]:
                    try:
                        for line in response.iter_lines():
                            yield time.perf_counter_ns(), line
                    except httpx.HTTPError as error:
                        raise self._fail(url, error) from None

                yield arrivals()
        except httpx.HTTPError as error:
            raise self._fail(url, error) from None

    def events(self, path: str, body: Any) -> Iterator[tuple[int, dict]]:
        """A server-sent-events stream (OpenAI's `data: {...}` lines until `data: [DONE]`), each event with its arrival."""
        done = False
        with self.lines(path, body) as lines:
            for arrived, line in lines:  # read to the end even after [DONE]: a response left unread closes the connection
                line = line.strip()
                if done or not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    done = True
                    continue
                try:
                    event = json.loads(payload)
                except ValueError:
                    raise MeekError(f"the server at {public_url(self._url(path))} streamed a line that is not JSON") from None
                if isinstance(event, dict):
                    yield arrived, event
