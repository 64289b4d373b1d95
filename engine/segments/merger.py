"""Merges segments into one without re-reading their logs: the indexes are merged, the rows copied.

Docs of the output are the inputs' docs in (time, seq) order. Logs arrive nearly in time order, so each
input maps onto the output in a few contiguous runs, and a posting list is remapped with one shift per
run instead of one look-up per doc. Row blocks that fall inside one run are copied still compressed;
only blocks cut by a run boundary, and those of inputs whose rows were compressed fast (segments
written from memtables, format.FLUSH_ROWS_LEVEL), are decompressed and re-blocked.

Grams stay exact: an output token is common (its grams complete) when, in every input, it was common or
absent, and only grams made of such tokens are kept.

A token posting that refers to a value (postings.py, tag 2) needs no remapping: the inputs holding the token
are those holding the value, so the value's merged posting is the token's. Where inputs disagree (some hold
the token through other values too), the token's docs are the value's merged docs and the other inputs'
docs of the token, or else each reference is resolved in its input (_TokenRefs). Values are merged before
tokens, so that any token whose merged posting equals that of a value of several docs holding it can refer
to the value. Then a long posting equal to one written before it in the field is written as a copy of that
one (_Copies); the inputs' copies are resolved as their blocks are loaded.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from hashlib import blake2b
from itertools import chain
from pathlib import Path
from typing import Any

from pyroaring import BitMap

from ..gcpause import paused_gc
from ..tokens import tokenize
from . import postings, rowblock, termdict
from .format import ROWS_LEVEL, SegmentFileWriter
from .reader import SegmentReader
from .rowblock import ROWS_PER_BLOCK
from .termdict import Posting

Run = tuple[int, int, int]  # (first local doc, end local doc, first output doc)
# A posting of at least this many bytes that equals one written before it in the field is stored as a copy
# of it (postings.py, tag 3), which costs 2 bytes and the term's.
COPY_MIN_BYTES = 64
# The bitmaps of inputs mapping onto more runs than this are remapped doc by doc, not a run at a time.
_MAX_SHIFT_RUNS = 64


def merge(path: Path, readers: list[SegmentReader]) -> dict[str, Any]:
    """Write the merge of `readers` at `path`; returns {"docs", "min_ts", "max_ts", "bytes"}."""
    with paused_gc():
        return _merge(path, readers)


def _merge(path: Path, readers: list[SegmentReader]) -> dict[str, Any]:
    runs, times, seqs = _plan(readers)
    with SegmentFileWriter(path) as writer:
        meta = writer.column_meta(times, seqs, _copy_rows(writer, readers, runs, times))
        mappers = [_Mapper(r) for r in runs]
        for name in sorted({name for r in readers for name in r.field_names()}):
            meta["fields"][name] = _merge_field(writer, readers, mappers, name)
        return writer.finish(meta)


def _plan(readers: list[SegmentReader]) -> tuple[list[list[Run]], array, array]:
    """Each input's runs onto the output, and the output's time and seq columns: the inputs' docs in
    (time, seq, input) order, sorted in numpy, and a run wherever the next doc is another input's or not
    the next doc of the same input."""
    import numpy as np  # builder processes only: the ingesting process need not import numpy

    times = np.concatenate([np.frombuffer(r.times, np.int64) for r in readers])
    seqs = np.concatenate([np.frombuffer(r.seqs, np.int64) for r in readers])
    counts = [r.doc_count for r in readers]
    inputs = np.repeat(np.arange(len(readers)), counts)
    locals_ = np.arange(len(times)) - np.repeat(np.cumsum(counts) - counts, counts)
    order = np.lexsort((inputs, seqs, times))  # stable: an input's docs of one (time, seq) stay in order
    inp, loc = inputs[order], locals_[order]
    new_run = np.ones(len(order), bool)
    new_run[1:] = (inp[1:] != inp[:-1]) | (loc[1:] != loc[:-1] + 1)
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], len(order))
    runs: list[list[Run]] = [[] for _ in readers]
    for i, first, end, out in zip(inp[starts].tolist(), loc[starts].tolist(), (loc[starts] + ends - starts).tolist(),
                                  starts.tolist(), strict=True):
        runs[i].append((first, end, out))
    return runs, array("q", times[order].tobytes()), array("q", seqs[order].tobytes())


def _copy_rows(writer: SegmentFileWriter, readers: list[SegmentReader], runs: list[list[Run]],
               times: array) -> list[list]:
    """The output's row blocks: an input's block that falls inside one run is copied still compressed,
    when its input compressed rows at ROWS_LEVEL; other rows are gathered and cut into new blocks."""
    ordered = sorted((run[2], i, run) for i, rs in enumerate(runs) for run in rs)
    blocks: list[list] = []
    pending: list[bytes] = []  # rows of the output docs from pending_first on, not yet in a block
    pending_first = 0

    def write_pending(count: int) -> None:
        nonlocal pending, pending_first
        handle = writer.add(rowblock.encode(pending[:count]), rows=True)
        blocks.append([handle, times[pending_first], times[pending_first + count - 1], pending_first])
        del pending[:count]
        pending_first += count

    copyable = [r.rows_level >= ROWS_LEVEL for r in readers]
    for _, i, (start, end, out_start) in ordered:
        reader = readers[i]
        row_blocks = reader.row_blocks()
        first_docs = [b[3] for b in row_blocks]
        b = bisect_right(first_docs, start) - 1
        while b < len(row_blocks) and first_docs[b] < end:
            block_start = first_docs[b]
            block_end = first_docs[b + 1] if b + 1 < len(first_docs) else reader.doc_count
            out_doc = out_start + max(block_start, start) - start
            if copyable[i] and start <= block_start and block_end <= end:
                if pending:
                    write_pending(len(pending))
                blocks.append([writer.add_compressed(reader.compressed_section(row_blocks[b][0])),
                               times[out_doc], times[out_doc + block_end - block_start - 1], out_doc])
            else:
                if not pending:
                    pending_first = out_doc
                rows = reader.rows_of_block(b)
                pending += rows[max(start, block_start) - block_start:min(end, block_end) - block_start]
                while len(pending) >= ROWS_PER_BLOCK:
                    write_pending(ROWS_PER_BLOCK)
            b += 1
    if pending:
        write_pending(len(pending))
    return blocks


class _Mapper:
    """Maps one input's posting lists to output doc ids."""

    def __init__(self, runs: list[Run]) -> None:
        self.runs = runs
        # With one run, every doc id moves by the same amount; with more, a table gives each doc's output
        # id (filled a run at a time in C; 4 bytes a doc).
        self.shift = runs[0][2] - runs[0][0] if len(runs) == 1 else None
        self.table: array | None = None
        if len(runs) > 1:
            table = array("I", bytes(4 * runs[-1][1]))
            for start, end, out in runs:
                table[start:end] = array("I", range(out, out + end - start))
            self.table = table

    def small(self, ids: Iterable[int]) -> list[int]:
        """`ids` mapped through the table (an input of one run moves its encoded postings by `shift`)."""
        assert self.table is not None
        return list(map(self.table.__getitem__, ids))

    def bitmap(self, bm: BitMap) -> BitMap:
        if self.table is None:
            return bm.shift(self.shift)
        if len(self.runs) > _MAX_SHIFT_RUNS:
            return BitMap(map(self.table.__getitem__, bm))
        parts = []
        for start, end, first in self.runs:
            window = BitMap()
            window.add_range(start, end)
            part = bm & window
            if part:
                parts.append(part.shift(first - start))
        return BitMap.union(*parts) if parts else BitMap()


