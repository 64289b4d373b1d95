"""The benchmark data: NDJSON from the shared generator (seed 7), generated once and cached.

Every engine reads the same file, so figures from different engines are measured on the same bytes.
The cache lives in `bench-data/` at the repository root (gitignored); a file is written under a
temporary name and renamed, so an interrupted generation never leaves a truncated cache behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SEED = 7
REPO_ROOT = Path(__file__).resolve().parents[1]
GENERATOR = REPO_ROOT.parent / "shared/logdata/generate.py"
CACHE_DIR = REPO_ROOT / "bench-data"

# The batch size of issue 2's ingest benchmark: each batch is one durable call.
BATCH_LOGS = 10_000


def logs_path(count: int, cache_dir: Path = CACHE_DIR) -> Path:
    """Where the file of `count` generated logs is cached (it holds count + 1 lines: the generator
    inserts the task's example log halfway, so the sample queries always match)."""
    return cache_dir / f"logs-{count}-seed{SEED}.ndjson"


def ensure_logs(count: int, cache_dir: Path = CACHE_DIR) -> Path:
    """The path of the cached NDJSON file of `count` logs, generating it first if it is missing."""
    path = logs_path(count, cache_dir)
    if path.exists():
        return path
    if not GENERATOR.exists():
        raise FileNotFoundError(f"log generator not found at {GENERATOR}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        subprocess.run(
            [sys.executable, str(GENERATOR), "--count", str(count), "--seed", str(SEED), "--out", str(tmp)],
            check=True,
        )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_batches(path: Path, batch_logs: int = BATCH_LOGS) -> Iterator[bytes]:
    """The file as NDJSON chunks of `batch_logs` lines each (the last may be shorter), newline-terminated."""
    with path.open("rb") as f:
        batch: list[bytes] = []
        for line in f:
            batch.append(line)
            if len(batch) == batch_logs:
                yield b"".join(batch)
                batch.clear()
        if batch:
            yield b"".join(batch)


def count_lines(path: Path) -> int:
    """The number of logs in an NDJSON file (non-blank lines)."""
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())
