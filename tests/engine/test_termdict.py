"""Term dictionaries (engine/segments/termdict.py): what is written in blocks reads back term by term."""

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from engine.errors import CorruptionError
from engine.segments import postings, termdict
from engine.segments.reader import _Resolver

# Terms with their docs: most held by one doc (ids), some by a few (small postings), some by many (roaring).
_DOCS = st.one_of(st.builds(lambda d: [d], st.integers(0, 2**32 - 1)),
                  st.lists(st.integers(0, 5_000), min_size=2, max_size=40, unique=True).map(sorted),
                  st.lists(st.integers(0, 100_000), min_size=9, max_size=400, unique=True).map(sorted))
_LISTS = st.dictionaries(st.binary(min_size=1, max_size=12), _DOCS, min_size=1, max_size=300)


@settings(max_examples=60)
@given(_LISTS, st.sampled_from([64, 300, termdict.BLOCK_TARGET_BYTES]), st.integers(1, 4))
def test_blocks_read_back_every_term_and_posting(lists, block_bytes, batches):
    terms = sorted(lists)
    posts = [postings.one_or_encoded(lists[t]) for t in terms]
    sections: list[bytes] = []

    def add(data: bytes) -> list[int]:
        sections.append(data)
        return [len(sections) - 1, len(data), 0]

    cut = [round(len(terms) * k / batches) for k in range(batches + 1)]
    old = termdict.BLOCK_TARGET_BYTES
    termdict.BLOCK_TARGET_BYTES = block_bytes
    try:
        meta = termdict.write_batches(add, [(terms[a:b], posts[a:b]) for a, b in pairwise(cut)])
    finally:
        termdict.BLOCK_TARGET_BYTES = old
    assert meta is not None
    blocks = [termdict.TermBlock(sections[h[0]]) for h in meta["blocks"]]
    d = termdict.TermDict([t.encode("latin-1") for t in meta["first"]], blocks.__getitem__)
    assert [t for b in blocks for t in b.terms] == terms
    assert [p for b in blocks for p in b.postings()] == [p if type(p) is int else bytes(p) for p in posts]
    for term in terms:
        assert d.get(term) == BitMap(lists[term])
    assert [(t, bm) for t, bm in d.scan()] == [(t, BitMap(lists[t])) for t in terms]
    assert d.get(terms[-1] + b"\xff") is None


def test_a_posting_that_refers_to_a_value_is_resolved_by_its_dictionary():
    values = {b"server-1": BitMap([3, 9, 12]), b"server-2": BitMap([4, 5])}
    terms = [b"1", b"2", b"server"]
    posts = [postings.ref(b"server-1"), postings.ref(b"server-2"), postings.encode(BitMap([3, 4, 5, 9, 12]))]
    sections: list[bytes] = []
    meta = termdict.write_batches(lambda data: [sections.append(data) or len(sections) - 1, len(data), 0],
                                  [(terms, posts)])
    assert meta is not None
    blocks = [termdict.TermBlock(sections[h[0]]) for h in meta["blocks"]]
    first = [t.encode("latin-1") for t in meta["first"]]
    d = termdict.TermDict(first, blocks.__getitem__, resolve=lambda posting, own: values[posting[1:]])
    assert d.get(b"1") == BitMap([3, 9, 12]) and d.get(b"2") == BitMap([4, 5])
    assert [(t, list(bm)) for t, bm in d.scan(b"1", b"3")] == [(b"1", [3, 9, 12]), (b"2", [4, 5])]
    assert [thunk() for _, thunk in d.terms()] == [values[b"server-1"], values[b"server-2"], BitMap([3, 4, 5, 9, 12])]
    with pytest.raises(ValueError, match="nothing to resolve it"):
        termdict.TermDict(first, blocks.__getitem__).get(b"1")


