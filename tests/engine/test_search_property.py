"""Property tests: the engine's answers equal a plain scan of the same logs (tests/oracle.py).

Logs are spread over the memtable and several segments (random flush points), so every query runs on
both kinds of source and the answers are merged.
"""

import random
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Engine, EngineOptions
from engine.documents import log_time
from querylang import parse
from tests.oracle import scan
from tests.strategies import LEVELS, MESSAGES, REGIONS, RESOURCE_IDS, STATUSES, WORDS, log_objects, queries

OPTIONS = EngineOptions(build_in_subprocess=False, merge=False)


def open_with(objs: list[dict], flush_points: set[int], options: EngineOptions = OPTIONS):
    directory = tempfile.TemporaryDirectory()
    db = Engine.open(directory.name, options)
    for i, obj in enumerate(objs):
        db.append([obj])
        if i in flush_points:
            db.flush()
    return directory, db


def entries(objs: list[dict]) -> list[tuple[dict, int, int]]:
    return [(o, log_time(o, 0), i) for i, o in enumerate(objs)]


@given(st.lists(st.lists(log_objects(), min_size=1, max_size=8), min_size=1, max_size=8), st.data())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_batches_and_flushes_give_back_exactly_what_a_list_would(batches, data):
    directory = tempfile.TemporaryDirectory()
    stored: list[dict] = []
    with Engine.open(directory.name, OPTIONS) as db:
        for batch in batches:
            db.append(batch)
            stored.extend(batch)
            if data.draw(st.booleans(), label="flush"):
                db.flush()
        expected = [o for o, _, _ in scan(entries(stored))]
        assert db.search("*", limit=len(stored)).logs == expected
    with Engine.open(directory.name, OPTIONS) as db:  # and again after recovery
        assert db.search("*", limit=len(stored)).logs == expected
    directory.cleanup()


@given(st.lists(log_objects(), min_size=1, max_size=40), st.sets(st.integers(0, 40), max_size=3),
       st.lists(queries(), min_size=1, max_size=5))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_queries_on_small_random_stores(objs, flush_points, qs):
    directory, db = open_with(objs, flush_points)
    with db:
        for q in qs:
            expected = scan(entries(objs), q)
            hits = db.search(q, limit=10)
            assert hits.total == len(expected), str(q)
            assert hits.logs == [o for o, _, _ in expected[:10]], str(q)
    directory.cleanup()


def corpus(n: int, seed: int) -> list[dict]:
    """Logs drawn from the strategies' vocabulary, many enough that common words get grams."""
    r = random.Random(seed)
    out = []
    for i in range(n):
        words = r.choices(WORDS, k=r.randint(1, 6))
        obj = {
            "timestamp": f"2023-09-{10 + r.randrange(7):02d}T{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
            "level": r.choice([*LEVELS, "ERROR"]),
            "message": r.choice([r.choice(MESSAGES), " ".join(words), "-".join(words)]),
            r.choice(["resourceId", "resourceId", "resourceID"]): r.choice(RESOURCE_IDS),
            "metadata": {"parentResourceId": r.choice(RESOURCE_IDS), "region": r.choice(REGIONS)},
            "status": r.choice(STATUSES),
        }
        if i % 7 == 0:
            obj["tags"] = r.sample(WORDS, 2)
        out.append(obj)
    return out


@pytest.fixture(scope="module", params=["segments", "merged"])
def big_store(request):
    objs = corpus(2400, seed=3)
    merged = request.param == "merged"
    directory, db = open_with([], set(), EngineOptions(build_in_subprocess=False, merge=merged, merge_factor=2))
    for start in range(0, 1800, 450):
        db.append(objs[start:start + 450])
        db.flush()  # four segments of 450 logs: common words there have grams
    if merged:
        db.wait_for_merges()
        assert db.statistics().segments == 1
    db.append(objs[1800:])  # and 600 in the memtable
    yield entries(objs), db
    db.close()
    directory.cleanup()


@given(queries())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_queries_on_segments_with_grams(big_store, q):
    stored, db = big_store
    expected = scan(stored, q)
    hits = db.search(q, limit=20)
    assert hits.total == len(expected), str(q)
    assert hits.logs == [o for o, _, _ in expected[:20]], str(q)


@pytest.mark.parametrize("query", [
    "level:error",
    'message:"Failed to connect"',
    "resourceId:server-1234",
    "timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]",
    'level:error AND message:"Failed to connect" AND resourceId:server-1234 AND '
    "timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]",
    'message:"connect to server"', '"failed to connect to server"', "message:conn*", "message:/Timeout .* after/",
])
def test_sample_queries_and_phrases(big_store, query):
    stored, db = big_store
    expected = scan(stored, parse(query))
    hits = db.search(query, limit=50)
    assert hits.total == len(expected)
    assert hits.logs == [o for o, _, _ in expected[:50]]
