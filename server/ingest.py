"""POST / and POST /api/v1/logs: logs in, `200 {"accepted": N}` once they are durable.

The body is one JSON object, a JSON array of objects, or NDJSON (one object per line), optionally
compressed (`Content-Encoding: gzip`, `deflate` or `zstd`). A request is atomic: one engine call stores
all its logs or none, so a refused body can be fixed and resent without duplicates.

This is a plain ASGI handler, not a Quart view: with one log per request, Quart's request and response
objects cost about a third of the throughput, and ingest is the path that has to be fast.

Refusals: 400 (bad log, with its `line`, or `index` for an array), 413 (body over `max_body_bytes`,
compressed or once decompressed, checked while reading), 415 (a content type or encoding that cannot be
JSON), 503 + Retry-After (backpressure).
"""

from __future__ import annotations

import io
import zlib

import orjson
import trio
import zstandard

from engine import IngestError

from .asgi import Receive, Scope, Send
from .errors import RequestError, error_response
from .state import ServerState

# Media types whose body may be JSON text. curl -d sends x-www-form-urlencoded unless told otherwise, and
# many shippers send text/plain or nothing, so those are read as JSON too; anything else is 415.
_READABLE_TYPES = frozenset(
    {
        "",
        "application/json",
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/json-lines",
        "application/stream+json",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "text/plain",
        "text/json",
        "text/x-json",
    }
)
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_DECODABLE_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate", "zstd"})
_DECOMPRESS_CHUNK = 1 << 20
_JSON_HEADERS = [(b"content-type", b"application/json")]


def check_content_type(value: str) -> None:
    """Raise 415 unless a `Content-Type` header value can name a JSON body."""
    media, _, params = value.partition(";")
    media = media.strip().lower()
    if media not in _READABLE_TYPES and not media.endswith("+json"):
        raise RequestError(
            415,
            f"cannot read a body of type {media!r}: send JSON (application/json) or NDJSON (application/x-ndjson)",
        )
    for param in params.split(";"):
        key, _, charset = param.partition("=")
        if key.strip().lower() == "charset" and charset.strip().strip('"').lower() not in _UTF8_CHARSETS:
            raise RequestError(415, f"cannot read charset {charset.strip()!r}: send UTF-8")


def content_encodings(value: str) -> list[str]:
    """The codings of a `Content-Encoding` header in the order they were applied; 415 for unknown ones."""
    codings = [c.strip().lower() for c in value.split(",") if c.strip()]
    for coding in codings:
        if coding not in _DECODABLE_ENCODINGS:
            raise RequestError(415, f"cannot decode Content-Encoding {coding!r}: use gzip, deflate or zstd")
    return codings


def _too_large(limit: int, what: str) -> RequestError:
    return RequestError(413, f"{what} is over the limit of {limit} bytes; split it into smaller requests")


def decompress(body: bytes, codings: list[str], limit: int) -> bytes:
    """`body` with `codings` undone (last applied, first undone); 413 past `limit`, 400 if damaged."""
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip", "deflate"):
            body = _inflate(body, gzip=coding != "deflate", limit=limit)
        elif coding == "zstd":
            body = _unzstd(body, limit)
    return body


def _inflate(data: bytes, *, gzip: bool, limit: int) -> bytes:
    out = bytearray()
    try:
        while data:
            # gzip bodies may be several members back to back (RFC 1952); each needs a fresh decompressor.
            d = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
            pending = data
            while pending:
                out += d.decompress(pending, limit + 1 - len(out))
                if len(out) > limit:
                    raise _too_large(limit, "the decompressed body")
                pending = d.unconsumed_tail
            if not d.eof:
                raise RequestError(400, "the compressed body is truncated")
            data = d.unused_data if gzip else b""
    except zlib.error as exc:
        kind = "gzip" if gzip else "deflate"
        raise RequestError(400, f"the body is not valid {kind} data: {exc}") from None
    return bytes(out)


def _unzstd(data: bytes, limit: int) -> bytes:
    out = bytearray()
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
            while chunk := reader.read(_DECOMPRESS_CHUNK):
                out += chunk
                if len(out) > limit:
                    raise _too_large(limit, "the decompressed body")
    except zstandard.ZstdError as exc:
        raise RequestError(400, f"the body is not valid zstd data: {exc}") from None
    return bytes(out)


