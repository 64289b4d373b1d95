"""POST / and /api/v1/logs against a real server: body forms, compression, atomic refusal, 413, 415."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import httpx
import orjson
import pytest
import trio
import zstandard

from engine import IngestError
from server.ingest import IngestBatcher
from tests.live_server import SMALL_BODY_LIMIT, ServerProcess, search

JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}


def logs_for(tag: str, n: int) -> list[dict]:
    return [
        {"timestamp": f"2023-09-15T08:00:{i:02d}Z", "level": "info", "message": f"log {i}", "tag": tag, "i": i}
        for i in range(n)
    ]


def stored(server: ServerProcess, tag: str) -> list[dict]:
    """The logs tagged `tag`, oldest first."""
    return search(server.url, f"tag:{tag}", limit=1000, order="oldest")["hits"]


def ndjson(logs: list[dict]) -> bytes:
    return b"\n".join(orjson.dumps(log) for log in logs) + b"\n"


def post(server: ServerProcess, body: bytes, headers: dict[str, str], path: str = "/") -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


def test_single_object(server: ServerProcess, tag: str) -> None:
    log = logs_for(tag, 1)[0]
    response = post(server, orjson.dumps(log), JSON)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1}
    assert stored(server, tag) == [log]


def test_pretty_printed_single_object(server: ServerProcess, tag: str) -> None:
    log = {**logs_for(tag, 1)[0], "metadata": {"parentResourceId": "server-0987"}}
    response = post(server, orjson.dumps(log, option=orjson.OPT_INDENT_2), JSON)
    assert response.json() == {"accepted": 1}
    assert stored(server, tag) == [log]


def test_array(server: ServerProcess, tag: str) -> None:
    logs = logs_for(tag, 5)
    response = post(server, orjson.dumps(logs), JSON, path="/api/v1/logs")
    assert response.json() == {"accepted": 5}
    assert stored(server, tag) == logs


def test_ndjson_with_blank_lines_and_crlf(server: ServerProcess, tag: str) -> None:
    logs = logs_for(tag, 4)
    body = b"\r\n".join(orjson.dumps(log) for log in logs[:2]) + b"\r\n\r\n" + ndjson(logs[2:])
    response = post(server, body, NDJSON)
    assert response.json() == {"accepted": 4}
    assert stored(server, tag) == logs


def test_without_content_type(server: ServerProcess, tag: str) -> None:
    # curl -d sends application/x-www-form-urlencoded; shippers often send nothing or text/plain.
    logs = logs_for(tag, 3)
    assert post(server, ndjson(logs[:1]), {}).status_code == 200
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post(server, ndjson(logs[1:2]), form).status_code == 200
    assert post(server, ndjson(logs[2:]), {"Content-Type": "text/plain; charset=utf-8"}).status_code == 200
    assert stored(server, tag) == logs


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "deflate"])
def test_compressed_bodies(server: ServerProcess, tag: str, encoding: str) -> None:
    logs = logs_for(tag, 50)
    body = ndjson(logs)
    compressed = {
        "gzip": gzip.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "deflate": zlib.compress,
    }[encoding](body)
    response = post(server, compressed, {**NDJSON, "Content-Encoding": encoding})
    assert response.json() == {"accepted": 50}, response.text
    assert stored(server, tag) == logs


def test_gzip_of_several_members(server: ServerProcess, tag: str) -> None:
    logs = logs_for(tag, 2)
    body = gzip.compress(ndjson(logs[:1])) + gzip.compress(ndjson(logs[1:]))
    assert post(server, body, {**NDJSON, "Content-Encoding": "gzip"}).json() == {"accepted": 2}
    assert stored(server, tag) == logs


def test_bad_ndjson_line_refuses_the_whole_body(server: ServerProcess, tag: str) -> None:
    lines = [orjson.dumps(log) for log in logs_for(tag, 5)]
    lines[2] = b'{"tag": "' + tag.encode() + b'", "message": oops}'
    response = post(server, b"\n".join(lines), NDJSON)
    assert response.status_code == 400
    assert response.json()["line"] == 3
    assert "error" in response.json()
    assert stored(server, tag) == []


def test_bad_array_element_refuses_the_whole_body(server: ServerProcess, tag: str) -> None:
    logs: list[object] = list(logs_for(tag, 5))
    logs[3] = "not an object"
    response = post(server, orjson.dumps(logs), JSON)
    assert response.status_code == 400
    assert response.json()["index"] == 3
    assert stored(server, tag) == []


def test_bad_timestamp_is_refused_with_its_line(server: ServerProcess, tag: str) -> None:
    logs = logs_for(tag, 3)
    logs[1]["timestamp"] = "yesterday"
    response = post(server, ndjson(logs), NDJSON)
    assert response.status_code == 400
    assert response.json()["line"] == 2
    assert stored(server, tag) == []


async def test_concurrent_single_logs_are_refused_or_stored_one_by_one(server: ServerProcess, tag: str) -> None:
    # Concurrent one-log bodies are stored in shared engine calls; a bad one must not take others with it.
    logs = logs_for(tag, 60)
    bodies = [orjson.dumps(log) for log in logs]
    for i in range(0, 60, 7):
        bodies[i] = b'{"tag": "%s", "broken": ' % tag.encode()
    answers: dict[int, httpx.Response] = {}

    async def send(client: httpx.AsyncClient, i: int) -> None:
        answers[i] = await client.post("/", content=bodies[i], headers=JSON)

    limits = httpx.Limits(max_connections=60)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client, trio.open_nursery() as n:
        for i in range(60):
            n.start_soon(send, client, i)
    for i, answer in answers.items():
        if i % 7 == 0:
            assert answer.status_code == 400
            assert answer.json()["line"] == 1
        else:
            assert answer.json() == {"accepted": 1}
    assert stored(server, tag) == [log for i, log in enumerate(logs) if i % 7]


class RecordingEngine:
    """Refuses lines containing "bad" as the engine would, and records every append_ndjson call."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []

    def append_ndjson(self, data: bytes) -> int:
        lines = data.split(b"\n")
        self.calls.append(lines)
        for lineno, line in enumerate(lines, 1):
            if b"bad" in line:
                raise IngestError("invalid JSON", index=lineno - 1, line=lineno)
        return len(lines)


