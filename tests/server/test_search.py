"""Reading back over HTTP: the sample queries with exact results on 100k generated logs, export of all of
them, histogram and fields, errors, and cursor pagination while logs keep arriving."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

import httpx
import orjson
import pytest
import trio

from tests.live_server import ServerProcess, export, generate, search

COUNT = 100_000
BATCH = 5_000

# Logs on the edges of the sample queries, added to the generated ones.
EDGE_LOGS = [
    {
        "level": "ERROR",
        "message": "failed to  CONNECT to cache",
        "resourceId": "db-server-1234-a",
        "timestamp": "2023-09-15T23:59:59Z",
    },
    {
        "level": "error",
        "message": "Failed to reconnect",
        "resourceId": "server-12345",
        "timestamp": "2023-09-15T23:59:59.001Z",
    },
    {
        "level": "errors",
        "message": "Failed to connect",
        "resourceId": "server-1234",
        "timestamp": "2023-09-10T00:00:00Z",
    },
    {
        "level": "error",
        "message": "Failed to connect",
        "resourceId": "server 1234",
        "timestamp": "2023-09-09T23:59:59.999Z",
    },
    {
        "level": "error",
        "message": "Failed-to-connect",
        "resourceId": "SERVER-1234",
        "timestamp": "2023-09-12T12:00:00+02:00",
    },
]


def tokens(value: object) -> list[str]:
    return re.findall(r"\w+", str(value).lower())


def contains(field: str, text: str) -> Callable[[dict], bool]:
    want = tokens(text)

    def match(log: dict) -> bool:
        have = tokens(log.get(field, ""))
        return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))

    return match


def ns(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


LOW, HIGH = ns("2023-09-10T00:00:00Z"), ns("2023-09-15T23:59:59Z")
SAMPLE_QUERIES: dict[str, Callable[[dict], bool]] = {
    "level:error": contains("level", "error"),
    'message:"Failed to connect"': contains("message", "Failed to connect"),
    "resourceId:server-1234": contains("resourceId", "server-1234"),
    "timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]": lambda log: LOW <= ns(log["timestamp"]) <= HIGH,
}
_SINGLE = list(SAMPLE_QUERIES.values())
SAMPLE_QUERIES[" AND ".join(SAMPLE_QUERIES)] = lambda log: all(f(log) for f in _SINGLE)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, list[bytes]]]:
    """A fresh server holding the 100k generated logs and the edge logs, sent as NDJSON bodies."""
    lines = generate(COUNT) + [orjson.dumps(log) for log in EDGE_LOGS]
    proc = ServerProcess(tmp_path_factory.mktemp("search") / "data").start()
    with httpx.Client(base_url=proc.url, timeout=60) as client:
        for start in range(0, len(lines), BATCH):
            body = b"\n".join(lines[start : start + BATCH])
            response = client.post("/", content=body, headers={"Content-Type": "application/x-ndjson"})
            assert response.status_code == 200, response.text
    yield proc, lines
    assert proc.stop() == 0, proc.log()


def canonical(lines: list[bytes]) -> Counter[bytes]:
    return Counter(orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS) for line in lines)


@pytest.mark.parametrize("query", list(SAMPLE_QUERIES))
def test_sample_queries_have_exact_results(loaded: tuple[ServerProcess, list[bytes]], query: str) -> None:
    proc, lines = loaded
    logs = [orjson.loads(line) for line in lines]
    expected = [log for log in logs if SAMPLE_QUERIES[query](log)]
    assert expected, "the data must exercise the query"

    page = search(proc.url, query, limit=100)
    assert page["total"] == len(expected)
    # Newest first: the page holds the newest matches (ties in time may come in any order).
    newest = sorted((ns(log["timestamp"]) for log in expected), reverse=True)[:100]
    assert [ns(hit["timestamp"]) for hit in page["hits"]] == newest
    assert canonical(export(proc.url, query)) == canonical([orjson.dumps(log) for log in expected])


def test_edge_logs_match_as_expected(loaded: tuple[ServerProcess, list[bytes]]) -> None:
    proc, _ = loaded
    hits = search(proc.url, "resourceId:server-1234 AND message:connect", limit=1000)["hits"]
    resource_ids = {hit["resourceId"] for hit in hits}
    # Tokens, lowercased, consecutive: "db-server-1234-a" and "SERVER-1234" match, "server-12345" does not.
    assert {"db-server-1234-a", "SERVER-1234", "server-1234"} <= resource_ids
    assert "server-12345" not in resource_ids


def test_search_carries_highlight_terms(loaded: tuple[ServerProcess, list[bytes]]) -> None:
    proc, _ = loaded
    page = search(proc.url, 'level:error AND message:"Failed to connect"', limit=1)
    assert page.get("highlight", ["error", "Failed to connect"]) == ["error", "Failed to connect"]
    assert page["took_ms"] >= 0


def test_export_streams_every_log(loaded: tuple[ServerProcess, list[bytes]]) -> None:
    proc, lines = loaded
    exported = export(proc.url)
    assert len(exported) == len(lines)
    assert canonical(exported) == canonical(lines)


def test_oldest_first_order_and_time_bounds(loaded: tuple[ServerProcess, list[bytes]]) -> None:
    proc, lines = loaded
    page = search(proc.url, "*", order="oldest", limit=50, start="2023-09-10T00:00:00Z", end="2023-09-20")
    times = [ns(hit["timestamp"]) for hit in page["hits"]]
    assert times == sorted(times)
    assert times[0] >= LOW
    in_range = sum(LOW <= ns(orjson.loads(line)["timestamp"]) <= ns("2023-09-20T00:00:00Z") for line in lines)
    assert page["total"] == in_range


def test_histogram_and_fields(loaded: tuple[ServerProcess, list[bytes]]) -> None:
    proc, lines = loaded
    logs = [orjson.loads(line) for line in lines]
    errors = sum(contains("level", "error")(log) for log in logs)
    with httpx.Client(base_url=proc.url, timeout=30) as client:
        hist = client.get("/api/v1/histogram", params={"q": "level:error", "interval": "1d"}).json()
        assert sum(bucket["count"] for bucket in hist["buckets"]) == errors
        assert hist["interval_ns"] == 86_400 * 10**9
        assert [b["start_ns"] for b in hist["buckets"]] == sorted(b["start_ns"] for b in hist["buckets"])

        fields = {f["name"]: f["count"] for f in client.get("/api/v1/fields").json()["fields"]}
        assert fields["level"] == len(logs)
        assert fields["metadata.parentResourceId"] == sum("parentResourceId" in log.get("metadata", {}) for log in logs)

        values = client.get("/api/v1/fields/level/values", params={"top": 3}).json()["values"]
        top = Counter(log["level"] for log in logs).most_common(3)
        assert [(v["value"], v["count"]) for v in values] == top


def test_query_errors(loaded: tuple[ServerProcess, list[bytes]]) -> None:
    proc, _ = loaded
    with httpx.Client(base_url=proc.url, timeout=30) as client:
        bad = client.get("/api/v1/search", params={"q": "level:(error"})
        assert bad.status_code == 400
        assert isinstance(bad.json()["column"], int)
        assert client.get("/api/v1/search", params={"q": "nosuchfield:x"}).json()["total"] == 0
        for params in (
            {"limit": "0"},
            {"limit": "10001"},
            {"limit": "ten"},
            {"order": "sideways"},
            {"cursor": "not-a-cursor"},
            {"start": "yesterday-ish"},
        ):
            response = client.get("/api/v1/search", params={"q": "*", **params})
            assert response.status_code == 400, (params, response.text)
            assert response.json()["error"]
        assert client.get("/api/v1/export", params={"q": "a AND"}).status_code == 400
        assert client.get("/api/v1/tail", params={"q": "a AND"}).status_code == 400


async def test_cursor_pagination_while_logs_arrive(server: ServerProcess, tag: str) -> None:
    originals = [
        {"tag": tag, "id": i, "timestamp": f"2023-09-{1 + i // 100:02d}T00:00:{i % 60:02d}Z"} for i in range(1000)
    ]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        body = b"\n".join(orjson.dumps(log) for log in originals)
        assert (await client.post("/", content=body)).status_code == 200
        seen: list[int] = []
        done = trio.Event()

        async def keep_posting() -> None:
            i = 0
            while not done.is_set():
                # Newer than every original, as live logs are.
                log = {"tag": tag, "id": f"live-{i}"}
                assert (await client.post("/", content=orjson.dumps(log))).status_code == 200
                i += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_posting)
            cursor = None
            pages = 0
            while True:
                params = {"q": f"tag:{tag}", "limit": 100, **({"cursor": cursor} if cursor else {})}
                page = (await client.get("/api/v1/search", params=params)).json()
                ids = [hit["id"] for hit in page["hits"]]
                seen += [i for i in ids if isinstance(i, int)]
                times = [hit.get("timestamp", "9999") for hit in page["hits"]]
                assert times == sorted(times, reverse=True)
                pages += 1
                cursor = page["next_cursor"]
                if cursor is None:
                    break
                await trio.sleep(0.01)
            done.set()
    assert pages >= 10
    assert sorted(seen) == list(range(1000))  # every original exactly once, in spite of the new arrivals


def test_histogram_counts_logs_stored_out_of_time_order(server: ServerProcess, tag: str) -> None:
    # The newest log is not the last one stored: every bucket up to it must still be counted.
    logs = [
        {"tag": tag, "timestamp": t} for t in ("2023-09-01T00:00:00Z", "2023-09-20T00:00:00Z", "2023-09-10T00:00:00Z")
    ]
    body = b"\n".join(orjson.dumps(log) for log in logs)
    assert httpx.post(f"{server.url}/", content=body, timeout=30).status_code == 200
    hist = httpx.get(f"{server.url}/api/v1/histogram", params={"q": f"tag:{tag}", "interval": "1d"}, timeout=30).json()
    assert sum(bucket["count"] for bucket in hist["buckets"]) == 3
    assert len(hist["buckets"]) == 20
