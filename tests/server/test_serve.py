"""Starting, stopping and crashing: SIGTERM with requests in flight, kill -9, a locked data directory,
and the endpoints that describe the server (/healthz, /metrics, /openapi.json, the console)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import trio

from server import ServerConfig, create_app
from server.metrics import ROUTES
from tests.live_server import REPO_ROOT, ServerProcess, children, export, free_port, fronts, generate_ndjson

POSTERS = 32


async def post_until_stopped(
    url: str, tag: str, acked: set[str], statuses: list[int], stop_after: int, stop: Callable[[], None]
) -> None:
    """POSTERS clients post single logs until the server stops answering; calls `stop` after `stop_after`
    acknowledgements, so the signal lands while requests are in flight."""
    stopped = False

    async def poster(client: httpx.AsyncClient, worker: int) -> None:
        nonlocal stopped
        for i in range(100_000):
            log_id = f"{worker}-{i}"
            try:
                response = await client.post("/", content=orjson.dumps({"tag": tag, "id": log_id}))
            except httpx.TransportError:
                return  # the server has stopped listening, or was killed
            statuses.append(response.status_code)
            if response.status_code != 200:
                return
            acked.add(log_id)
            if len(acked) >= stop_after and not stopped:
                stopped = True
                stop()

    limits = httpx.Limits(max_connections=POSTERS)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client, trio.open_nursery() as n:
        for worker in range(POSTERS):
            n.start_soon(poster, client, worker)


async def test_sigterm_finishes_in_flight_requests_and_keeps_acknowledged_logs(start_server, tag) -> None:
    server: ServerProcess = start_server()
    acked: set[str] = set()
    statuses: list[int] = []
    tail_ended = trio.Event()

    async def tail() -> None:
        # An open tail must not hold up shutdown: the stream ends when the server stops.
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30) as client,
            client.stream("GET", "/api/v1/tail", params={"q": f"tag:{tag}"}) as response,
        ):
            async for _ in response.aiter_bytes():
                pass
        tail_ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tail)
        await post_until_stopped(server.url, tag, acked, statuses, 500, lambda: server.signal(signal.SIGTERM))
        code = await trio.to_thread.run_sync(server.wait)
        with trio.fail_after(5):
            await tail_ended.wait()
    assert code == 0, server.log()
    assert "engine closed" in server.log()
    assert set(statuses) <= {200, 503}, server.log()

    restarted = start_server(data_dir=server.data_dir)
    stored = {orjson.loads(line)["id"] for line in export(restarted.url, f"tag:{tag}")}
    assert len(acked) >= 500
    assert acked <= stored


async def test_kill_9_keeps_every_acknowledged_log(start_server, tag) -> None:
    server: ServerProcess = start_server()
    acked: set[str] = set()
    await post_until_stopped(server.url, tag, acked, [], 500, lambda: server.signal(signal.SIGKILL))
    assert await trio.to_thread.run_sync(server.wait) == -signal.SIGKILL

    restarted = start_server(data_dir=server.data_dir)
    stored = {orjson.loads(line)["id"] for line in export(restarted.url, f"tag:{tag}")}
    assert len(acked) >= 500
    assert acked <= stored


def test_a_locked_data_directory_is_a_clear_error(server: ServerProcess) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "server", "--data", str(server.data_dir), "--port", str(free_port())],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert second.stderr.startswith("error:"), second.stderr
    assert "Traceback" not in second.stderr


def test_healthz_metrics_and_console(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.post("/", content=b'{"message": "counted"}').status_code == 200
        text = client.get("/metrics").text
        for name in (
            "strata_logs ",
            "strata_ingested_logs_total ",
            "strata_wal_fsyncs_total ",
            'strata_http_requests_total{route="/",method="POST",status="200"}',
            'strata_http_request_duration_seconds_bucket{route="/",le="+Inf"}',
        ):
            assert name in text, name
        console = client.get("/")
        assert console.status_code == 200
        assert console.headers["content-type"].startswith("text/html")
        assert client.get("/static/no-such-file.js").status_code == 404
        missing = client.get("/api/v1/nothing")
        assert missing.status_code == 404
        assert "error" in missing.json()


def test_openapi_describes_every_route(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == set(ROUTES)
    # Every route the app answers is one of ROUTES (Quart's `<path:name>` written as `{name}`).
    app = create_app(ServerConfig())
    for rule in app.quart.url_map.iter_rules():
        template = rule.rule.replace("<path:", "{").replace("<", "{").replace(">", "}")
        template = template.replace("{filename}", "{path}")
        assert template in spec["paths"], template
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][template], (method, template)
    assert "post" in spec["paths"]["/"] and "post" in spec["paths"]["/api/v1/logs"]
    json.dumps(spec)  # plain JSON, nothing else


def test_ctrl_c_to_the_process_group_spares_the_builders_and_keeps_every_log(tmp_path: Path) -> None:
    # A terminal's Ctrl-C sends SIGINT to the whole foreground process group. The builder processes must
    # not get it (they would die mid-segment): they run in a group of their own and ignore SIGINT, finish
    # what they were writing, and the server stops cleanly with every acknowledged log kept. Fronts too
    # have a group of their own: the server stops them when it is ready to.
    server = ServerProcess(tmp_path / "data", new_session=True).start()
    try:
        body = generate_ndjson(4_999)  # 5,000 lines with the task's example log
        acked = sum(server.post(body) for _ in range(7))  # 35,000 logs: three 10,000-log memtables to flush
        helpers = children(server.pid)
        assert set(helpers) - set(fronts(server.pid)), "no builder process was started"
        assert all(os.getpgid(b) != os.getpgid(server.pid) for b in helpers)
        os.killpg(os.getpgid(server.pid), signal.SIGINT)
        assert server.wait() == 0, server.log()
    finally:
        server.kill()
    assert "engine closed" in server.log()
    assert "failed" not in server.log(), server.log()
    restarted = ServerProcess(tmp_path / "data").start()
    try:
        assert restarted.search("*", limit=1)["total"] == acked
    finally:
        restarted.stop()
