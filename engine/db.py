"""Engine: the embeddable log store. Wires the WAL, memtables, segments, builder process and search.

Write path: `append` validates its logs outside any lock, then joins the commit queue. The first waiting
caller becomes the leader: it writes every queued call as one WAL record each, fsyncs once for all of
them (group commit), adds them to the memtable and wakes the others. When the memtable is full the
leader starts a new WAL generation and hands the frozen memtable to the background thread, which has a
builder process write it as a segment (with the frozen memtables after it, when several wait), records the
segment in the manifest, and only then deletes the WAL generations it came from. The same thread submits
merges: one at a time, or on every builder once the segments pass a bound (`_background`).

Recovery (`Engine.open`): take the directory lock; read the manifest; delete `*.tmp` files, segments the
manifest does not list and WAL generations below its `wal_start`; open the listed segments; replay the
remaining WAL generations in order (truncating a torn tail of the newest, refusing on corruption).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
import time
from array import array
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Executor, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from querylang import parse
from querylang.ast import Query

from . import aggregations, filenames, paging
from .aggregations import interval_ns
from .builders import BuilderError, BuilderPool
from .compaction import plan_merge
from .cursor import decode_cursor
from .dirlock import lock_directory
from .documents import InvalidLog, flatten, log_time
from .errors import (
    BackpressureError,
    CorruptionError,
    EngineClosedError,
    IngestError,
    QueryError,
    QueryTooBroadError,
    WriteFailedError,
)
from .flush import merge_segments, write_segment
from .manifest import Manifest, SegmentMeta, read_manifest, write_manifest
from .memtable import Memtable
from .options import EngineOptions
from .predicate import compile_predicate
from .priority import SearchPriority
from .results import EngineStatistics, Histogram, Hits
from .search import Budget, time_bound
from .segments.reader import SegmentReader
from .segments.rows import Rows
from .wal import WalWriter, encode_entries, frame_batch, read_wal

log = logging.getLogger("strata.engine")

TimeArg = int | str | datetime | None
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Ingest work in this process gives way to running searches every this many logs (engine/priority.py).
_YIELD_EVERY = 256
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _ahead_of_ingest(method: _Method) -> _Method:
    """A query method that ingest work in this process gives way to while it runs (engine/priority.py)."""
    @functools.wraps(method)
    def wrapper(self: Engine, *args: Any, **kwargs: Any) -> Any:
        with self._priority.searching():
            return method(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


class _Request:
    __slots__ = ("count", "done", "encoded", "entries", "error", "first_seq")

    def __init__(self, entries: list[tuple[int, bytes]]) -> None:
        self.entries = entries
        self.count = len(entries)
        self.encoded = encode_entries(entries)
        self.first_seq = -1
        self.done = False
        self.error: BaseException | None = None


class Engine:
    """A Strata data directory, open for appends and searches. Thread-safe. Use `Engine.open`."""

    def __init__(self, path: Path, options: EngineOptions, lock_fd: int) -> None:
        self.path = path
        self.options = options
        self._lock_fd = lock_fd
        self._cv = threading.Condition()
        self._write_lock = threading.Lock()  # held by whoever writes the WAL or rotates it
        self._state_lock = threading.Lock()  # guards _segments, _frozen, _memtable swaps, _manifest
        self._queue: list[_Request] = []
        self._leader_active = False
        self._closed = False
        self._failed: BaseException | None = None
        self._segments: tuple[SegmentReader, ...] = ()
        self._frozen: list[Memtable] = []
        self._manifest = Manifest()
        self._searched_fields: dict[str, float] = {}  # shared by the memtables (Memtable.searched)
        self._memtable = self._new_memtable(1)
        self._wal: WalWriter | None = None
        self._next_seq = 0
        self._subscribers: dict[int, tuple[Callable, Callable[[list[dict]], None]]] = {}
        self._next_subscriber = 0
        self._stats = {"appended_logs": 0, "appended_bytes": 0, "fsyncs": 0, "fsync_seconds": 0.0,
                       "flushes": 0, "merges": 0}
        self._pool: Executor | BuilderPool | None = None
        self._next_segment_id = 1
        self._bg_wake = threading.Condition()
        self._bg_stop = False
        self._bg_busy = False
        self._flush_waiters = 0  # callers of flush() waiting
        self._bg_thread: threading.Thread | None = None
        self._sync_thread: threading.Thread | None = None
        self._last_search = float("-inf")  # no search yet: ingest pays nothing for the memtable index
        self._priority = SearchPriority(options.search_priority_window)

    # ---- opening and closing ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, options: EngineOptions | None = None, **overrides: Any) -> Engine:
        """Open (creating if needed) the data directory at `path`, recovering what is there."""
        options = options or EngineOptions()
        if overrides:
            options = dataclasses.replace(options, **overrides)
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        lock_fd = lock_directory(directory)
        engine = cls(directory, options, lock_fd)
        try:
            engine._recover()
            if options.start_builders_at_open and options.build_in_subprocess:
                pool = engine._executor()
                assert isinstance(pool, BuilderPool)
                pool.start()
        except BaseException:
            if engine._pool is not None:
                engine._pool.shutdown(wait=False)
            engine._release_lock()
            raise
        engine._start_threads()
        return engine

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recover(self) -> None:
        d = self.path
        manifest = read_manifest(d) or Manifest()
        live = {s.id for s in manifest.segments}
        wal_gens = []
        for name in os.listdir(d):
            if name.endswith(filenames.TMP_SUFFIX):
                (d / name).unlink()
            elif (sid := filenames.parse_segment(name)) is not None and sid not in live:
                (d / name).unlink()  # written but never recorded, or merged away
            elif (gen := filenames.parse_wal(name)) is not None:
                if gen < manifest.wal_start:
                    (d / name).unlink()  # already in a segment
                else:
                    wal_gens.append(gen)
        segments = []
        for meta in manifest.segments:
            seg_path = d / filenames.segment_name(meta.id)
            if not seg_path.exists():
                raise CorruptionError(f"{seg_path}: segment listed in the manifest is missing", path=str(seg_path))
            segments.append(SegmentReader(seg_path, meta.id))
        self._segments = tuple(segments)
        self._manifest = manifest
        self._next_seq = manifest.next_seq
        self._next_segment_id = manifest.next_segment_id
        wal_gens.sort()
        memtables = []
        for gen in wal_gens:
            memtable = self._new_memtable(gen)
            for batch in read_wal(d / filenames.wal_name(gen), is_last=gen == wal_gens[-1]):
                memtable.add(batch.first_seq, batch.entries)
                self._next_seq = max(self._next_seq, batch.first_seq + len(batch.entries))
            memtable.publish(index=False)
            memtables.append(memtable)
        if memtables:
            self._memtable = memtables[-1]
            self._frozen = [m for m in memtables[:-1] if len(m)]
            for m in memtables[:-1]:
                if not len(m):  # an empty older generation: nothing to flush
                    (d / filenames.wal_name(m.wal_generation)).unlink()
            self._wal = WalWriter(d / filenames.wal_name(wal_gens[-1]), create=False)
        else:
            gen = manifest.wal_start
            self._memtable = self._new_memtable(gen)
            self._wal = WalWriter(d / filenames.wal_name(gen), create=True)

    def _start_threads(self) -> None:
        self._bg_thread = threading.Thread(target=self._background, name="strata-background", daemon=True)
        self._bg_thread.start()
        if self.options.fsync == "interval":
            self._sync_thread = threading.Thread(target=self._interval_sync, name="strata-fsync", daemon=True)
            self._sync_thread.start()

    def close(self) -> None:
        """Stop background work and release the directory. The memtable stays in the WAL for next time."""
        with self._cv:
            if self._closed:
                return
            self._closed = True
        with self._bg_wake:
            self._bg_stop = True
            self._bg_wake.notify_all()
        if self._bg_thread is not None:
            self._bg_thread.join()
        if self._sync_thread is not None:
            self._sync_thread.join()
        with self._write_lock:
            if self._wal is not None:
                with contextlib.suppress(OSError):
                    if self._failed is None:
                        self._wal.sync()
                self._wal.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for s in self._segments:
            s.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = -1

    # ---- appending ----------------------------------------------------------------------------------
    def append(self, logs: Sequence[Mapping]) -> int:
        """Store `logs` (JSON-like mappings) atomically: all of them, or none and an IngestError.

        Returns once they are durable under the fsync policy; they are searchable from then on."""
        receipt = time.time_ns()
        limit = self.options.max_log_bytes
        entries = []
        for i, obj in enumerate(logs):
            if not i % _YIELD_EVERY:
                self._priority.yield_to_searches()
            if not isinstance(obj, Mapping):
                raise IngestError(f"expected a JSON object, got {type(obj).__name__}", index=i)
            try:
                raw = orjson.dumps(obj)
            except TypeError as exc:
                raise IngestError(f"not JSON-serializable: {exc}", index=i) from None
            if len(raw) > limit:
                raise IngestError(f"log is {len(raw)} bytes, over the limit of {limit} bytes", index=i)
            try:
                ts = log_time(obj if isinstance(obj, dict) else dict(obj), receipt)
            except InvalidLog as exc:
                raise IngestError(str(exc), index=i) from None
            entries.append((ts, raw))
        return self._commit(entries)

    def append_ndjson(self, data: bytes) -> int:
        """`append` for NDJSON: one JSON object per line; blank lines are skipped. Errors name the line."""
        receipt = time.time_ns()
        limit = self.options.max_log_bytes
        loads = orjson.loads
        entries = []
        for lineno, line in enumerate(data.split(b"\n"), 1):
            line = line.strip()
            if not line:
                continue
            index = len(entries)
            if not index % _YIELD_EVERY:
                self._priority.yield_to_searches()
            if len(line) > limit:
                raise IngestError(f"log is {len(line)} bytes, over the limit of {limit} bytes",
                                  index=index, line=lineno)
            try:
                obj = loads(line)
            except orjson.JSONDecodeError as exc:
                raise IngestError(f"invalid JSON: {exc}", index=index, line=lineno) from None
            if not isinstance(obj, dict):
                raise IngestError(f"expected a JSON object, got {type(obj).__name__}", index=index, line=lineno)
            try:
                ts = log_time(obj, receipt)
            except InvalidLog as exc:
                raise IngestError(str(exc), index=index, line=lineno) from None
            entries.append((ts, line))
        return self._commit(entries)

    def _commit(self, entries: list[tuple[int, bytes]]) -> int:
        if not entries:
            return 0
        request = _Request(entries)
        with self._cv:
            self._check_writable()
            self._wait_for_room()
            self._queue.append(request)
            while not request.done:
                if self._leader_active:
                    self._cv.wait()
                    continue
                self._leader_active = True
                group, self._queue = self._queue, []
                self._cv.release()
                error: BaseException | None = None
                try:
                    self._write_group(group)
                except BaseException as exc:
                    error = exc
                finally:
                    self._cv.acquire()
                    self._leader_active = False
                    if error is not None and self._failed is None:
                        self._failed = error
                        log.error("write failed; the engine takes no more writes: %r", error)
                    for r in group:
                        r.done = True
                        r.error = error
                    self._cv.notify_all()
        if request.error is not None:
            raise WriteFailedError(f"write failed, nothing of this call is acknowledged: {request.error!r}") \
                from request.error
        return request.count

    def _check_writable(self) -> None:
        # Requires: self._cv held.
        if self._closed:
            raise EngineClosedError("the engine is closed")
        if self._failed is not None:
            raise WriteFailedError(f"an earlier write failed ({self._failed!r}); reopen the engine to recover")

    def _wait_for_room(self) -> None:
        # Requires: self._cv held. Bounds memory: frozen memtables wait for the builder.
        deadline = time.monotonic() + self.options.stall_timeout
        while len(self._frozen) >= self.options.max_pending_flushes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackpressureError(
                    f"{len(self._frozen)} memtables are waiting to be written as segments; "
                    "ingest is ahead of segment writing, retry shortly", retry_after=1.0)
            self._cv.wait(min(remaining, 0.05))
            self._check_writable()

    def _write_group(self, group: list[_Request]) -> None:
        with self._write_lock:
            parts = []
            for r in group:
                r.first_seq = self._next_seq
                self._next_seq += r.count
                parts.append(frame_batch(r.first_seq, r.count, r.encoded))
            wal = self._wal
            assert wal is not None
            data = b"".join(parts)
            wal.write(data)
            if self.options.fsync == "always":
                started = time.perf_counter()
                wal.sync()
                self._stats["fsyncs"] += 1
                self._stats["fsync_seconds"] += time.perf_counter() - started
            memtable = self._memtable
            for r in group:
                memtable.add(r.first_seq, r.entries)
            # While searches come in, index the rows here, before they become visible and before append
            # returns: a search then finds the memtable indexed, instead of indexing a backlog first
            # while ingest competes with it for the GIL.
            memtable.publish(index=time.monotonic() - self._last_search < self.options.memtable_index_warm_for,
                             between_chunks=self._priority.yield_to_searches)
            self._stats["appended_logs"] += sum(r.count for r in group)
            self._stats["appended_bytes"] += len(data)
            if len(memtable) >= self.options.memtable_max_logs or \
                    memtable.raw_bytes >= self.options.memtable_max_bytes:
                self._rotate()
        if self._subscribers:
            self._notify(group)

    def _rotate(self) -> None:
        # Requires: self._write_lock held. Freezes the memtable and starts the next WAL generation.
        old = self._memtable
        if not len(old):
            return
        assert self._wal is not None
        self._wal.sync()  # older generations are whole on disk: recovery treats damage there as corruption
        self._wal.close()
        gen = old.wal_generation + 1
        self._wal = WalWriter(self.path / filenames.wal_name(gen), create=True)
        with self._state_lock:
            self._frozen.append(old)
            self._memtable = self._new_memtable(gen)
        with self._bg_wake:
            self._bg_wake.notify_all()

    def _new_memtable(self, wal_generation: int) -> Memtable:
        return Memtable(wal_generation, self._searched_fields, self.options.memtable_index_warm_for)

    def _interval_sync(self) -> None:
        while True:
            with self._bg_wake:
                if self._bg_stop:
                    return
                self._bg_wake.wait(self.options.fsync_interval)
            with self._write_lock:
                if self._wal is not None and self._failed is None and not self._closed:
                    started = time.perf_counter()
                    try:
                        self._wal.sync()
                    except OSError as exc:
                        with self._cv:
                            self._failed = exc
                        return
                    self._stats["fsyncs"] += 1
                    self._stats["fsync_seconds"] += time.perf_counter() - started

    # ---- background: segments and merges ------------------------------------------------------------
    def _executor(self) -> Executor | BuilderPool:
        if self._pool is None:
            if self.options.build_in_subprocess:
                self._pool = BuilderPool(self.options.builder_processes)
            else:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="strata-builder")
        return self._pool

    def _background(self) -> None:
        """Submits flushes and merges, one job per builder process, and installs finished segments: flushes
        strictly in WAL order, since the manifest's `wal_start` can only move past generations that are all
        in segments. A builder that comes free while several frozen memtables wait writes them as one
        segment (up to `flush_memtables`): when ingest outruns the builders, segments grow instead of
        multiplying, and fewer merges follow. One merge runs when no memtable waits, or beside the flushes
        once there are `merge_beside_flushes_at` segments; from `flushes_wait_for_merges_at` on, merges of
        disjoint segments take every builder and flushes wait for them."""
        flushing: list[tuple[list[Memtable], int, Future]] = []  # in WAL order
        merging: list[tuple[list[SegmentMeta], int, Future]] = []
        processes = self.options.builder_processes if self.options.build_in_subprocess else 1
        try:
            while True:
                with self._bg_wake:
                    stopping = self._bg_stop
                if stopping:
                    # Running flushes finish and are recorded, so their work is not thrown away. A merge
                    # may take a minute (4M logs); closing does not wait for it. Killed, it leaves at most
                    # a segment that no manifest lists, which the next open deletes; its inputs stay.
                    for memtables, segment_id, future in flushing:
                        self._install_flush(memtables, segment_id, future.result())
                    for plan, segment_id, future in merging:
                        if isinstance(self._pool, BuilderPool):  # a thread could not be stopped
                            self._pool.abandon(future)
                        try:
                            info = future.result()
                        except (CancelledError, BuilderError):
                            pass  # abandoned
                        else:
                            self._install_merge(plan, segment_id, info)
                    break
                while flushing and flushing[0][2].done():
                    memtables, segment_id, future = flushing.pop(0)
                    self._install_flush(memtables, segment_id, future.result())
                for job in [job for job in merging if job[2].done()]:
                    merging.remove(job)
                    self._install_merge(job[0], job[1], job[2].result())
                frozen = list(self._frozen)
                in_flight = {m.wal_generation for job in flushing for m in job[0]}
                waiting = [m for m in frozen if m.wal_generation not in in_flight]
                segments = len(self._manifest.segments)
                if segments >= self.options.flushes_wait_for_merges_at:
                    merge_slots = processes
                elif segments >= self.options.merge_beside_flushes_at or not (flushing or waiting):
                    merge_slots = 1
                else:
                    merge_slots = 0
                while len(merging) < merge_slots and len(flushing) + len(merging) < processes:
                    job = self._start_merge({s.id for plan, _, _ in merging for s in plan})
                    if job is None:
                        break
                    merging.append(job)
                free = processes - len(flushing) - len(merging)
                if merging and segments >= self.options.flushes_wait_for_merges_at:
                    free = 0
                while waiting and free > 0:
                    # While another builder works, a memtable waits for the next to fill, so that both go
                    # as one segment; an idle pool, or a flush() waiting, takes what there is.
                    if len(waiting) < self.options.flush_memtables and flushing and not self._flush_waiters:
                        break
                    # Spread what waits over the free builders, in WAL order.
                    take = min(-(-len(waiting) // free), self.options.flush_memtables)
                    group, waiting = waiting[:take], waiting[take:]
                    segment_id = self._take_segment_id()
                    path = str(self.path / filenames.segment_name(segment_id))
                    rows = Rows.of_columns(*_concatenated(group))
                    flushing.append((group, segment_id, self._executor().submit(write_segment, path, rows)))
                    free -= 1
                with self._bg_wake:
                    self._bg_busy = bool(flushing or merging)
                    self._bg_wake.notify_all()
                jobs = [job[2] for job in flushing + merging]
                if jobs:
                    wait(jobs, timeout=0.05, return_when=FIRST_COMPLETED)
                else:
                    with self._bg_wake:
                        if not self._bg_stop and len(self._frozen) == len(frozen):
                            self._bg_wake.wait(0.5)
        except BaseException as exc:
            log.exception("background segment work failed")
            with self._cv:
                if self._failed is None:
                    self._failed = exc
                self._cv.notify_all()
        finally:
            with self._bg_wake:
                self._bg_busy = False
                self._bg_wake.notify_all()

    def _start_merge(self, busy: Collection[int]) -> tuple[list[SegmentMeta], int, Future] | None:
        """Submit the merge that is due among the segments not in `busy` (being merged), if any."""
        plan = self._merge_due(busy)
        if plan is None:
            return None
        segment_id = self._take_segment_id()
        inputs = [(str(self.path / filenames.segment_name(s.id)), s.id) for s in plan]
        path = str(self.path / filenames.segment_name(segment_id))
        return plan, segment_id, self._executor().submit(merge_segments, path, inputs)

    def _take_segment_id(self) -> int:
        with self._state_lock:
            segment_id = self._next_segment_id
            self._next_segment_id += 1
        return segment_id

    def _merge_due(self, busy: Collection[int] = ()) -> list[SegmentMeta] | None:
        if not self.options.merge:
            return None
        segments = [s for s in self._manifest.segments if s.id not in busy]
        return plan_merge(segments, base_docs=self.options.memtable_max_logs,
                          factor=self.options.merge_factor, max_docs=self.options.max_segment_logs)

    def _segment_meta(self, segment_id: int, info: dict[str, Any]) -> SegmentMeta:
        return SegmentMeta(id=segment_id, docs=info["docs"], min_ts=info["min_ts"], max_ts=info["max_ts"],
                           bytes=info["bytes"])

    def _install_flush(self, memtables: list[Memtable], segment_id: int, info: dict[str, Any]) -> None:
        """Record the segment written from `memtables` (consecutive WAL generations, oldest first)."""
        reader = SegmentReader(self.path / filenames.segment_name(segment_id), segment_id)
        with self._state_lock:
            manifest = Manifest(
                segments=(*self._manifest.segments, self._segment_meta(segment_id, info)),
                wal_start=memtables[-1].wal_generation + 1,
                next_segment_id=self._next_segment_id,
                next_seq=max(self._manifest.next_seq, *(max(m.seqs) + 1 for m in memtables)),
            )
            write_manifest(self.path, manifest)
            self._manifest = manifest
            self._segments = (*self._segments, reader)
            for m in memtables:
                self._frozen.remove(m)
        # Only now, with the segment durable and recorded, are the WAL generations redundant.
        for m in memtables:
            (self.path / filenames.wal_name(m.wal_generation)).unlink(missing_ok=True)
        self._stats["flushes"] += 1
        with self._cv:
            self._cv.notify_all()  # appends may be waiting for room

    def _install_merge(self, plan: list[SegmentMeta], segment_id: int, info: dict[str, Any]) -> None:
        reader = SegmentReader(self.path / filenames.segment_name(segment_id), segment_id)
        merged = {s.id for s in plan}
        with self._state_lock:
            manifest = Manifest(
                segments=(*(s for s in self._manifest.segments if s.id not in merged),
                          self._segment_meta(segment_id, info)),
                wal_start=self._manifest.wal_start,
                next_segment_id=self._next_segment_id,
                next_seq=self._manifest.next_seq,
            )
            write_manifest(self.path, manifest)
            self._manifest = manifest
            self._segments = (*(s for s in self._segments if s.id not in merged), reader)
        # Searches still reading a merged-away segment keep reading it through its open descriptor.
        for s in plan:
            (self.path / filenames.segment_name(s.id)).unlink(missing_ok=True)
        self._stats["merges"] += 1

    def flush(self) -> None:
        """Write the memtable into a segment and wait until every frozen memtable is a segment."""
        with self._cv:
            self._check_writable()
        with self._write_lock:
            self._rotate()
        with self._bg_wake:
            self._flush_waiters += 1  # nothing frozen is held back to be joined by the next memtable
            self._bg_wake.notify_all()
            try:
                while self._frozen and self._failed is None and not self._bg_stop:
                    self._bg_wake.wait(0.05)
            finally:
                self._flush_waiters -= 1
        if self._failed is not None:
            raise WriteFailedError(f"segment writing failed: {self._failed!r}")

    def wait_for_merges(self) -> None:
        """Block until no merge is due or running (for tests and benchmarks)."""
        with self._bg_wake:
            while (self._bg_busy or self._merge_due()) and self._failed is None and not self._bg_stop:
                self._bg_wake.wait(0.05)

    # ---- subscriptions (live tail) -------------------------------------------------------------------
    def subscribe(self, query: str | Query, callback: Callable[[list[dict]], None]) -> Callable[[], None]:
        """Call `callback(logs)` with each newly stored group of logs matching `query` (in the appending
        thread, after durability; it must not block). Returns the function that unsubscribes."""
        q = parse(query) if isinstance(query, str) else query
        predicate = compile_predicate(q)
        with self._cv:
            key = self._next_subscriber
            self._next_subscriber += 1
            self._subscribers[key] = (predicate, callback)

        def unsubscribe() -> None:
            with self._cv:
                self._subscribers.pop(key, None)

        return unsubscribe

    def _notify(self, group: list[_Request]) -> None:
        parsed = [(ts, orjson.loads(raw)) for r in group for ts, raw in r.entries]
        flat = [flatten(obj) for _, obj in parsed]
        for predicate, callback in list(self._subscribers.values()):
            matches = [obj for (ts, obj), f in zip(parsed, flat, strict=True) if predicate(f, ts)]
            if matches:
                try:
                    callback(matches)
                except Exception:
                    log.exception("a subscriber's callback failed")

    # ---- searching ----------------------------------------------------------------------------------
    def _sources(self) -> list:
        self._last_search = time.monotonic()
        with self._state_lock:
            segments = self._segments
            frozen = list(self._frozen)
            active = self._memtable
        # Newest data first, so the first page usually comes from the first sources.
        return [active.view(), *(m.view() for m in reversed(frozen)),
                *sorted(segments, key=lambda s: s.max_ts, reverse=True)]

    def _query(self, query: str | Query) -> Query:
        with self._cv:
            if self._closed:
                raise EngineClosedError("the engine is closed")
        return parse(query) if isinstance(query, str) else query

    def _bounds(self, start: TimeArg, end: TimeArg, budget: Budget) -> tuple[int | None, int | None]:
        return _time_arg(start, budget, "start"), _time_arg(end, budget, "end")

    def searching(self) -> contextlib.AbstractContextManager[None]:
        """Marks a search as running for the block: ingest work in this process gives way to it for its
        first `options.search_priority_window` seconds (engine/priority.py). The query methods mark
        themselves; a server also wraps a whole request in it, query parsing and answer encoding included."""
        return self._priority.searching()

    @_ahead_of_ingest
    def search(self, query: str | Query = "*", *, start: TimeArg = None, end: TimeArg = None,
               limit: int = 100, cursor: str | None = None,
               order: Literal["newest", "oldest"] = "newest") -> Hits:
        """The exact number of logs matching `query` within [start, end] and up to `limit` of them,
        newest first (or oldest first), continuing after `cursor` from a previous page."""
        started = time.perf_counter()
        q = self._query(query)
        if limit < 0:
            raise QueryError("limit must not be negative")
        if limit > self.options.max_search_rows:
            raise QueryTooBroadError(f"limit {limit} is over the maximum of {self.options.max_search_rows} "
                                     "logs per page; page with the cursor or use export")
        if order not in ("newest", "oldest"):
            raise QueryError(f'order must be "newest" or "oldest", not {order!r}')
        newest = order == "newest"
        budget = Budget(self.options.search_timeout, time.time_ns())
        low, high = self._bounds(start, end, budget)
        # Later pages see the logs stored when the first page was made, so pages neither repeat nor skip
        # while new logs arrive.
        if cursor:
            after_ts, after_seq, snapshot = decode_cursor(cursor)
        else:
            snapshot = self._next_seq - 1
        return paging.page(self._sources(), q, low, high, budget, limit=limit, newest=newest,
                           snapshot=snapshot, after=(after_ts, after_seq) if cursor else None, started=started)

    def count(self, query: str | Query = "*", *, start: TimeArg = None, end: TimeArg = None) -> int:
        return self.search(query, start=start, end=end, limit=0).total

    def export(self, query: str | Query = "*", *, start: TimeArg = None, end: TimeArg = None,
               page: int = 1000) -> Iterator[bytes]:
        """The original JSON of every match, newest first, a page at a time (memory stays bounded)."""
        cursor = None
        while True:
            hits = self.search(query, start=start, end=end, limit=page, cursor=cursor)
            yield from hits.raw
            if hits.next_cursor is None:
                return
            cursor = hits.next_cursor

    @_ahead_of_ingest
    def histogram(self, query: str | Query = "*", *, start: TimeArg = None, end: TimeArg = None,
                  interval: int | str = "1h", by: str | None = None, max_series: int = 10) -> Histogram:
        """Matching logs counted per time bucket of `interval` (ns or text like "5m"); with `by`, also
        one series per value of that field (its `max_series` most frequent values)."""
        q = self._query(query)
        budget = Budget(self.options.search_timeout, time.time_ns())
        low, high = self._bounds(start, end, budget)
        matched = list(paging.matches(self._sources(), q, low, high, budget))
        return aggregations.histogram(matched, low, high, interval_ns(interval), budget, by=by,
                                      max_series=max_series, max_values=self.options.max_distinct_values)

    @_ahead_of_ingest
    def field_values(self, field: str, query: str | Query = "*", *, top: int = 10, start: TimeArg = None,
                     end: TimeArg = None) -> list[tuple[str, int]]:
        """The `top` most frequent verbatim values of `field` among matching logs, with their counts."""
        q = self._query(query)
        budget = Budget(self.options.search_timeout, time.time_ns())
        low, high = self._bounds(start, end, budget)
        return aggregations.top_values(paging.matches(self._sources(), q, low, high, budget), field, top,
                                       budget, self.options.max_distinct_values)

    @_ahead_of_ingest
    def fields(self) -> list[tuple[str, int]]:
        """Every field name with the number of logs that have it, most common first."""
        counts: dict[str, int] = {"timestamp": 0}
        for src in self._sources():
            counts["timestamp"] += src.doc_count
            for name in src.field_names():
                counts[name] = counts.get(name, 0) + len(src.exists(name))
        return sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0]))

    def statistics(self) -> EngineStatistics:
        with self._state_lock:
            segments = self._segments
            frozen = list(self._frozen)
            active = self._memtable
        memtable_logs = len(active) + sum(len(m) for m in frozen)
        times = [t for s in segments for t in (s.min_ts, s.max_ts)]
        for m in [active, *frozen]:
            if len(m):
                times.extend((m.min_ts, m.max_ts))
        wal_bytes = 0
        for name in os.listdir(self.path):
            if filenames.parse_wal(name) is not None:
                with contextlib.suppress(FileNotFoundError):
                    wal_bytes += (self.path / name).stat().st_size
        seg_bytes = sum(s.bytes for s in segments)
        st = self._stats
        return EngineStatistics(
            logs=sum(s.doc_count for s in segments) + memtable_logs,
            segments=len(segments),
            memtable_logs=memtable_logs,
            bytes_on_disk=seg_bytes + wal_bytes,
            wal_bytes=wal_bytes,
            oldest_ns=min(times) if times else None,
            newest_ns=max(times) if times else None,
            appended_logs_total=st["appended_logs"],
            appended_bytes_total=st["appended_bytes"],
            fsyncs_total=st["fsyncs"],
            fsync_seconds_total=st["fsync_seconds"],
            flushes_total=st["flushes"],
            merges_total=st["merges"],
        )


def _concatenated(memtables: list[Memtable]) -> tuple[array, array, list[bytes]]:
    """The times, seqs and raws of `memtables`, one after the other."""
    if len(memtables) == 1:
        return memtables[0].times, memtables[0].seqs, memtables[0].raws
    times, seqs, raws = array("q"), array("q"), []
    for m in memtables:
        times += m.times
        seqs += m.seqs
        raws += m.raws
    return times, seqs, raws


def _time_arg(value: TimeArg, budget: Budget, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise QueryError(f"{what} datetime has no time zone; give one (UTC is datetime.timezone.utc)")
        delta = value - _EPOCH  # timedelta arithmetic keeps microseconds exact, unlike .timestamp()
        return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(value, bool):
        raise QueryError(f"{what} must be a time, not a boolean")
    if isinstance(value, int):
        return value
    return time_bound(str(value), budget, what)