def store_body(state: ServerState, body: bytes) -> int:
    """Store the logs of a decoded body in one engine call and return their count.

    Blocking: runs in an ingest thread. The engine decides what a valid log is; this only tells the forms
    apart: `[` starts an array; a body whose text is one JSON object (even over several lines) is one log;
    anything else goes to the engine as NDJSON, which names the bad line.
    """
    engine = state.require_engine()
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    text = body.rstrip()  # not lstrip: leading blank lines still count in the line numbers of errors
    if not text.strip():
        raise RequestError(400, "the body is empty: send a JSON object, an array of objects, or NDJSON")
    if text.lstrip()[:1] == b"[":
        try:
            logs = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise RequestError(400, f"the body starts with [ but is not a JSON array: {exc}") from None
        if not isinstance(logs, list):
            raise RequestError(400, "the body is not a JSON array of objects")
        return engine.append(logs)
    if text.lstrip()[:1] == b"{" and b"\n" in text:
        # A pretty-printed single object spans lines; NDJSON fails to parse as one document.
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            return engine.append_ndjson(orjson.dumps(obj))
    return engine.append_ndjson(text)


# A body at most this long on one line (one log) goes through the IngestBatcher.
BATCHED_BODY_BYTES = 64 << 10


class IngestHandler:
    """The ASGI callable for ingest POSTs."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.batcher = IngestBatcher(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body, codings = await self._read(scope, receive)
            line = body.strip()
            if not codings and line[:1] == b"{" and len(line) <= BATCHED_BODY_BYTES and b"\n" not in line:
                count = await self.batcher.submit(line)
            else:
                limit = self.state.config.max_body_bytes

                def work() -> int:
                    return store_body(self.state, decompress(body, codings, limit) if codings else body)

                count = await self.state.run_ingest(work)
        except _Disconnected:
            return
        except Exception as exc:
            response = error_response(exc)
            if response is None:
                raise
            headers = _JSON_HEADERS + [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
            await _respond(send, response.status, response.json(), headers)
            return
        await _respond(send, 200, b'{"accepted":%d}' % count, _JSON_HEADERS)

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, list[str]]:
        limit = self.state.config.max_body_bytes
        content_type = ""
        encoding = ""
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-encoding":
                encoding = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        check_content_type(content_type)
        codings = [c for c in content_encodings(encoding) if c != "identity"]
        if declared is not None and declared > limit:
            raise _too_large(limit, f"the body ({declared} bytes)")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit, "the body")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), codings


class _Disconnected(Exception):
    """The client went away before its body arrived; there is no one to answer."""


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class IngestBatcher:
    """Stores concurrent one-line bodies with one engine call per batch (group commit in the server).

    With one log per request, 64 threads each inside `engine.append` spend their time handing the GIL
    around; one thread appending the lines of 64 requests does the same work once. Atomicity per request
    holds: a batch is one engine call, so it is stored whole or not at all, and when a line is refused
    only its request gets the 400 while the other lines are appended again without it.

    No background task: the first waiting request of a batch runs it (the leader), the others wait for it.
    At most `MAX_FLUSHES` batches are in the engine at once, so one can fsync while the next is parsed.
    """

    MAX_FLUSHES = 2
    MAX_BATCH_BYTES = 4 << 20

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.pending: list[_Line] = []
        self.flushing = 0
        self.flushed = trio.Event()

    async def submit(self, line: bytes) -> int:
        item = _Line(line)
        self.pending.append(item)
        while not item.done:
            if item.taken or self.flushing >= self.MAX_FLUSHES:
                await self.flushed.wait()
                continue
            batch = self._take()
            self.flushing += 1
            try:
                # Shielded: the waiters of this batch depend on this task finishing it.
                with trio.CancelScope(shield=True):
                    await self.state.run_ingest(lambda batch=batch: _store_lines(self.state, batch))
            finally:
                for waiting in batch:
                    waiting.done = True
                self.flushing -= 1
                self.flushed.set()
                self.flushed = trio.Event()
        if item.error is not None:
            raise item.error
        return 1

    def _take(self) -> list[_Line]:
        """The oldest pending lines, up to MAX_BATCH_BYTES (at least one)."""
        size = 0
        count = 0
        for item in self.pending:
            size += len(item.line) + 1
            if count and size > self.MAX_BATCH_BYTES:
                break
            item.taken = True
            count += 1
        batch, self.pending = self.pending[:count], self.pending[count:]
        return batch


class _Line:
    __slots__ = ("done", "error", "line", "taken")

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.taken = False  # in a batch that some request is storing
        self.done = False
        self.error: BaseException | None = None


def _store_lines(state: ServerState, batch: list[_Line]) -> None:
    """Append the lines of `batch` in one engine call; blocking, runs in an ingest thread. Each item's
    `error` is set to what its request should answer (None: stored)."""
    todo = batch
    while todo:
        try:
            state.require_engine().append_ndjson(b"\n".join(item.line for item in todo))
            return
        except IngestError as exc:
            assert exc.line is not None
            bad = todo[exc.line - 1]
            bad.error = IngestError(exc.reason, index=0, line=1)
            todo = [item for item in todo if item is not bad]
        except Exception as exc:  # backpressure, shutdown, failed write: the same answer for every request
            for item in todo:
                item.error = exc
            return
