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


def test_started_processes_take_the_first_jobs_and_stop_with_the_pool():
    pool = BuilderPool(2)
    try:
        pool.start()
        started = {w.proc.pid for w in pool._workers}
        assert len(started) == 2 and all(w.proc.poll() is None for w in pool._workers)
        assert [pool.submit(math.sqrt, x).result(timeout=30) for x in (4.0, 9.0, 16.0)] == [2.0, 3.0, 4.0]
        assert {w.proc.pid for w in pool._workers} == started  # no process started for a job
    finally:
        pool.shutdown()
    assert all(w.proc.poll() is not None for w in pool._workers)


def test_an_engine_may_start_its_builders_when_it_opens(tmp_path):
    with Engine.open(tmp_path, EngineOptions(start_builders_at_open=True, memtable_max_logs=100)) as db:
        assert isinstance(db._pool, BuilderPool) and len(db._pool._workers) == 2
        db.append([{"message": f"log {i}"} for i in range(250)])
        db.flush()
        assert db.search("message:log", limit=1).total == 250
    with Engine.open(tmp_path) as db:
        assert db._pool is None  # by default, at the first flush


def test_an_engine_whose_builders_cannot_start_does_not_open_and_keeps_its_directory_free(tmp_path, monkeypatch):
    def refuse(self) -> None:
        raise OSError("no processes left")

    monkeypatch.setattr(BuilderPool, "start", refuse)
    with pytest.raises(OSError, match="no processes left"):
        Engine.open(tmp_path, EngineOptions(start_builders_at_open=True))
    monkeypatch.undo()
    with Engine.open(tmp_path) as db:  # the lock was released
        db.append([{"message": "still writable"}])
        assert db.search("still", limit=1).total == 1