def _remapped(raw: bytes | memoryview, mapper: _Mapper) -> Posting:
    """An encoded posting (of two or more docs) with output doc ids; a reference stays as it is."""
    tag = raw[0]
    if tag == postings.TAG_SMALL:
        return postings.one_or_encoded(mapper.small(postings.small_ids(raw)))
    if tag == postings.TAG_REF:
        return raw
    return postings.one_or_encoded(mapper.bitmap(postings.decode(raw)))


class _TokenRefs:
    """Unites the postings of a token held by several inputs when some refer to a value (postings.py, tag 2).

    `owners`: token -> (a value of several docs holding it, that value's merged posting), from the value
    dictionary merged before. A token's docs are those of the values holding it, so when the references
    are to its owner, its merged docs are the owner's merged docs and the other inputs' docs of the token.
    Otherwise each reference is resolved in its input."""

    def __init__(self, readers: list[SegmentReader], mappers: list[_Mapper], name: str,
                 owners: dict[bytes, tuple[bytes, bytes]]) -> None:
        self._readers, self._mappers, self._name, self._owners = readers, mappers, name, owners
        self._resolved: dict[tuple[int, bytes], Posting] = {}  # the tokens of one value refer to it alike

    def united(self, term: bytes, group: list[Posting], inputs: list[int]) -> Posting:
        is_ref = [type(p) is not int and p[0] == postings.TAG_REF for p in group]
        if not any(is_ref):
            return _united(group)
        refs = {bytes(p) for p, r in zip(group, is_ref, strict=True) if r}
        if len(refs) == 1:
            ref = refs.pop()
            if all(is_ref):
                return ref  # every input refers to the same value
            owner = self._owners.get(term)
            if owner is not None and owner[0] == ref[1:]:
                others = [postings.docs_of(p) for p, r in zip(group, is_ref, strict=True) if not r]
                return postings.encode(BitMap.union(postings.decode(owner[1]), *others))
        return _united([self._resolve(i, p) if r else p for i, p, r in zip(inputs, group, is_ref, strict=True)])

    def _resolve(self, i: int, ref: Posting) -> Posting:
        """A reference of input i as the value's posting in output doc ids."""
        assert type(ref) is not int
        key = (i, bytes(ref))
        posting = self._resolved.get(key)
        if posting is None:
            docs = self._readers[i].referenced(self._name, "tok", key[1])
            posting = self._resolved[key] = postings.one_or_encoded(self._mappers[i].bitmap(docs))
        return posting


