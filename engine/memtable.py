"""The memtable: logs appended since the last segment, searchable as soon as `append` returns.

Rows are kept as appended (time, seq, original JSON). The in-memory inverted index is built a field at a
time: a search that uses a field first parses the rows not yet parsed into per-field columns (which docs
have the field; the values too for the fields searched lately), then indexes that field's pending values,
reading them from the rows again if its column did not gather them. Ingest without searches pays only for
the WAL; while searches come in, the engine parses each group of rows as it appends it and indexes the
fields searched lately (`publish`), so a search rarely waits for indexing, and fields nobody searches (ids,
mostly) are never indexed. Postings are arrays and the tokens of a text one str, not lists and tuples,
whose items the cyclic GC walks at every young collection under ingest (engine/fieldindex.py). The index
answers the same questions as a segment (the Source protocol of engine/search.py), except
common-word grams: a phrase is matched on the field's distinct texts that hold its rarest token.

Only the engine's commit leader appends; searches read a prefix of the rows (`visible` at snapshot
time), so they never see a half-added batch, and read the index without a lock: docs indexed past a
snapshot are clipped from its postings.
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain

import orjson
from pyroaring import BitMap

from .documents import flatten
from .fieldindex import Docs, FieldPostings, add_doc, add_value
from .gcpause import paused_gc
from .segments.numkeys import number_key
from .tokens import tokenize

_EMPTY = BitMap()
# Picking the k newest of n matches among `size` rows: sorting costs ~0.25 us a match, walking the time
# order ~0.05 us a row for about k * size / n rows. Walk when n * n * _WALK_FACTOR >= k * size (measured,
# 10,000 rows, k = 100: sorting wins below ~300 matches, walking above; 2,500 matches: 676 vs 22 us).
_WALK_FACTOR = 8
# Rows indexed between two calls of publish's `between_chunks` (~4 ms of work).
INDEX_CHUNK = 256


class _Column:
    """One field of the parsed rows: the docs having it, and its values not yet indexed, in doc order.
    Only fields being indexed gather values; the values of a field nobody searches (ids, mostly) would be
    memory for nothing and lists for the GC to walk, so a search that comes for it reads them from the rows
    again (`Memtable._gather`)."""

    __slots__ = ("docs", "first", "indexed", "present", "values")

    def __init__(self, first: int, gather: bool) -> None:
        self.first = first  # the first doc having the field
        self.present = array("I")  # every doc having the field, ascending: `exists` needs no index
        self.docs = array("I")  # the doc of each pending value
        self.values: list[object] | None = [] if gather else None  # None: not gathered
        self.indexed = 0  # every doc below this that has the field is in the index


class Memtable:
    def __init__(self, wal_generation: int, searched: dict[str, float] | None = None,
                 hot_for: float = 30.0) -> None:
        """`searched`: field -> when a search last used it (time.monotonic), shared by the engine's
        memtables; `publish` indexes the fields used within `hot_for` seconds."""
        self.wal_generation = wal_generation
        self.searched: dict[str, float] = {} if searched is None else searched
        self.hot_for = hot_for
        # Arrays, not lists, here and in the time order: the GC walks a list's items, never an array's.
        self.times = array("q")
        self.seqs = array("q")
        self.raws: list[bytes] = []
        self.raw_bytes = 0
        # Bounds of every row added; a snapshot of fewer rows may use them, as they only widen.
        self.min_ts = 1 << 63
        self.max_ts = -(1 << 63)
        self.visible = 0  # rows searches see: those of finished appends
        self._lock = threading.Lock()  # indexing
        self._order_lock = threading.Lock()  # the time ordering, so it is not held up by indexing
        self._fields: dict[str, FieldPostings] = {}
        self._parsed = 0  # rows flattened into _columns; set only once all of them are
        self._columns: dict[str, _Column] = {}
        self._order = array("I")  # doc ids sorted by (time, seq), for the first `_ordered` docs
        self._order_times = array("q")  # the time of each doc of `_order`
        self._ordered = 0
        # Text -> its tokens joined by spaces (no token holds one). A str, unlike a tuple of tokens, is not
        # tracked by the cyclic GC: tuples per distinct text were most of what young collections walked in a
        # server searching under ingest.
        self._token_cache: dict[str, str] = {}
        # Field -> the field's distinct texts of two or more tokens, and token -> the ids (places in that
        # list) of those holding it, an int or an array: a phrase is matched on distinct texts (templates
        # repeat) instead of on every candidate log. Ids, not lists of texts: the GC walks a list's items.
        self._texts: dict[str, list[str]] = {}
        self._texts_by_token: dict[str, dict[str, Docs]] = {}

    def __len__(self) -> int:
        return len(self.raws)

    def add(self, first_seq: int, entries: Iterable[tuple[int, bytes]]) -> None:
        # Requires: called by the commit leader only.
        seq = first_seq
        low, high = self.min_ts, self.max_ts
        for ts, raw in entries:
            self.times.append(ts)
            self.seqs.append(seq)
            self.raws.append(raw)
            self.raw_bytes += len(raw)
            seq += 1
            if ts < low:
                low = ts
            if ts > high:
                high = ts
        self.min_ts, self.max_ts = low, high

    def publish(self, *, index: bool, between_chunks: Callable[[], None] | None = None) -> None:
        """Make the rows added so far visible to searches; `index`: parse them first and index the fields
        searched lately, in chunks of INDEX_CHUNK rows, calling `between_chunks` (if given) after each,
        when no lock is held."""
        # Requires: called by the commit leader only.
        size = len(self.raws)
        if index:
            for end in range(min(self._parsed + INDEX_CHUNK, size), size + INDEX_CHUNK, INDEX_CHUNK):
                with self._lock, paused_gc():
                    hot = self._hot()
                    self._parse_upto(min(end, size), hot)
                    for name, column in list(self._columns.items()):
                        if name in hot:
                            self._index_pending(name, column)
                        elif column.values is not None:  # not searched lately: stop gathering its values
                            column.docs, column.values = array("I"), None
                if between_chunks is not None and end < size:
                    between_chunks()
        self.visible = size

    def view(self) -> MemtableView:
        """A searchable snapshot of the rows visible now."""
        return MemtableView(self, self.visible)

    # ---- index maintenance (guarded by _lock) ---------------------------------------------------------
    def _index_field(self, name: str, size: int) -> None:
        """Bring field `name` of the first `size` rows into the index."""
        column = self._columns.get(name)
        if column is not None and column.indexed >= size:
            return
        if column is None and self._parsed >= size:  # no row below `size` has the field
            return
        with self._lock, paused_gc():
            self._parse_upto(size)
            column = self._columns.get(name)
            if column is not None and column.indexed < size:
                self._index_pending(name, column)

    def _parsed_columns(self, size: int) -> dict[str, _Column]:
        """The columns, with the first `size` rows parsed into them."""
        if self._parsed < size:
            with self._lock, paused_gc():
                self._parse_upto(size)
        return self._columns

    def _hot(self) -> set[str]:
        """The fields searched within `hot_for` seconds."""
        now = time.monotonic()
        return {name for name, when in list(self.searched.items()) if now - when < self.hot_for}

    def _parse_upto(self, size: int, hot: set[str] | None = None) -> None:
        """Parse rows up to `size` into the columns; a new column gathers values if its field is in `hot`
        (default: the fields searched lately)."""
        # Requires: self._lock held.
        columns = self._columns
        loads = orjson.loads
        if hot is None:
            hot = self._hot()
        for doc in range(self._parsed, size):
            for name, value in flatten(loads(self.raws[doc])):
                if name == "timestamp":
                    continue  # the time column holds it
                column = columns.get(name)
                if column is None:
                    column = columns[name] = _Column(doc, name in hot)
                present = column.present
                if not present or present[-1] != doc:  # not another value of the same array
                    present.append(doc)
                values = column.values
                if values is not None:
                    column.docs.append(doc)
                    values.append(value)
        if size > self._parsed:
            self._parsed = size

    def _gather(self, name: str, column: _Column) -> None:
        """Read the values of a column that did not gather them from the rows not indexed yet."""
        # Requires: self._lock held.
        docs, values = array("I"), []
        loads, raws, present = orjson.loads, self.raws, column.present
        for doc in present[bisect_left(present, column.indexed):]:
            for key, value in flatten(loads(raws[doc])):
                if key == name:
                    docs.append(doc)
                    values.append(value)
        column.docs, column.values = docs, values

    def _index_pending(self, name: str, column: _Column) -> None:
        # Requires: self._lock held. Indexes the column's pending values: then every parsed row is indexed.
        if column.values is None:
            self._gather(name, column)
        fields = self._fields
        token_cache = self._token_cache
        by_token = self._texts_by_token.get(name)
        texts = self._texts.get(name)
        for doc, value in zip(column.docs, column.values, strict=True):
            f, text = add_value(fields, doc, name, value)
            joined = token_cache.get(text)
            if joined is None:
                tokens = tokenize(text)
                token_cache[text] = " ".join(tokens)
            elif " " in joined:
                tokens = joined.split(" ")
            else:
                tokens = (joined,) if joined else ()
            toks = f.toks
            for token in tokens:
                add_doc(toks, token, doc)
            held = f.vals[text]
            if type(held) is int and held == doc and len(tokens) > 1:  # a text new to the field
                if by_token is None or texts is None:
                    by_token = self._texts_by_token[name] = {}
                    texts = self._texts[name] = []
                text_id = len(texts)
                texts.append(text)  # before its id is published: a search may read both without the lock
                for token in tokens:
                    add_doc(by_token, token, text_id)
        column.docs = array("I")
        column.values = []
        column.indexed = self._parsed

    def _ordering(self, size: int) -> tuple[array, array]:
        """Doc ids sorted by (time, seq), and their times. Seqs grow with doc ids, so a stable sort by
        time alone gives (time, seq) order. Only the rows added since the last call are sorted; the
        order so far and theirs are two sorted runs, which Timsort merges in linear time: under ingest,
        where every search finds new rows, this took a 10,000-row memtable from 1.7 to 0.6 ms a search."""
        with self._order_lock, paused_gc():
            if self._ordered < size:
                times = self.times
                order = sorted(range(self._ordered, size), key=times.__getitem__)
                if self._order:
                    order = sorted(chain(self._order, order), key=times.__getitem__)
                self._order = array("I", order)
                self._order_times = array("q", map(times.__getitem__, order))
                self._ordered = size
            return self._order, self._order_times

    def _position(self, size: int, ts: int, seq: int) -> int:
        """How many of the first `size` docs sort before (ts, seq)."""
        order, times = self._ordering(size)
        lo, hi = bisect_left(times, ts), bisect_right(times, ts)
        seqs = self.seqs
        while lo < hi and seqs[order[lo]] < seq:  # few docs share one nanosecond
            lo += 1
        return lo


class MemtableView:
    """The Source protocol (engine/search.py) over the first `size` rows of a memtable."""

    time_sorted = False

    def __init__(self, memtable: Memtable, size: int) -> None:
        self._m = memtable
        self.doc_count = size
        # The memtable's bounds cover rows added after this snapshot too: wider bounds only make time
        # pruning more cautious, and a search must not copy the whole memtable to narrow them.
        self.min_ts = memtable.min_ts
        self.max_ts = memtable.max_ts

    def _field(self, name: str) -> FieldPostings | None:
        m = self._m
        m.searched[name] = time.monotonic()
        m._index_field(name, self.doc_count)
        return m._fields.get(name)

    def _postings(self, docs: Docs | range | None) -> BitMap:
        if docs is None:
            return _EMPTY
        if type(docs) is int:
            return BitMap((docs,)) if docs < self.doc_count else _EMPTY
        if type(docs) is array:
            # A copy: BitMap reads an array through its buffer, and the appending thread's next append to
            # an array whose buffer is held fails (BufferError) instead of waiting.
            docs = docs[:]
        bm = BitMap(docs)
        if bm and bm.max() >= self.doc_count:  # rows indexed after this snapshot
            bm.remove_range(self.doc_count, bm.max() + 1)
        return bm

    def field_names(self) -> list[str]:
        size = self.doc_count
        return [name for name, column in list(self._m._parsed_columns(size).items()) if column.first < size]

    def resolve_field(self, name: str) -> list[str]:
        lower = name.lower()
        return [n for n in self.field_names() if n.lower() == lower]

    def everything(self) -> BitMap:
        bm = BitMap()
        bm.add_range(0, self.doc_count)
        return bm

    def exists(self, field: str) -> BitMap:
        # From the parsed column, without indexing the field: listing fields with their counts (the
        # console's sidebar) would otherwise index every field and keep them all hot.
        column = self._m._parsed_columns(self.doc_count).get(field)
        return self._postings(column.present) if column else _EMPTY

    def token(self, field: str, token: str) -> BitMap:
        f = self._field(field)
        return self._postings(f.toks.get(token)) if f else _EMPTY

    def value(self, field: str, text: str) -> BitMap:
        f = self._field(field)
        return self._postings(f.vals.get(text)) if f else _EMPTY

    def gram(self, field: str, tokens: tuple[str, ...]) -> BitMap | None:
        return None

    def phrase(self, field: str, tokens: list[str]) -> BitMap | None:
        f = self._field(field)
        by_token = self._m._texts_by_token.get(field)
        texts = self._m._texts.get(field)
        if f is None or by_token is None or texts is None:
            return _EMPTY
        # Only texts of two or more tokens are listed, and a phrase (two or more) needs one of them.
        held = [by_token.get(t, ()) for t in set(tokens)]
        ids = min(((h,) if type(h) is int else h for h in held), key=len)
        token_cache = self._m._token_cache
        wanted = " " + " ".join(tokens) + " "  # consecutive tokens, as spaces bound every token
        candidates = {texts[i] for i in ids}
        parts = [self._postings(f.vals[text]) for text in candidates if wanted in " " + token_cache[text] + " "]
        return BitMap.union(*parts) if parts else _EMPTY

    def token_range(self, field: str, low: str, high: str | None) -> Iterator[tuple[str, BitMap]]:
        f = self._field(field)
        if f is None:
            return
        for token in sorted(t for t in list(f.toks) if t >= low and (high is None or t < high)):
            bm = self._postings(f.toks[token])
            if bm:
                yield token, bm

    def tokens(self, field: str) -> Iterator[tuple[str, Callable[[], BitMap]]]:
        f = self._field(field)
        if f is not None:
            for token, docs in list(f.toks.items()):
                yield token, (lambda docs=docs: self._postings(docs))

    def values(self, field: str, literals: Sequence[str] = ()) -> Iterator[tuple[str, Callable[[], BitMap]]]:
        f = self._field(field)
        if f is not None:
            for text, docs in list(f.vals.items()):
                if all(lit in text for lit in literals):
                    yield text, (lambda docs=docs: self._postings(docs))

    def numeric(self, field: str, low: float | None, high: float | None,
                low_inclusive: bool, high_inclusive: bool) -> BitMap:
        f = self._field(field)
        if f is None:
            return _EMPTY
        out = BitMap()
        for number, docs in list(f.nums.items()):
            key = number_key(number)
            if low is not None and (key < number_key(low) or (not low_inclusive and number == low)):
                continue
            if high is not None and (key > number_key(high) or (not high_inclusive and number == high)):
                continue
            out |= self._postings(docs)
        return out

    def time_range(self, low: int | None, high: int | None) -> BitMap:
        order, times = self._m._ordering(self.doc_count)
        start = 0 if low is None else bisect_left(times, low)
        end = len(times) if high is None else bisect_right(times, high)
        return self._postings(order[start:end])

    def before(self, ts: int, seq: int) -> BitMap:
        order, _ = self._m._ordering(self.doc_count)
        return self._postings(order[:self._m._position(self.doc_count, ts, seq)])

    def after(self, ts: int, seq: int) -> BitMap:
        order, _ = self._m._ordering(self.doc_count)
        position = self._m._position(self.doc_count, ts, seq)
        if position < len(order) and (self._m.times[order[position]], self._m.seqs[order[position]]) == (ts, seq):
            position += 1
        return self._postings(order[position:])

    def upto_seq(self, last_seq: int) -> BitMap | None:
        """Docs stored at or before ingest sequence `last_seq`; None when that is all of them."""
        seqs = self._m.seqs
        if not self.doc_count or seqs[self.doc_count - 1] <= last_seq:
            return None
        # Rows are added in sequence order, so the stored ones are a prefix.
        return self._postings(range(bisect_right(seqs, last_seq, 0, self.doc_count)))

    def _key(self, doc: int) -> tuple[int, int, int]:
        return (self._m.times[doc], self._m.seqs[doc], doc)

    def newest(self, docs: BitMap, k: int) -> list[tuple[int, int, int]]:
        return self._pick(docs, k, newest=True)

    def oldest(self, docs: BitMap, k: int) -> list[tuple[int, int, int]]:
        return self._pick(docs, k, newest=False)

    def _pick(self, docs: BitMap, k: int, *, newest: bool) -> list[tuple[int, int, int]]:
        if k <= 0:
            return []
        if len(docs) ** 2 * _WALK_FACTOR < k * self.doc_count:
            return sorted(map(self._key, docs), reverse=newest)[:k]
        order, _ = self._m._ordering(self.doc_count)
        out = []
        for d in (reversed(order) if newest else order):
            if d in docs:
                out.append(self._key(d))
                if len(out) == k:
                    break
        return out

    def keys(self, docs: Iterable[int]) -> list[tuple[int, int]]:
        times, seqs = self._m.times, self._m.seqs
        return [(times[d], seqs[d]) for d in docs]

    def fetch(self, docs: Iterable[int]) -> list[bytes]:
        raws = self._m.raws
        return [raws[d] for d in docs]
