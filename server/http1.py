"""HTTP/1.1 connections served to an ASGI app, parsed by httptools: what front processes run.

Hypercorn and h11 spend ~300 us of a core on every request in Python (server/relay.py); httptools parses
in C (llhttp, as Node.js and uvicorn do), and this module does the rest with a few calls per request. An
empty ASGI app answers single-log posts from the benchmark's client (64 connections) at 23,614-26,763
requests/s in one process here, against 2,856-3,211 on Hypercorn. It serves one app, FrontApp, so it
covers what that app needs and no more:

- HTTP/1.0 and 1.1, keep-alive, pipelined requests (answered in order), chunked request bodies, and
  `Expect: 100-continue` (the 100 is sent when the app first asks for the body).
- The body is read from the socket only when the app asks for it, so a slow app holds back a fast client.
  An app that answers before reading the whole body (a 413) ends the connection after its answer.
- Answers with a content-length are sent as they are; a streamed one (more_body) goes chunked to an
  HTTP/1.1 client and close-delimited to an HTTP/1.0 one. HEAD answers carry no body.
- Malformed requests get 400, heads over MAX_HEAD_BYTES 431, both then closed. A connection idle for
  IDLE_TIMEOUT seconds between requests, or slower than that to send a request's head, is closed.
- `receive()` after the whole body gives `http.disconnect` once the client closes (FrontApp watches for it
  during streamed answers); `send()` to a client that has gone does nothing, as on Hypercorn.
- Shutdown: `serve` stops accepting, closes idle connections, and lets requests in flight finish for up to
  `graceful_timeout` seconds; their connections close after the answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools
import trio

from .asgi import ASGIApp, Message

log = logging.getLogger("strata.server")
access_log = logging.getLogger("hypercorn.access")  # the owner's Hypercorn logs requests under this name

IDLE_TIMEOUT = 5.0  # Hypercorn's keep-alive timeout
MAX_HEAD_BYTES = 64 << 10
MAX_HEADERS = 100
_READ_BYTES = 64 << 10
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Request:
    """One request as the parser gives it: head, then body parts."""

    __slots__ = ("body", "complete", "expect_continue", "head_done", "headers", "keep_alive", "method", "url",
                 "version")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.body: deque[bytes] = deque()
        self.complete = False
        self.keep_alive = False
        self.expect_continue = False
        self.method = ""
        self.version = "1.1"


class _Parsed:
    """httptools' callbacks: requests parsed so far, oldest first (more than one when pipelined)."""

    def __init__(self) -> None:
        self.requests: deque[_Request] = deque()
        self.parser = httptools.HttpRequestParser(self)
        self.head_bytes = 0  # bytes read while the newest request's head was incomplete

    def on_message_begin(self) -> None:
        self.requests.append(_Request())

    def on_url(self, url: bytes) -> None:
        self.requests[-1].url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self.requests[-1]
        if len(request.headers) >= MAX_HEADERS:
            raise _HeadTooLarge
        request.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        request = self.requests[-1]
        parser = self.parser
        self.head_bytes = 0
        request.head_done = True
        request.method = parser.get_method().decode("ascii")
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        request.expect_continue = (b"expect", b"100-continue") in ((n, v.lower()) for n, v in request.headers)

    def on_body(self, body: bytes) -> None:
        self.requests[-1].body.append(body)

    def on_message_complete(self) -> None:
        self.requests[-1].complete = True


class _HeadTooLarge(Exception):
    pass


class _BadRequest(Exception):
    pass


_date = (0, b"")


def _date_header() -> bytes:
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True).encode("ascii"))
    return _date[1]