class _Copies:
    """Makes each long posting of a field that equals one written before it (dictionaries in the order of
    postings.COPY_KINDS) a copy of that one. Keeps a 128-bit digest of each, not the posting: two different
    postings sharing one are as likely as a guessed 128-bit key."""

    def __init__(self) -> None:
        self._seen: dict[bytes, bytes] = {}  # digest -> a copy of the first posting with it
        self.made: set[str] = set()  # the kinds of dictionary that hold copies

    def __call__(self, kind: str, chunk: _Chunk) -> None:
        seen, objs = self._seen, chunk.objs
        for j in [j for j, p in enumerate(objs) if len(p) >= COPY_MIN_BYTES and p[0] <= postings.TAG_ROARING]:
            digest = blake2b(objs[j], digest_size=16).digest()
            copy = seen.get(digest)
            if copy is None:
                seen[digest] = postings.copy(kind, chunk.term(chunk.obj_terms()[j]))
            else:
                objs[j] = copy
                self.made.add(kind)


# A window of a dictionary merge takes at least this many terms from each input at a time, so that its
# passes in numpy and pyarrow run over thousands of terms, not one block's hundreds.
WINDOW_TERMS = 8192


class _Chunk:
    """Terms in order and their postings, as arrays: term k is data[offsets[k]:offsets[k + 1]]; ids[k] is
    the doc holding it alone, or -1, and then its posting is the next item of `objs` (encoded,
    postings.py), which hold the postings of the terms with ids -1, in term order."""

    __slots__ = ("_obj_terms", "data", "ids", "objs", "offsets")

    def __init__(self, offsets: Any, data: bytes, ids: Any, objs: list[Posting]) -> None:
        self.offsets, self.data, self.ids, self.objs = offsets, data, ids, objs
        self._obj_terms: Any = None

    def __len__(self) -> int:
        return len(self.ids)

    def term(self, k: int) -> bytes:
        return self.data[int(self.offsets[k]):int(self.offsets[k + 1])]

    def last(self) -> bytes:
        return self.term(len(self) - 1)

    def obj_terms(self) -> Any:
        """The term of each item of `objs`."""
        import numpy as np

        if self._obj_terms is None:
            self._obj_terms = np.flatnonzero(self.ids < 0)
        return self._obj_terms

    def binary(self) -> Any:
        """The terms as a pyarrow large_binary array."""
        from .arrowconv import binary_array

        return binary_array(self.offsets, self.data)

    def slice(self, a: int, b: int) -> _Chunk:
        import numpy as np

        objs_before = np.count_nonzero(self.ids[:a] < 0)
        objs_in = np.count_nonzero(self.ids[a:b] < 0)
        return _Chunk(self.offsets[a:b + 1], self.data, self.ids[a:b], self.objs[objs_before:objs_before + objs_in])

    def select(self, keep: Any) -> _Chunk:
        """The terms where boolean array `keep` is true."""
        import numpy as np

        from .arrowconv import arrow_ints, binary_parts

        at = np.flatnonzero(keep)
        offsets, data = binary_parts(self.binary().take(arrow_ints(at)))
        obj_keep = keep[self.ids < 0]
        return _Chunk(offsets, data, self.ids[at], [p for p, k in zip(self.objs, obj_keep.tolist(), strict=True) if k])

    def write_to(self, writer: termdict.ArrayWriter) -> None:
        import numpy as np

        ids = self.ids
        post_lengths = np.zeros(len(ids), np.int64)
        post_lengths[ids < 0] = np.fromiter(map(len, self.objs), np.int64, len(self.objs))
        writer.write(self.offsets, self.data, post_lengths, ids[ids >= 0], b"".join(self.objs))


