"""Fixtures of the CLI tests: one server and one data directory holding the same generated logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import Engine
from tests.live_server import ServerProcess, generate_ndjson

LOG_COUNT = 3000


@pytest.fixture(scope="session")
def logs_ndjson() -> bytes:
    return generate_ndjson(LOG_COUNT)


@pytest.fixture(scope="session")
def logs_file(tmp_path_factory: pytest.TempPathFactory, logs_ndjson: bytes) -> Path:
    path = tmp_path_factory.mktemp("input") / "logs.ndjson"
    path.write_bytes(logs_ndjson)
    return path


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, logs_ndjson: bytes) -> Iterator[ServerProcess]:
    """A server with the generated logs; tests that add logs tag them so the sample totals stay put."""
    live = ServerProcess(tmp_path_factory.mktemp("served") / "data").start()
    live.post(logs_ndjson)
    yield live
    live.stop()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory, logs_ndjson: bytes) -> Path:
    """A data directory with the generated logs, closed, for `--data`."""
    path = tmp_path_factory.mktemp("embedded") / "data"
    with Engine.open(path) as engine:
        engine.append_ndjson(logs_ndjson)
    return path


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """An empty server of its own, for tests that count what they ingest."""
    live = ServerProcess(tmp_path / "data").start()
    yield live
    live.stop()
