"""SegmentReader: serves one segment file lazily to searches.

Opening reads only the footer and meta; the time and sequence columns load on first use, and term and
row blocks are decompressed on demand into a small per-segment LRU cache. Thread-safe: loads are
idempotent, and the cache is guarded by a lock.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from pyroaring import BitMap

from ..errors import CorruptionError
from . import blockfilter, postings
from .format import ROWS_LEVEL, SegmentFile, decode_column
from .numkeys import number_key
from .rowblock import RowBlock
from .termdict import TermBlock, TermDict

# Decompressed blocks kept per segment. A term block is ~16 KiB and a row block ~150 KiB before compression.
CACHE_BLOCKS = 128
_EMPTY = BitMap()


class SegmentReader:
    time_sorted = True

    def __init__(self, path: Path, segment_id: int) -> None:
        self.path = path
        self.id = segment_id
        self._file = SegmentFile(path)
        meta = self._file.meta
        self._meta = meta
        self.doc_count: int = meta["docs"]
        self.min_ts: int = meta["min_ts"]
        self.max_ts: int = meta["max_ts"]
        self.bytes = self._file.size
        self.version: int = self._file.version  # of the file format (engine/segments/format.py)
        self._first_docs = [block[3] for block in meta["row_blocks"]]
        self._common: dict[str, frozenset[str]] = {}
        self._fields: dict = meta["fields"]
        self._by_lower: dict[str, list[str]] = {}
        for name in self._fields:
            self._by_lower.setdefault(name.lower(), []).append(name)
        self._dicts: dict[tuple[str, str], TermDict | None] = {}
        self._blocks = _BlockCache(CACHE_BLOCKS)
        self._times: array | None = None
        self._seqs: array | None = None

    # ---- columns -------------------------------------------------------------------------------------
    @property
    def times(self) -> array:
        if self._times is None:
            self._times = self._column("times")
        return self._times

    @property
    def seqs(self) -> array:
        if self._seqs is None:
            self._seqs = self._column("seqs")
        return self._seqs

    def _column(self, name: str) -> array:
        return decode_column(self._file.read(self._meta[name]))

    # ---- Source protocol (see engine/search.py) ------------------------------------------------------
    def field_names(self) -> list[str]:
        return list(self._fields)

    def has_field(self, name: str) -> bool:
        return name in self._fields

    def resolve_field(self, name: str) -> list[str]:
        return self._by_lower.get(name.lower(), [])

    def everything(self) -> BitMap:
        bm = BitMap()
        bm.add_range(0, self.doc_count)
        return bm

    def exists(self, field: str) -> BitMap:
        return postings.decode(self._blocks.get(("exists", field),
                                                lambda: self._file.read(self._fields[field]["exists"])))

    def token(self, field: str, token: str) -> BitMap:
        d = self._dict(field, "tok")
        return (d.get(token.encode()) if d else None) or _EMPTY

    def value(self, field: str, text: str) -> BitMap:
        d = self._dict(field, "val")
        return (d.get(text.encode()) if d else None) or _EMPTY

    def gram(self, field: str, tokens: tuple[str, ...]) -> BitMap | None:
        """Docs where the tokens (2 or 3, all common) stand together; None when this index can't tell."""
        d = self._dict(field, "gram")
        if d is None:
            return None
        return d.get(" ".join(tokens).encode())

    def phrase(self, field: str, tokens: list[str]) -> None:
        return None  # phrases come from token postings, grams and a check of the candidates' rows

    def is_common(self, field: str, token: str) -> bool:
        """Whether every gram of `token` with other common tokens of `field` is in the gram index."""
        common = self._common.get(field)
        if common is None:
            common = self._common[field] = frozenset(self._fields[field]["common"])
        return token in common

    def token_range(self, field: str, low: str, high: str | None) -> Iterator[tuple[str, BitMap]]:
        d = self._dict(field, "tok")
        if d is None:
            return
        for term, bm in d.scan(low.encode(), None if high is None else high.encode()):
            yield term.decode(), bm

    def tokens(self, field: str) -> Iterator[tuple[str, Callable[[], BitMap]]]:
        d = self._dict(field, "tok")
        if d is not None:
            for term, thunk in d.terms():
                yield term.decode(), thunk

    def values(self, field: str, literals: Sequence[str] = ()) -> Iterator[tuple[str, Callable[[], BitMap]]]:
        """Every verbatim value with a thunk for its docs; with `literals`, only values holding all of them."""
        d = self._dict(field, "val")
        if d is None:
            return
        if not literals:
            for term, thunk in d.terms():
                yield term.decode(), thunk
            return
        longest, *others = sorted(literals, key=len, reverse=True)
        for term, thunk in d.containing(longest.encode(), blockfilter.probes(literals)):
            text = term.decode()
            if all(lit in text for lit in others):
                yield text, thunk

    def numeric(self, field: str, low: float | None, high: float | None,
                low_inclusive: bool, high_inclusive: bool) -> BitMap:
        d = self._dict(field, "num")
        if d is None:
            return _EMPTY
        lo = number_key(low) if low is not None else b""
        out = BitMap()
        high_key = number_key(high) if high is not None else None
        for key, bm in d.scan(lo, None):
            if high_key is not None and (key > high_key or (key == high_key and not high_inclusive)):
                break
            if low is not None and key == lo and not low_inclusive:
                continue
            out |= bm
        return out

    def time_range(self, low: int | None, high: int | None) -> BitMap:
        """Docs with low <= time <= high (None: open); a doc-id interval since docs are sorted by time."""
        times = self.times
        start = 0 if low is None else bisect_left(times, low)
        end = self.doc_count if high is None else bisect_right(times, high)
        bm = BitMap()
        if start < end:
            bm.add_range(start, end)
        return bm

    def before(self, ts: int, seq: int) -> BitMap:
        """Docs whose (time, seq) sorts before (ts, seq): the rest of a newest-first listing after a cursor."""
        return self._key_interval(0, self._key_position(ts, seq))

    def after(self, ts: int, seq: int) -> BitMap:
        """Docs whose (time, seq) sorts after (ts, seq)."""
        pos = self._key_position(ts, seq)
        if pos < self.doc_count and (self.times[pos], self.seqs[pos]) == (ts, seq):
            pos += 1
        return self._key_interval(pos, self.doc_count)

    def upto_seq(self, last_seq: int) -> BitMap | None:
        """Docs stored at or before ingest sequence `last_seq`; None when that is all of them."""
        if self._meta["max_seq"] <= last_seq:
            return None
        return BitMap(d for d, seq in enumerate(self.seqs) if seq <= last_seq)

    def _key_position(self, ts: int, seq: int) -> int:
        times, seqs = self.times, self.seqs
        lo, hi = bisect_left(times, ts), bisect_right(times, ts)
        while lo < hi and seqs[lo] < seq:  # few docs share one nanosecond
            lo += 1
        return lo

    def _key_interval(self, start: int, end: int) -> BitMap:
        bm = BitMap()
        if start < end:
            bm.add_range(start, end)
        return bm

    def newest(self, docs: BitMap, k: int) -> list[tuple[int, int, int]]:
        """(time, seq, doc) of the k newest of `docs`, newest first."""
        times, seqs = self.times, self.seqs
        n = len(docs)
        picked = docs[max(n - k, 0):] if n > k else docs
        return [(times[d], seqs[d], d) for d in reversed(picked)]

    def oldest(self, docs: BitMap, k: int) -> list[tuple[int, int, int]]:
        times, seqs = self.times, self.seqs
        picked = docs[:k] if len(docs) > k else docs
        return [(times[d], seqs[d], d) for d in picked]

    def keys(self, docs: Iterable[int]) -> list[tuple[int, int]]:
        times, seqs = self.times, self.seqs
        return [(times[d], seqs[d]) for d in docs]

    def fetch(self, docs: Iterable[int]) -> list[bytes]:
        """The original JSON of each doc, in the order given."""
        first_docs = self._first_docs
        out = []
        first = end = 0  # the docs of the block at hand: first <= d < end
        for d in docs:
            if not first <= d < end:
                b = bisect_right(first_docs, d) - 1
                first = first_docs[b]
                end = first_docs[b + 1] if b + 1 < len(first_docs) else self.doc_count
                block = self._row_block(b)
                data, offsets = block.data, block.offsets
            i = d - first
            out.append(data[offsets[i]:offsets[i + 1]])
        return out

    def iter_rows(self) -> Iterator[tuple[int, int, bytes]]:
        """(time, seq, original JSON) of every doc in doc-id order, one row block in memory at a time."""
        times, seqs = self.times, self.seqs
        doc = 0
        for handle, _, _, _ in self._meta["row_blocks"]:
            for raw in RowBlock(self._file.read(handle)).rows():
                yield times[doc], seqs[doc], raw
                doc += 1

    # ---- for merging (engine/segments/merger.py) -----------------------------------------------------
    def dict_blocks(self, field: str, kind: str) -> Iterator[TermBlock]:
        """The blocks of one dictionary ("tok", "val", "num", "gram"), in term order."""
        d = self._dict(field, kind)
        return d.blocks() if d is not None else iter(())

    def common_tokens(self, field: str) -> list[str]:
        return self._fields[field]["common"]

    def token_refs(self, field: str) -> bool:
        """Whether the token dictionary of `field` holds references to values (postings.py, tag 2)."""
        return bool(self._fields[field]["tok"].get("refs"))

    def copies(self, field: str, kind: str) -> bool:
        """Whether dictionary `kind` of `field` holds copies of other postings (postings.py, tag 3)."""
        spec = self._fields[field].get(kind)
        return bool(spec and spec.get("copies"))

    def referenced(self, field: str, kind: str, posting: bytes) -> BitMap:
        """The docs of a posting of dictionary `kind` of `field` that stands for another's (tags 2 and 3)."""
        own = self._dict(field, kind)
        if own is None:
            raise CorruptionError(f"{self.path}: {field!r} has no {kind} dictionary", path=str(self.path))
        return self._resolver(field, kind)(posting, own)

    def row_blocks(self) -> list[list]:
        return self._meta["row_blocks"]

    @property
    def rows_level(self) -> int:
        """The zstd level of the row blocks (format.py)."""
        return self._meta.get("rows_level", ROWS_LEVEL)

    def compressed_section(self, handle: list[int]) -> bytes:
        return self._file.read_compressed(handle)

    def rows_of_block(self, i: int) -> list[bytes]:
        return RowBlock(self._file.read(self._meta["row_blocks"][i][0])).rows()

    # ---- internals -----------------------------------------------------------------------------------
    def _row_block(self, i: int) -> RowBlock:
        return self._blocks.get(("rows", i), lambda: RowBlock(self._file.read(self._meta["row_blocks"][i][0])))

    def _dict(self, field: str, kind: str) -> TermDict | None:
        key = (field, kind)
        d = self._dicts.get(key, False)
        if d is not False:
            return d
        spec = self._fields.get(field, {}).get(kind)
        if spec is None:
            d = None
        else:
            loader = _TermBlockLoader(self._blocks, self._file, (field, kind), spec)
            d = TermDict([t.encode("latin-1") for t in spec["first"]], loader, loader.uncached,
                         loader.filters if "filters" in spec else None,
                         self._resolver(field, kind) if self.version >= 3 else None)
        self._dicts[key] = d
        return d

    def _resolver(self, field: str, kind: str) -> _Resolver:
        # A posting stands only for one written before it: of an earlier dictionary, or of its own.
        earlier = postings.COPY_KINDS[:postings.COPY_KINDS.index(kind)]
        return _Resolver(self.path, field, kind, {k: self._dict(field, k) for k in earlier})

    def close(self) -> None:
        self._file.close()