def _joined(chunks: list[_Chunk]) -> _Chunk:
    """The chunks one after the other."""
    import numpy as np

    if len(chunks) == 1:
        return chunks[0]
    datas = [c.data[int(c.offsets[0]):int(c.offsets[-1])] for c in chunks]
    offsets = np.zeros(sum(map(len, chunks)) + 1, np.int64)
    at, base = 1, 0
    for c, d in zip(chunks, datas, strict=True):
        offsets[at:at + len(c)] = c.offsets[1:] - c.offsets[0] + base
        at += len(c)
        base += len(d)
    return _Chunk(offsets, b"".join(datas), np.concatenate([c.ids for c in chunks]),
                  [p for c in chunks for p in c.objs])


class _Cursor:
    """One input's dictionary, read a block at a time and handed out in chunks of whole terms."""

    def __init__(self, blocks: Iterator[termdict.TermBlock], decode: Callable[[termdict.TermBlock], _Chunk],
                 i: int) -> None:
        self._blocks, self._decode, self.input = blocks, decode, i
        self.rest: _Chunk | None = None

    def fill(self) -> bool:
        """Read blocks until WINDOW_TERMS terms wait or none are left; whether any term waits."""
        parts = [self.rest] if self.rest is not None and len(self.rest) else []
        have = sum(map(len, parts))
        while have < WINDOW_TERMS:
            block = next(self._blocks, None)
            if block is None:
                break
            chunk = self._decode(block)
            parts.append(chunk)
            have += len(chunk)
        self.rest = _joined(parts) if parts else None
        return self.rest is not None

    def waiting(self) -> _Chunk:
        assert self.rest is not None
        return self.rest

    def take(self, frontier: bytes) -> _Chunk:
        """The waiting terms up to `frontier`, inclusive."""
        rest = self.rest
        assert rest is not None
        end = bisect_right(range(len(rest)), frontier, key=rest.term)
        taken, self.rest = rest.slice(0, end), rest.slice(end, len(rest))
        return taken


