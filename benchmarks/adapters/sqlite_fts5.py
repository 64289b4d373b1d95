"""SQLite (Python's own `sqlite3`): a table with B-tree indexes on the queried fields, FTS5 on message.

Schema: `logs(id, ts, level, resource_id, trace_id, parent_resource_id, raw)`, where `raw` is the
original JSON line and `ts` is milliseconds since the epoch (the data's precision). Indexes are
`(field, ts)` so "field = x ORDER BY ts DESC LIMIT 100" reads the index in order and stops early.
The FTS5 index on the message is contentless (the text is already in `raw`), and its tokenizer is
set to Strata's: unicode61 without diacritic folding and with `_` as a word character, so FTS5
tokens are `\\w+` runs, lowercased. WAL mode with `synchronous=FULL`: every commit is fsynced.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import orjson

from ..data import read_batches
from ..queries import NEWEST, RANGE, BenchQuery, parse_timestamp_ns
from . import Adapter, Answer

DB_NAME = "logs.sqlite"

_SCHEMA = """
CREATE TABLE logs (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    level TEXT,
    resource_id TEXT,
    trace_id TEXT,
    parent_resource_id TEXT,
    raw TEXT NOT NULL
);
CREATE INDEX logs_ts ON logs (ts);
CREATE INDEX logs_level ON logs (level, ts);
CREATE INDEX logs_resource ON logs (resource_id, ts);
CREATE INDEX logs_trace ON logs (trace_id);
CREATE INDEX logs_parent ON logs (parent_resource_id, ts);
CREATE VIRTUAL TABLE logs_fts USING fts5(
    message, content='', tokenize="unicode61 remove_diacritics 0 tokenchars '_'"
);
"""

# Page cache per connection. The default 2 MiB thrashes once the indexes outgrow it (resource_id
# inserts land all over its B-tree); 64 MiB keeps ingest CPU-bound at 1M logs, at that cost in RSS.
_CACHE_KIB = 64 * 1024


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
    return conn


Row = tuple[int, int, str, str, str, str, str]


def _rows(batch: bytes, first_id: int) -> tuple[list[Row], list[tuple[int, str]]]:
    rows: list[Row] = []
    texts: list[tuple[int, str]] = []
    for i, line in enumerate(batch.splitlines(), first_id):
        log = orjson.loads(line)
        ts = parse_timestamp_ns(log["timestamp"]) // 1_000_000
        meta = log.get("metadata") or {}
        rows.append(
            (
                i,
                ts,
                log.get("level"),
                log.get("resourceId"),
                log.get("traceId"),
                meta.get("parentResourceId"),
                line.decode(),
            )
        )
        texts.append((i, log.get("message", "")))
    return rows, texts


def _parsed(path: Path) -> Iterator[tuple[list[Row], list[tuple[int, str]]]]:
    # Parse the next batch on a second thread while SQLite writes this one: `sqlite3` releases the GIL
    # inside sqlite3_step, so the two overlap (SQLite itself has a single writer).
    with ThreadPoolExecutor(1) as pool:
        next_id = 1
        pending = None
        for batch in read_batches(path):
            job = pool.submit(_rows, batch, next_id)
            next_id += batch.count(b"\n")
            if pending is not None:
                yield pending.result()
            pending = job
        if pending is not None:
            yield pending.result()


def ingest(logs: Path, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    conn = _connect(directory / DB_NAME)
    conn.executescript(_SCHEMA)
    count = 0
    for rows, texts in _parsed(logs):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO logs_fts (rowid, message) VALUES (?, ?)", texts)
        conn.execute("COMMIT")
        count += len(rows)
    # Fold the WAL into the database file so its size is the store's, not a log's.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return count


@lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: str | None) -> bool:
    return value is not None and _compiled(pattern).search(value) is not None


_MATCH = "SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?"
_LOW_MS = parse_timestamp_ns(RANGE.low) // 1_000_000
_HIGH_MS = parse_timestamp_ns(RANGE.high) // 1_000_000

# Query key -> (WHERE clause on logs, its parameters, optional faster count statement).
_WHERE: dict[str, tuple[str, tuple[object, ...], str | None]] = {
    "level": ("level = ?", ("error",), None),
    "phrase": (
        f"id IN ({_MATCH})",
        ('"failed to connect"',),
        "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?",
    ),
    "resourceId": ("resource_id = ?", ("server-1234",), None),
    "range": ("ts BETWEEN ? AND ?", (_LOW_MS, _HIGH_MS), None),
    "and": (
        f"level = ? AND resource_id = ? AND ts BETWEEN ? AND ? AND id IN ({_MATCH})",
        ("error", "server-1234", _LOW_MS, _HIGH_MS, '"failed to connect"'),
        None,
    ),
    "traceId": ("trace_id = ?", ("abc-xyz-123",), None),
    "parentResourceId": ("parent_resource_id = ?", ("server-0987",), None),
    "word": (f"id IN ({_MATCH})", ("refused",), "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?"),
    "prefix": (f"id IN ({_MATCH})", ("insuff*",), "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?"),
    "regex": ("json_extract(raw, '$.message') REGEXP ?", (r"Timeout .* after [0-9]+s",), None),
}


class SqliteStore:
    def __init__(self, directory: Path) -> None:
        self._conn = _connect(directory / DB_NAME)
        self._conn.create_function("regexp", 2, _regexp, deterministic=True)

    def search(self, query: BenchQuery) -> Answer:
        where, params, count_sql = _WHERE[query.key]
        count_sql = count_sql or f"SELECT count(*) FROM logs WHERE {where}"
        (total,) = self._conn.execute(count_sql, params).fetchone()
        rows = self._conn.execute(
            f"SELECT raw FROM logs WHERE {where} ORDER BY ts DESC, id DESC LIMIT {NEWEST}", params
        ).fetchall()
        return Answer(total, [orjson.loads(raw) for (raw,) in rows])

    def close(self) -> None:
        self._conn.close()


ADAPTER = Adapter(
    name="SQLite FTS5",
    setup=(
        f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=FULL, one commit per batch; B-tree (field, ts) "
        "indexes + contentless FTS5 on message; 2 threads (JSON parsing beside SQLite's single writer)"
    ),
    ingest=ingest,
    open=SqliteStore,
    notes={
        "level": "exact value (`level = 'error'`)",
        "resourceId": "exact value",
        "traceId": "exact value",
        "parentResourceId": "exact value",
        "word": "FTS5 on message only",
        "regex": "full scan, Python `re` as REGEXP",
    },
)
