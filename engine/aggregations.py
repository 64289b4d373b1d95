"""Counting matches per time bucket and per value: `Engine.histogram` and `Engine.field_values`."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

import orjson
from pyroaring import BitMap

from .documents import flatten
from .errors import QueryError, QueryTooBroadError
from .results import Histogram
from .search import Budget
from .tokens import value_text

# Each (source, matching docs) of a search, from engine/paging.py's `matches`.
Matched = Iterable[tuple[Any, BitMap]]
MAX_BUCKETS = 10_000


def histogram(matched: list[tuple[Any, BitMap]], low: int | None, high: int | None, step: int, budget: Budget, *,
              by: str | None, max_series: int, max_values: int) -> Histogram:
    """Matches counted per bucket of `step` ns from `low` to `high` (None: the oldest/newest match);
    with `by`, also one series per value of that field (its `max_series` most frequent values)."""
    if low is None or high is None:
        spans = [time_span(s, d) for s, d in matched if d]
        if not spans:
            return Histogram(step, [])
        low = min(lo for lo, _ in spans) if low is None else low
        high = max(hi for _, hi in spans) if high is None else high
    first = low - low % step
    n_buckets = (high - first) // step + 1
    if n_buckets > MAX_BUCKETS:
        raise QueryTooBroadError(f"{n_buckets} buckets of {step} ns; choose a larger interval (at most "
                                 f"{MAX_BUCKETS:,} buckets)")
    counts = [0] * n_buckets
    series: dict[str, list[int]] = {}
    for src, docs in matched:
        bucket_counts(src, docs, first, step, counts, budget)
    if by is not None:
        totals = _value_totals(matched, by, budget, max_values)
        for value in sorted(totals, key=lambda v: (-totals[v], v))[:max_series]:
            line = [0] * n_buckets
            for src, docs in matched:
                bucket_counts(src, value_docs(src, by, value) & docs, first, step, line, budget)
            series[value] = line
    return Histogram(step, [(first + i * step, c) for i, c in enumerate(counts)], series)


def top_values(matched: Matched, field: str, top: int, budget: Budget, max_values: int) -> list[tuple[str, int]]:
    """The `top` most frequent verbatim values of `field` among the matches, with their counts."""
    totals = _value_totals(matched, field, budget, max_values)
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def _value_totals(matched: Matched, field: str, budget: Budget, max_values: int) -> dict[str, int]:
    totals: dict[str, int] = {}
    for src, docs in matched:
        for value, n in value_counts(src, docs, field, budget, max_values).items():
            totals[value] = totals.get(value, 0) + n
        check_distinct(totals, field, max_values)
    return totals


def time_span(src: Any, docs: BitMap) -> tuple[int, int]:
    """The oldest and newest time among `docs`."""
    if src.time_sorted:  # doc ids follow time
        return src.keys([docs.min()])[0][0], src.keys([docs.max()])[0][0]
    times = [ts for ts, _ in src.keys(docs)]
    return min(times), max(times)


def value_docs(src: Any, field: str, value: str) -> BitMap:
    parts = [src.value(f, value) for f in src.resolve_field(field)]
    return BitMap.union(*parts) if parts else BitMap()


def bucket_counts(src: Any, docs: Any, first: int, step: int, counts: list[int], budget: Budget) -> None:
    if not docs:
        return
    n = len(counts)
    if src.time_sorted:
        times = src.times
        lo_doc, hi_doc = docs.min(), docs.max()
        b = max((times[lo_doc] - first) // step, 0)
        while b < n:
            edge_lo = bisect_left(times, first + b * step)
            edge_hi = bisect_left(times, first + (b + 1) * step)
            if edge_lo > hi_doc:
                break
            counts[b] += docs.range_cardinality(edge_lo, edge_hi)
            b += 1
            budget.check()
        return
    for ts, _ in src.keys(docs):
        b = (ts - first) // step
        if 0 <= b < n:
            counts[b] += 1


# Above this many matching docs in a source, count values through the dictionary instead of the rows.
_ROWS_FOR_VALUES_BELOW = 20_000


def value_counts(src: Any, docs: Any, field: str, budget: Budget, max_values: int) -> dict[str, int]:
    """How many of `docs` hold each value of `field`. Raises QueryTooBroadError past `max_values` distinct
    values: counting every value of an id field over millions of logs would hold them all in memory."""
    counts: dict[str, int] = {}
    if not docs:
        return counts
    names = src.resolve_field(field)
    if not names:
        return counts
    if field.lower() == "timestamp":
        return counts
    if len(docs) < _ROWS_FOR_VALUES_BELOW or not src.time_sorted:
        wanted = set(names)
        ids = list(docs)
        for start in range(0, len(ids), 1000):
            for raw in src.fetch(ids[start:start + 1000]):
                seen = set()
                for name, value in flatten(orjson.loads(raw)):
                    if name in wanted:
                        text = value_text(value)
                        if text not in seen:
                            seen.add(text)
                            counts[text] = counts.get(text, 0) + 1
            budget.check_now()
            check_distinct(counts, field, max_values)
        return counts
    for name in names:
        for text, thunk in src.values(name):
            n = docs.intersection_cardinality(thunk())
            if n:
                counts[text] = counts.get(text, 0) + n
                if len(counts) > max_values:
                    check_distinct(counts, field, max_values)
            budget.check()
    return counts


def check_distinct(counts: dict, field: str, max_values: int) -> None:
    if len(counts) > max_values:
        raise QueryTooBroadError(f"{field!r} has more than {max_values:,} distinct values among the matches; "
                                 "narrow the query or the time range")


_UNITS = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
          "d": 86_400_000_000_000, "w": 7 * 86_400_000_000_000}


def interval_ns(interval: int | str) -> int:
    if isinstance(interval, int):
        if interval <= 0:
            raise QueryError("interval must be positive")
        return interval
    text = interval.strip()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit) and text[:-len(unit)].isdigit() and int(text[:-len(unit)]) > 0:
            return int(text[:-len(unit)]) * _UNITS[unit]
    raise QueryError(f"interval {interval!r} is not a duration like 30s, 5m, 1h or 1d")