class _BlockCache:
    """A small LRU of decompressed blocks, shared by a reader's look-ups. Thread-safe: loads are
    idempotent, so two threads missing the same block both load it and one copy wins."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._blocks: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable):
        with self._lock:
            hit = self._blocks.get(key)
            if hit is not None:
                self._blocks.move_to_end(key)
                return hit
        value = load()
        with self._lock:
            self._blocks[key] = value
            if len(self._blocks) > self._size:
                self._blocks.popitem(last=False)
        return value


class _TermBlockLoader:
    """Loads block i of one dictionary through the cache. Holds the file and cache, not the reader, so
    that a reader nobody uses is freed at once (closing its file) instead of waiting for a GC cycle."""

    def __init__(self, cache: _BlockCache, file: SegmentFile, key: tuple[str, str], spec: dict) -> None:
        self._cache, self._file, self._key = cache, file, key
        self._handles: list = spec["blocks"]
        self._filters: list | None = spec.get("filters")  # value dictionaries built with filters only

    def __call__(self, i: int) -> TermBlock:
        return self._cache.get((*self._key, i), lambda: self.uncached(i))

    def uncached(self, i: int) -> TermBlock:
        return TermBlock(self._file.read(self._handles[i]), v1=self._file.version == 1)

    def filters(self) -> blockfilter.BlockFilters:
        return self._cache.get((*self._key, "filters"), self._load_filters)

    def _load_filters(self) -> blockfilter.BlockFilters:
        assert self._filters is not None
        filters = blockfilter.BlockFilters(self._file.read(self._filters))
        if len(filters) != len(self._handles):
            raise CorruptionError(
                f"{self._file.path}: {self._key[0]!r} has {len(self._handles)} value blocks but "
                f"{len(filters)} block filters", path=str(self._file.path), offset=self._filters[0])
        return filters


class _Resolver:
    """Resolves a posting that stands for another's among the dictionaries of one field: a token's reference
    to a value (postings.py, tag 2) or a copy of any term's posting (tag 3). Holds the dictionaries written
    before `kind`'s, never the reader or its own (see _TermBlockLoader and TermDict)."""

    __slots__ = ("_earlier", "_field", "_kind", "_path")

    def __init__(self, path: Path, field: str, kind: str, earlier: dict[str, TermDict | None]) -> None:
        self._path, self._field, self._kind, self._earlier = path, field, kind, earlier

    def __call__(self, posting: bytes, own: TermDict) -> BitMap:
        tag = posting[0]
        if tag == postings.TAG_REF:
            kind, term = "val", posting[1:]
        elif tag == postings.TAG_COPY and len(posting) > 1 and posting[1] < len(postings.COPY_KINDS):
            kind, term = postings.COPY_KINDS[posting[1]], posting[2:]
        else:
            raise CorruptionError(f"{self._path}: a posting of {self._field!r} is neither a reference nor a copy "
                                  f"that this build reads (tag {tag}, {len(posting)} bytes)", path=str(self._path))
        d = own if kind == self._kind else self._earlier.get(kind)
        try:
            # A reference's value may be a copy; a copy is of a posting that stands for no other.
            docs = d.get(term, follow=tag == postings.TAG_REF) if d is not None else None
        except ValueError:
            raise CorruptionError(f"{self._path}: a posting of the {self._kind} dictionary of {self._field!r} "
                                  f"stands for that of {term!r} in its {kind} dictionary, which stands for "
                                  "another in turn", path=str(self._path)) from None
        if docs is None:
            raise CorruptionError(f"{self._path}: a posting of the {self._kind} dictionary of {self._field!r} "
                                  f"stands for that of {term!r} in its {kind} dictionary, which is not there",
                                  path=str(self._path))
        return docs
