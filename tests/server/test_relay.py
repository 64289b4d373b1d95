"""Front processes and the relay (server/relay.py): both ends in one event loop on a real socketpair, and
real servers whose fronts are killed, or whose engine's process is."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import trio

from server.relay import WINDOW, FrontApp, Link, serve_front
from tests.live_server import ServerProcess, fronts

CHUNK = 100_000


async def _relay(app, client_receive, client_send, scope: dict | None = None, then: trio.Event | None = None) -> None:
    """Run one request from a fake client through a FrontApp and the owner's end to `app`; with `then`,
    keep the relay up after the request until it is set."""
    owner_end, front_end = socket.socketpair()
    front = FrontApp(Link(front_end))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_front, app, owner_end)
        await nursery.start(front.run)
        try:
            await front(scope or {"type": "http", "method": "GET", "path": "/", "headers": []}, client_receive,
                        client_send)
            if then is not None:
                await then.wait()
        finally:
            nursery.cancel_scope.cancel()


def _start(status: int = 200) -> dict:
    return {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}


async def test_a_request_body_in_parts_and_its_answer_go_through() -> None:
    parts = [b"a" * 70_000, b"b" * 5, b""]

    async def app(scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message["body"]
            if not message["more_body"]:
                break
        await send(_start(201))
        await send({"type": "http.response.body", "body": b"%s %d %s" % (scope["method"].encode(), len(body),
                                                                        scope["query_string"])})

    async def receive() -> dict:
        return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}

    answers: list[dict] = []

    async def send(message: dict) -> None:
        answers.append(message)

    await _relay(app, receive, send, {"type": "http", "method": "POST", "path": "/", "query_string": b"q=1",
                                      "headers": [(b"host", b"x")], "client": ("127.0.0.1", 5)})
    assert [a["type"] for a in answers] == ["http.response.start", "http.response.body"]
    assert answers[0]["status"] == 201
    assert answers[1]["body"] == b"POST 70005 q=1"


async def test_an_answer_before_the_end_of_the_body_stops_the_reading() -> None:
    async def app(scope, receive, send) -> None:
        await receive()
        await receive()
        await send(_start(413))
        await send({"type": "http.response.body", "body": b"too large"})

    reads = 0

    async def receive() -> dict:
        nonlocal reads
        reads += 1
        await trio.sleep(0.001)  # a client uploading
        return {"type": "http.request", "body": b"x" * 1000, "more_body": reads < 1000}

    answers: list[dict] = []

    async def send(message: dict) -> None:
        answers.append(message)

    await _relay(app, receive, send)
    assert answers[0]["status"] == 413
    assert reads < 1000


async def test_a_streamed_answer_waits_for_a_slow_client() -> None:
    produced = 0

    async def app(scope, receive, send) -> None:
        nonlocal produced
        await send(_start())
        for _ in range(40):
            await send({"type": "http.response.body", "body": b"x" * CHUNK, "more_body": True})
            produced += CHUNK
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    delivered = 0
    ahead = 0

    async def receive() -> dict:
        if delivered == 0:
            return {"type": "http.request", "body": b"", "more_body": False}
        await trio.sleep_forever()  # the client stays

    async def send(message: dict) -> None:
        nonlocal delivered, ahead
        delivered += len(message.get("body", b""))
        ahead = max(ahead, produced - delivered)
        await trio.sleep(0.002)

    await _relay(app, receive, send)
    assert delivered == 40 * CHUNK
    # The app runs ahead of the client by at most the window and the parts in flight, not the whole body.
    assert ahead <= WINDOW + 2 * CHUNK


async def test_a_client_that_leaves_a_stream_is_seen_by_the_app() -> None:
    seen: list[str] = []
    app_done = trio.Event()

    async def app(scope, receive, send) -> None:
        await receive()
        await send(_start())

        async def watch() -> None:
            seen.append((await receive())["type"])
            app_done.set()
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            while True:
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
                await trio.sleep(0.01)

    ticks = 0
    left = trio.Event()

    async def receive() -> dict:
        if ticks == 0:
            return {"type": "http.request", "body": b"", "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 5:
            left.set()

    with trio.fail_after(10):
        await _relay(app, receive, send, then=app_done)
    assert seen == ["http.disconnect"]


async def test_an_app_that_fails_fails_the_front_request() -> None:
    async def app(scope, receive, send) -> None:
        raise ValueError("broken")

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        raise AssertionError("nothing is sent")

    with pytest.raises(ExceptionGroup) as failure:
        await _relay(app, receive, send)
    assert failure.group_contains(RuntimeError, match="failed in the engine's process")


def _wait_for(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_fronts_take_connections_and_die_with_the_engine_process(start_server, tag, tmp_path: Path) -> None:
    server: ServerProcess = start_server("--fronts", "2", "--access-log")
    pids = fronts(server.pid)
    assert len(pids) == 2
    for i in range(30):  # a connection each: the kernel hands them to whichever process accepts first
        assert server.post(b'{"tag": "%s", "i": %d}' % (tag.encode(), i)) == 1
    assert server.search(f"tag:{tag}")["total"] == 30
    assert "front: 127.0.0.1" in server.log()  # the fronts' access log lines

    server.signal(signal.SIGKILL)
    server.wait()
    _wait_for(lambda: all(map(_gone, pids)), "the fronts outlived the process that owns the engine")
    # Nothing holds the port: a new server listens on it at once.
    again = ServerProcess(tmp_path / "again").start(port=server.port)
    try:
        assert again.search("*")["total"] == 0
    finally:
        again.stop()


def test_a_front_that_dies_is_replaced(start_server, tag) -> None:
    server: ServerProcess = start_server("--fronts", "1")
    [first] = fronts(server.pid)
    os.kill(first, signal.SIGKILL)
    _wait_for(lambda: [p for p in fronts(server.pid) if p != first], "no front replaced the one that died")
    _wait_for(lambda: _answers(server.url), "the new front does not answer")
    assert server.post(b'{"tag": "%s"}' % tag.encode()) == 1
    assert server.search(f"tag:{tag}")["total"] == 1
    assert "exited with status -9; starting another" in server.log()
    assert server.stop() == 0


def test_without_fronts_the_engine_process_takes_every_connection(start_server, tag) -> None:
    server: ServerProcess = start_server("--fronts", "0")
    assert fronts(server.pid) == []
    assert server.post(b'{"tag": "%s"}' % tag.encode()) == 1
    assert server.search(f"tag:{tag}")["total"] == 1
    assert server.stop() == 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
