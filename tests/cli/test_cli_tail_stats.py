"""`strata tail` (follows the server's tail stream) and `strata stats`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.live_server import REPO_ROOT, ServerProcess, free_port

from .strata_command import run_strata


def _log(tag: str, message: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"level": "error", "message": message, "resourceId": "server-7777", "timestamp": now,
                       "tag": tag}).encode()


class _Tail:
    """`strata tail …` in a subprocess, with its stdout lines read in a thread (readline with a timeout)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "tail", *args], cwd=REPO_ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "COLUMNS": "120"})
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_lines(self, n: int, timeout: float = 15.0) -> list[str]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.lines) >= n or self.proc.poll() is not None, timeout)
            assert len(self.lines) >= n, (self.lines, self.proc.stderr.read() if self.proc.poll() else "")
            return list(self.lines)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def tails() -> Iterator[list[_Tail]]:
    started: list[_Tail] = []
    yield started
    for tail in started:
        tail.stop()


def test_tail_prints_the_last_match_then_follows(server: ServerProcess, tails: list[_Tail]) -> None:
    tag = "t" + uuid.uuid4().hex
    server.post(_log(tag, "before the tail started"))
    tail = _Tail(f"tag:{tag}", "-n", "1", "--output", "ndjson", "--server", server.url)
    tails.append(tail)
    # The look-back is printed once the subscription is live, so the next post cannot be missed.
    assert json.loads(tail.wait_lines(1)[0])["message"] == "before the tail started"
    server.post(_log(tag, "posted while tailing") + b"\n" + _log("other", "not matching"))
    assert json.loads(tail.wait_lines(2)[1])["message"] == "posted while tailing"
    server.post(_log(tag, "and one more"))
    lines = tail.wait_lines(3)
    assert [json.loads(line)["message"] for line in lines] == [
        "before the tail started", "posted while tailing", "and one more"]


def test_tail_table_has_one_header(server: ServerProcess, tails: list[_Tail]) -> None:
    tag = "t" + uuid.uuid4().hex
    server.post(_log(tag, "first"))
    tail = _Tail(f"tag:{tag}", "--server", server.url)
    tails.append(tail)
    assert tail.wait_lines(2)[0].startswith("TIME (UTC)")
    server.post(_log(tag, "second"))
    lines = tail.wait_lines(3)
    assert lines[1].endswith("first")
    assert lines[2].endswith("second")
    assert "server-7777" in lines[2]


def test_tail_bad_query_exits_2(server: ServerProcess) -> None:
    result = run_strata("tail", "level:", "--server", server.url, timeout=20)
    assert result.returncode == 2
    assert "column 7" in result.stderr


def test_stats_of_a_data_directory(data_dir: Path) -> None:
    doc = json.loads(run_strata("stats", "--data", str(data_dir), "--output", "json").stdout)
    assert doc["logs"] == 3001
    assert doc["bytes_on_disk"] > 0
    assert doc["bytes_per_log"] == pytest.approx(doc["bytes_on_disk"] / 3001, abs=0.1)
    assert doc["oldest"].startswith("2023-09-01T")
    assert doc["newest"].startswith("2023-09-30T")
    table = run_strata("stats", "--data", str(data_dir))
    assert table.returncode == 0
    rows = dict(line.split(None, 1) if not line.startswith("bytes") else (line[:13], line[13:])
                for line in table.stdout.splitlines())
    assert rows["logs"].strip() == "3,001"
    assert "bytes per log" in table.stdout
    assert "oldest" in rows and "newest" in rows


def test_stats_of_a_server(server: ServerProcess) -> None:
    doc = json.loads(run_strata("stats", "--server", server.url, "-o", "json").stdout)
    assert doc["logs"] == server.search("*")["total"]
    assert doc["newest"] is not None and doc["oldest"].startswith("2023-09-01T")


def test_serve_runs_the_server_and_console_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(tmp_path / "data"),
                             "--host", "127.0.0.1", "--port", str(port)], cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                page = httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "strata serve did not answer"
                time.sleep(0.05)
        assert page.status_code == 200
        assert "console.js" in page.text
        assert httpx.get(url + "/static/console.js").status_code == 200
        ingest = run_strata("ingest", "-", "--server", url, input=_log("serve", "via strata serve"))
        assert ingest.returncode == 0, ingest.stderr
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Everything acknowledged is in the directory after the graceful stop.
    found = run_strata("query", "tag:serve", "-o", "ndjson", "--data", str(tmp_path / "data"))
    assert json.loads(found.stdout)["message"] == "via strata serve"


def test_serve_rejects_a_bad_port() -> None:
    result = run_strata("serve", "--port", "70000")
    assert result.returncode == 2
    assert "port" in result.stderr
