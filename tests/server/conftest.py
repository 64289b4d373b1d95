"""Fixtures of the server tests: servers started in subprocesses, and a unique tag per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import SMALL_BODY_LIMIT, ServerProcess


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """start_server(*args, data_dir=None) -> a started ServerProcess; all are stopped at teardown."""
    started: list[ServerProcess] = []

    def start(*args: str, data_dir: Path | None = None) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / f"data-{len(started)}", *args).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server shared by a test module; tests keep apart by tagging their logs with `tag`."""
    proc = ServerProcess(tmp_path_factory.mktemp("server") / "data", "--max-body-bytes", str(SMALL_BODY_LIMIT)).start()
    yield proc
    code = proc.stop()
    assert code == 0, proc.log()


@pytest.fixture
def tag() -> str:
    """A token no other test's logs contain: put it in a `tag` field and query `tag:<it>`."""
    return "t" + uuid.uuid4().hex
