"""server/http1.py, the fronts' HTTP/1.1 server: an app of its own on a real loopback socket, raw bytes from
real client sockets, so each rule of the protocol it keeps is seen on the wire."""

from __future__ import annotations

import json
import socket

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from server import http1
from server.http1 import Server


async def echo_app(scope, receive, send) -> None:
    """Answers with what it got: method, path, query and body; `/stream` answers in three parts;
    `/early` answers 413 after one body part; `/fail` raises; `/wait` waits for the client to leave."""
    path = scope["path"]
    if path == "/fail":
        raise RuntimeError("the app failed")
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message["body"]
        if path == "/early" or not message["more_body"]:
            break
    if path == "/early":
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"8")]})
        await send({"type": "http.response.body", "body": b"too big!"})
        return
    if path == "/watched":  # as FrontApp: a task elsewhere waits for the client to leave, and is left running
        echo_app.nursery.start_soon(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"par", "more_body": True})
        await send({"type": "http.response.body", "body": b"ts"})
        return
    if path in ("/stream", "/wait"):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        if path == "/wait":
            echo_app.left = (await receive())["type"]
            echo_app.leaving.set()
            return
        await send({"type": "http.response.body", "body": b""})
        return
    answer = json.dumps({"method": scope["method"], "path": path, "raw_path": scope["raw_path"].decode(),
                         "query": scope["query_string"].decode(), "body": body.decode("latin-1"),
                         "version": scope["http_version"]}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]})
    await send({"type": "http.response.body", "body": answer})




@pytest.fixture
async def address(nursery):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    server = Server(echo_app, trio.SocketListener(trio.socket.from_stdlib_socket(listener)), graceful_timeout=2)
    stop = trio.Event()
    nursery.start_soon(server.serve, stop.wait)
    echo_app.leaving = trio.Event()
    echo_app.nursery = nursery
    yield listener.getsockname()[:2], server, stop
    stop.set()


async def _connect(address) -> trio.SocketStream:
    return await trio.open_tcp_stream(*address[0])


async def _read_all(stream: trio.SocketStream) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


async def _read_answer(stream: trio.SocketStream, buffer: bytearray) -> tuple[bytes, bytes]:
    """One answer with a content-length: its head and its body."""
    with trio.fail_after(5):
        while b"\r\n\r\n" not in buffer:
            buffer += await stream.receive_some(65536)
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(
            b"content-length")))
        while len(rest) < length:
            rest += await stream.receive_some(65536)
    buffer[:] = rest[length:]
    return head, rest[:length]


async def test_requests_on_one_kept_alive_connection(address) -> None:
    stream = await _connect(address)
    buffer = bytearray()
    for i in range(3):
        await stream.send_all(b"POST /api/v1/logs?x=%d HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" % i)
        head, body = await _read_answer(stream, buffer)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\ndate: " in head and b"connection: close" not in head
        assert json.loads(body) == {"method": "POST", "path": "/api/v1/logs", "raw_path": "/api/v1/logs",
                                    "query": f"x={i}", "body": "hello", "version": "1.1"}


async def test_pipelined_requests_are_answered_in_order(address) -> None:
    stream = await _connect(address)
    await stream.send_all(b"".join(b"POST /%d HTTP/1.1\r\nContent-Length: 1\r\n\r\n%d" % (i, i) for i in range(5)))
    buffer = bytearray()
    bodies = [json.loads((await _read_answer(stream, buffer))[1]) for _ in range(5)]
    assert [(b["path"], b["body"]) for b in bodies] == [(f"/{i}", str(i)) for i in range(5)]


