"""The Engine facade end to end on real files: append, search, recovery, limits, locking."""

import multiprocessing
import os
import threading

import orjson
import pytest

from engine import (
    Engine,
    EngineOptions,
    IngestError,
    LockedError,
    QueryError,
    QuerySyntaxError,
    QueryTooBroadError,
)

SAMPLE = {"level": "error", "message": "Failed to connect to DB", "resourceId": "server-1234",
          "timestamp": "2023-09-15T08:00:00Z", "traceId": "abc-xyz-123", "spanId": "span-456",
          "commit": "5e5342f", "metadata": {"parentResourceId": "server-0987"}}


def small(**kw) -> EngineOptions:
    return EngineOptions(build_in_subprocess=False, **kw)


def make_logs(n: int, start: int = 0) -> list[dict]:
    levels = ["info", "warn", "error", "debug"]
    return [{"level": levels[i % 4], "message": f"Request {i} failed to connect to DB" if i % 3 == 0 else
             f"User {i} logged in", "resourceId": f"server-{i % 50:04d}",
             "timestamp": f"2023-09-{1 + (i % 28):02d}T{i % 24:02d}:00:00Z", "n": i}
            for i in range(start, start + n)]


def test_append_then_search_returns_originals_newest_first(tmp_path):
    with Engine.open(tmp_path, small()) as db:
        assert db.append([SAMPLE, {**SAMPLE, "timestamp": "2023-09-16T08:00:00Z", "level": "info"}]) == 2
        hits = db.search("level:error")
        assert hits.total == 1 and hits.logs == [SAMPLE]
        hits = db.search("*")
        assert [h["level"] for h in hits.logs] == ["info", "error"]
        assert db.search("resourceid:server-1234").total == 2  # field names ignore case
        assert db.search("metadata.parentResourceId:server-0987").total == 2


def test_ndjson_and_errors_name_the_line(tmp_path):
    with Engine.open(tmp_path, small(max_log_bytes=200)) as db:
        body = b'{"a":1}\n\n{"a":2}\n'
        assert db.append_ndjson(body) == 2
        with pytest.raises(IngestError) as info:
            db.append_ndjson(b'{"a":3}\n{"a":\n')
        assert info.value.line == 2 and info.value.index == 1
        with pytest.raises(IngestError, match="JSON object"):
            db.append_ndjson(b'[1,2]\n')
        with pytest.raises(IngestError, match="over the limit"):
            db.append_ndjson(b'{"a":"' + b"x" * 300 + b'"}')
        with pytest.raises(IngestError, match="timestamp"):
            db.append([{"a": 1}, {"timestamp": "yesterday"}])
        assert db.search("*").total == 2  # nothing of the refused calls was stored


def test_timestamps_in_every_accepted_form(tmp_path):
    forms = ["2023-09-15T08:00:00Z", "2023-09-15T10:00:00+02:00", "2023-09-15T08:00:00.000000000Z",
             1694764800, 1694764800000, 1694764800000000000, "2023-09-15 08:00:00Z"]
    with Engine.open(tmp_path, small()) as db:
        db.append([{"i": i, "timestamp": f} for i, f in enumerate(forms)])
        hits = db.search("timestamp:2023-09-15T08:00:00Z")
        assert hits.total == len(forms)
        assert set(hits.timestamps) == {1694764800 * 10**9}


def test_search_spans_memtable_and_segments_and_survives_reopen(tmp_path):
    logs = make_logs(3000)
    with Engine.open(tmp_path, small(memtable_max_logs=700, flush_memtables=1)) as db:
        for i in range(0, 3000, 250):
            db.append(logs[i:i + 250])
        db.flush()
        db.append(make_logs(100, 3000))
        expected = db.search('message:"failed to connect" AND level:error', limit=10)
        assert db.statistics().segments >= 4
    with Engine.open(tmp_path, small(memtable_max_logs=700)) as db:
        again = db.search('message:"failed to connect" AND level:error', limit=10)
        assert again.total == expected.total == sum(
            1 for x in make_logs(3100) if x["level"] == "error" and "failed to connect" in x["message"].lower())
        assert again.raw == expected.raw


