"""What the server, CLI and console tests run against: a real `python -m server` on a free loopback port,
and logs from the shared generator."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).absolute().parents[1]
GENERATOR = REPO_ROOT.parent / "shared" / "logdata" / "generate.py"
# The server tests' body limit: small, so 413s are cheap to provoke, big enough for 5,000-log batches.
SMALL_BODY_LIMIT = 4_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m server` in a subprocess. Its stderr goes to a file, shown when it fails to start."""

    def __init__(self, data_dir: Path, *args: str, new_session: bool = False) -> None:
        self.data_dir = data_dir
        self.args = args
        # A session (and process group) of its own, like a shell's foreground job, so a test can signal
        # the whole group as Ctrl-C in a terminal does.
        self.new_session = new_session
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def post(self, body: bytes) -> int:
        """POST NDJSON; the number of logs accepted (the request must succeed)."""
        response = httpx.post(f"{self.url}/api/v1/logs", content=body,
                              headers={"Content-Type": "application/x-ndjson"}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["accepted"]

    def search(self, q: str, **params: object) -> dict:
        return search(self.url, q, **params)

    def start(self, timeout: float = 30.0, port: int | None = None) -> ServerProcess:
        self.port = port or free_port()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server",
                    "--data",
                    str(self.data_dir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )
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
        self.kill()
        raise RuntimeError(f"server did not answer /healthz within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the exit code of a graceful stop."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid`, read from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # the process ended meanwhile
            # Fields after the command name, which is in parentheses and may hold spaces.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def fronts(pid: int) -> list[int]:
    """The server's front processes (server/front.py) among the children of `pid`."""
    out = []
    for child in children(pid):
        try:
            if b"server.front" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
        except OSError:
            pass
    return out


def generate_ndjson(count: int, seed: int = 7) -> bytes:
    """NDJSON from the shared generator (it adds the task's example log, so `count + 1` lines)."""
    return subprocess.run([sys.executable, str(GENERATOR), "--count", str(count), "--seed", str(seed)],
                          check=True, capture_output=True).stdout


def generate(count: int, seed: int = 7) -> list[bytes]:
    """`count` logs from the shared generator, one JSON object per item, as it prints them."""
    return generate_ndjson(count, seed).splitlines()


def search(url: str, q: str, **params: object) -> dict:
    response = httpx.get(f"{url}/api/v1/search", params={"q": q, **params}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def export(url: str, q: str = "*") -> list[bytes]:
    with httpx.stream("GET", f"{url}/api/v1/export", params={"q": q}, timeout=60) as response:
        assert response.status_code == 200, response.read()
        return b"".join(response.iter_bytes()).splitlines()