class _Connection:
    def __init__(self, stream: trio.SocketStream, server: Server) -> None:
        self.stream = stream
        self.server = server
        self.parsed = _Parsed()
        self.eof = False
        self.closed = False  # the client has gone: sends go nowhere
        self.failed: Exception | None = None  # a malformed body: answered once the app is done with it
        self.idle = trio.CancelScope()
        self.client, self.sockname = _addresses(stream.socket)

    async def _read(self) -> None:
        """Feed one read's worth to the parser; sets `eof` when the client has closed its side."""
        try:
            data = await self.stream.receive_some(_READ_BYTES)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self.eof = True
            return
        parsed = self.parsed
        requests = parsed.requests
        try:
            parsed.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No protocol to switch to: the request is answered as plain HTTP, then the connection ends
            # (the parser takes nothing more after an upgrade).
            requests[-1].keep_alive = False
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                raise _HeadTooLarge from None
            raise
        except httptools.HttpParserError as exc:
            raise _BadRequest(str(exc) or type(exc).__name__) from None
        if requests and not requests[-1].head_done:
            # Counted from the read where the head starts, so a little of what came before it may count.
            parsed.head_bytes += len(data)
            if parsed.head_bytes > MAX_HEAD_BYTES:
                raise _HeadTooLarge

    async def run(self) -> None:
        try:
            while not self.server.stopping:
                request = await self._next_request()
                if request is None:
                    break
                keep = await self._serve(request)
                if self.failed is not None:
                    raise self.failed
                if not keep:
                    break
        except _BadRequest as exc:
            await self._refuse(400, f"malformed HTTP request: {exc}")
        except _HeadTooLarge:
            await self._refuse(431, f"request head over {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers")
        except Exception:  # a bug here must end this connection only, not every other of the process
            log.exception("connection from %s failed", self.client)
        finally:
            self.closed = True
            self.server.connections.discard(self)
            await self.stream.aclose()

    async def _next_request(self) -> _Request | None:
        """The next request with its whole head, or None once the client closes or idles past the timeout
        (or the server begins to stop while no request is in flight)."""
        requests = self.parsed.requests
        with trio.move_on_after(IDLE_TIMEOUT) as self.idle:
            if self.server.stopping:
                self.idle.cancel()
            while not (requests and requests[0].head_done):
                if self.eof:
                    if requests:  # a request cut off in its head
                        raise _BadRequest("connection closed in the middle of a request head")
                    return None
                await self._read()
            return requests[0]
        return None

    async def _serve(self, request: _Request) -> bool:
        """Run the app on `request`; True if the connection may carry another."""
        raw_target = request.url
        try:
            url = httptools.parse_url(raw_target)
        except httptools.HttpParserInvalidURLError:
            raise _BadRequest(f"cannot read the request target {raw_target[:200]!r}") from None
        raw_path = url.path or b"/"
        scope: Message = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.1"},
            "http_version": request.version,
            "method": request.method,
            "scheme": "http",
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "root_path": "",
            "headers": request.headers,
            "client": self.client,
            "server": self.sockname,
        }
        answer = _Answer(self, request)
        started = time.perf_counter()
        try:
            await self.server.app(scope, answer.receive, answer.send)
        except Exception:
            await answer.end()
            log.exception("request %s %s failed", request.method, scope["path"])
            if not answer.started:
                await answer.send({"type": "http.response.start", "status": 500,
                                   "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await answer.send({"type": "http.response.body", "body": b"internal server error"})
        await answer.end()
        if self.server.access_log and answer.started:
            access_log.info('%s - "%s %s HTTP/%s" %d %d %.1fms', self.client[0] if self.client else "-",
                            request.method, raw_target.decode("latin-1"), request.version, answer.status,
                            answer.sent, (time.perf_counter() - started) * 1000)
        if not answer.whole():
            if answer.started:
                self.failed = None  # too late for a 400: only closing tells the client it is cut short
            return False  # the app returned without a whole answer: nothing sensible can follow
        self.parsed.requests.popleft()
        if not request.complete or self.closed:
            return False  # the rest of the body is unread: its bytes cannot be told from the next request
        return request.keep_alive and not answer.closing and not self.server.stopping

    async def _refuse(self, status: int, reason: str) -> None:
        if self.closed:
            return
        body = json.dumps({"error": reason}).encode()
        head = (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n"
                b"date: %s\r\n\r\n" % (status, HTTPStatus(status).phrase.encode(), len(body), _date_header()))
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.send_all(head + body)


class _Answer:
    """The app's `receive` and `send` for one request."""

    __slots__ = ("body_given", "chunked", "closing", "conn", "continued", "finished", "head", "length", "over",
                 "quiet", "receiving", "request", "sent", "started", "status")

    def __init__(self, conn: _Connection, request: _Request) -> None:
        self.conn = conn
        self.request = request
        self.started = False
        self.finished = False
        self.chunked = False
        self.closing = False  # close the connection after this answer
        self.continued = not request.expect_continue
        self.head: bytes | None = None
        self.length: int | None = None  # the app's content-length
        self.body_given = False  # the last part of the body went to the app
        self.receiving: set[trio.CancelScope] = set()  # of the `receive` calls running
        self.over = False
        self.quiet: trio.Event | None = None
        self.status = 0
        self.sent = 0

    async def receive(self) -> Message:
        if self.over:
            return {"type": "http.disconnect"}
        scope = trio.CancelScope()
        self.receiving.add(scope)
        try:
            with scope:
                return await self._receive()
            return {"type": "http.disconnect"}  # the answer is over (end())
        finally:
            self.receiving.discard(scope)
            if not self.receiving and self.quiet is not None:
                self.quiet.set()

    def whole(self) -> bool:
        """Is the answer all sent? Its last part, or all the bytes of its content-length (an app that
        learns that the client has left once it has them all may stop before its empty last part)."""
        return self.finished or (self.length is not None and self.sent >= self.length
                                 and self.request.method != "HEAD" and self.head is None)

    async def end(self) -> None:
        """The app has returned: stop the `receive` calls it left running (a watcher of a streamed answer,
        in a task of its own), so that none reads the connection once it carries the next request."""
        self.over = True
        if self.receiving:
            self.quiet = trio.Event()
            for scope in self.receiving:
                scope.cancel()
            await self.quiet.wait()

    async def _receive(self) -> Message:
        conn, request = self.conn, self.request
        while not self.body_given:
            if request.body:
                part = request.body.popleft()
                more = bool(request.body) or not request.complete
                self.body_given = not more
                return {"type": "http.request", "body": part, "more_body": more}
            if request.complete:
                self.body_given = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if conn.eof or conn.closed or conn.failed is not None:
                return {"type": "http.disconnect"}
            if not self.continued:
                self.continued = True
                await self._write(_CONTINUE)
            try:
                await conn._read()
            except (_BadRequest, _HeadTooLarge) as exc:  # answered once the app is done with this request
                conn.failed = exc
        # The whole body was given: what comes next is the client leaving, or its next request. Peek, so
        # that the next request stays in the socket for the connection's own reading.
        sock = conn.stream.socket
        if not (conn.eof or conn.closed):
            try:
                ahead = await sock.recv(1, socket.MSG_PEEK)
            except OSError:
                ahead = b""
            if ahead:
                await trio.sleep_forever()  # the client is there, sending its next request
            conn.eof = True
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = message["status"]
            self.head = self._head(message["status"], message.get("headers", ()))
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if not self.started or self.finished:
            raise RuntimeError("http.response.body before http.response.start, or after the last part")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        out = []
        if self.head is not None:
            head, self.head = self.head, None
            if self.length is None:
                if more:
                    if self.request.version == "1.1":
                        self.chunked = True
                        head += b"transfer-encoding: chunked\r\n"
                    else:
                        self.closing = True
                else:
                    head += b"content-length: %d\r\n" % len(body)
            if not more and not self.request.complete:
                self.closing = True  # answered before the whole body came (a 413): the rest is not read
            if self.closing or not self.request.keep_alive or self.conn.server.stopping:
                self.closing = True
                head += b"connection: close\r\n"
            elif self.request.version == "1.0":  # an HTTP/1.0 client keeps the connection only if told so
                head += b"connection: keep-alive\r\n"
            out.append(head + b"\r\n")
        if self.request.method != "HEAD":
            if self.chunked:
                if body:
                    out.append(b"%x\r\n%s\r\n" % (len(body), body))
                if not more:
                    out.append(b"0\r\n\r\n")
            elif body:
                out.append(body)
            self.sent += len(body)
        if not more:
            self.finished = True
        if out:
            await self._write(b"".join(out))

    def _head(self, status: int, headers: Any) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase.encode()
        except ValueError:
            phrase = b""
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, phrase)]
        self.length = None
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length":
                self.length = int(value)
            elif lower in (b"connection", b"transfer-encoding"):
                if lower == b"connection" and value.lower() == b"close":
                    self.closing = True
                continue  # this server decides the framing
            lines.append(b"%s: %s\r\n" % (name, value))
        if not any(name.lower() == b"date" for name, _ in headers):
            lines.append(b"date: %s\r\n" % _date_header())
        return b"".join(lines)

    async def _write(self, data: bytes) -> None:
        conn = self.conn
        if conn.closed:
            return
        try:
            await conn.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            conn.closed = True


