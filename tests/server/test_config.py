"""ServerConfig: flags over STRATA_* variables over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import ServerConfig
from server.config import DEFAULT_FRONTS


def test_defaults() -> None:
    config = ServerConfig.from_env_and_args([], env={})
    assert (config.data_dir, config.host, config.port, config.fsync) == (
        Path("./strata-data"),
        "127.0.0.1",
        3000,
        "always",
    )
    assert config.max_body_bytes == 64 << 20


def test_environment_then_flags() -> None:
    env = {"STRATA_DATA": "/srv/logs", "STRATA_HOST": "0.0.0.0", "STRATA_PORT": "4000"}
    config = ServerConfig.from_env_and_args([], env=env)
    assert (config.data_dir, config.host, config.port) == (Path("/srv/logs"), "0.0.0.0", 4000)
    config = ServerConfig.from_env_and_args(["--port", "5000", "--data", "d", "--fsync", "interval"], env=env)
    assert (config.data_dir, config.host, config.port) == (Path("d"), "0.0.0.0", 5000)
    assert config.fsync == "interval"


def test_bad_port() -> None:
    with pytest.raises(ValueError, match="port"):
        ServerConfig.from_env_and_args([], env={"STRATA_PORT": "http"})


def test_fronts() -> None:
    assert ServerConfig.from_env_and_args([], env={}).fronts == DEFAULT_FRONTS
    assert ServerConfig.from_env_and_args([], env={"STRATA_FRONTS": "3"}).fronts == 3
    assert ServerConfig.from_env_and_args(["--fronts", "0"], env={"STRATA_FRONTS": "3"}).fronts == 0
    with pytest.raises(ValueError, match="fronts must be 0 or more"):
        ServerConfig.from_env_and_args(["--fronts", "-1"], env={})
    with pytest.raises(ValueError, match="fronts must be a number"):
        ServerConfig.from_env_and_args([], env={"STRATA_FRONTS": "two"})
