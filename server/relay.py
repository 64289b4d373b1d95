"""The relay between front processes and the process that owns the engine: its wire format and both ends.

Hypercorn and h11 spend about 300 us of a core on every request in Python, whatever the app does: on
this machine one process answers 2,856-3,211 requests/s of single-log posts from an empty app (and two
Hypercorn processes 6,197-6,898). The engine has one owner, so more processes help only if they take
over the HTTP work: front processes (server/front.py) accept the connections on the listening socket and
parse HTTP (server/http1.py), and relay each request, as its ASGI messages, to the owner, where the whole
app runs on them as it does on Hypercorn's. A relayed request costs the owner a task and a few unpickled
messages, and the messages of many requests travel in one write.

Wire format, on a socketpair between the owner and one front, the same in both directions:

    frame   = length: u32 little-endian | pickle of (request id: int, message: dict)

- front -> owner: the request's scope ("type": "http", plain values only: no "state" or "extensions"),
  then every message the front's ASGI `receive` gave it ("http.request" with a body part,
  "http.disconnect"), then {"type": "relay.ack", "bytes": n} for each part of a streamed response body
  the front has sent on to its client;
- owner -> front: every message the app sent ("http.response.start", "http.response.body"), then
  {"type": "relay.end", "error": bool} once the app has returned or raised.

Request ids are the front's, unique within its link. The owner lets at most WINDOW bytes of a streamed
body go unacknowledged, so a slow reader of an export holds the app back instead of filling the front's
memory. Pickle is safe here: both ends are this program, on a socketpair that no one else holds.
"""

from __future__ import annotations

import itertools
import logging
import math
import pickle
import socket
import struct
from collections.abc import Callable

import trio

from .asgi import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("strata.server")

_LENGTH = struct.Struct("<I")
WINDOW = 1 << 20
_READ_BYTES = 1 << 20
# What a front passes on of the scope server/http1.py gives it; the owner adds the rest.
_SCOPE_KEYS = ("type", "http_version", "method", "scheme", "path", "raw_path", "query_string", "root_path",
               "headers", "client", "server")


