"""ClickHouse embedded (PyPI `chdb`): a MergeTree table ordered by timestamp, token bloom filter on message.

Each batch is one `INSERT ... FORMAT JSONAsString` of the raw lines; the other columns are DEFAULT
expressions over `raw`, so ClickHouse itself parses the JSON. `fsync_after_insert` and
`fsync_part_directory` make every insert durable before it returns. The token bloom filter is built
on `lower(message)` so case-insensitive `hasToken` can use it; the queried id fields get bloom
filters too. Outdated parts are removed within about a second after merges (`old_parts_lifetime`,
`cleanup_delay_period`), so the size on disk is the live data's.
"""

from __future__ import annotations

import time
from pathlib import Path

import chdb
import orjson

from ..data import read_batches
from ..queries import NEWEST, RANGE, BenchQuery
from . import Adapter, Answer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    raw String CODEC(ZSTD(3)),
    timestamp DateTime64(3, 'UTC')
        DEFAULT parseDateTime64BestEffort(JSONExtractString(raw, 'timestamp'), 3, 'UTC')
        CODEC(Delta, ZSTD(1)),
    level LowCardinality(String) DEFAULT JSONExtractString(raw, 'level'),
    resourceId String DEFAULT JSONExtractString(raw, 'resourceId') CODEC(ZSTD(1)),
    traceId String DEFAULT JSONExtractString(raw, 'traceId') CODEC(ZSTD(1)),
    parentResourceId String DEFAULT JSONExtractString(raw, 'metadata', 'parentResourceId') CODEC(ZSTD(1)),
    message String DEFAULT JSONExtractString(raw, 'message') CODEC(ZSTD(1)),
    INDEX message_tokens lower(message) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1,
    INDEX resource_bloom resourceId TYPE bloom_filter GRANULARITY 1,
    INDEX trace_bloom traceId TYPE bloom_filter GRANULARITY 1,
    INDEX parent_bloom parentResourceId TYPE bloom_filter GRANULARITY 1
) ENGINE = MergeTree ORDER BY timestamp
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1,
         old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0
"""

# How long ingest waits, untimed, for merged-away parts to be deleted before the size is measured.
_CLEANUP_WAIT_S = 60.0


def ingest(logs: Path, directory: Path) -> int:
    conn = chdb.connect(str(directory))
    conn.query(_SCHEMA)
    count = 0
    for batch in read_batches(logs):
        conn.query("INSERT INTO logs (raw) FORMAT JSONAsString\n" + batch.decode())
        count += batch.count(b"\n")
    conn.close()
    return count


def settle(directory: Path) -> None:
    """Wait until merged-away parts are deleted, so the size on disk is the live data's."""
    conn = chdb.connect(str(directory))
    deadline = time.monotonic() + _CLEANUP_WAIT_S
    while time.monotonic() < deadline:
        outdated = conn.query("SELECT count() FROM system.parts WHERE table = 'logs' AND NOT active", "TSV")
        if int(outdated.bytes()) == 0:
            break
        time.sleep(0.2)
    conn.close()


def _phrase(*words: str) -> str:
    # hasToken lets the bloom filter skip granules; the regex then makes it exact: tokens are \w runs
    # (RE2's \w is ASCII, equal to Python's on this ASCII data) separated by non-word characters.
    has = " AND ".join(f"hasToken(lower(message), '{w}')" for w in words)
    # Backslashes are doubled once for the SQL string literal: the regex gets \b and \W.
    pattern = r"(?i)\\b" + r"\\W+".join(words) + r"\\b"
    return f"{has} AND match(message, '{pattern}')"


_RANGE = f"timestamp BETWEEN toDateTime64('{RANGE.low}', 3, 'UTC') AND toDateTime64('{RANGE.high}', 3, 'UTC')"

_PHRASE = _phrase("failed", "to", "connect")

# Query key -> WHERE clause.
_WHERE = {
    "level": "level = 'error'",
    "phrase": _PHRASE,
    "resourceId": "resourceId = 'server-1234'",
    "range": _RANGE,
    "and": f"level = 'error' AND resourceId = 'server-1234' AND {_RANGE} AND {_PHRASE}",
    "traceId": "traceId = 'abc-xyz-123'",
    "parentResourceId": "parentResourceId = 'server-0987'",
    "word": _phrase("refused"),
    "prefix": r"match(message, '(?i)\\binsuff')",
    "regex": "match(message, 'Timeout .* after [0-9]+s')",
}


class ChdbStore:
    def __init__(self, directory: Path) -> None:
        self._conn = chdb.connect(str(directory))

    def search(self, query: BenchQuery) -> Answer:
        where = _WHERE[query.key]
        total = int(self._conn.query(f"SELECT count() FROM logs WHERE {where}", "TSV").bytes())
        # TSVRaw: one original line per row, unescaped (a JSON line has no raw tab or newline).
        raw = self._conn.query(
            f"SELECT raw FROM logs WHERE {where} ORDER BY timestamp DESC LIMIT {NEWEST}", "TSVRaw"
        ).bytes()
        return Answer(total, [orjson.loads(line) for line in raw.splitlines()])

    def close(self) -> None:
        self._conn.close()


ADAPTER = Adapter(
    name="chdb",
    setup=(
        f"chdb {chdb.__version__} (ClickHouse {chdb.engine_version}), one INSERT per batch with "
        "fsync_after_insert; ClickHouse parses the JSON; uses every core (max_threads = 2 here)"
    ),
    ingest=ingest,
    settle=settle,
    open=ChdbStore,
    notes={
        "level": "exact value",
        "resourceId": "exact value (bloom filter)",
        "traceId": "exact value (bloom filter)",
        "parentResourceId": "exact value (bloom filter)",
        "phrase": "`hasToken` (bloom filter) + RE2 `\\b…\\W+…\\b` check",
        "word": "message only; `hasToken` + RE2 check",
        "prefix": "full scan of message, RE2 `(?i)\\binsuff`",
        "regex": "full scan of message, RE2 (same result as Python `re` for this pattern)",
    },
)
