"""/api/v1/tail: Server-Sent Events of newly stored logs, and the drop-oldest rule for slow clients."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import orjson
import trio

from server.metrics import RequestMetrics
from server.tail import TAIL_BUFFER_LOGS, TailClient
from tests.live_server import ServerProcess


async def test_tail_receives_a_log_posted_after_it_started(server: ServerProcess, tag: str) -> None:
    query = {"q": f"tag:{tag} AND level:error"}
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
        client.stream("GET", "/api/v1/tail", params=query) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        with trio.fail_after(5):
            async for line in lines:
                if line.startswith(": subscribed"):
                    break
        other = {"tag": tag, "level": "info", "message": "not for this tail"}
        wanted = {"tag": tag, "level": "error", "message": "Failed to connect to DB"}
        for log in (other, wanted):
            assert (await client.post("/", content=orjson.dumps(log))).status_code == 200
        with trio.fail_after(2):  # the promise is within a second; leave slack for a loaded machine
            async for line in lines:
                if line.startswith("data: "):
                    assert orjson.loads(line[len("data: ") :]) == wanted
                    break


async def test_slow_client_loses_the_oldest_logs_and_is_told() -> None:
    state = SimpleNamespace(metrics=RequestMetrics())
    client = TailClient(state)  # type: ignore[arg-type]
    client.offer([{"n": n} for n in range(TAIL_BUFFER_LOGS + 3)])
    events = client.events()
    assert await events.__anext__() == b"retry: 2000\n: subscribed\n\n"
    chunk = await events.__anext__()
    assert chunk.startswith(b'event: dropped\ndata: {"dropped":3}\n\n')
    assert b'data: {"n":3}\n\n' in chunk
    assert b'data: {"n":2}\n' not in chunk
    assert state.metrics.tail_dropped == 3
    await events.aclose()