def _merged_chunks(readers: list[SegmentReader], mappers: list[_Mapper], members: list[int], name: str, kind: str,
                   wanted: frozenset[bytes] = frozenset(), refs: _TokenRefs | None = None,
                   ) -> Iterator[tuple[_Chunk, dict[bytes, list[int]]]]:
    """The merged dictionary in term order, a chunk at a time, and for the terms of the chunk that are in
    `wanted`, the inputs holding each. `refs`: for a token dictionary whose inputs may hold references to
    values; they stay as they are unless inputs disagree on a token (_TokenRefs).

    Each step takes every term up to the smallest last term of the inputs' waiting terms: no later block
    of any input can hold one before it. Those terms are sorted together by pyarrow (stably: input order
    among equal terms), and repeats are united."""
    import numpy as np
    import pyarrow.compute as pc

    from .arrowconv import arrow_ints, binaries, binary_parts, bools, ints

    copies = {i for i in members if readers[i].copies(name, kind)}
    wanted_array = binaries(sorted(wanted)) if wanted else None

    def decoder(i: int) -> Callable[[termdict.TermBlock], _Chunk]:
        resolve = (lambda p: readers[i].referenced(name, kind, p)) if i in copies else None
        if readers[i].version >= 2:
            return lambda block: _decoded(block, mappers[i], resolve)
        return lambda block: _decoded_v1(block, mappers[i])

    cursors = [_Cursor(readers[i].dict_blocks(name, kind), decoder(i), i) for i in members]
    cursors = [c for c in cursors if c.fill()]
    while cursors:
        frontier = min(c.waiting().last() for c in cursors)
        parts = [(c.input, c.take(frontier)) for c in cursors]
        parts = [(i, chunk) for i, chunk in parts if len(chunk)]
        cursors = [c for c in cursors if c.fill()]
        joined = _joined([chunk for _, chunk in parts])
        terms = joined.binary()
        inputs = np.repeat([i for i, _ in parts], [len(chunk) for _, chunk in parts])
        holders: dict[bytes, list[int]] = {}
        if wanted_array is not None:
            for k in np.flatnonzero(bools(pc.is_in(terms, value_set=wanted_array))).tolist():
                holders.setdefault(joined.term(k), []).append(int(inputs[k]))
        if len(parts) == 1:
            yield joined, holders
            continue
        order = ints(pc.sort_indices(terms))
        ordered = terms.take(arrow_ints(order))
        offsets, data = binary_parts(ordered)
        ids = joined.ids[order]
        obj_of = np.full(len(order), -1, np.int64)  # each term's item of joined.objs, or -1
        obj_of[joined.ids < 0] = np.arange(len(joined.objs))
        obj_of = obj_of[order]
        objs = joined.objs
        repeats = np.zeros(len(order), bool)  # the term equals the one before it
        repeats[1:] = bools(pc.equal(ordered.slice(1), ordered.slice(0, len(order) - 1)))
        if not repeats.any():
            yield _Chunk(offsets, data, ids, [objs[j] for j in obj_of[obj_of >= 0].tolist()]), holders
            continue
        # Equal terms (one per input holding it) become one, their postings united.
        firsts = np.flatnonzero(~repeats)
        ends = np.append(firsts[1:], len(order))
        runs = np.flatnonzero(ends - firsts > 1)  # the output terms held by several inputs
        run_inputs = None
        if refs is not None:
            run_inputs = (inputs[order], refs)
        united = _united_runs(ids, obj_of, objs, firsts[runs], ends[runs], partial(_term_at, offsets, data),
                              run_inputs)
        out_ids = ids[firsts]
        out_ids[runs] = -1
        out_obj_of = obj_of[firsts]
        out_obj_of[runs] = len(objs) + np.arange(len(runs))  # the united postings, after the inputs'
        objs = objs + united
        out_offsets, out_data = binary_parts(ordered.take(arrow_ints(firsts)))
        yield _Chunk(out_offsets, out_data, out_ids, [objs[j] for j in out_obj_of[out_ids < 0].tolist()]), holders


