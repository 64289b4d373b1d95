"""The one mapping from engine errors to HTTP answers."""

from __future__ import annotations

import pytest

from engine import (
    BackpressureError,
    CorruptionError,
    EngineClosedError,
    IngestError,
    QueryError,
    QuerySyntaxError,
    QueryTimeoutError,
    QueryTooBroadError,
    WriteFailedError,
)
from querylang import parse
from server.errors import RequestError, error_response


def syntax_error() -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("level:(error")
    return caught.value


@pytest.mark.parametrize(
    ("exc", "status", "fields"),
    [
        (IngestError("invalid JSON", index=2, line=3), 400, {"line": 3}),
        (IngestError("expected a JSON object", index=4), 400, {"index": 4}),
        (QueryError("a regex on timestamp"), 400, {}),
        (QueryTooBroadError("too many rows"), 422, {}),
        (QueryTimeoutError("ran past 10 s"), 504, {}),
        (EngineClosedError("closed"), 503, {}),
        (WriteFailedError("fsync failed"), 500, {}),
        (CorruptionError("bad block", path="x.seg", offset=7), 500, {}),
        (RequestError(413, "too large"), 413, {}),
    ],
)
def test_status_and_position_fields(exc: Exception, status: int, fields: dict) -> None:
    response = error_response(exc)
    assert response is not None
    assert response.status == status
    assert response.body["error"]
    for key, value in fields.items():
        assert response.body[key] == value
    assert not {"line", "index", "column"} - set(fields) & set(response.body)


def test_syntax_error_carries_its_column() -> None:
    response = error_response(syntax_error())
    assert response is not None
    assert response.status == 400
    assert isinstance(response.body["column"], int)


def test_backpressure_says_when_to_retry() -> None:
    response = error_response(BackpressureError("behind", retry_after=1.2))
    assert response is not None
    assert (response.status, response.headers["Retry-After"]) == (503, "2")


def test_other_exceptions_are_not_swallowed() -> None:
    assert error_response(KeyError("bug")) is None
