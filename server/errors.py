"""The one place where an error becomes an HTTP status and a JSON body.

    engine / querylang error        status  body
    IngestError                     400     {"error", "line"} for NDJSON and a single object,
                                            {"error", "index"} for a JSON array
    QuerySyntaxError                400     {"error", "column", "expected"}
    QueryError                      400     {"error"}
    QueryTooBroadError              422     {"error"}   the query is fine but asks for too much; narrow it
    BackpressureError               503     {"error"} + Retry-After   segment writing is behind; retry
    EngineClosedError               503     {"error"} + Retry-After   the server is shutting down
    QueryTimeoutError               504     {"error"}
    WriteFailedError                500     {"error"}   a write failed; the server takes no more writes
    other StrataError               500     {"error"}
    RequestError (this server)      its own status (400, 413, 415)

Bodies copy the engine's position fields as they are (`line` 1-based, `index` 0-based, `column` 1-based).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import orjson

from engine import (
    BackpressureError,
    EngineClosedError,
    IngestError,
    QueryError,
    QuerySyntaxError,
    QueryTimeoutError,
    QueryTooBroadError,
    StrataError,
    WriteFailedError,
)


class RequestError(Exception):
    """A request this server refuses before the engine sees it (bad parameter, body too large, ...)."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> bytes:
        return orjson.dumps(self.body)


def error_response(exc: BaseException) -> ErrorResponse | None:
    """The response for `exc`, or None when it is not an error this API answers (a bug: let it raise)."""
    if isinstance(exc, RequestError):
        return ErrorResponse(exc.status, {"error": str(exc), **exc.extra})
    if isinstance(exc, IngestError):
        # engine.append (a JSON array body) gives no line; append_ndjson (NDJSON, one object) always does.
        if exc.line is None:
            return ErrorResponse(400, {"error": str(exc), "index": exc.index})
        return ErrorResponse(400, {"error": str(exc), "line": exc.line})
    if isinstance(exc, QuerySyntaxError):
        body: dict[str, object] = {"error": str(exc), "column": exc.column}
        expected = getattr(exc, "expected", None)
        if expected:
            body["expected"] = sorted(expected) if isinstance(expected, set | frozenset) else expected
        return ErrorResponse(400, body)
    if isinstance(exc, QueryError):
        return ErrorResponse(400, {"error": str(exc)})
    if isinstance(exc, QueryTooBroadError):
        return ErrorResponse(422, {"error": str(exc)})
    if isinstance(exc, BackpressureError):
        retry = max(1, math.ceil(exc.retry_after))
        return ErrorResponse(
            503,
            {"error": f"ingest is ahead of segment writing; retry in {retry} s ({exc})"},
            {"Retry-After": str(retry)},
        )
    if isinstance(exc, EngineClosedError):
        return ErrorResponse(503, {"error": "the server is shutting down"}, {"Retry-After": "1"})
    if isinstance(exc, QueryTimeoutError):
        return ErrorResponse(504, {"error": str(exc)})
    if isinstance(exc, WriteFailedError):
        return ErrorResponse(500, {"error": f"{exc} (the server takes no more writes; restart it)"})
    if isinstance(exc, StrataError):
        return ErrorResponse(500, {"error": f"{type(exc).__name__}: {exc}"})
    return None