def test_a_copy_of_a_copy_is_refused_as_corrupt(tmp_path):
    # A writer never makes one; a damaged file that did must not send look-ups round in circles.
    sections: list[bytes] = []
    terms = [b"a", b"b", b"c"]
    posts = [postings.copy("tok", b"b"), postings.copy("tok", b"a"), postings.encode(BitMap([1, 2]))]
    meta = termdict.write_batches(lambda data: [sections.append(data) or len(sections) - 1, len(data), 0],
                                  [(terms, posts)])
    assert meta is not None
    blocks = [termdict.TermBlock(sections[h[0]]) for h in meta["blocks"]]
    resolver = _Resolver(tmp_path / "seg.sst", "f", "tok", {"val": None})
    d = termdict.TermDict([t.encode("latin-1") for t in meta["first"]], blocks.__getitem__, resolve=resolver)
    assert d.get(b"c") == BitMap([1, 2])
    with pytest.raises(CorruptionError, match="stands for another in turn"):
        d.get(b"a")


_TEXT_LISTS = st.dictionaries(st.text(min_size=1, max_size=12).map(str.encode), _DOCS, min_size=1, max_size=300)


@settings(max_examples=60)
@given(_TEXT_LISTS, st.sampled_from([64, 300, termdict.BLOCK_TARGET_BYTES]), st.booleans())
def test_arrays_write_the_bytes_that_batches_write(lists, block_bytes, filters):
    terms = sorted(lists)
    written: list[list[bytes]] = [[], []]

    def adder(k: int):
        def add(data: bytes) -> list[int]:
            written[k].append(data)
            return [len(written[k]) - 1, len(data), 0]
        return add

    offsets = np.cumsum([0, *map(len, terms)])
    counts = np.array([len(lists[t]) for t in terms])
    docs = np.array([d for t in terms for d in lists[t]], np.int64)
    old = termdict.BLOCK_TARGET_BYTES
    termdict.BLOCK_TARGET_BYTES = block_bytes
    try:
        expected = termdict.write_batches(adder(0), [(terms, [postings.one_or_encoded(lists[t]) for t in terms])],
                                          filters=filters)
        got = termdict.write_arrays(adder(1), offsets, b"".join(terms), counts, docs, filters=filters)
    finally:
        termdict.BLOCK_TARGET_BYTES = old
    assert got == expected
    assert written[1] == written[0]


@given(st.lists(_DOCS, max_size=30))
def test_many_postings_encode_at_once_as_one_by_one(lists):
    lists = [d for d in lists if len(d) > 1]
    counts = np.array([len(d) for d in lists], np.int64)
    lengths, data = postings.encode_many(counts, np.array([x for d in lists for x in d], np.int64))
    encoded = [postings.encode_sorted(d) for d in lists]
    assert lengths.tolist() == list(map(len, encoded))
    assert data == b"".join(encoded)


@settings(max_examples=40)
@given(_LISTS)
def test_a_block_as_arrays_holds_its_terms_and_postings(lists):
    terms = sorted(lists)
    sections: list[bytes] = []
    meta = termdict.write_batches(lambda data: [sections.append(data) or len(sections) - 1, len(data), 0],
                                  [(terms, [postings.one_or_encoded(lists[t]) for t in terms])])
    assert meta is not None
    for handle in meta["blocks"]:
        block = termdict.TermBlock(sections[handle[0]])
        offsets, post_lengths, ids, data = block.arrays()
        bounds = offsets.tolist()
        assert [data[a:b] for a, b in pairwise(bounds)] == list(block.terms)
        posts = block.postings()
        assert ids.tolist() == [p for p in posts if type(p) is int]
        assert post_lengths.tolist() == [0 if type(p) is int else len(p) for p in posts]
        starts = bounds[-1] + np.cumsum(post_lengths) - post_lengths
        assert [data[a:a + n] for a, n in zip(starts.tolist(), post_lengths.tolist(), strict=True) if n] == \
            [bytes(p) for p in posts if type(p) is not int]
