"""A `Store` over the HTTP API of a running `strata serve` (see the server issue for the endpoints)."""

from __future__ import annotations

import http.client
import itertools
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import orjson

from .store import BadQuery, BatchRefused, SearchPage, Stats, TailDropped, Unavailable

DEFAULT_SERVER = "http://127.0.0.1:3000"

# Requests other than tail give up after this long: a search has a 30 s budget on the server.
REQUEST_TIMEOUT = 60.0
# How many times an ingest batch is retried when the server answers 503 (segment writing behind).
BACKPRESSURE_RETRIES = 30
_POSITION_PREFIX = re.compile(r"^(?:line|log) \d+: ")


class RemoteStore:
    """Talks to the server at `url` (e.g. http://127.0.0.1:3000). One keep-alive connection is reused
    for ordinary requests; streams (tail, export) get their own."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unavailable(f"not a server address: {url!r} (expected e.g. {DEFAULT_SERVER})")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> RemoteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the Store interface -------------------------------------------------------------------

    def search(self, query: str, *, start: str | None, end: str | None, limit: int,
               cursor: str | None = None, order: str = "newest") -> SearchPage:
        params = {"q": query, "start": start, "end": end, "limit": limit, "cursor": cursor, "order": order}
        status, _, body = self._request("GET", "/api/v1/search", params)
        data = self._json_or_raise(status, body)
        return SearchPage(total=data["total"], logs=data["hits"], next_cursor=data.get("next_cursor"),
                          took_ms=float(data.get("took_ms") or 0.0))

    def export_raw(self, query: str, *, start: str | None, end: str | None) -> Iterator[bytes]:
        conn, resp = self._open_stream("/api/v1/export", {"q": query, "start": start, "end": end},
                                       timeout=REQUEST_TIMEOUT)
        try:
            for line in resp:
                line = line.rstrip(b"\r\n")
                if line:
                    yield line
        finally:
            conn.close()

    def append_ndjson(self, body: bytes) -> int:
        headers = {"Content-Type": "application/x-ndjson"}
        for _ in range(BACKPRESSURE_RETRIES):
            status, resp_headers, data = self._request("POST", "/api/v1/logs", None, body, headers)
            if status != 503:
                break
            time.sleep(_retry_after(resp_headers.get("Retry-After")))
        if status == 400:
            error = _json_error(data)
            line = error.get("line")
            if line is None and error.get("index") is not None:
                line = int(error["index"]) + 1
            # The engine's message starts with the position in the batch, which means nothing to the user.
            reason = _POSITION_PREFIX.sub("", str(error.get("error") or "refused"))
            raise BatchRefused(reason, line)
        if status == 413:
            raise BatchRefused(f"the server refused the batch as too large: {_error_text(data)}; "
                               "use a smaller --batch-size", None)
        return int(self._json_or_raise(status, data)["accepted"])

    def flush(self) -> None:
        """Nothing to do: the server writes segments on its own."""

    def stats(self) -> Stats:
        status, _, body = self._request("GET", "/metrics", None)
        if status != 200:
            raise Unavailable(f"{self.url}/metrics answered {status}: {_error_text(body)}")
        return stats_from_metrics(body.decode("utf-8", "replace"))

    def tail(self, query: str) -> Iterator[dict | TailDropped]:
        # Not a generator itself: this returns once the server says the subscription is live, so a
        # caller that looks back afterwards misses nothing in between.
        conn, resp = self._open_stream("/api/v1/tail", {"q": query}, timeout=None,
                                       headers={"Accept": "text/event-stream"})
        events = _sse_events(resp)
        try:
            for event, data in events:
                if event == "subscribed":
                    break
                if data is not None:  # an older server without the notice: nothing to wait for
                    events = itertools.chain([(event, data)], events)
                    break
        except BaseException:
            conn.close()
            raise
        return self._follow(conn, events)

    def _follow(self, conn: http.client.HTTPConnection, events: Iterator[tuple[str, bytes | None]]
                ) -> Iterator[dict | TailDropped]:
        try:
            for event, data in events:
                if data is None:
                    continue
                payload = orjson.loads(data)
                if event == "dropped":
                    yield TailDropped(int(payload.get("dropped", 0)) if isinstance(payload, dict) else 0)
                elif event in ("message", "log"):
                    yield from (payload if isinstance(payload, list) else [payload])
        finally:
            conn.close()

    # -- HTTP plumbing -------------------------------------------------------------------------

    def _new_connection(self, timeout: float | None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=timeout)

    def _path(self, path: str, params: dict | None) -> str:
        full = self._prefix + path
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            if query:
                full += "?" + query
        return full

    def _request(self, method: str, path: str, params: dict | None, body: bytes | None = None,
                 headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        target = self._path(path, params)
        # A kept-alive connection may have been closed by the server meanwhile: retry once on a new one.
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._new_connection(REQUEST_TIMEOUT)
            try:
                self._conn.request(method, target, body=body, headers=headers or {})
                resp = self._conn.getresponse()
                return resp.status, resp.headers, resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise self._unreachable(exc) from None
            except OSError as exc:
                self.close()
                raise self._unreachable(exc) from None
        raise AssertionError("unreachable")

    def _open_stream(self, path: str, params: dict, *, timeout: float | None,
                     headers: dict | None = None
                     ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._new_connection(timeout)
        try:
            conn.request("GET", self._path(path, params), headers=headers or {})
            resp = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise self._unreachable(exc) from None
        if resp.status != 200:
            body = resp.read()
            conn.close()
            self._json_or_raise(resp.status, body)
        return conn, resp

    def _unreachable(self, exc: BaseException) -> Unavailable:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        # A refused connection or an unknown host means the request never left this machine.
        maybe_sent = not isinstance(exc, ConnectionRefusedError | socket.gaierror)
        return Unavailable(f"cannot reach the server at {self.url} ({reason}); start one with "
                           "`strata serve`, or read a data directory directly with --data DIR",
                           maybe_sent=maybe_sent)

    def _json_or_raise(self, status: int, body: bytes) -> dict:
        if status == 200:
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                raise Unavailable(f"{self.url} answered with something that is not JSON; "
                                  "is it a Strata server?") from None
        error = _json_error(body)
        if status == 400:
            column = error.get("column")
            raise BadQuery(str(error.get("error") or "bad request"), int(column) if column else None)
        raise Unavailable(f"the server at {self.url} answered {status}: {_error_text(body)}")


def _json_error(body: bytes) -> dict:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"error": body.decode("utf-8", "replace")[:300]}
    return data if isinstance(data, dict) else {"error": str(data)}


def _error_text(body: bytes) -> str:
    return str(_json_error(body).get("error") or "no details")


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.05), 10.0)
    except ValueError:
        return 1.0


def _sse_events(resp: http.client.HTTPResponse) -> Iterator[tuple[str, bytes | None]]:
    """(event name, data) per Server-Sent Event, data lines joined with newlines. A comment line
    `: subscribed` comes out as ("subscribed", None); other comments (keepalives) are skipped."""
    data: list[bytes] = []
    event = b""
    for raw in resp:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield (event or b"message").decode(), b"\n".join(data)
            data, event = [], b""
        elif line.startswith(b":"):
            if line[1:].strip() == b"subscribed":
                yield "subscribed", None
        else:
            name, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value
            if name == b"event" and value == b"subscribed":
                yield "subscribed", None


# Prometheus metric names → Stats fields, as server/metrics.py names the `EngineStatistics` fields.
_METRIC_FIELDS = {
    "strata_logs": "logs",
    "strata_segments": "segments",
    "strata_disk_bytes": "bytes_on_disk",
    "strata_memtable_logs": "memtable_logs",
    "strata_wal_bytes": "wal_bytes",
    "strata_oldest_log_timestamp_seconds": "oldest_ns",
    "strata_newest_log_timestamp_seconds": "newest_ns",
}


def stats_from_metrics(text: str) -> Stats:
    """The engine's statistics out of the server's Prometheus text (`GET /metrics`)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        name = name.split("{", 1)[0]
        if name in _METRIC_FIELDS:
            try:
                values[_METRIC_FIELDS[name]] = float(rest.split()[0])
            except (ValueError, IndexError):
                continue
    if "logs" not in values:
        raise Unavailable("the server's /metrics has no strata_logs; is it a Strata server?")

    def time_ns(field: str) -> int | None:
        seconds = values.get(field)
        return None if seconds is None or seconds <= 0 else round(seconds * 1e9)

    def count(field: str) -> int | None:
        return None if field not in values else int(values[field])

    return Stats(logs=int(values["logs"]), segments=int(values.get("segments", 0)),
                 bytes_on_disk=int(values.get("bytes_on_disk", 0)),
                 oldest_ns=time_ns("oldest_ns"), newest_ns=time_ns("newest_ns"),
                 memtable_logs=count("memtable_logs"), wal_bytes=count("wal_bytes"))
