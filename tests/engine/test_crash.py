"""Durability under SIGKILL: every acknowledged log survives, and no call is ever half stored."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from engine import Engine, EngineOptions

ROOT = Path(__file__).resolve().parents[2]


def run_and_kill(path: Path, delay: float, subprocess_build: bool, first_batch: int) -> dict[int, int]:
    """Start a writer, SIGKILL it after `delay` seconds; return {batch: size} it acknowledged."""
    # A file, not a pipe: the engine's builder process shares stdout, and a pipe would stay open until it
    # exits too.
    out_path = path.with_name(path.name + "-acks.txt")
    with open(out_path, "w") as out_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.engine.crash_writer", str(path), "1" if subprocess_build else "0",
             str(first_batch)],
            cwd=ROOT, stdout=out_file, text=True)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    out = out_path.read_text()
    acked = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:  # a line cut by the kill is not an acknowledgement we can trust to be whole
            acked[int(parts[0])] = int(parts[1])
    return acked


def check(path: Path, acked: dict[int, int]) -> int:
    with Engine.open(path, EngineOptions(build_in_subprocess=False)) as db:
        counts = Counter(log["batch"] for log in (__import__("orjson").loads(r) for r in db.export("*")))
    for batch, size in acked.items():
        assert counts[batch] == size, f"acknowledged batch {batch} has {counts[batch]} of {size} logs"
    for batch, n in counts.items():
        assert n == 1 + batch % 37, f"batch {batch} is partly stored ({n} logs)"
    return max(counts) + 1 if counts else 0


@pytest.mark.slow
@pytest.mark.parametrize("subprocess_build", [False, True])
def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path, subprocess_build):
    rng = random.Random(7 if subprocess_build else 11)
    next_batch = 0
    for _ in range(4):
        acked = run_and_kill(tmp_path, rng.uniform(0.8, 2.5), subprocess_build, next_batch)
        assert acked, "the writer acknowledged nothing before it was killed"
        next_batch = check(tmp_path, acked)
