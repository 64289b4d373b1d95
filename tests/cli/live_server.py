"""What the CLI and console tests run against: a real `python -m server` on a free loopback port, the
`strata` command in a subprocess, and logs from the shared generator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).absolute().parents[2]
GENERATOR = REPO_ROOT.parent / "shared" / "logdata" / "generate.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate_logs(count: int, seed: int = 7) -> bytes:
    """NDJSON from the shared generator (it adds the task's example log, so `count + 1` lines)."""
    return subprocess.run([sys.executable, str(GENERATOR), "--count", str(count), "--seed", str(seed)],
                          check=True, capture_output=True).stdout


class LiveServer:
    """`python -m server` in a subprocess, with its output in a log file shown when it fails."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "--data", str(self.data_dir), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer /healthz within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def post(self, body: bytes) -> int:
        response = httpx.post(f"{self.url}/api/v1/logs", content=body,
                              headers={"Content-Type": "application/x-ndjson"}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["accepted"]

    def search(self, q: str, **params: object) -> dict:
        response = httpx.get(f"{self.url}/api/v1/search", params={"q": q, **params}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()


def run_strata(*args: str, input: bytes | None = None, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`strata ARGS` as a user runs it (a separate process, stdout a pipe), with an 100-column terminal."""
    full_env = {**os.environ, "COLUMNS": "100", "LINES": "40", **(env or {})}
    full_env.pop("NO_COLOR", None)
    done = subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO_ROOT, input=input,
                          capture_output=True, env=full_env, timeout=timeout)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())
