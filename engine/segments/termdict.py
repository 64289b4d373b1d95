"""A sorted term dictionary: terms in byte order, each with its posting list, cut into blocks.

A dictionary is a list of blocks, each stored as one zstd-compressed section of the segment file
(engine/segments/format.py); the segment's meta keeps the first term of every block, so a look-up
bisects that list and decompresses a single block. Terms are UTF-8, and UTF-8 byte order is code point
order, so prefix and range scans work on bytes.

Block format (little-endian, before compression), in segment files of versions 2 and 3:

    block := count u32 | singles u32
             | term_length u32{count} | posting_length u32{count} | id u32{singles}
             | term bytes (concatenated) | posting bytes (concatenated, engine/segments/postings.py)

- Each u32 array is stored as 4 byte planes: the lowest byte of every value, then the next byte of every
  value, and so on. Lengths and doc ids are small, so the high planes are runs of zeros, which zstd stores
  in a few bytes (the same values interleaved cost a byte or two each).
- A posting_length of 0 means the term is held by one doc, whose id is in `id`: the k-th term of the block
  with length 0 has the k-th id. Most terms of ids and numbers are held by one doc.
- The postings of the other terms are in posting bytes, in term order. In segment files of version 3, a
  posting may stand for another's: a token's for a value's of the field (postings.py, tag 2), or any for
  another term's of the field (tag 3). The dictionary that holds the block resolves them through its
  `resolve` (the reader's look-ups in the field's dictionaries). Blocks are the same in versions 2 and 3.

Version 1 segment files hold version 1 blocks, still read:

    block := count u32 | term_length u32{count} | posting_length u32{count} | term bytes | posting bytes

with every posting in posting bytes and the u32 arrays as they are.

In memory, a block's postings are given and taken as `Posting` items: an int for a term held by one doc,
else the encoded posting.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, compress, pairwise
from typing import Any

from pyroaring import BitMap

from . import blockfilter, postings

_HEADER = struct.Struct("<II")
_COUNT = struct.Struct("<I")
# Uncompressed bytes per block: a look-up decompresses one block, so smaller is faster per look-up but
# costs more index entries in the meta and a worse compression ratio.
BLOCK_TARGET_BYTES = 16 << 10
CACHED_SCAN_BLOCKS = 4

Posting = int | bytes | memoryview  # an int: the one doc holding the term; else postings.py's encoding


def write_batches(add: Callable[[bytes], list[int]], batches: Iterable[tuple[Sequence[bytes], Sequence[Posting]]], *,
                  filters: bool = False) -> dict[str, Any] | None:
    """Cut sorted terms and their postings, given in lists a batch at a time (batches in term order),
    into blocks; store each with `add` (which returns its section handle) and return the dictionary's meta
    entry (format.py), or None when there are no terms. `filters`: also store the blocks' trigram filters
    (blockfilter.py), as value dictionaries do. The lists go through ArrayWriter."""
    import numpy as np  # builder processes only: the ingesting process need not import numpy

    from .arrowconv import offsets_of

    writer = ArrayWriter(add, filters=filters)
    for terms, posts in batches:
        if not terms:
            continue
        offsets = offsets_of(list(terms))
        ids = [p for p in posts if type(p) is int]
        stored = [p for p in posts if type(p) is not int]
        post_lengths = np.fromiter((0 if type(p) is int else len(p) for p in posts), np.int64, len(posts))
        writer.write(offsets, b"".join(terms), post_lengths, np.asarray(ids, np.int64), b"".join(stored))
    return writer.finish()


def write_arrays(add: Callable[[bytes], list[int]], offsets: Any, data: bytes, counts: Any, docs: Any, *,
                 filters: bool = False) -> dict[str, Any] | None:
    """`write_batches` for a dictionary held in numpy arrays, as the segment builder has it: term i is
    data[offsets[i]:offsets[i + 1]] (UTF-8, terms sorted), held by counts[i] docs, which are the next
    counts[i] items of `docs` (each term's ascending, terms in order). Writes the same bytes as
    write_batches; only terms held by two or more docs take a Python step each (their encoded posting)."""
    import numpy as np  # builder processes only: the ingesting process need not import numpy

    from .arrowconv import run_starts

    if len(counts) == 0:
        return None
    one = counts == 1
    multi_lengths, stored = postings.encode_many(counts[~one], docs[np.repeat(~one, counts)])
    post_lengths = np.zeros(len(counts), np.int64)
    post_lengths[~one] = multi_lengths
    writer = ArrayWriter(add, filters=filters)
    writer.write(offsets, data, post_lengths, docs[run_starts(counts)[:-1][one]], stored)
    return writer.finish()


class ArrayWriter:
    """Writes a dictionary given as numpy arrays, a chunk of terms at a time (chunks in term order), as
    blocks: a few passes in numpy per chunk and a step in Python per block."""

    def __init__(self, add: Callable[[bytes], list[int]], *, filters: bool = False) -> None:
        self._add = add
        self._first: list[str] = []
        self._blocks: list[list[int]] = []
        self._filters: list[bytes] | None = [] if filters else None
        self._tail: tuple[Any, bytes, Any, Any, bytes] | None = None  # terms not yet in a block

    def write(self, offsets: Any, data: bytes, post_lengths: Any, ids: Any, stored: bytes) -> None:
        """Add terms: term i is data[offsets[i]:offsets[i + 1]], post_lengths[i] the length of its encoded
        posting, 0 for one held by one doc; `ids` the one-doc postings' doc ids in term order, `stored` the
        other postings' encodings, concatenated in term order."""
        import numpy as np

        from .arrowconv import run_starts

        lo = int(offsets[0])
        offsets, data = offsets - lo, data[lo:int(offsets[-1])]
        if self._tail is not None:
            t_offsets, t_data, t_lengths, t_ids, t_stored = self._tail
            offsets = np.concatenate([t_offsets[:-1], offsets + len(t_data)])
            data, stored = t_data + data, t_stored + stored
            post_lengths, ids = np.concatenate([t_lengths, post_lengths]), np.concatenate([t_ids, ids])
        n = len(post_lengths)
        term_lengths = offsets[1:] - offsets[:-1]
        one = post_lengths == 0
        ids_before = run_starts(one)  # one-doc postings before each term
        stored_at = run_starts(post_lengths)
        # A block ends at the first term that brings its size (term and posting bytes, 4 for a one-doc
        # posting's id, plus 8 for their lengths, per term) to BLOCK_TARGET_BYTES; the last may be smaller.
        ends = np.cumsum(term_lengths + np.where(one, 4, post_lengths) + 8)
        start, base = 0, 0
        while start < n:
            end = int(np.searchsorted(ends, base + BLOCK_TARGET_BYTES))
            if end == n:
                break
            self._block(offsets, data, term_lengths, post_lengths, start, end + 1,
                        ids[int(ids_before[start]):int(ids_before[end + 1])],
                        stored[int(stored_at[start]):int(stored_at[end + 1])])
            base = int(ends[end])
            start = end + 1
        self._tail = None
        if start < n:
            a, b = int(ids_before[start]), int(stored_at[start])
            self._tail = (offsets[start:] - offsets[start], data[int(offsets[start]):], post_lengths[start:],
                          ids[a:], stored[b:])

    def finish(self) -> dict[str, Any] | None:
        """Write the last block (and the filters); the dictionary's meta entry, or None without terms."""
        if self._tail is not None:
            offsets, data, post_lengths, ids, stored = self._tail
            self._block(offsets, data, offsets[1:] - offsets[:-1], post_lengths, 0, len(post_lengths), ids, stored)
            self._tail = None
        if not self._blocks:
            return None
        out: dict[str, Any] = {"first": self._first, "blocks": self._blocks}
        if self._filters is not None:
            out["filters"] = self._add(blockfilter.encode_section(self._filters))
        return out

    def _block(self, offsets: Any, data: bytes, term_lengths: Any, post_lengths: Any, start: int, end: int,
               block_ids: Any, block_stored: bytes) -> None:
        """Write terms start..end - 1 as a block; `block_ids` and `block_stored` are their postings'."""
        import numpy as np

        lo, hi = int(offsets[start]), int(offsets[end])
        self._first.append(data[lo:int(offsets[start + 1])].decode("latin-1"))
        self._blocks.append(self._add(b"".join((
            _HEADER.pack(end - start, len(block_ids)),
            _array_planes(term_lengths[start:end]),
            _array_planes(post_lengths[start:end]),
            _array_planes(block_ids),
            data[lo:hi],
            block_stored,
        ))))
        if self._filters is not None:
            joined = np.insert(np.frombuffer(data, np.uint8, hi - lo, lo), offsets[start + 1:end] - lo, 10)
            f = blockfilter.build_joined(joined.tobytes())  # 10: "\n"
            if f is None:  # one block too varied: the dictionary goes without filters
                self._filters = None
            else:
                self._filters.append(f)


def _array_planes(values: Any) -> bytes:
    """The byte planes (see the module docstring) of a numpy array of ints below 2**32."""
    return values.astype("<u4").view("u1").reshape(-1, 4).T.tobytes()


def _array_from_planes(data: bytes, start: int, count: int) -> Any:
    """The values of byte planes (see the module docstring) as a numpy array of int64."""
    import numpy as np

    planes = np.frombuffer(data, np.uint8, 4 * count, start).reshape(4, count)
    return np.ascontiguousarray(planes.T).view("<u4").reshape(count).astype(np.int64)


def _from_planes(data: bytes, start: int, count: int) -> array:
    interleaved = bytearray(4 * count)
    for k in range(4):
        interleaved[k::4] = data[start + k * count:start + (k + 1) * count]
    values = array("I")
    values.frombytes(interleaved)
    return values


class TermBlock:
    """One decoded block: its terms (bytes, sorted) and lazy access to their postings.

    It holds no list. Blocks stay in a reader's cache for as long as a server runs, and every full garbage
    collection walks each element of each list it finds there: with lists of offsets and terms, 1,000
    cached blocks made a full collection take ~33 ms instead of ~5. Offsets and terms are tuples, which
    the collector stops tracking once it has seen that they hold only ints or bytes."""

    __slots__ = ("_count", "_data", "_id_ranks", "_ids", "_lengths_at", "_post_offsets_cache", "_term_offsets",
                 "_terms", "_v1")

    def __init__(self, data: bytes, *, v1: bool = False) -> None:
        """`v1`: a block of a version 1 segment file."""
        if v1:
            (count,) = _COUNT.unpack_from(data, 0)
            term_lengths = array("I")
            term_lengths.frombytes(data[4:4 + 4 * count])
            self._lengths_at = 4 + 4 * count
            start = 4 + 8 * count
        else:
            count, singles = _HEADER.unpack_from(data, 0)
            term_lengths = _from_planes(data, 8, count)
            self._lengths_at = 8 + 4 * count
            start = 8 + 8 * count + 4 * singles
        self._v1 = v1
        self._count = count
        self._term_offsets = tuple(accumulate(term_lengths, initial=start))
        self._post_offsets_cache: tuple[int, ...] | None = None  # computed when a posting is first read
        self._ids: array | None = None  # one-doc postings' ids in term order, read with the offsets
        self._id_ranks: array | None = None
        self._terms: tuple[bytes, ...] | None = None
        self._data = data

    @property
    def terms(self) -> tuple[bytes, ...]:
        """The block's terms, sliced out on first use (a substring scan needs only the offsets)."""
        if self._terms is None:
            data = self._data
            self._terms = tuple([data[a:b] for a, b in pairwise(self._term_offsets)])
        return self._terms

    @property
    def _post_offsets(self) -> tuple[int, ...]:
        """Where each posting starts in the block; a one-doc posting starts and ends where the next starts."""
        if self._post_offsets_cache is None:
            count, data, at = self._count, self._data, self._lengths_at
            if self._v1:
                lengths = array("I")
                lengths.frombytes(data[at:at + 4 * count])
                self._ids = array("I")
            else:
                lengths = _from_planes(data, at, count)
                self._ids = _from_planes(data, at + 4 * count, (self._term_offsets[0] - at - 4 * count) // 4)
            offsets = tuple(accumulate(lengths, initial=self._term_offsets[-1]))
            if self._ids and len(self._ids) < count:
                # For term i with a one-doc posting, its id's index + 1 (one pass in C, kept as an array: a
                # cached block's lists are more work for every garbage collection).
                self._id_ranks = array("I", accumulate(map(int.__eq__, offsets, offsets[1:])))
            self._post_offsets_cache = offsets
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

    def posting(self, i: int, resolve: Callable[[bytes], BitMap] | None = None) -> BitMap:
        """Term i's docs; `resolve` gives the docs of a posting that stands for another's (postings.py,
        tags 2 and 3), given its bytes."""
        offsets = self._post_offsets
        a, b = offsets[i], offsets[i + 1]
        if a < b:
            if self._data[a] >= postings.TAG_REF:
                if resolve is None:
                    raise ValueError("a reference or copy posting, and nothing to resolve it")
                return resolve(self._data[a:b])
            return postings.decode(memoryview(self._data)[a:b])
        ids, ranks = self._ids, self._id_ranks
        assert ids is not None
        # Without ranks, every term of the block is held by one doc.
        return BitMap((ids[i if ranks is None else ranks[i] - 1],))

    def arrays(self) -> tuple[Any, Any, Any, bytes]:
        """The block as numpy arrays, for merging (blocks of segment format 2 and later): where each term
        starts in `data` (count + 1 offsets, the last where its postings start), each posting's length (0
        for a one-doc posting), the one-doc postings' ids in term order, and `data`, the block's bytes."""
        import numpy as np  # builder processes only: the ingesting process need not import numpy

        assert not self._v1
        data, count = self._data, self._count
        term_lengths = _array_from_planes(data, 8, count)
        post_lengths = _array_from_planes(data, 8 + 4 * count, count)
        singles = (self._term_offsets[0] - 8 - 8 * count) // 4
        ids = _array_from_planes(data, 8 + 8 * count, singles)
        offsets = np.empty(count + 1, np.int64)
        offsets[0] = self._term_offsets[0]
        np.cumsum(term_lengths, out=offsets[1:])
        offsets[1:] += offsets[0]
        return offsets, post_lengths, ids, data

    def postings(self) -> list[Posting]:
        """Every posting of the block, in term order (for merging, engine/segments/merger.py)."""
        offsets = self._post_offsets
        ids = self._ids
        assert ids is not None
        if len(ids) == self._count:
            return ids.tolist()
        view = memoryview(self._data)
        out: list[Posting] = [view[a:b] for a, b in pairwise(offsets)]
        if self._v1:  # a one-doc posting is the small tag and its id
            return [int.from_bytes(p[1:], "little") if len(p) == 5 else p for p in out]
        if ids:
            one_doc = compress(range(self._count), map(int.__eq__, offsets, offsets[1:]))
            for i, doc in zip(one_doc, ids, strict=True):
                out[i] = doc
        return out


class TermDict:
    """Read side of one dictionary. `load(i)` returns block i decoded through the caller's cache;
    `load_uncached(i)` is used by scans of the whole dictionary, which would only flush the cache;
    `resolve(posting, self)` gives the docs of a posting that stands for another's (postings.py, tags 2 and
    3), which may be in this dictionary: passed per call, so that no dictionary holds itself in a cycle."""

    def __init__(self, first_terms: list[bytes], load: Callable[[int], TermBlock],
                 load_uncached: Callable[[int], TermBlock] | None = None,
                 load_filters: Callable[[], blockfilter.BlockFilters] | None = None,
                 resolve: Callable[[bytes, TermDict], BitMap] | None = None) -> None:
        self._first = first_terms
        self._load = load
        self._load_all = load_uncached or load
        self._load_filters = load_filters
        self._resolve = resolve

    def get(self, term: bytes, *, follow: bool = True) -> BitMap | None:
        """`term`'s docs, or None when the dictionary lacks it. `follow`: resolve a posting that stands for
        another's; if False, such a posting raises ValueError (a copy is never of a copy)."""
        i = bisect_right(self._first, term) - 1
        if i < 0:
            return None
        block = self._load(i)
        j = bisect_left(block.terms, term)
        if j < len(block.terms) and block.terms[j] == term:
            return block.posting(j, self._resolver() if follow else None)
        return None

    def _resolver(self) -> Callable[[bytes], BitMap] | None:
        """What resolves this dictionary's references and copies for TermBlock.posting; made per call (a
        bound method kept on self would put the dictionary in a reference cycle)."""
        resolve = self._resolve
        return None if resolve is None else (lambda posting: resolve(posting, self))

    def scan(self, low: bytes = b"", high: bytes | None = None) -> Iterator[tuple[bytes, BitMap]]:
        """Every (term, posting) with low <= term < high (high None: to the end), in order."""
        resolver = self._resolver()
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
                yield term, block.posting(k, resolver)

    def blocks(self) -> Iterator[TermBlock]:
        """Every block in order, bypassing the cache: for merging without decoding postings."""
        for b in range(len(self._first)):
            yield self._load_all(b)

    def containing(self, needle: bytes, wanted: list[blockfilter.Probe] | None = None,
                   ) -> Iterator[tuple[bytes, Callable[[], BitMap]]]:
        """The terms that contain `needle` (non-empty), each with a thunk for its posting. `wanted`:
        trigrams every such term has (blockfilter.probes), to skip blocks whose filter lacks one."""
        resolver = self._resolver()
        filters = self._load_filters() if wanted and self._load_filters is not None else None
        for b in range(len(self._first)):
            if filters is not None and not filters.may_hold(b, wanted):
                continue
            block = self._load_all(b)
            for k in block.containing(needle):
                yield block.term(k), (lambda block=block, k=k: block.posting(k, resolver))

    def terms(self) -> Iterator[tuple[bytes, Callable[[], BitMap]]]:
        """Every term with a thunk for its posting, so filters over terms decode only what they keep."""
        resolver = self._resolver()
        for b in range(len(self._first)):
            block = self._load(b)
            for k, term in enumerate(block.terms):
                yield term, (lambda block=block, k=k: block.posting(k, resolver))
