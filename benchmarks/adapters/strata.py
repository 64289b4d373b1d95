"""Strata through its public facade only: `append_ndjson` per batch with fsync "always", then `flush()`.

Ingest counts until every log is in a segment (issue 2), which is stricter than the peers' "durable and
queryable": Strata's WAL already makes each batch durable and the memtable makes it searchable.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine import BackpressureError, Engine, EngineOptions

from ..data import read_batches
from ..queries import NEWEST, BenchQuery
from . import Adapter, Answer


def _append(db: Engine, batch: bytes) -> int:
    # Segment writing may fall behind ingest; the engine then asks the caller to retry later.
    while True:
        try:
            return db.append_ndjson(batch)
        except BackpressureError as e:
            time.sleep(e.retry_after)


def ingest(logs: Path, directory: Path) -> int:
    count = 0
    with Engine.open(directory, EngineOptions(fsync="always")) as db:
        for batch in read_batches(logs):
            count += _append(db, batch)
        db.flush()
    return count


def settle(directory: Path) -> None:
    """Let background merges finish, so queries and the size on disk see the steady state."""
    with Engine.open(directory) as db:
        db.wait_for_merges()


class StrataStore:
    def __init__(self, directory: Path) -> None:
        self._db = Engine.open(directory)

    def search(self, query: BenchQuery) -> Answer:
        hits = self._db.search(query.strata, limit=NEWEST)
        return Answer(hits.total, hits.logs)

    def close(self) -> None:
        self._db.close()


ADAPTER = Adapter(
    name="Strata",
    setup=(
        'in-process `append_ndjson` per batch, fsync "always", then `flush()` until every log is in a '
        "segment; segments are built in a second process (both cores)"
    ),
    ingest=ingest,
    open=StrataStore,
    settle=settle,
    default_note="native",
)