class Link:
    """One end of a relay socketpair. `put` queues a frame and returns at once; `write_loop` sends all
    that is queued in one write, so the answers of concurrent requests share system calls."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        self._queue: list[bytes] = []
        self._queued = trio.Event()
        self.closed = False

    def put(self, rid: int, message: Message) -> None:
        if self.closed:
            return
        data = pickle.dumps((rid, message), protocol=pickle.HIGHEST_PROTOCOL)
        self._queue.append(_LENGTH.pack(len(data)))
        self._queue.append(data)
        self._queued.set()

    async def write_loop(self) -> None:
        """Send queued frames until the other end goes away."""
        try:
            while True:
                await self._queued.wait()
                self._queued = trio.Event()
                queue, self._queue = self._queue, []
                await self.stream.send_all(b"".join(queue))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed = True

    async def read_loop(self, on_message: Callable[[int, Message], None]) -> None:
        """Call `on_message(rid, message)` for every frame, in order, until the other end closes."""
        buffer = bytearray()
        while True:
            try:
                data = await self.stream.receive_some(_READ_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.closed = True
                return
            buffer += data
            start = 0
            while len(buffer) - start >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buffer, start)
                end = start + _LENGTH.size + length
                if end > len(buffer):
                    break
                rid, message = pickle.loads(buffer[start + _LENGTH.size:end])
                on_message(rid, message)
                start = end
            del buffer[:start]


class FrontApp:
    """The ASGI app of a front process: every HTTP request goes over `link` to the owner's app."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._ids = itertools.count()
        self._inboxes: dict[int, trio.MemorySendChannel[Message]] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Carry the link's traffic until the owner closes it (it has stopped, or died)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.link.write_loop)
            task_status.started()
            await self.link.read_loop(self._deliver)
            nursery.cancel_scope.cancel()

    def _deliver(self, rid: int, message: Message) -> None:
        inbox = self._inboxes.get(rid)
        if inbox is not None:  # else the request is over: its client went away
            inbox.send_nowait(message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.link.closed:
            raise RuntimeError("the relay to the engine's process is closed")
        rid = next(self._ids)
        inbox, replies = trio.open_memory_channel[Message](math.inf)
        self._inboxes[rid] = inbox
        watcher: trio.CancelScope | None = None
        try:
            self.link.put(rid, {key: scope[key] for key in _SCOPE_KEYS if key in scope})
            while True:
                message = await receive()
                self.link.put(rid, message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
                if replies.statistics().current_buffer_used:
                    break  # answered before the whole body came (a 413): the rest is not worth reading
            if message["type"] == "http.disconnect":
                return
            async for reply in replies:
                kind = reply["type"]
                if kind == "relay.end":
                    if reply["error"]:
                        raise RuntimeError("the request failed in the engine's process (see its log)")
                    return
                await send(reply)
                if kind == "http.response.body" and reply.get("more_body", False):
                    self.link.put(rid, {"type": "relay.ack", "bytes": len(reply.get("body", b""))})
                    if watcher is None:
                        # A streamed answer (tail, export) may last long: the owner's app must learn
                        # when the client leaves. Answers in one piece need no watcher.
                        watcher = trio.CancelScope()
                        assert self._nursery is not None
                        self._nursery.start_soon(self._watch, rid, receive, watcher)
        finally:
            if watcher is not None:
                watcher.cancel()
            del self._inboxes[rid]

    async def _watch(self, rid: int, receive: Receive, scope: trio.CancelScope) -> None:
        with scope:
            message = await receive()
            self.link.put(rid, message)
            inbox = self._inboxes.get(rid)
            if inbox is not None:
                inbox.send_nowait({"type": "relay.end", "error": False})


class _Relayed:
    """The owner's side of one relayed request: what its app's `receive` and `send` see."""

    __slots__ = ("acked", "gone", "inbox", "link", "messages", "rid", "unacked")

    def __init__(self, rid: int, link: Link) -> None:
        self.rid = rid
        self.link = link
        self.inbox, self.messages = trio.open_memory_channel[Message](math.inf)
        self.unacked = 0
        self.acked = trio.Event()
        self.gone = False

    def deliver(self, message: Message) -> None:
        if message["type"] == "relay.ack":
            self.unacked -= message["bytes"]
            self.acked.set()
            return
        if message["type"] == "http.disconnect":
            self.gone = True
            self.acked.set()
        self.inbox.send_nowait(message)

    async def receive(self) -> Message:
        return await self.messages.receive()

    async def send(self, message: Message) -> None:
        if self.gone:  # as on Hypercorn: what is sent after the client left goes nowhere
            return
        self.link.put(self.rid, message)
        if message["type"] == "http.response.body" and message.get("more_body", False):
            self.unacked += len(message.get("body", b""))
            while self.unacked > WINDOW and not self.gone:
                self.acked = trio.Event()
                await self.acked.wait()


async def serve_front(app: ASGIApp, sock: socket.socket) -> None:
    """The owner's end of one front's link: run `app` on every request relayed over it, until the front
    closes the link (it has stopped or died: its requests then see `http.disconnect`)."""
    link = Link(sock)
    requests: dict[int, _Relayed] = {}

    async def run(request: _Relayed, scope: Message) -> None:
        scope["asgi"] = {"spec_version": "2.1", "version": "3.0"}
        scope["extensions"] = {}
        scope["state"] = {}
        error = False
        try:
            await app(scope, request.receive, request.send)
        except Exception:
            log.exception("relayed request %s %s failed", scope.get("method"), scope.get("path"))
            error = True
        finally:
            del requests[request.rid]
            link.put(request.rid, {"type": "relay.end", "error": error})

    async with trio.open_nursery() as writing:
        writing.start_soon(link.write_loop)
        async with trio.open_nursery() as nursery:

            def on_message(rid: int, message: Message) -> None:
                if message["type"] == "http":
                    requests[rid] = request = _Relayed(rid, link)
                    nursery.start_soon(run, request, message)
                    return
                request = requests.get(rid)
                if request is not None:
                    request.deliver(message)

            await link.read_loop(on_message)
            for request in list(requests.values()):
                request.deliver({"type": "http.disconnect"})
            # The requests still running end by themselves (an ingest waits for its fsync).
        writing.cancel_scope.cancel()
