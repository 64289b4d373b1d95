"""The memtable against plain definitions: phrases against the predicate, time order and newest/oldest picks
against a full sort, and fields indexed when searched (at append once searched lately, else on first use)."""

from __future__ import annotations

import time

import orjson
from hypothesis import given
from hypothesis import strategies as st
from pyroaring import BitMap

from engine.documents import flatten
from engine.memtable import Memtable
from engine.predicate import compile_predicate
from engine.search import Budget, Evaluator
from querylang import parse

LOGS = [
    {"message": "Failed to connect to DB"},
    {"message": "failed TO connect"},  # case differs
    {"message": "to to connect"},  # a token repeated in the text
    {"message": ["Failed to", "connect now"]},  # the phrase spans two values of an array: no match
    {"message": ["x", "failed to connect"]},  # the second value of an array matches
    {"message": "connect"},  # one token: not listed for phrases, and cannot hold one
    {"message": "Failed to connect to DB", "other": "failed to connect"},  # same text as log 0
    {"MESSAGE": "failed to connect"},  # another field, whose name differs only in case
    {"message": 42, "n": "to 42"},
    {"message": "connect to failed"},
]
QUERIES = [
    'message:"failed to connect"', 'message:"to connect"', 'message:"to to"', 'message:"connect to"',
    '"failed to connect"', 'message:"to 42"', '"to 42"', 'other:"failed to"', 'message:"failed to connect now"',
    'message:"connect now"', 'message:"nothing here"',
]


def test_phrases_on_the_memtable_agree_with_the_predicate():
    memtable = Memtable(1)
    raws = [orjson.dumps(log) for log in LOGS]
    memtable.add(0, [(i, raw) for i, raw in enumerate(raws)])
    memtable.publish(index=True)
    now = time.time_ns()
    for text in QUERIES:
        q = parse(text)
        got = sorted(Evaluator(memtable.view(), Budget(30, now)).run(q))
        predicate = compile_predicate(q, now)
        want = [i for i, raw in enumerate(raws) if predicate(flatten(orjson.loads(raw)), i)]
        assert got == want, text


def test_a_snapshot_sees_no_phrase_match_indexed_after_it():
    memtable = Memtable(1)
    memtable.add(0, [(0, b'{"message": "failed to connect"}')])
    memtable.publish(index=True)
    view = memtable.view()
    memtable.add(1, [(1, b'{"message": "failed to connect"}'), (2, b'{"message": "still failed to connect"}')])
    memtable.publish(index=True)
    assert list(view.phrase("message", ["failed", "to", "connect"])) == [0]
    assert list(memtable.view().phrase("message", ["failed", "to", "connect"])) == [0, 1, 2]


@given(st.lists(st.lists(st.integers(0, 20), min_size=1, max_size=30), min_size=1, max_size=6))
def test_time_order_grown_batch_by_batch_equals_a_full_sort(batches):
    # Few distinct times, so many ties: (time, seq) order must hold across batches too.
    memtable = Memtable(1)
    seq = 0
    for times in batches:
        memtable.add(seq, [(t, b"{}") for t in times])
        seq += len(times)
        memtable.publish(index=False)
        view = memtable.view()
        order, order_times = memtable._ordering(view.doc_count)
        want = sorted(range(seq), key=lambda d: (memtable.times[d], memtable.seqs[d]))
        assert list(order) == want
        assert list(order_times) == [memtable.times[d] for d in want]
        assert list(view.time_range(5, 10)) == [d for d in range(seq) if 5 <= memtable.times[d] <= 10]


@given(st.lists(st.integers(0, 50), min_size=1, max_size=300), st.data())
def test_newest_and_oldest_pick_what_a_full_sort_picks(times, data):
    # Sparse and dense matches take different paths (sorting the matches, walking the time order).
    memtable = Memtable(1)
    memtable.add(0, [(t, b"{}") for t in times])
    memtable.publish(index=False)
    view = memtable.view()
    docs = BitMap(data.draw(st.sets(st.integers(0, len(times) - 1))))
    k = data.draw(st.integers(0, 120))
    keys = sorted((times[d], d, d) for d in docs)  # seq equals doc id here
    assert view.newest(docs, k) == keys[::-1][:k]
    assert view.oldest(docs, k) == keys[:k]


def test_publish_indexes_only_the_fields_searched_lately_and_the_rest_on_first_use():
    raws = [orjson.dumps({"level": ("error", "info")[i % 2], "message": f"failed to connect {i % 3}",
                          "traceId": f"t-{i}"}) for i in range(40)]
    memtable = Memtable(1, {}, hot_for=60.0)
    memtable.add(0, [(i, raw) for i, raw in enumerate(raws[:20])])
    memtable.publish(index=True)  # nothing searched yet: rows parsed, no field indexed
    assert memtable._parsed == 20 and not memtable._fields
    first = memtable.view()
    assert list(first.token("message", "connect")) == list(range(20))  # indexed on first use
    assert set(memtable._fields) == {"message"} and "message" in memtable.searched

    memtable.add(20, [(i, raw) for i, raw in enumerate(raws[20:], 20)])
    memtable.publish(index=True)  # message is hot now: indexed here, by the appender
    assert memtable._columns["message"].indexed == 40
    assert "traceId" not in memtable._fields and memtable._columns["traceId"].indexed == 0
    assert memtable._columns["traceId"].values is None  # a cold field gathers no values
    second = memtable.view()
    assert list(second.phrase("message", ["connect", "2"])) == [i for i in range(40) if i % 3 == 2]
    assert list(second.value("traceId", "t-33")) == [33]  # a cold field, indexed on first use
    assert list(first.token("message", "connect")) == list(range(20))  # the older snapshot sees its rows only
    assert sorted(second.field_names()) == ["level", "message", "traceId"]
    assert list(second.exists("level")) == list(range(40))
    assert "level" not in memtable._fields  # counting a field's logs does not index it


def test_a_field_no_longer_searched_stops_gathering_and_is_read_again_from_the_rows():
    raws = [orjson.dumps({"level": ["error", "warn"] if i % 5 == 0 else "info", "n": i}) for i in range(30)]
    searched = {"level": time.monotonic()}
    memtable = Memtable(1, searched, hot_for=60.0)
    memtable.add(0, [(i, raw) for i, raw in enumerate(raws[:10])])
    memtable.publish(index=True)
    assert memtable._columns["level"].indexed == 10 and memtable._columns["n"].values is None
    searched["level"] -= 120  # not searched for two minutes
    memtable.add(10, [(i, raw) for i, raw in enumerate(raws[10:], 10)])
    memtable.publish(index=True)
    level = memtable._columns["level"]
    assert level.indexed == 10 and level.values is None
    view = memtable.view()
    assert list(view.token("level", "warn")) == [0, 5, 10, 15, 20, 25]  # arrays: two values of one doc
    assert list(view.value("level", "info")) == [i for i in range(30) if i % 5]
    assert list(view.numeric("n", 12, 14, True, False)) == [12, 13]
    assert level.indexed == 30 and level.values == []  # searched again: gathering again
