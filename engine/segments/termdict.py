"""A sorted term dictionary: terms in byte order, each with its posting list, cut into blocks.

A dictionary is a list of blocks, each stored as one zstd-compressed section of the segment file
(engine/segments/format.py); the segment's meta keeps the first term of every block, so a look-up
bisects that list and decompresses a single block. Terms are UTF-8, and UTF-8 byte order is code point
order, so prefix and range scans work on bytes.

Block format (little-endian, before compression):

    block := count u32 | term_length u32{count} | posting_length u32{count}
             | term bytes (concatenated) | posting bytes (concatenated, engine/segments/postings.py)
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, pairwise
from typing import Any

from pyroaring import BitMap

from . import blockfilter, postings

_COUNT = struct.Struct("<I")
# Uncompressed bytes per block: a look-up decompresses one block, so smaller is faster per look-up but
# costs more index entries in the meta and a worse compression ratio.
BLOCK_TARGET_BYTES = 16 << 10
CACHED_SCAN_BLOCKS = 4


def write_batches(add: Callable[[bytes], list[int]], batches: Iterable[tuple[list[bytes], list[bytes]]], *,
                  filters: bool = False) -> dict[str, Any] | None:
    """Cut sorted terms and their encoded postings, given in lists a batch at a time (batches in term order),
    into blocks; store each with `add` (which returns its section handle) and return the dictionary's meta
    entry (format.py), or None when there are no terms. `filters`: also store the blocks' trigram filters
    (blockfilter.py), as value dictionaries do. Cutting is a few passes in C per batch, not a step per term."""
    first: list[str] = []
    blocks: list[list[int]] = []
    block_filters: list[bytes] | None = [] if filters else None
    for terms, posts in _cut(batches):
        first.append(terms[0].decode("latin-1"))  # meta is JSON: latin-1 maps each byte to one character
        blocks.append(add(_encode_block(terms, posts)))
        if block_filters is not None:
            f = blockfilter.build(terms)
            if f is None:  # one block too varied: the dictionary goes without filters
                block_filters = None
            else:
                block_filters.append(f)
    if not blocks:
        return None
    out: dict[str, Any] = {"first": first, "blocks": blocks}
    if block_filters is not None:
        out["filters"] = add(blockfilter.encode_section(block_filters))
    return out


def _cut(batches: Iterable[tuple[list[bytes], list[bytes]]]) -> Iterator[tuple[list[bytes], list[bytes]]]:
    """Blocks of terms: each ends at the first term that brings its size (term and posting bytes, plus 8
    for their lengths, per term) to BLOCK_TARGET_BYTES; the last may be smaller."""
    terms: list[bytes] = []
    posts: list[bytes] = []
    for more_terms, more_posts in batches:
        terms += more_terms
        posts += more_posts
        term_sizes = list(accumulate(map(len, terms)))
        post_sizes = list(accumulate(map(len, posts)))
        start, base = 0, 0
        while True:
            # The first j whose cumulated size from `start` reaches the target: one C bisect per block.
            j = bisect_left(range(len(terms)), base + BLOCK_TARGET_BYTES,
                            lo=start, key=lambda k: term_sizes[k] + post_sizes[k] + 8 * (k + 1))
            if j == len(terms):
                break
            yield terms[start:j + 1], posts[start:j + 1]
            base = term_sizes[j] + post_sizes[j] + 8 * (j + 1)
            start = j + 1
        terms, posts = terms[start:], posts[start:]
    if terms:
        yield terms, posts


def _encode_block(terms: list[bytes], posts: list[bytes]) -> bytes:
    return b"".join((
        _COUNT.pack(len(terms)),
        array("I", map(len, terms)).tobytes(),
        array("I", map(len, posts)).tobytes(),
        *terms,
        *posts,
    ))


class TermBlock:
    """One decoded block: its terms (bytes, sorted) and lazy access to their postings."""

    __slots__ = ("_count", "_data", "_post_offsets_cache", "_term_offsets", "_terms")

    @property
    def terms(self) -> list[bytes]:
        """The block's terms, sliced out on first use (a substring scan needs only the offsets)."""
        if self._terms is None:
            data, offsets = self._data, self._term_offsets
            self._terms = [data[a:b] for a, b in pairwise(offsets)]
        return self._terms

    def __init__(self, data: bytes) -> None:
        (count,) = _COUNT.unpack_from(data, 0)
        lengths = array("I")
        lengths.frombytes(data[4:4 + 4 * count])
        self._count = count
        self._term_offsets = list(accumulate(lengths[:count], initial=4 + 8 * count))
        self._post_offsets_cache: list[int] | None = None  # computed when a posting is first read
        self._terms: list[bytes] | None = None
        self._data = data

    @property
    def _post_offsets(self) -> list[int]:
        if self._post_offsets_cache is None:
            count = self._count
            lengths = array("I")
            lengths.frombytes(self._data[4 + 4 * count:4 + 8 * count])
            self._post_offsets_cache = list(accumulate(lengths, initial=self._term_offsets[-1]))
        return self._post_offsets_cache

    def term(self, i: int) -> bytes:
        return self._data[self._term_offsets[i]:self._term_offsets[i + 1]]

    def containing(self, needle: bytes) -> Iterator[int]:
        """Indexes of the terms that contain `needle`, found with one scan of the block's term bytes."""
        data, offsets = self._data, self._term_offsets
        end = offsets[-1]
        pos = data.find(needle, offsets[0], end)
        while pos >= 0:
            i = bisect_right(offsets, pos) - 1
            term_end = offsets[i + 1]
            if pos + len(needle) <= term_end:  # not straddling two terms
                yield i
                pos = data.find(needle, term_end, end)
            else:
                pos = data.find(needle, pos + 1, end)

    def posting(self, i: int) -> BitMap:
        return postings.decode(self.raw_posting(i))

    def raw_posting(self, i: int) -> memoryview:
        return memoryview(self._data)[self._post_offsets[i]:self._post_offsets[i + 1]]

    def raw_postings(self) -> list[memoryview]:
        """Every encoded posting of the block, in term order."""
        view = memoryview(self._data)
        return [view[a:b] for a, b in pairwise(self._post_offsets)]