def test_cursor_pages_cover_everything_once(tmp_path):
    with Engine.open(tmp_path, small(memtable_max_logs=300)) as db:
        db.append(make_logs(1000))
        seen, cursor = [], None
        while True:
            hits = db.search("level:info OR level:warn", limit=77, cursor=cursor)
            seen.extend(hits.raw)
            db.append(make_logs(5, 5000 + len(seen)))  # new logs arriving between pages
            if hits.next_cursor is None:
                break
            cursor = hits.next_cursor
        assert len(seen) == len(set(seen)) == 500  # the 5-log arrivals after page one are not in it


def test_oldest_order_and_time_bounds(tmp_path):
    with Engine.open(tmp_path, small()) as db:
        db.append(make_logs(100))
        hits = db.search("*", start="2023-09-10", end="2023-09-12T23:59:59Z", order="oldest", limit=1000)
        assert hits.timestamps == sorted(hits.timestamps)
        assert hits.total == sum(1 for x in make_logs(100) if "2023-09-10" <= x["timestamp"][:10] <= "2023-09-12")


def test_histogram_and_field_values(tmp_path):
    with Engine.open(tmp_path, small(memtable_max_logs=40)) as db:
        db.append(make_logs(100))
        db.flush()
        db.append(make_logs(20, 100))
        hist = db.histogram("*", interval="1d", by="level")
        assert sum(c for _, c in hist.buckets) == 120
        assert sum(sum(v) for v in hist.series.values()) == 120
        assert db.field_values("level", "*", top=2) == [("debug", 30), ("error", 30)]
        assert dict(db.fields())["resourceId"] == 120


def test_bad_queries_are_clear_errors(tmp_path):
    with Engine.open(tmp_path, small()) as db:
        with pytest.raises(QuerySyntaxError) as info:
            db.search("level:")
        assert info.value.column >= 7
        with pytest.raises(QueryError, match="not a time"):
            db.search("timestamp:[yesterday TO now]")
        with pytest.raises(QueryTooBroadError):
            db.search("*", limit=10**9)


def _hold_lock(path: str, ready, done) -> None:
    db = Engine.open(path, EngineOptions(build_in_subprocess=False))
    ready.set()
    done.wait(10)
    db.close()


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, done))
    holder.start()
    try:
        assert ready.wait(20)
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            Engine.open(tmp_path)
    finally:
        done.set()
        holder.join()
    Engine.open(tmp_path).close()  # free again once the holder is gone


def test_subscribe_sees_new_matching_logs(tmp_path):
    with Engine.open(tmp_path, small()) as db:
        got = []
        stop = db.subscribe("level:error", got.extend)
        db.append([SAMPLE, {**SAMPLE, "level": "info"}])
        stop()
        db.append([SAMPLE])
        assert got == [SAMPLE]


def test_background_merges_keep_answers(tmp_path):
    opts = small(memtable_max_logs=100, merge_factor=2)
    with Engine.open(tmp_path, opts) as db:
        for i in range(0, 800, 100):
            db.append(make_logs(100, i))
        db.flush()
        db.wait_for_merges()
        st = db.statistics()
        assert st.merges_total >= 1 and st.segments < 8
        assert db.search("*").total == 800
        assert db.search("level:error").total == 200
    names = os.listdir(tmp_path)
    assert sum(n.endswith(".sst") for n in names) == st.segments  # merged inputs were deleted


def test_orjson_round_trip_of_originals(tmp_path):
    odd = {"ünï": "cödé ✓", "nested": {"list": [1, {"x": None}], "f": 1.5}, "b": True}
    with Engine.open(tmp_path, small()) as db:
        db.append([odd])
        db.flush()
        assert db.search("cödé").logs == [odd]
        assert orjson.loads(db.search("nested.list.x:*").raw[0]) == odd


def test_top_values_of_an_id_field_over_too_many_logs_is_refused(tmp_path):
    with Engine.open(tmp_path, small(max_distinct_values=50)) as db:
        db.append([{"traceId": f"t-{i}", "level": "info"} for i in range(60)])
        assert db.field_values("level") == [("info", 60)]
        with pytest.raises(QueryTooBroadError, match="distinct values"):
            db.field_values("traceId")
        db.flush()
        with pytest.raises(QueryTooBroadError, match="distinct values"):
            db.field_values("traceId")


def test_merged_away_segments_release_their_files(tmp_path):
    with Engine.open(tmp_path, small(memtable_max_logs=50, merge_factor=2)) as db:
        for i in range(0, 400, 50):
            db.append(make_logs(50, i))
            db.flush()
            assert db.search("level:error AND connect").total > 0  # loads dictionaries of every segment
        db.wait_for_merges()
        assert db.search("*").total == 400
        assert db.statistics().merges_total >= 3
        open_files = os.listdir(f"/proc/{os.getpid()}/fd")
        targets = {os.readlink(f"/proc/{os.getpid()}/fd/{fd}") for fd in open_files
                   if os.path.exists(f"/proc/{os.getpid()}/fd/{fd}")}
        assert not [t for t in targets if t.endswith("(deleted)") and str(tmp_path) in t]