def _united_runs(ids: Any, obj_of: Any, objs: list[Posting], starts: Any, ends: Any, term_at: Callable[[int], bytes],
                 refs: tuple[Any, _TokenRefs] | None) -> list[Posting]:
    """The union of the postings of each run starts[g]..ends[g] - 1 of equal terms (one per input holding
    the term, in input order): the k-th posting is doc ids[k], or objs[obj_of[k]] when ids[k] is -1.
    `refs`: when postings may refer to values, the input of each posting and what unites such postings.

    Runs of one-doc and small postings (tag 0), most repeats (ids and numbers met again, hosts), are united
    together in numpy: a step each cost ~4 us. The others take a step each."""
    import numpy as np

    from .arrowconv import ranges, run_starts

    lengths = ends - starts
    rows = ranges(starts, lengths)
    run_of = np.repeat(np.arange(len(starts)), lengths)
    one = ids[rows] >= 0
    row_objs = [objs[j] for j in obj_of[rows[~one]].tolist()]
    small = np.fromiter((p[0] == postings.TAG_SMALL for p in row_objs), bool, len(row_objs))
    few = np.ones(len(starts), bool)
    few[run_of[~one][~small]] = False
    # The ids of the few runs' postings, keyed by run, sorted into each run's posting.
    one_few = one & few[run_of]
    obj_run = run_of[~one]
    small_few = small & few[obj_run]
    small_objs = [p for p, keep in zip(row_objs, small_few.tolist(), strict=True) if keep]
    small_counts = (np.fromiter(map(len, small_objs), np.int64, len(small_objs)) - 1) // 4
    small_ids = np.frombuffer(b"".join([p[1:] for p in small_objs]), "<u4").astype(np.int64)
    keys = np.sort(np.concatenate([run_of[one_few] << 32 | ids[rows[one_few]],
                                   np.repeat(obj_run[small_few], small_counts) << 32 | small_ids]))
    few_runs = np.flatnonzero(few)
    counts = np.bincount(keys >> 32, minlength=len(starts))[few_runs]
    encoded_lengths, encoded = postings.encode_many(counts, keys & 0xFFFFFFFF)
    bounds = run_starts(encoded_lengths).tolist()
    out: list[Posting] = [b""] * len(starts)
    for g, a, b in zip(few_runs.tolist(), bounds, bounds[1:], strict=False):
        out[g] = encoded[a:b]
    for g in np.flatnonzero(~few).tolist():
        a, b = int(starts[g]), int(ends[g])
        group = [int(ids[k]) if ids[k] >= 0 else objs[int(obj_of[k])] for k in range(a, b)]
        out[g] = _united(group) if refs is None else refs[1].united(term_at(a), group, refs[0][a:b].tolist())
    return out


def _term_at(offsets: Any, data: bytes, k: int) -> bytes:
    return data[int(offsets[k]):int(offsets[k + 1])]