async def test_a_chunked_body_reaches_the_app_whole_and_the_path_is_decoded(address) -> None:
    stream = await _connect(address)
    await stream.send_all(b"POST /a%20b%C3%A9 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    _, body = await _read_answer(stream, bytearray())
    answer = json.loads(body)
    assert answer["body"] == "hello world"
    assert answer["path"] == "/a b\u00e9" and answer["raw_path"] == "/a%20b%C3%A9"


async def test_expect_100_continue_gets_its_interim_answer_before_the_body_is_sent(address) -> None:
    stream = await _connect(address)
    await stream.send_all(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    with trio.fail_after(5):
        interim = await stream.receive_some(65536)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    await stream.send_all(b"abc")
    _, body = await _read_answer(stream, bytearray())
    assert json.loads(body)["body"] == "abc"


async def test_a_streamed_answer_is_chunked_for_http_1_1_and_close_delimited_for_1_0(address) -> None:
    stream = await _connect(address)
    await stream.send_all(b"GET /stream HTTP/1.1\r\n\r\n")
    data = bytearray()
    with trio.fail_after(5):
        while not data.endswith(b"0\r\n\r\n"):
            data += await stream.receive_some(65536)
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"

    stream = await _connect(address)
    await stream.send_all(b"GET /stream HTTP/1.0\r\n\r\n")
    head, _, body = (await _read_all(stream)).partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head and b"connection: close" in head
    assert body == b"one two three"


async def test_http_1_0_keeps_the_connection_only_when_asked(address) -> None:
    stream = await _connect(address)
    buffer = bytearray()
    for _ in range(2):
        await stream.send_all(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head, body = await _read_answer(stream, buffer)
        assert b"connection: keep-alive" in head and json.loads(body)["version"] == "1.0"


async def test_http_1_0_closes_after_the_answer_and_head_gets_no_body(address) -> None:
    stream = await _connect(address)
    await stream.send_all(b"GET /x HTTP/1.0\r\n\r\n")
    head, _, body = (await _read_all(stream)).partition(b"\r\n\r\n")
    assert b"connection: close" in head and json.loads(body)["version"] == "1.0"

    stream = await _connect(address)
    await stream.send_all(b"HEAD /x HTTP/1.1\r\nConnection: close\r\n\r\n")
    head, _, body = (await _read_all(stream)).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: " in head and body == b""


@pytest.mark.parametrize("request_bytes", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
async def test_a_malformed_request_gets_400_with_a_reason_and_the_connection_ends(address, request_bytes) -> None:
    stream = await _connect(address)
    await stream.send_all(request_bytes)
    head, _, body = (await _read_all(stream)).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request") and b"connection: close" in head
    assert json.loads(body)["error"].startswith("malformed HTTP request: ")


async def test_a_head_over_the_limit_gets_431(address) -> None:
    stream = await _connect(address)
    await stream.send_all(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (http1.MAX_HEAD_BYTES + 10))
    head, _, body = (await _read_all(stream)).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431") and "request head over" in json.loads(body)["error"]

    stream = await _connect(address)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(http1.MAX_HEADERS + 1))
    await stream.send_all(b"GET / HTTP/1.1\r\n" + many + b"\r\n")
    assert (await _read_all(stream)).startswith(b"HTTP/1.1 431")


async def test_an_answer_before_the_whole_body_ends_the_connection_after_it(address) -> None:
    stream = await _connect(address)
    await stream.send_all(b"POST /early HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
    head, _, body = (await _read_all(stream)).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head and body == b"too big!"


async def test_an_app_that_fails_gives_500_and_the_connection_goes_on(address) -> None:
    stream = await _connect(address)
    buffer = bytearray()
    await stream.send_all(b"GET /fail HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n")
    head, body = await _read_answer(stream, buffer)
    assert head.startswith(b"HTTP/1.1 500") and body == b"internal server error"
    head, body = await _read_answer(stream, buffer)
    assert json.loads(body)["path"] == "/ok"


async def test_the_app_learns_when_the_client_of_a_streamed_answer_leaves(address) -> None:
    stream = await _connect(address)
    await stream.send_all(b"GET /wait HTTP/1.1\r\n\r\n")
    with trio.fail_after(5):
        await stream.receive_some(65536)
    await stream.aclose()
    with trio.fail_after(5):
        await echo_app.leaving.wait()
    assert echo_app.left == "http.disconnect"


async def test_a_receive_left_waiting_by_the_app_does_not_take_the_next_request(address) -> None:
    stream = await _connect(address)
    buffer = bytearray()
    for _ in range(3):
        await stream.send_all(b"GET /watched HTTP/1.1\r\n\r\n")
        _, body = await _read_answer(stream, buffer)
        assert body == b"parts"
        await trio.sleep(0.05)  # the next request comes while that receive would be waiting
    await stream.send_all(b"GET /x HTTP/1.1\r\n\r\n")
    _, body = await _read_answer(stream, buffer)
    assert json.loads(body)["path"] == "/x"


async def test_an_idle_connection_is_closed_after_the_timeout(address, monkeypatch) -> None:
    monkeypatch.setattr(http1, "IDLE_TIMEOUT", 0.2)
    stream = await _connect(address)
    with trio.fail_after(5):
        assert await stream.receive_some(65536) == b""


async def test_shutdown_closes_idle_connections_and_lets_a_request_in_flight_finish(address) -> None:
    _, server, stop = address
    idle = await _connect(address)
    await idle.send_all(b"GET /x HTTP/1.1\r\n\r\n")
    await _read_answer(idle, bytearray())
    busy = await _connect(address)
    await busy.send_all(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")  # half the body
    await trio.testing.wait_all_tasks_blocked()
    assert len(server.connections) == 2
    stop.set()
    with trio.fail_after(5):
        assert await idle.receive_some(65536) == b""  # closed, with no request in flight
    await busy.send_all(b"67890")
    head, _, body = (await _read_all(busy)).partition(b"\r\n\r\n")
    assert b"connection: close" in head and json.loads(body)["body"] == "1234567890"


_bodies = st.binary(max_size=3000)


@settings(max_examples=60, deadline=None)
@given(requests=st.lists(st.tuples(_bodies, st.booleans()), min_size=1, max_size=6),
       cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=8))
def test_pipelined_requests_cut_anywhere_are_answered_in_order(requests, cuts) -> None:
    """Bodies sent with a length or chunked, all requests in one stream cut into writes at random places."""
    wire = b""
    for i, (body, chunked) in enumerate(requests):
        if chunked:
            parts = [body[k:k + 700] for k in range(0, len(body), 700)]
            wire += b"POST /r%d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" % i
            wire += b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        else:
            wire += b"POST /r%d HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (i, len(body), body)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listener = socket.create_server(("127.0.0.1", 0))
            listener.setblocking(False)
            stop = trio.Event()
            server = Server(echo_app, trio.SocketListener(trio.socket.from_stdlib_socket(listener)), graceful_timeout=2)
            nursery.start_soon(server.serve, stop.wait)
            stream = await trio.open_tcp_stream(*listener.getsockname()[:2])
            at = 0
            for cut in sorted(set(cuts)):
                if at < cut < len(wire):
                    await stream.send_all(wire[at:cut])
                    await trio.testing.wait_all_tasks_blocked()  # the server takes this piece alone
                    at = cut
            await stream.send_all(wire[at:])
            buffer = bytearray()
            for i, (body, _) in enumerate(requests):
                _, answer = await _read_answer(stream, buffer)
                got = json.loads(answer)
                assert got["path"] == f"/r{i}" and got["body"] == body.decode("latin-1")
            await stream.aclose()
            stop.set()

    trio.run(main)
