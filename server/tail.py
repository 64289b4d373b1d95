"""/api/v1/tail?q=QUERY: every newly stored log that matches, as Server-Sent Events.

    engine thread (after durability)            trio thread
    callback(logs) --TrioToken.run_sync_soon--> TailClient.offer(logs) --> memory channel --> SSE stream

The callback never blocks the appending thread: `run_sync_soon` only queues a call for the event loop.
Each client has a bounded channel of `TAIL_BUFFER_LOGS` logs. A client that reads slower than logs arrive
loses the oldest ones (drop-oldest), and the stream tells it with an `event: dropped` carrying the count;
ingest never waits for a tail. Events:

    : subscribed            sent once the subscription is live (logs stored after it will arrive)
    data: {...}             one log, its original JSON
    event: dropped          data: {"dropped": N} logs this client missed since the last notice
    : keepalive             every 15 s of silence, so proxies keep the connection and dead clients are found
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import orjson
import trio
from quart import Blueprint, Response, request

from .search import parse_query
from .state import ServerState

TAIL_BUFFER_LOGS = 10_000
KEEPALIVE_SECONDS = 15.0
# Logs sent in one write; bounds the size of one chunk when a burst is queued.
BATCH_LOGS = 500


class TailClient:
    """One tail connection's bounded queue. All methods run in the trio thread."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.send, self.receive = trio.open_memory_channel[dict](TAIL_BUFFER_LOGS)
        self.dropped = 0

    def offer(self, logs: list[dict]) -> None:
        for log in logs:
            try:
                self.send.send_nowait(log)
            except trio.WouldBlock:
                # Full and nobody waiting: make room by dropping the oldest queued log.
                self.receive.receive_nowait()
                self.dropped += 1
                self.state.metrics.tail_dropped += 1
                self.send.send_nowait(log)
            except trio.ClosedResourceError:
                return

    def close(self) -> None:
        self.send.close()

    async def events(self) -> AsyncIterator[bytes]:
        yield b"retry: 2000\n: subscribed\n\n"
        while True:
            # No yield inside the cancel scope: a scope must not span an async generator's yield.
            batch: list[dict] = []
            with trio.move_on_after(KEEPALIVE_SECONDS):
                try:
                    batch.append(await self.receive.receive())
                except trio.EndOfChannel:
                    return
            if not batch:
                yield b": keepalive\n\n"
                continue
            while len(batch) < BATCH_LOGS:
                try:
                    batch.append(self.receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            out = []
            if self.dropped:
                out.append(b'event: dropped\ndata: {"dropped":%d}\n\n' % self.dropped)
                self.dropped = 0
            out += [b"data: " + orjson.dumps(log) + b"\n\n" for log in batch]
            yield b"".join(out)


def tail_routes(state: ServerState) -> Blueprint:
    bp = Blueprint("tail", __name__)

    @bp.get("/api/v1/tail")
    async def tail() -> Response:
        q = (request.args.get("q") or "*").strip() or "*"
        token = state.trio_token
        assert token is not None, "tail requested before startup"
        client = TailClient(state)

        def deliver(logs: list[dict]) -> None:
            # Runs in the engine's appending thread: queue the hand-off and return at once.
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(client.offer, logs)

        # Parse before answering, so a syntax error is a 400 rather than a stream that ends at once.
        await state.run_query(lambda: parse_query(q))

        async def stream() -> AsyncIterator[bytes]:
            # Subscribed inside the stream, so a response that is never sent leaves no subscription behind.
            with trio.CancelScope(shield=True):  # once subscribed, always reach the finally below
                unsubscribe = await state.run_query(lambda: state.require_engine().subscribe(q, deliver))
            state.metrics.tail_clients += 1
            state.on_shutdown.add(client.close)
            try:
                async for chunk in client.events():
                    yield chunk
            finally:
                state.on_shutdown.discard(client.close)
                state.metrics.tail_clients -= 1
                client.close()
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(unsubscribe)

        response = Response(
            stream(),
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        response.timeout = None  # a tail stays open until the client leaves or the server stops
        return response

    return bp