def test_histogram_spans_out_of_order_logs_in_the_memtable(tmp_path):
    with Engine.open(tmp_path, small()) as db:
        db.append([{"timestamp": t} for t in ("2023-09-01T00:00:00Z", "2023-09-20T00:00:00Z", "2023-09-10T00:00:00Z")])
        hist = db.histogram("*", interval="1d")
        assert sum(c for _, c in hist.buckets) == 3 and len(hist.buckets) == 20


def test_searches_beside_appends_see_every_finished_append(tmp_path):
    # While searches come in, append indexes its rows before returning (Memtable.publish); a search
    # must still count exactly the logs of every append that returned before it started, no more than
    # were appended, across memtable rotations.
    with Engine.open(tmp_path, small(memtable_max_logs=700)) as db:
        db.search("*")  # searches are coming: appends index as they go
        returned = 0
        stop = threading.Event()
        errors: list[str] = []

        def searcher() -> None:
            while not stop.is_set():
                floor = returned
                total = db.search("level:error", limit=5).total
                ceiling = returned
                # level:error is every 4th log (make_logs), appended in batches of 100.
                if not floor // 4 <= total <= ceiling // 4 + 25:
                    errors.append(f"{total} errors counted after {floor} logs appended")

        thread = threading.Thread(target=searcher)
        thread.start()
        try:
            for start in range(0, 5000, 100):
                db.append(make_logs(100, start))
                returned = start + 100
        finally:
            stop.set()
            thread.join()
        assert not errors, errors[:3]
        assert db._memtable._columns["level"].indexed == len(db._memtable)  # indexed by append, not by a search
        assert db.search("level:error").total == 1250


def test_memtables_that_wait_for_a_builder_are_written_as_one_segment(tmp_path, monkeypatch):
    import engine.db

    started, gate = threading.Event(), threading.Event()
    write_segment = engine.db.write_segment

    def held_first(path, rows):
        started.set()
        gate.wait(10)  # holds the builder until several memtables wait
        return write_segment(path, rows)

    monkeypatch.setattr(engine.db, "write_segment", held_first)
    opts = small(memtable_max_logs=10, max_pending_flushes=8, flush_memtables=2, merge=False)
    with Engine.open(tmp_path, opts) as db:
        db.append(make_logs(10, 0))
        assert started.wait(10)
        for i in range(10, 50, 10):
            db.append(make_logs(10, i))
        db.append(make_logs(3, 50))  # stays in the memtable
        assert len([n for n in os.listdir(tmp_path) if n.startswith("wal-")]) == 6
        gate.set()
        db.flush()
        manifest_docs = sorted(s.docs for s in db._manifest.segments)
        assert db.search("*").total == 53
    # The first memtable went alone; the four that waited behind it went two by two, and the last.
    assert manifest_docs == [3, 10, 20, 20]
    assert len([n for n in os.listdir(tmp_path) if n.startswith("wal-")]) == 1  # the newest, empty
    with Engine.open(tmp_path, small()) as db:
        assert db.search("*").total == 53
        assert sorted(log["n"] for log in db.search("*", limit=100).logs) == list(range(53))


@pytest.mark.parametrize("processes", [0, 2])  # 0: a builder thread; 2: two builder processes, two merges at once
def test_segments_stay_bounded_while_appends_outrun_merges(tmp_path, processes):
    opts = EngineOptions(memtable_max_logs=20, flush_memtables=1, merge_factor=2, merge_beside_flushes_at=4,
                         flushes_wait_for_merges_at=6, build_in_subprocess=bool(processes),
                         builder_processes=max(processes, 1))
    most = 0
    with Engine.open(tmp_path, opts) as db:
        for i in range(0, 2400, 20):
            db.append(make_logs(20, i))
            most = max(most, db.statistics().segments)
        db.flush()
        assert db.search("*").total == 2400
        assert db.statistics().merges_total > 0
    # Flushes that started before the count reached the bound (one a builder) may still add their segments.
    assert most <= opts.flushes_wait_for_merges_at + opts.builder_processes
