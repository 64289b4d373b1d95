"""The reference search: a brute-force scan that the engine's results are compared against.

Every log is checked with the plain per-log predicate (engine/predicate.py), so the oracle shares no code
with the index path it checks.
"""

from __future__ import annotations

import datetime as dt

from engine.documents import flatten
from engine.errors import QueryError
from engine.predicate import compile_predicate
from engine.timestamps import NS_PER_SECOND, parse_query_time
from querylang import Query, parse

# (original object, time in ns, ingest sequence number): what the engine stores for each log.
Entry = tuple[dict, int, int]
TimeBound = int | str | dt.datetime | None

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def scan(
    logs: list[Entry],
    query: str | Query = "*",
    start: TimeBound = None,
    end: TimeBound = None,
    *,
    now_ns: int | None = None,
) -> list[Entry]:
    """The entries matching `query` with `start <= time <= end`, newest first (time desc, then seq desc).

    `start`/`end` are ns since the epoch, a time text (`2023-09-15T08:00:00Z`, `now-1h`), or a datetime
    (naive means UTC). `now_ns` fixes `now` for relative times. Raises QuerySyntaxError / QueryError like
    `Engine.search`.
    """
    q = parse(query) if isinstance(query, str) else query
    predicate = compile_predicate(q, now_ns)
    low = _ns(start, now_ns)
    high = _ns(end, now_ns)
    hits = [
        entry
        for entry in logs
        if (low is None or entry[1] >= low)
        and (high is None or entry[1] <= high)
        and predicate(flatten(entry[0]), entry[1])
    ]
    hits.sort(key=lambda entry: (entry[1], entry[2]), reverse=True)
    return hits


def _ns(bound: TimeBound, now_ns: int | None) -> int | None:
    if bound is None or isinstance(bound, int):
        return bound
    if isinstance(bound, dt.datetime):
        if bound.tzinfo is None:
            bound = bound.replace(tzinfo=dt.UTC)
        delta = bound - _EPOCH  # timedelta arithmetic keeps microseconds exact, unlike .timestamp()
        return (delta.days * 86400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000
    ns = parse_query_time(bound, now_ns)
    if ns is None:
        raise QueryError(f'"{bound}" is not a time')
    return ns
