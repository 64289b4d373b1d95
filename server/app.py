"""create_app: the ASGI application, Quart-Trio for the API plus a direct path for ingest POSTs.

    StrataApp (ASGI)                          counts and times every request for /metrics
    ├── POST / and /api/v1/logs  -> IngestHandler (plain ASGI, see ingest.py for why)
    └── everything else          -> QuartTrio app: search, export, histogram, fields, tail, healthz,
                                    metrics, openapi.json, the console (GET / and /static/...)

The Quart app's lifespan (before_serving/after_serving) starts and stops `ServerState`. This server has no
background loops: tail deliveries are pushed into the event loop by the engine's callbacks, so there is
nothing to keep alive between requests.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import trio
from quart import Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from engine import QuerySyntaxError, StrataError

from . import metrics
from .asgi import Receive, Scope, Send
from .config import ServerConfig
from .errors import RequestError, error_response
from .ingest import IngestHandler
from .search import json_response, search_routes
from .state import ServerState
from .tail import tail_routes

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
OPENAPI_PATH = PACKAGE_DIR / "openapi.json"
INGEST_PATHS = frozenset({"/", "/api/v1/logs"})


class StrataApp:
    """The ASGI callable given to Hypercorn."""

    def __init__(self, state: ServerState, quart_app: QuartTrio) -> None:
        self.state = state
        self.quart = quart_app
        self.ingest = IngestHandler(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.quart(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app dies before answering, Hypercorn answers 500
        requests = self.state.metrics

        async def send_and_watch(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        requests.in_flight += 1
        try:
            if scope["method"] == "POST" and scope["path"] in INGEST_PATHS:
                await self.ingest(scope, receive, send_and_watch)
            else:
                await self.quart(scope, receive, send_and_watch)
        finally:
            requests.in_flight -= 1
            requests.observe(metrics.route_label(scope["path"]), scope["method"], status, time.perf_counter() - started)


def create_app(config: ServerConfig, state: ServerState | None = None) -> StrataApp:
    """The ASGI app. Given a `state` holding an open engine, the caller owns that engine (`serve` does);
    otherwise the app opens the engine at startup and closes it at shutdown."""
    state = state if state is not None else ServerState(config)
    app = QuartTrio(__name__, static_folder=str(STATIC_DIR), static_url_path="/static", root_path=str(PACKAGE_DIR))
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.register_blueprint(search_routes(state))
    app.register_blueprint(tail_routes(state))
    openapi = OPENAPI_PATH.read_bytes()

    @app.before_serving
    async def startup() -> None:
        await state.startup()

    @app.after_serving
    async def shutdown() -> None:
        await state.shutdown()

    @app.get("/healthz")
    async def healthz() -> Response:
        if state.engine is None or state.stopping.is_set():
            return json_response({"status": "stopping"}, 503)
        return json_response({"status": "ok"})

    @app.get("/metrics")
    async def metrics_text() -> Response:
        engine = state.engine
        stats = await state.run_query(engine.statistics) if engine is not None else None
        text = metrics.render(stats, state.metrics)
        return Response(text, content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return Response(openapi, content_type="application/json")

    @app.get("/")
    async def console() -> Response:
        if not await trio.Path(STATIC_DIR / "index.html").is_file():
            return Response(
                "<!doctype html><title>Strata</title><p>Strata is running. The console is not installed; "
                'the API is described at <a href="/openapi.json">/openapi.json</a>.',
                content_type="text/html; charset=utf-8",
            )
        return await app.send_static_file("index.html")

    async def api_error(exc: Exception) -> Response:
        response = error_response(exc)
        if response is None:
            raise exc
        return Response(
            response.json(), status=response.status, headers=response.headers, content_type="application/json"
        )

    async def http_error(exc: HTTPException) -> Response:
        body = orjson.dumps({"error": exc.description or exc.name})
        return Response(body, status=exc.code or 500, content_type="application/json")

    app.register_error_handler(RequestError, api_error)
    app.register_error_handler(StrataError, api_error)
    app.register_error_handler(QuerySyntaxError, api_error)
    app.register_error_handler(HTTPException, http_error)
    return StrataApp(state, app)
