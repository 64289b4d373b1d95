"""Ingest work gives way to a running search for the priority window, and only for that window."""

from __future__ import annotations

import threading

import orjson

from engine import Engine
from engine.memtable import INDEX_CHUNK, Memtable
from engine.priority import SearchPriority

# Long enough that only the end of the search can release a waiting ingest thread within a test.
FOREVER = 3600.0


def _in_thread(fn) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        fn()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_yield_returns_at_once_without_a_search():
    SearchPriority(FOREVER).yield_to_searches()


def test_ingest_waits_for_a_running_search_until_it_ends():
    priority = SearchPriority(FOREVER)
    with priority.searching():
        thread, done = _in_thread(priority.yield_to_searches)
        assert not done.wait(0.2), "ingest went on while a search was running"
    thread.join(10)
    assert done.is_set()


def test_ingest_waits_while_any_of_several_searches_runs():
    priority = SearchPriority(FOREVER)
    first = priority.searching()
    first.__enter__()
    with priority.searching():
        thread, done = _in_thread(priority.yield_to_searches)
        first.__exit__(None, None, None)
        assert not done.wait(0.2), "ingest went on while the second search was still running"
    thread.join(10)
    assert done.is_set()


def test_a_search_past_its_window_no_longer_holds_ingest_back():
    priority = SearchPriority(0.05)
    with priority.searching():
        thread, done = _in_thread(priority.yield_to_searches)
        thread.join(10)
        assert done.is_set(), "a search older than the window still held ingest back"


def test_window_zero_turns_it_off():
    priority = SearchPriority(0)
    with priority.searching():
        priority.yield_to_searches()


def test_publish_calls_back_between_chunks_and_indexes_everything():
    memtable = Memtable(1)
    count = INDEX_CHUNK * 2 + 5
    memtable.add(0, [(i, orjson.dumps({"n": i, "message": f"word{i % 3}"})) for i in range(count)])
    calls = []
    memtable.publish(index=True, between_chunks=lambda: calls.append(memtable._parsed))
    assert calls == [INDEX_CHUNK, 2 * INDEX_CHUNK]  # not after the last chunk
    view = memtable.view()
    assert len(view.token("message", "word1")) == len(range(1, count, 3))
    assert len(view.everything()) == count


def test_engine_append_waits_for_a_search_marked_by_its_caller(tmp_path):
    with Engine.open(tmp_path / "data", search_priority_window=FOREVER) as db:
        with db.searching():
            thread, done = _in_thread(lambda: db.append_ndjson(b'{"message": "late"}'))
            assert not done.wait(0.2), "append went on while a search was running"
            assert db.count("late") == 0  # the engine's own searches run inside the caller's window
        thread.join(10)
        assert done.is_set()
        assert db.count("late") == 1
