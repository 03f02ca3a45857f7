"""Who may submit and how much: loopback clients without a token unless the service requires one for all, everyone else
with `Authorization: Bearer <token>`; tokens rate-limited; a request body over the reader's size cap refused before it
is read (its Content-Length), or as soon as it passes the cap (a body sent without one)."""

from __future__ import annotations

import collections
import ipaddress
import threading
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from harness.record import tokens
from harness.results.reading import MAX_FILE_BYTES

# headers a reverse proxy adds: a request that came through one is not from this machine, whatever the peer address says
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


class Refusal(Exception):
    """A request turned away before its body is read: the HTTP status, one line, and headers to send."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def from_loopback(request: Request) -> bool:
    """The TCP peer is this machine (uvicorn runs without proxy-header rewriting) and no proxy forwarded the request."""
    if request.client is None or any(name in request.headers for name in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


class RateLimit:
    """At most `per_minute` submissions per token in any 60 seconds (in this process)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.times: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.lock = threading.Lock()

    def wait_s(self, name: str) -> float:
        """0 and the submission counted, or the seconds until the token may submit again."""
        now = time.monotonic()
        with self.lock:
            recent = self.times[name]
            while recent and now - recent[0] >= 60:
                recent.popleft()
            if len(recent) >= self.per_minute:
                return 60 - (now - recent[0])
            recent.append(now)
            return 0.0


async def sender(request: Request, engine, require_token: bool, limit: RateLimit) -> str:
    """Who is submitting: a token's name, or 'loopback'; Refusal (401, 429) otherwise."""
    header = request.headers.get("authorization")
    if header is None:
        if not require_token and from_loopback(request):
            return "loopback"
        why = "this service takes submissions with a token" if require_token else "submitting from elsewhere needs a token"
        raise Refusal(401, f"{why}: send Authorization: Bearer <token> (meek serve tokens create NAME)", _CHALLENGE)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refusal(401, "Authorization must be 'Bearer <token>'", _CHALLENGE)
    name = await run_in_threadpool(tokens.name_of, engine, token.strip())
    if name is None:
        raise Refusal(401, "unknown token", _CHALLENGE)
    wait = limit.wait_s(name)
    if wait > 0:
        raise Refusal(
            429, f"token '{name}' may submit {limit.per_minute} files a minute: try again later", {"Retry-After": f"{wait:.0f}"}
        )
    return name


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def declared_length(request: Request) -> None:
    """Refuse (413) a body whose Content-Length is over the cap, before a byte of it is read."""
    length = request.headers.get("content-length")
    if length is None:
        return
    if not length.isdigit() or len(length) > 18:
        raise Refusal(400, "Content-Length is not a number")
    if int(length) > MAX_FILE_BYTES:
        raise Refusal(413, _too_large(int(length)))


async def capped_body(request: Request) -> bytes:
    """The body, read only up to the cap: one byte past it and the request is refused (413)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FILE_BYTES:
            raise Refusal(413, _too_large(None))
    return bytes(body)


def _too_large(size: int | None) -> str:
    what = f"{size / 2**20:.1f} MiB" if size is not None else "over the limit"
    return f"the file is {what}: a result file is at most {MAX_FILE_BYTES / 2**20:g} MiB"
