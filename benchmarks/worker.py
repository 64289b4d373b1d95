"""Runs one phase of one engine in a process of its own (`spawn` starts it and watches its memory).

    python -m benchmarks.worker ENGINE ingest LOGS DIRECTORY --result FILE
    python -m benchmarks.worker ENGINE query DIRECTORY --runs 20 --result FILE
    python -m benchmarks.worker ENGINE open DIRECTORY --result FILE

A separate process per engine and phase keeps peak RSS per engine and makes `open` a real cold open
of the directory (only the engine's libraries are already imported). The figures are written as
JSON to FILE, not stdout, because some engines print to stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .adapters import Adapter, Unsupported, load
from .data import REPO_ROOT
from .measure import (
    busy_cpu_seconds,
    cpu_seconds,
    dir_bytes,
    peak_rss_bytes,
    percentile,
    time_calls,
    tree_rss_bytes,
)
from .queries import QUERIES, BenchQuery, parse_timestamp_ns


def run_ingest(adapter: Adapter, logs: Path, directory: Path) -> dict[str, Any]:
    """Ingest the file into a new store; logs/s covers JSON parsing up to the last durable batch."""
    start = time.perf_counter()
    count = adapter.ingest(logs, directory)
    seconds = time.perf_counter() - start
    rss = peak_rss_bytes()
    if adapter.settle is not None:
        adapter.settle(directory)
    size = dir_bytes(directory)
    return {
        "logs": count,
        "seconds": seconds,
        "logs_per_s": count / seconds,
        "peak_rss": rss,
        "bytes": size,
        "bytes_per_log": size / count,
    }


def run_query(adapter: Adapter, store: Any, query: BenchQuery, runs: int) -> dict[str, Any]:
    """One query: the first call's answer is kept for checking (and warms caches); then `runs` timed calls."""
    try:
        answer = store.search(query)
    except Unsupported as e:
        return {"unsupported": str(e) or "cannot express"}
    except Exception as e:
        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {e}"}
    samples = time_calls(lambda: store.search(query), runs)
    return {
        "total": answer.total,
        "newest_ns": sorted((parse_timestamp_ns(log["timestamp"]) for log in answer.logs), reverse=True),
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
    }


def run_open(adapter: Adapter, directory: Path) -> dict[str, Any]:
    """Only open the store and close it again (the time covers the open)."""
    start = time.perf_counter()
    store = adapter.open(directory)
    open_s = time.perf_counter() - start
    store.close()
    return {"open_s": open_s, "peak_rss": peak_rss_bytes()}


def run_queries(adapter: Adapter, directory: Path, runs: int) -> dict[str, Any]:
    """Open the store (timed) and run every query of the set."""
    start = time.perf_counter()
    store = adapter.open(directory)
    open_s = time.perf_counter() - start
    try:
        results = {q.key: run_query(adapter, store, q, runs) for q in QUERIES}
    finally:
        store.close()
    return {"open_s": open_s, "queries": results, "peak_rss": peak_rss_bytes()}


# How often `spawn` samples the worker's memory. Sampling runs in the parent, not in the measured process;
# a spike shorter than this in a child can be missed (the worker's own peak is exact, from getrusage).
_SAMPLE_S = 0.05


def spawn(args: Sequence[str], timeout: float | None = None) -> dict[str, Any]:
    """Run `python -m benchmarks.worker ARGS` and return its figures.

    `peak_rss` becomes the larger of the worker's own peak and the sampled peak of its whole process tree.
    `other_cores` is how many cores, on average, processes other than the worker (and this harness) kept
    busy meanwhile: other people's work on a shared machine skews every figure, so it is reported.
    Raises subprocess.CalledProcessError if the worker fails and TimeoutExpired after `timeout` seconds.
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks.worker", *args, "--result", str(result)]
        deadline = None if timeout is None else time.monotonic() + timeout
        tree_peak = 0
        start = (time.monotonic(), busy_cpu_seconds(), cpu_seconds(resource.RUSAGE_CHILDREN),
                 cpu_seconds(resource.RUSAGE_SELF))  # fmt: skip
        with subprocess.Popen(cmd, cwd=REPO_ROOT) as proc:
            while proc.poll() is None:
                tree_peak = max(tree_peak, tree_rss_bytes(proc.pid))
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise subprocess.TimeoutExpired(cmd, timeout or 0)
                time.sleep(_SAMPLE_S)
        end = (time.monotonic(), busy_cpu_seconds(), cpu_seconds(resource.RUSAGE_CHILDREN),
               cpu_seconds(resource.RUSAGE_SELF))  # fmt: skip
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
        figures = json.loads(result.read_text())
    figures["peak_rss"] = max(figures["peak_rss"], tree_peak)
    wall, busy, ours, harness = (b - a for a, b in zip(start, end, strict=True))
    figures["other_cores"] = max(0.0, busy - ours - harness) / wall
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("engine")
    sub = p.add_subparsers(dest="phase", required=True)
    ing = sub.add_parser("ingest")
    ing.add_argument("logs", type=Path)
    ing.add_argument("directory", type=Path)
    qry = sub.add_parser("query")
    qry.add_argument("directory", type=Path)
    qry.add_argument("--runs", type=int, default=20)
    opn = sub.add_parser("open")
    opn.add_argument("directory", type=Path)
    for s in (ing, qry, opn):
        s.add_argument("--result", type=Path, required=True)
    a = p.parse_args(argv)
    adapter = load(a.engine)
    if a.phase == "ingest":
        figures = run_ingest(adapter, a.logs, a.directory)
    elif a.phase == "query":
        figures = run_queries(adapter, a.directory, a.runs)
    else:
        figures = run_open(adapter, a.directory)
    a.result.write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
