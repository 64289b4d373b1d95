"""Which segments to merge: a pure function of their metadata, unit-tested without I/O.

Tiered by size: a segment's tier is how many times `factor` its doc count is above the smallest flush
size. When a tier holds `factor` segments, the ones next to each other in time are merged into one
segment of the next tier, so every log is rewritten about log_factor(total / flush size) times.
Segments never grow past `max_docs`, which bounds the builder's memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from .manifest import SegmentMeta


def tier(docs: int, base_docs: int, factor: int) -> int:
    t, size = 0, max(base_docs, 1)
    while docs >= size * factor:
        size *= factor
        t += 1
    return t


def plan_merge(segments: Sequence[SegmentMeta], *, base_docs: int, factor: int,
               max_docs: int) -> list[SegmentMeta] | None:
    """The segments to merge next, oldest tier first, or None when nothing is due."""
    tiers: dict[int, list[SegmentMeta]] = {}
    for s in segments:
        tiers.setdefault(tier(s.docs, base_docs, factor), []).append(s)
    for t in sorted(tiers):
        group = sorted(tiers[t], key=lambda s: (s.min_ts, s.id))
        for start in range(0, len(group) - factor + 1):
            pick = group[start:start + factor]
            if sum(s.docs for s in pick) <= max_docs:
                return pick
    return None
