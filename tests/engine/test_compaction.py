"""The merge policy is a pure function of segment metadata."""

from engine.compaction import plan_merge, tier
from engine.manifest import SegmentMeta


def seg(i: int, docs: int, t: int) -> SegmentMeta:
    return SegmentMeta(id=i, docs=docs, min_ts=t, max_ts=t + 10, bytes=docs * 50)


def test_tiers_grow_by_factor():
    assert [tier(d, 100, 4) for d in (1, 100, 399, 400, 1599, 1600)] == [0, 0, 0, 1, 1, 2]


def test_nothing_due_below_factor():
    assert plan_merge([seg(1, 100, 0), seg(2, 100, 20), seg(3, 100, 40)], base_docs=100, factor=4,
                      max_docs=10_000) is None


def test_merges_neighbours_in_time_of_the_smallest_tier():
    segments = [seg(1, 400, 0), seg(5, 100, 90), seg(2, 100, 20), seg(4, 100, 70), seg(3, 100, 40),
                seg(6, 100, 100)]
    plan = plan_merge(segments, base_docs=100, factor=4, max_docs=10_000)
    assert [s.id for s in plan] == [2, 3, 4, 5]


def test_respects_max_docs():
    segments = [seg(i, 1000, i * 10) for i in range(4)]
    assert plan_merge(segments, base_docs=1000, factor=4, max_docs=3999) is None