def _decoded(block: termdict.TermBlock, mapper: _Mapper,
             resolve_copy: Callable[[bytes], BitMap] | None) -> _Chunk:
    """A block of segment format 2 or later with its postings in output doc ids: one-doc and small
    postings (most terms) remapped in numpy, the others one by one; `resolve_copy` gives the docs of a copy
    (postings.py, tag 3) in the input's doc ids."""
    import numpy as np  # builder processes only: the ingesting process need not import numpy

    offsets, post_lengths, ids, data = block.arrays()
    shift = mapper.shift
    if shift is not None:
        ids += shift
    else:
        assert mapper.table is not None
        ids = np.frombuffer(mapper.table, np.uint32)[ids].astype(np.int64)
    one = post_lengths == 0
    if len(ids) == len(one):
        return _Chunk(offsets, data, ids, [])
    out_ids = np.full(len(one), -1, np.int64)
    out_ids[one] = ids
    multi = np.flatnonzero(~one)
    objs: list[Posting] = [b""] * len(multi)
    starts = offsets[-1] + np.cumsum(post_lengths) - post_lengths
    small = np.zeros(len(one), bool)
    if shift != 0:
        # Small postings (tag 0, most of the others) get their ids remapped in numpy too: each id's four
        # bytes follow the tag, so they are gathered, mapped, and the postings cut out of the result.
        small[multi] = np.frombuffer(data, np.uint8)[starts[multi]] == postings.TAG_SMALL
        counts = (post_lengths[small] - 1) // 4
        if len(counts):
            before = np.cumsum(counts) - counts  # ids of the small postings before each
            at = np.repeat(starts[small] + 1 - 4 * before, counts) + 4 * np.arange(int(counts.sum()))
            raw_ids = np.frombuffer(data, np.uint8)[at[:, None] + np.arange(4)].view("<u4").ravel()
            mapped = (raw_ids.astype(np.int64) + shift if shift is not None else
                      np.frombuffer(mapper.table, np.uint32)[raw_ids]).astype("<u4").tobytes()
            ends = 4 * np.cumsum(counts)
            place = np.searchsorted(multi, np.flatnonzero(small))
            for j, a, b in zip(place.tolist(), (ends - 4 * counts).tolist(), ends.tolist(), strict=True):
                objs[j] = postings.SMALL_TAG + mapped[a:b]
    others = np.flatnonzero(~one & ~small)
    place = np.searchsorted(multi, others)
    for j, a, n in zip(place.tolist(), starts[others].tolist(), post_lengths[others].tolist(), strict=True):
        raw = data[a:a + n]
        if resolve_copy is not None and raw[0] == postings.TAG_COPY:  # as the posting it copies
            raw = postings.encode(resolve_copy(raw))
        objs[j] = _moved(raw, mapper)
    return _Chunk(offsets, data, out_ids, objs)


def _decoded_v1(block: termdict.TermBlock, mapper: _Mapper) -> _Chunk:
    """A block of segment format 1 (no copies, no references) with its postings in output doc ids."""
    import numpy as np

    from .arrowconv import offsets_of

    terms, posts = block.terms, block.postings()
    offsets = offsets_of(list(terms))
    shift, table = mapper.shift, mapper.table
    ids = np.fromiter((-1 if type(p) is not int else p + shift if shift is not None else table[p]  # type: ignore
                       for p in posts), np.int64, len(posts))
    return _Chunk(offsets, b"".join(terms), ids, [_moved(p, mapper) for p in posts if type(p) is not int])


def _moved(raw: bytes | memoryview, mapper: _Mapper) -> Posting:
    """An encoded posting (of two or more docs) with output doc ids; a reference stays as it is."""
    if mapper.shift == 0:
        return raw
    if mapper.shift is not None:
        return _shifted(raw, mapper.shift)
    return _remapped(raw, mapper)


def _shifted(raw: bytes | memoryview, shift: int) -> bytes | memoryview:
    """An encoded posting with every doc id moved by `shift`; a reference stays as it is."""
    tag = raw[0]
    if tag == postings.TAG_SMALL:
        return postings.SMALL_TAG + array("I", [d + shift for d in postings.small_ids(raw)]).tobytes()
    if tag == postings.TAG_REF:
        return raw
    return postings.encode(postings.decode(raw).shift(shift))


def _united(posts: list[Posting]) -> bytes:
    """One posting of the docs of `posts` (disjoint: each from another input)."""
    small = postings.TAG_SMALL
    if all(type(p) is int or p[0] == small for p in posts):  # short id lists: no BitMap
        return postings.encode_sorted(sorted(chain.from_iterable([p] if type(p) is int else postings.small_ids(p)
                                                                 for p in posts)))
    return postings.encode(BitMap.union(*map(postings.docs_of, posts)))