async def test_batcher_shares_engine_calls_and_keeps_requests_apart() -> None:
    engine = RecordingEngine()

    async def run_ingest(fn: Callable[[], object]) -> object:
        return await trio.to_thread.run_sync(fn)

    state = SimpleNamespace(require_engine=lambda: engine, run_ingest=run_ingest)
    batcher = IngestBatcher(state)  # type: ignore[arg-type]
    results: dict[int, object] = {}

    async def submit(i: int) -> None:
        try:
            results[i] = await batcher.submit(b'{"n": %d%s}' % (i, b', "bad": 1' if i in (3, 17) else b""))
        except IngestError as exc:
            results[i] = exc

    async with trio.open_nursery() as nursery:
        for i in range(40):
            nursery.start_soon(submit, i)
    assert len(engine.calls) < 20  # shared calls, not one per request
    for i, result in results.items():
        if i in (3, 17):
            assert isinstance(result, IngestError)
            assert result.line == 1
        else:
            assert result == 1
    # Each good line is in exactly one call that succeeded; refused calls stored nothing.
    stored = [orjson.loads(line)["n"] for call in engine.calls if b"bad" not in b"".join(call) for line in call]
    assert sorted(stored) == sorted(set(range(40)) - {3, 17})


def test_invalid_json_and_empty_bodies(server: ServerProcess) -> None:
    assert post(server, b'{"message": ', JSON).json()["line"] == 1
    assert post(server, b"[1, 2", JSON).status_code == 400
    assert post(server, b"  \n", JSON).status_code == 400


def test_log_over_the_per_log_limit_names_its_line(server: ServerProcess, tag: str) -> None:
    logs = logs_for(tag, 3)
    logs[1]["message"] = "x" * (1 << 20)
    response = post(server, ndjson(logs), NDJSON)
    assert response.status_code == 400
    assert response.json()["line"] == 2
    assert stored(server, tag) == []


def test_body_over_the_limit_is_413(server: ServerProcess, tag: str) -> None:
    one = orjson.dumps({"tag": tag, "message": "y" * 1000}) + b"\n"
    body = one * (SMALL_BODY_LIMIT // len(one) + 1)
    assert post(server, body, NDJSON).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = httpx.post(server.url + "/", content=chunks(), headers=NDJSON, timeout=30)
    assert response.status_code == 413
    assert stored(server, tag) == []


def test_decompressed_body_over_the_limit_is_413(server: ServerProcess, tag: str) -> None:
    line = orjson.dumps({"tag": tag, "message": "z" * 1000}) + b"\n"
    bomb = gzip.compress(line * (2 * SMALL_BODY_LIMIT // len(line)))
    assert len(bomb) < SMALL_BODY_LIMIT
    response = post(server, bomb, {**NDJSON, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert stored(server, tag) == []


def test_unreadable_content_is_415(server: ServerProcess, tag: str) -> None:
    body = ndjson(logs_for(tag, 1))
    assert post(server, body, {"Content-Type": "image/png"}).status_code == 415
    assert post(server, body, {"Content-Type": "application/xml"}).status_code == 415
    assert post(server, body, {"Content-Type": "multipart/form-data; boundary=x"}).status_code == 415
    assert post(server, body, {"Content-Type": "application/json; charset=utf-16"}).status_code == 415
    assert post(server, body, {**JSON, "Content-Encoding": "br"}).status_code == 415
    assert post(server, b"not gzip", {**JSON, "Content-Encoding": "gzip"}).status_code == 400
    assert stored(server, tag) == []
