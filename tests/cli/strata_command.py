"""The `strata` command as a user runs it, for the CLI tests; the server they run against is
tests/live_server.py's."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.live_server import REPO_ROOT


def run_strata(*args: str, input: bytes | None = None, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`strata ARGS` as a user runs it (a separate process, stdout a pipe), with an 100-column terminal."""
    full_env = {**os.environ, "COLUMNS": "100", "LINES": "40", **(env or {})}
    full_env.pop("NO_COLOR", None)
    done = subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO_ROOT, input=input,
                          capture_output=True, env=full_env, timeout=timeout)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())