def _merge_field(writer: SegmentFileWriter, readers: list[SegmentReader], mappers: list[_Mapper],
                 name: str) -> dict[str, Any]:
    import numpy as np
    import pyarrow.compute as pc

    from .arrowconv import binaries, bools

    members = [i for i, r in enumerate(readers) if r.has_field(name)]

    def merged(kind: str) -> Iterator[_Chunk]:
        return (chunk for chunk, _ in _merged_chunks(readers, mappers, members, name, kind))

    def written(chunks: Iterable[_Chunk], *, filters: bool = False) -> dict[str, Any] | None:
        out = termdict.ArrayWriter(writer.add, filters=filters)
        for chunk in chunks:
            chunk.write_to(out)
        return out.finish()

    # Token -> (the first value of several docs holding it, that value's merged posting), gathered while
    # the values are merged, before the tokens.
    owners: dict[bytes, tuple[bytes, bytes]] = {}
    copies = _Copies()

    def values() -> Iterator[_Chunk]:
        for chunk in merged("val"):
            for k, posting in zip(chunk.obj_terms().tolist(), chunk.objs, strict=True):
                term = chunk.term(k)
                for token in tokenize(term.decode()):
                    key = token.encode()
                    if key not in owners:
                        owners[key] = (term, bytes(posting))  # not a view of the input's block
            copies("val", chunk)
            yield chunk

    inputs_refer = any(readers[i].token_refs(name) for i in members)
    token_refs = _TokenRefs(readers, mappers, name, owners) if inputs_refer else None
    referring = [inputs_refer]  # whether the output's token dictionary may hold references
    common_in = {i: {t.encode() for t in readers[i].common_tokens(name)} for i in members}
    maybe_common = frozenset().union(*common_in.values())
    common: list[str] = []

    def tokens() -> Iterator[_Chunk]:
        owned = binaries(sorted(owners)) if owners else None
        for chunk, holders in _merged_chunks(readers, mappers, members, name, "tok", maybe_common, token_refs):
            # Inputs without the token are vacuously complete for it.
            common.extend(t.decode() for t, inputs in holders.items() if all(t in common_in[i] for i in inputs))
            if owned is not None and chunk.objs:
                obj_terms = chunk.obj_terms()
                is_owned = bools(pc.is_in(chunk.binary(), value_set=owned))[obj_terms]
                for j in np.flatnonzero(is_owned).tolist():
                    p = chunk.objs[j]
                    if p[0] != postings.TAG_REF:
                        text, value_posting = owners[chunk.term(int(obj_terms[j]))]
                        if p == value_posting:  # the token stands in that value only
                            chunk.objs[j] = postings.ref(text)
                            referring[0] = True
            copies("tok", chunk)
            yield chunk

    exists = BitMap.union(*(mappers[i].bitmap(readers[i].exists(name)) for i in members))
    out: dict[str, Any] = {"docs": len(exists), "exists": writer.add(postings.encode(exists))}
    out["val"] = written(values(), filters=True) or {"first": [], "blocks": []}
    out["tok"] = written(tokens()) or {"first": [], "blocks": []}
    if referring[0]:
        out["tok"]["refs"] = True
    common.sort()  # str order is code point order, the order of the UTF-8 terms
    common_set = set(common)
    out["common"] = common

    def numbers() -> Iterator[_Chunk]:
        for chunk in merged("num"):
            copies("num", chunk)
            yield chunk

    def grams() -> Iterator[_Chunk]:
        for chunk in merged("gram"):
            keep = np.fromiter((all(tok in common_set for tok in chunk.term(k).decode().split(" "))
                                for k in range(len(chunk))), bool, len(chunk))
            if not keep.all():
                chunk = chunk.select(keep)
            if len(chunk):
                copies("gram", chunk)
                yield chunk

    out["num"] = written(numbers())
    out["gram"] = written(grams())
    for kind in copies.made:
        out[kind]["copies"] = True
    return out
