"""Builder processes (engine/builders.py): jobs run in child processes, and a running job can be abandoned."""

import math
import time

import pytest

from engine import Engine, EngineOptions
from engine.builders import BuilderError, BuilderPool


def test_jobs_run_in_a_child_and_an_abandoned_one_stops_at_once():
    pool = BuilderPool(1)
    try:
        assert pool.submit(math.sqrt, 16.0).result(timeout=30) == 4.0
        job = pool.submit(time.sleep, 600)
        while not job.running():
            time.sleep(0.01)
        started = time.monotonic()
        pool.abandon(job)
        with pytest.raises(BuilderError, match="died"):
            job.result(timeout=30)
        assert time.monotonic() - started < 10
        assert pool.submit(math.sqrt, 9.0).result(timeout=30) == 3.0  # a new worker takes over
    finally:
        pool.shutdown()


def test_close_abandons_a_running_merge_and_keeps_every_log(tmp_path):
    opts = EngineOptions(memtable_max_logs=20_000, merge_factor=2)
    logs = [{"level": "info", "message": f"request {i} served", "n": i} for i in range(40_000)]
    db = Engine.open(tmp_path, opts)
    db.append(logs[:20_000])
    db.append(logs[20_000:])
    db.flush()
    deadline = time.monotonic() + 30
    while not db._bg_busy and time.monotonic() < deadline:  # the merge of the two segments is submitted
        time.sleep(0.001)
    db.close()
    with Engine.open(tmp_path, opts) as db:
        assert db.search("*").total == 40_000
        assert db.search("n:39999").logs == [logs[-1]]
        segments = db.statistics().segments
    assert sum(path.suffix == ".sst" for path in tmp_path.iterdir()) == segments  # nothing half-merged is left