class TermDict:
    """Read side of one dictionary. `load(i)` returns block i decoded through the caller's cache;
    `load_uncached(i)` is used by scans of the whole dictionary, which would only flush the cache."""

    def __init__(self, first_terms: list[bytes], load: Callable[[int], TermBlock],
                 load_uncached: Callable[[int], TermBlock] | None = None,
                 load_filters: Callable[[], blockfilter.BlockFilters] | None = None) -> None:
        self._first = first_terms
        self._load = load
        self._load_all = load_uncached or load
        self._load_filters = load_filters

    def get(self, term: bytes) -> BitMap | None:
        i = bisect_right(self._first, term) - 1
        if i < 0:
            return None
        block = self._load(i)
        j = bisect_left(block.terms, term)
        if j < len(block.terms) and block.terms[j] == term:
            return block.posting(j)
        return None

    def scan(self, low: bytes = b"", high: bytes | None = None) -> Iterator[tuple[bytes, BitMap]]:
        """Every (term, posting) with low <= term < high (high None: to the end), in order."""
        i = max(bisect_right(self._first, low) - 1, 0)
        for b in range(i, len(self._first)):
            if high is not None and self._first[b] >= high:
                return
            # The first blocks through the cache: a prefix usually spans one or two, and the same prefix
            # comes again (a console refreshing). A wide scan goes around it so as not to flush it.
            block = self._load(b) if b < i + CACHED_SCAN_BLOCKS else self._load_all(b)
            j = bisect_left(block.terms, low) if b == i else 0
            for k in range(j, len(block.terms)):
                term = block.terms[k]
                if high is not None and term >= high:
                    return
                yield term, block.posting(k)

    def blocks(self) -> Iterator[TermBlock]:
        """Every block in order, bypassing the cache: for merging without decoding postings."""
        for b in range(len(self._first)):
            yield self._load_all(b)

    def containing(self, needle: bytes, wanted: list[blockfilter.Probe] | None = None,
                   ) -> Iterator[tuple[bytes, Callable[[], BitMap]]]:
        """The terms that contain `needle` (non-empty), each with a thunk for its posting. `wanted`:
        trigrams every such term has (blockfilter.probes), to skip blocks whose filter lacks one."""
        filters = self._load_filters() if wanted and self._load_filters is not None else None
        for b in range(len(self._first)):
            if filters is not None and not filters.may_hold(b, wanted):
                continue
            block = self._load_all(b)
            for k in block.containing(needle):
                yield block.term(k), (lambda block=block, k=k: block.posting(k))

    def terms(self) -> Iterator[tuple[bytes, Callable[[], BitMap]]]:
        """Every term with a thunk for its posting, so filters over terms decode only what they keep."""
        for b in range(len(self._first)):
            block = self._load(b)
            for k, term in enumerate(block.terms):
                yield term, (lambda block=block, k=k: block.posting(k))
