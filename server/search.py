"""Reading logs back: /api/v1/search, /export (streamed NDJSON), /histogram, /fields, /fields/{name}/values.

Every engine call runs in a query thread (`ServerState.run_query`), and response bodies are built there too,
so a big page never holds the event loop. Search hits are the logs' original bytes, spliced into the
response without being parsed again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import trio
from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

import querylang

from .errors import RequestError
from .state import ServerState

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
# One export chunk: enough to amortise a thread hop, small enough to keep memory flat.
EXPORT_CHUNK_BYTES = 1 << 20
EXPORT_CHUNK_LOGS = 5_000

_parse = getattr(querylang, "parse", None)
_highlight_terms = getattr(querylang, "highlight_terms", None)


def parse_query(text: str) -> Any:
    """The parsed query (raises QuerySyntaxError), or the text itself if querylang has no parser yet."""
    return _parse(text) if _parse is not None else text


def _json_default(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(body: bytes | dict, status: int = 200) -> Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body, default=_json_default)
    return Response(data, status=status, content_type="application/json")


def rfc3339(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return text + ("." + f"{frac:09d}".rstrip("0") if frac else "") + "Z"


def int_arg(args: MultiDict, name: str, default: int, low: int, high: int) -> int:
    text = args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise RequestError(400, f"{name} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise RequestError(400, f"{name} must be between {low} and {high}, not {value}")
    return value


def query_args(args: MultiDict) -> tuple[str, str | None, str | None]:
    """(q, start, end): an empty or missing q is every log; times go to the engine as typed."""
    return (args.get("q") or "*").strip() or "*", args.get("start") or None, args.get("end") or None


def _search_body(hits: Any, parsed: Any) -> bytes:
    parts = [
        b'{"total":%d,"hits":[' % hits.total,
        b",".join(hits.raw),
        b'],"next_cursor":',
        orjson.dumps(hits.next_cursor),
        b',"took_ms":',
        orjson.dumps(round(hits.took * 1000, 3)),
    ]
    if _highlight_terms is not None and not isinstance(parsed, str):
        parts += [b',"highlight":', orjson.dumps(_highlight_terms(parsed), default=_json_default)]
    parts.append(b"}")
    return b"".join(parts)


def _next_chunk(logs: Iterator[bytes]) -> bytes:
    """The next export chunk as NDJSON (b"" at the end). Blocking: runs in a query thread."""
    out: list[bytes] = []
    size = 0
    for raw in logs:
        out.append(raw)
        size += len(raw) + 1
        if size >= EXPORT_CHUNK_BYTES or len(out) >= EXPORT_CHUNK_LOGS:
            break
    if not out:
        return b""
    out.append(b"")
    return b"\n".join(out)


def _close(logs: Iterator[bytes]) -> None:
    close = getattr(logs, "close", None)
    if close is not None:
        close()


def search_routes(state: ServerState) -> Blueprint:
    bp = Blueprint("search", __name__)

    @bp.get("/api/v1/search")
    async def search() -> Response:
        q, start, end = query_args(request.args)
        limit = int_arg(request.args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        cursor = request.args.get("cursor") or None
        order = request.args.get("order") or "newest"
        if order not in ("newest", "oldest"):
            raise RequestError(400, f'order must be "newest" or "oldest", not {order!r}')

        def run() -> bytes:
            parsed = parse_query(q)
            hits = state.require_engine().search(parsed, start=start, end=end, limit=limit, cursor=cursor, order=order)
            return _search_body(hits, parsed)

        return json_response(await state.run_query(run))

    @bp.get("/api/v1/export")
    async def export() -> Response:
        q, start, end = query_args(request.args)
        logs: Iterator[bytes] | None = None

        def open_export() -> bytes:
            nonlocal logs
            logs = iter(state.require_engine().export(parse_query(q), start=start, end=end))
            return _next_chunk(logs)

        # The first chunk is read before answering, so a bad query is a 400 rather than a broken stream.
        first = await state.run_query(open_export)
        assert logs is not None
        opened: Iterator[bytes] = logs

        async def stream() -> AsyncIterator[bytes]:
            try:
                chunk = first
                while chunk:
                    yield chunk
                    chunk = await state.run_query(lambda: _next_chunk(opened))
            finally:
                # The iterator pins a snapshot of the store; release it even when the client went away.
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(_close, opened)

        response = Response(stream(), content_type="application/x-ndjson")
        response.timeout = None  # an export of millions of logs may take minutes
        return response

    @bp.get("/api/v1/histogram")
    async def histogram() -> Response:
        q, start, end = query_args(request.args)
        interval = request.args.get("interval") or "1h"
        by = request.args.get("by") or None

        def run() -> bytes:
            parsed = parse_query(q)
            started = time.perf_counter()
            hist = state.require_engine().histogram(parsed, start=start, end=end, interval=interval, by=by)
            body: dict[str, object] = {
                "interval_ns": hist.interval_ns,
                "buckets": [{"start": rfc3339(t), "start_ns": t, "count": n} for t, n in hist.buckets],
            }
            series = getattr(hist, "series", None)
            if by is not None and series is not None:
                body["series"] = series
            body["took_ms"] = round((time.perf_counter() - started) * 1000, 3)
            return orjson.dumps(body)

        return json_response(await state.run_query(run))

    @bp.get("/api/v1/fields")
    async def fields() -> Response:
        pairs = await state.run_query(lambda: state.require_engine().fields())
        return json_response({"fields": [{"name": name, "count": count} for name, count in pairs]})

    @bp.get("/api/v1/fields/<path:name>/values")
    async def field_values(name: str) -> Response:
        q, start, end = query_args(request.args)
        top = int_arg(request.args, "top", 10, 1, 10_000)
        pairs = await state.run_query(
            lambda: state.require_engine().field_values(name, parse_query(q), top=top, start=start, end=end)
        )
        return json_response({"field": name, "values": [{"value": v, "count": c} for v, c in pairs]})

    return bp