def _addresses(sock: trio.socket.SocketType) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """(client, server) as ASGI scopes give them: host and port."""
    try:
        peer, own = sock.getpeername(), sock.getsockname()
    except OSError:  # gone already
        return None, None
    return tuple(peer[:2]), tuple(own[:2])  # type: ignore[return-value]


class Server:
    """Serves `app` on connections accepted from `listener` (shared with other processes, which may take
    any connection) until `shutdown` returns; see the module docstring for how it stops."""

    def __init__(self, app: ASGIApp, listener: trio.SocketListener, *, graceful_timeout: float,
                 access_log: bool = False) -> None:
        self.app = app
        self.listener = listener
        self.graceful_timeout = graceful_timeout
        self.access_log = access_log
        self.stopping = False
        self.connections: set[_Connection] = set()

    async def serve(self, shutdown: Callable[[], Awaitable[None]]) -> None:
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                accepting.start_soon(self._accept, connections)
                await shutdown()
                accepting.cancel_scope.cancel()
            self.stopping = True
            for conn in list(self.connections):
                conn.idle.cancel()
            connections.cancel_scope.deadline = trio.current_time() + self.graceful_timeout

    async def _accept(self, connections: trio.Nursery) -> None:
        while True:
            try:
                stream = await self.listener.accept()
            except OSError as exc:  # out of file descriptors or memory: wait for some to be freed
                log.error("accepting a connection failed: %s", exc)
                await trio.sleep(0.1)
                continue
            conn = _Connection(stream, self)
            self.connections.add(conn)
            connections.start_soon(conn.run)
