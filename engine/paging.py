"""One page of a search over many sources (memtables and segments): the exact total, the newest (or
oldest) `limit` matches across all of them, and a cursor for the page after.

`snapshot` is the last ingest sequence number the search may see: later pages keep the first page's, so
they neither repeat nor skip logs while new ones arrive (engine/cursor.py encodes it in the cursor).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from typing import Any

from pyroaring import BitMap

from querylang.ast import Query

from .cursor import encode_cursor
from .results import Hits
from .search import Budget, Evaluator, cheapest_first, validate


def matches(sources: list, q: Query, low: int | None, high: int | None,
            budget: Budget) -> Iterator[tuple[Any, BitMap]]:
    """(source, matching docs) for each source that can match, after time pruning."""
    validate(q, budget)
    q = cheapest_first(q)  # once per query, not per source
    for src in sources:
        if not src.doc_count:
            continue
        if (low is not None and src.max_ts < low) or (high is not None and src.min_ts > high):
            continue
        docs = Evaluator(src, budget).run(q)
        if docs and (low is not None or high is not None) and not (
                (low is None or src.min_ts >= low) and (high is None or src.max_ts <= high)):
            docs &= src.time_range(low, high)
        yield src, docs


def page(sources: list, q: Query, low: int | None, high: int | None, budget: Budget, *, limit: int,
         newest: bool, snapshot: int, after: tuple[int, int] | None, started: float) -> Hits:
    """`after`: the (time, seq) key of the previous page's last log, or None for the first page.
    `started`: perf_counter() when the search began, for Hits.took."""
    total = 0
    remaining = 0
    picks: list[tuple[int, int, int, Any]] = []
    keep = heapq.nlargest if newest else heapq.nsmallest
    # Once `limit` picks are in hand, the last of them bounds what a later segment can add: only its docs
    # on the near side of that key are ranked, so most segments add few picks instead of `limit` each.
    bound: tuple[int, int] | None = None
    for src, docs in matches(sources, q, low, high, budget):
        stored = src.upto_seq(snapshot)
        if stored is not None:
            docs &= stored
        total += len(docs)
        if not limit or not docs:
            continue
        if after is not None:
            docs = docs & (src.before(*after) if newest else src.after(*after))
        remaining += len(docs)
        if bound is not None and src.time_sorted:  # the interval is cheap on time-sorted segments
            docs = docs & (src.after(*bound) if newest else src.before(*bound))
        chosen = src.newest(docs, limit) if newest else src.oldest(docs, limit)
        picks.extend((ts, seq, doc, src) for ts, seq, doc in chosen)
        if len(picks) >= limit:
            # Plain tuple order: (time, seq) is unique per log, so doc and source are never compared.
            picks = keep(limit, picks)
            bound = picks[-1][0], picks[-1][1]
    picks = keep(limit, picks)
    raws = _fetch(picks)
    next_cursor = None
    if picks and remaining > len(picks):
        next_cursor = encode_cursor(picks[-1][0], picks[-1][1], snapshot)
    return Hits(total=total, raw=raws, timestamps=[p[0] for p in picks], next_cursor=next_cursor,
                took=time.perf_counter() - started)


def _fetch(picks: list[tuple[int, int, int, Any]]) -> list[bytes]:
    """The original JSON of each pick, fetching from each source once."""
    by_source: dict[int, list[int]] = {}
    sources: dict[int, Any] = {}
    for i, (_, _, _, src) in enumerate(picks):
        by_source.setdefault(id(src), []).append(i)
        sources[id(src)] = src
    out: list[bytes] = [b""] * len(picks)
    for key, positions in by_source.items():
        raws = sources[key].fetch([picks[i][2] for i in positions])
        for i, raw in zip(positions, raws, strict=True):
            out[i] = raw
    return out
