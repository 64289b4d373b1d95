"""HTTP benchmark of `python -m server` on loopback, with the shared generator's logs (seed 7).

    python -m benchmarks.server [--logs 200000] [--singles 30000] [--fsync always]

Prints three figures, each from bounded loops against a fresh server and data directory:
1. batched ingest: logs/s for NDJSON bodies of 1,000 logs from 4 concurrent clients;
2. single-log ingest: requests/s and p50/p99 latency for one-log POSTs from 64 concurrent clients;
3. search p50/p99 over HTTP for the sample queries while batched ingest runs in another process.

The clients are raw HTTP/1.1 keep-alive connections on asyncio, in their own processes, so the server is
measured rather than an HTTP library; on a 2-core machine they still share the CPU with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from .data import GENERATOR, REPO_ROOT
from .queries import QUERIES

# The four sample queries and their combination, as the query benchmark defines them.
SAMPLE_QUERIES = [q.strata for q in QUERIES if q.key in ("level", "phrase", "resourceId", "range", "and")]


class Connection:
    """One keep-alive HTTP/1.1 connection; answers must carry Content-Length (all but export and tail do).
    Reconnects when the server closes it: Hypercorn answers the 1,000th request of a connection with
    `Connection: close`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @classmethod
    async def open(cls, port: int) -> Connection:
        conn = cls(port)
        await conn._connect()
        return conn

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        head = f"{method} {target} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/x-ndjson\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_and_headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(status_and_headers[9:12])
        length = 0
        closing = False
        for line in status_and_headers.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                closing = True
        answer = await self.reader.readexactly(length)
        if closing:
            self.close()
        return status, answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate(count: int) -> list[bytes]:
    out = subprocess.run(
        [sys.executable, str(GENERATOR), "--count", str(count), "--seed", "7"], check=True, capture_output=True
    ).stdout
    return out.splitlines()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def post_bodies(port: int, bodies: list[bytes], clients: int, stop: object = None) -> list[float]:
    """Post every body once, `clients` at a time, or round and round until `stop` (an Event) is set;
    the latency of each request."""
    queue = list(reversed(bodies))
    latencies: list[float] = []

    async def client() -> None:
        conn = await Connection.open(port)
        while queue:
            body = queue.pop()
            if stop is not None:
                if stop.is_set():  # type: ignore[attr-defined]
                    break
                queue.insert(0, body)
            started = time.perf_counter()
            status, answer = await conn.request("POST", "/", body)
            while status == 503:  # backpressure: honour it, as a client should
                await asyncio.sleep(0.2)
                status, answer = await conn.request("POST", "/", body)
            if status != 200:
                raise RuntimeError(f"ingest failed with {status}: {answer[:200]!r}")
            latencies.append(time.perf_counter() - started)
        conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def _ingest_process(
    port: int, bodies: list[bytes], clients: int, out: multiprocessing.Queue, stop: object = None
) -> None:
    started = time.perf_counter()
    try:
        latencies = asyncio.run(post_bodies(port, bodies, clients, stop))
    except Exception as exc:
        out.put(exc)
        raise
    out.put((len(latencies), time.perf_counter() - started, latencies))


def _result(out: multiprocessing.Queue) -> tuple[int, float, list[float]]:
    result = out.get()
    if isinstance(result, Exception):
        raise SystemExit(f"ingest client failed: {result}")
    return result


def run_ingest(port: int, bodies: list[bytes], clients: int) -> tuple[int, float, list[float]]:
    """Post `bodies` from a separate process (so client and measuring code share no GIL)."""
    out: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_ingest_process, args=(port, bodies, clients, out))
    proc.start()
    result = _result(out)
    proc.join()
    return result


async def search_latencies(port: int, rounds: int, stop_after: float) -> tuple[dict[str, list[float]], Counter]:
    """Latencies of the sample queries, one after another; and the count of each non-200 status."""
    conn = await Connection.open(port)
    results: dict[str, list[float]] = {q: [] for q in SAMPLE_QUERIES}
    failures: Counter = Counter()
    deadline = time.perf_counter() + stop_after
    for _ in range(rounds):
        for q in SAMPLE_QUERIES:
            target = "/api/v1/search?" + urllib.parse.urlencode({"q": q, "limit": 100})
            started = time.perf_counter()
            status, _ = await conn.request("GET", target)
            results[q].append(time.perf_counter() - started)
            if status != 200:
                failures[status] += 1
        if time.perf_counter() > deadline:
            break
    conn.close()
    return results, failures


def start_server(data_dir: Path, port: int, fsync: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--data", str(data_dir), "--port", str(port), "--fsync", fsync],
        cwd=REPO_ROOT,
        stderr=subprocess.DEVNULL,
    )
    # Ready when it answers, not when its port takes connections: the kernel queues those before a front
    # process has started to accept them (~0.5 s), which the 2 s batched phase would count.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=int, default=200_000, help="logs for the batched run")
    parser.add_argument("--singles", type=int, default=30_000, help="single-log requests")
    parser.add_argument("--search-rounds", type=int, default=200,
                        help="passes over the sample queries (p99 of fewer than 100 is just the slowest)")
    parser.add_argument("--fsync", default="always", choices=["always", "interval", "never"])
    args = parser.parse_args()

    lines = generate(args.logs + args.singles)
    batch_lines, single_lines = lines[: args.logs], lines[args.logs :]
    bodies = [b"\n".join(batch_lines[i : i + 1000]) for i in range(0, len(batch_lines), 1000)]
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured
    print(f"cpus: {os.cpu_count()}, fsync={args.fsync}, generator seed 7")

    work = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    try:
        port = free_port()
        server = start_server(work / "data", port, args.fsync)
        try:
            n, seconds, latencies = run_ingest(port, bodies, clients=4)
            # One pass of the queries before measuring: the first search of a memtable may build its index.
            asyncio.run(search_latencies(port, 1, stop_after=120))
            print(
                f"batched ingest: {n * 1000 / seconds:,.0f} logs/s ({n} bodies of 1,000 logs, 4 clients, "
                f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms per body)"
            )

            n, seconds, latencies = run_ingest(port, single_lines, clients=64)
            p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
            print(
                f"single-log ingest: {n / seconds:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                f"({n} requests, 64 clients)"
            )

            # Search while another process keeps ingesting (the batched bodies, again and again).
            out: multiprocessing.Queue = multiprocessing.Queue()
            stop = multiprocessing.Event()
            ingest = multiprocessing.Process(target=_ingest_process, args=(port, bodies, 4, out, stop))
            ingest.start()
            time.sleep(0.5)
            results, failures = asyncio.run(search_latencies(port, args.search_rounds, stop_after=60))
            stop.set()
            n, seconds, _ = _result(out)
            ingest.join()
            print(
                f"search while ingesting ({n * 1000 / seconds:,.0f} logs/s in the background; "
                f"{args.logs + args.singles + n * 1000:,} logs stored by the end):"
            )
            for q, values in results.items():
                p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
                print(f"  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  {q}")
            if failures:
                print(f"  not 200: {dict(failures)} (504: over the server's search timeout)")
        finally:
            server.terminate()
            server.wait(60)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
