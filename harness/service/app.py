"""The record's web service (`meek serve`): result files in (`POST /api/v1/results`, checked as `meek validate` checks
them), the stored files out, and compare and advise answered from the database with the CLI's own functions
(harness/aggregate/answers.py), so `GET /api/v1/compare` is `meek compare --format json` over the same files; and the
site `meek report` writes, served live from the record (harness/service/pages.py): `/` is the leaderboard."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from harness.errors import MeekError, UsageError
from harness.memory_fit import DEFAULT_CONTEXT
from harness.record import queries
from harness.record.database import shown
from harness.record.ingest import EXISTING, STORED, Ingestor
from harness.service.guard import RateLimit, Refusal, capped_body, declared_length, sender
from harness.service.pages import LiveSite
from harness.version import __version__

API = "/api/v1"
MAX_PAGE = 500


@dataclass
class Settings:
    engine: Engine
    require_token: bool = False  # True: loopback clients need a token too (a public instance behind a reverse proxy)
    per_minute: int = 30  # submissions per token per minute
    site_interval: float = 10.0  # seconds between two rebuilds of the live site at most (0: whenever the record changed)


def create_app(settings: Settings) -> FastAPI:
    engine = settings.engine
    ingestor = Ingestor(engine)
    record = queries.RecordQueries(engine)  # compare and advise read only what they need; record.tree(): all of it
    answering = threading.Lock()  # one answer computed at a time over the shared Tree (pandas frames are not for threads)
    site = LiveSite(record, answering, shown(engine.url), settings.site_interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        site.start()  # the first build begins now; the first page request waits for it
        try:
            yield
        finally:
            await run_in_threadpool(site.stop)
            ingestor.close()

    app = FastAPI(
        lifespan=lifespan,
        title="meek-harness record",
        version=__version__,
        description="Result files of llama.cpp benchmarks, checked on the way in as `meek validate` checks them, and "
        "the answers of `meek compare` and `meek advise` drawn from them.",
    )
    limit = RateLimit(settings.per_minute)

    @app.exception_handler(Refusal)
    async def refused(request: Request, error: Refusal) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, status_code=error.status, headers=error.headers)

    @app.exception_handler(MeekError)
    async def meek_error(request: Request, error: MeekError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400 if isinstance(error, UsageError) else 422)

    @app.get(API)
    def description() -> dict:
        """What this service is: its version, the API's root and the OpenAPI pages."""
        return {"service": "meek-harness record", "version": __version__, "api": API, "docs": "/docs", "site": "/"}

    @app.post(
        f"{API}/results",
        status_code=201,
        responses={
            200: {"description": "The same measurement is stored already: its id"},
            401: {"description": "A token is needed"},
            413: {"description": "Over the size cap (refused before it is read)"},
            422: {"description": "Refused by the checks: every reason"},
            429: {"description": "The token's rate limit"},
        },
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
    )
    async def submit(request: Request) -> JSONResponse:
        """Submit a result file (the file's JSON as the body), checked as `meek validate` checks it."""
        declared_length(request)
        who = await sender(request, engine, settings.require_token, limit)
        body = await capped_body(request)
        outcome = await run_in_threadpool(ingestor.ingest, body, who)
        if outcome.status not in (STORED, EXISTING):
            return JSONResponse({"accepted": False, "reasons": outcome.reasons, "warnings": outcome.warnings}, status_code=422)
        answer = {"id": outcome.id, "url": str(request.url_for("result", result_id=outcome.id)), "warnings": outcome.warnings}
        if outcome.status == EXISTING:
            return JSONResponse({**answer, "existing": True, "reason": outcome.reasons[0]}, status_code=200)
        site.poke()  # the pages are rebuilt with it (at most once every site_interval seconds)
        return JSONResponse({**answer, "existing": False}, status_code=201)

    @app.get(f"{API}/results")
    def listing(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict:
        """The stored results in the order they arrived, a page at a time, with the total."""
        found = queries.page(engine, limit, offset)
        rows = [
            {
                **row,
                "created_utc": _iso(row["created_utc"]),
                "received_utc": _iso(row["received_utc"]),
                "url": str(request.url_for("result", result_id=row["id"])),
            }
            for row in found.rows
        ]
        return {"total": found.total, "limit": limit, "offset": offset, "results": rows}

    @app.get(f"{API}/results/{{result_id}}", name="result", responses={404: {"description": "No such result"}})
    def result(result_id: int) -> Response:
        """A stored result file, exactly as it was received."""
        text = queries.document(engine, result_id)
        if text is None:
            return JSONResponse({"detail": f"no result {result_id}"}, status_code=404)
        return Response(text, media_type="application/json")

    @app.get(f"{API}/compare")
    def compare(model: str | None = None, devices: str | None = None, tests: str | None = None) -> dict:
        """`meek compare --format json`: machines side by side for a model (comma lists of devices and tests)."""
        from harness.aggregate.answers import comparison, comparison_json

        with answering:
            answer = comparison(record.compare_tree(model), model, _items(tests), _items(devices), here=None)
            return comparison_json(answer)

    @app.get(f"{API}/advise")
    def advise(
        model: str,
        budget: Annotated[float | None, Query(ge=0)] = None,
        min_tg: Annotated[float | None, Query(ge=0)] = None,
        backend: str | None = None,
        ctx: Annotated[int, Query(ge=1, le=10_000_000)] = DEFAULT_CONTEXT,
    ) -> dict:
        """`meek advise -m MODEL --format json`: which device to buy for a model."""
        from harness.aggregate.advise import backend_option
        from harness.aggregate.answers import advice, advice_json
        from harness.catalogue.models import load_catalog, unknown_model_message

        catalog = load_catalog()
        entry = catalog.get(model)
        if entry is None:
            raise UsageError(unknown_model_message(model, catalog))
        with answering:
            runs, figures = record.advise_record()
            return advice_json(advice(runs, entry, budget, min_tg, backend_option(backend), ctx, record=figures))

    @app.get("/", include_in_schema=False)
    @app.get("/{path:path}", include_in_schema=False)
    def page(path: str = "") -> Response:
        """The site `meek report` writes, from the record: the leaderboard at /, then compare.html, buying.html,
        frontier.html, machines/ID.html, devices/ID.html and assets/ (only files inside the current build)."""
        if path.startswith(API.lstrip("/") + "/") or path == API.lstrip("/"):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        found = site.file(path)
        if found is None:
            if site.current is None and site.error:
                return JSONResponse({"detail": site.error}, status_code=503)
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return FileResponse(found, headers={"Cache-Control": "no-cache"})  # data.js changes with every build

    return app


def _items(text: str | None) -> list[str] | None:
    items = [item.strip() for item in text.split(",") if item.strip()] if text else []
    return items or None


def _iso(value: dt.datetime | None) -> str | None:
    """A stored time in UTC, ISO 8601 (SQLite gives it back without its zone; PostgreSQL in the session's)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat()
