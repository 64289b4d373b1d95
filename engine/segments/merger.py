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
from collections.abc import Callable, Iterable, Iterator, Sequence
from hashlib import blake2b
from itertools import chain, compress, pairwise, repeat
from operator import eq
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


Batch = tuple[Sequence[bytes], list[Posting]]  # terms in order, and their postings


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

    def __call__(self, kind: str, terms: Sequence[bytes], posts: list[Posting]) -> None:
        seen = self._seen
        for j in [j for j, p in enumerate(posts)
                  if type(p) is not int and len(p) >= COPY_MIN_BYTES and p[0] <= postings.TAG_ROARING]:
            digest = blake2b(posts[j], digest_size=16).digest()
            copy = seen.get(digest)
            if copy is None:
                seen[digest] = postings.copy(kind, terms[j])
            else:
                posts[j] = copy
                self.made.add(kind)


def _merged_batches(readers: list[SegmentReader], mappers: list[_Mapper], members: list[int], name: str, kind: str,
                    wanted: frozenset[bytes] = frozenset(), refs: _TokenRefs | None = None,
                    ) -> Iterator[tuple[Batch, dict[bytes, list[int]]]]:
    """The merged dictionary in term order, a batch at a time, and for the terms of the batch that are in
    `wanted`, the inputs holding each. `refs`: for a token dictionary whose inputs may hold references to
    values; they stay as they are unless inputs disagree on a token (_TokenRefs).

    The hot loop of merging, done a block at a time so that each step is a pass in C over a list: every
    term up to the smallest last term of the inputs' current blocks is final (no later block of any input
    can hold one before it), so those slices are taken, then sorted together by a stable sort on the term,
    which Timsort does by merging the sorted slices (input order among equal terms)."""
    copies = {i for i in members if readers[i].copies(name, kind)}

    def decoded(block: termdict.TermBlock, i: int) -> tuple[list[bytes], list[Posting]]:
        """A block's terms and its postings in output doc ids."""
        resolve = (lambda p: readers[i].referenced(name, kind, p)) if i in copies else None
        if readers[i].version >= 2:
            return _decoded(block, mappers[i], resolve)
        posts = block.postings()  # version 1: no copies, no references
        return list(block.terms), _reencoded(posts, mappers[i])

    cursors = []  # [terms, postings in output doc ids, position, the input's remaining blocks, input]
    for i in members:
        blocks = readers[i].dict_blocks(name, kind)
        block = next(blocks, None)
        if block is not None:
            cursors.append([*decoded(block, i), 0, blocks, i])
    while cursors:
        frontier = min(c[0][-1] for c in cursors)
        parts: list[tuple[list[bytes], int, list[Posting]]] = []
        for c in cursors:
            terms, posts, pos, _, i = c
            end = bisect_right(terms, frontier, pos)
            if end > pos:
                parts.append((terms[pos:end], i, posts[pos:end]))
            c[2] = end
            if end == len(terms):
                block = next(c[3], None)
                if block is not None:
                    c[0], c[1] = decoded(block, i)
                    c[2] = 0
        cursors = [c for c in cursors if c[2] < len(c[0])]
        holders: dict[bytes, list[int]] = {}
        for terms, i, _ in parts:
            for term in wanted.intersection(terms):
                holders.setdefault(term, []).append(i)
        if len(parts) == 1:
            terms, _, posts = parts[0]
            yield (terms, posts), holders
            continue
        all_terms = list(chain.from_iterable(part[0] for part in parts))
        all_posts = list(chain.from_iterable(part[2] for part in parts))
        order = sorted(range(len(all_terms)), key=all_terms.__getitem__)  # stable: inputs in order
        terms = list(map(all_terms.__getitem__, order))
        posts = list(map(all_posts.__getitem__, order))
        if any(map(eq, terms[1:], terms)):
            inputs = None
            if refs is not None:
                all_inputs = [i for part in parts for i in repeat(part[1], len(part[0]))]
                inputs = (list(map(all_inputs.__getitem__, order)), refs)
            terms, posts = _union_repeats(terms, posts, inputs)
        yield (terms, posts), holders


def _decoded(block: termdict.TermBlock, mapper: _Mapper,
             resolve_copy: Callable[[bytes], BitMap] | None) -> tuple[list[bytes], list[Posting]]:
    """The terms of a block of segment format 2 or later, and its postings in output doc ids: one-doc and
    small postings (most terms) remapped in numpy, the others one by one; `resolve_copy` gives the docs of
    a copy (postings.py, tag 3) in the input's doc ids."""
    import numpy as np  # builder processes only: the ingesting process need not import numpy

    offsets, post_lengths, ids, data = block.arrays()
    bounds = offsets.tolist()
    terms = [data[a:b] for a, b in pairwise(bounds)]
    shift = mapper.shift
    if shift is not None:
        ids += shift
    else:
        assert mapper.table is not None
        ids = np.frombuffer(mapper.table, np.uint32)[ids]
    if len(ids) == len(terms):
        return terms, ids.tolist()
    one = post_lengths == 0
    docs = np.zeros(len(terms), np.int64)
    docs[one] = ids
    posts: list[Posting] = docs.tolist()
    multi = np.flatnonzero(~one)
    starts = bounds[-1] + np.cumsum(post_lengths) - post_lengths
    small = np.zeros(len(terms), bool)
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
            for j, a, b in zip(np.flatnonzero(small).tolist(), (ends - 4 * counts).tolist(), ends.tolist(),
                               strict=True):
                posts[j] = postings.SMALL_TAG + mapped[a:b]
    others = np.flatnonzero(~one & ~small)
    for j, a, n in zip(others.tolist(), starts[others].tolist(), post_lengths[others].tolist(), strict=True):
        raw = data[a:a + n]
        if resolve_copy is not None and raw[0] == postings.TAG_COPY:  # as the posting it copies
            raw = postings.encode(resolve_copy(raw))
        posts[j] = _moved(raw, mapper)
    return terms, posts


def _reencoded(posts: list[Posting], mapper: _Mapper) -> list[Posting]:
    """One input's postings with output doc ids. Most terms (ids, numbers) are held by one doc, whose
    posting is its id, remapped inline."""
    shift = mapper.shift
    if shift == 0:  # the input's docs keep their ids: its postings stay as they are
        return posts
    if shift is not None:
        return [p + shift if type(p) is int else _moved(p, mapper) for p in posts]
    table = mapper.table
    assert table is not None
    # A table maps ascending ids to ascending ids, so a remapped list stays sorted.
    return [table[p] if type(p) is int else _moved(p, mapper) for p in posts]


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


def _union_repeats(terms: Sequence[bytes], posts: list[Posting],
                   refs: tuple[list[int], _TokenRefs] | None = None) -> Batch:
    """Sorted terms with repeats (one per input holding the term) made unique, postings united. The repeats
    are found in C; the Python loop runs per repeated term, and the stretches between are copied whole.
    `refs`: when postings may refer to values, the input of each posting and what unites such postings."""
    repeats = list(compress(range(1, len(terms)), map(eq, terms[1:], terms)))  # i: terms[i] == terms[i - 1]
    runs: list[tuple[int, int]] = []  # [j, k): a run of equal terms
    r = 0
    while r < len(repeats):
        j = repeats[r] - 1  # the first of a run of equal terms
        k = repeats[r] + 1
        r += 1
        while r < len(repeats) and repeats[r] == k:
            k += 1
            r += 1
        runs.append((j, k))
    # Terms held by a few docs in each input (ids and numbers met again, hosts) are united with the others
    # like them in numpy, at once: a step each cost ~4 us, and these are most repeats.
    small = postings.TAG_SMALL
    few = [run for run in runs if all(type(p) is int or p[0] == small for p in posts[run[0]:run[1]])]
    united = dict(zip(few, _united_ids([posts[j:k] for j, k in few]), strict=True)) if few else {}
    out_terms: list[bytes] = []
    out_posts: list[Posting] = []
    done = 0  # terms before this are in the output
    for j, k in runs:
        out_terms += terms[done:j + 1]
        out_posts += posts[done:j]
        posting = united.get((j, k))
        if posting is not None:
            out_posts.append(posting)
        elif refs is None:
            out_posts.append(_united(posts[j:k]))
        else:
            out_posts.append(refs[1].united(terms[j], posts[j:k], refs[0][j:k]))
        done = k
    out_terms += terms[done:]
    out_posts += posts[done:]
    return out_terms, out_posts


def _united_ids(groups: list[list[Posting]]) -> list[bytes]:
    """For each group of one-doc and small postings (postings.py, tag 0), each from another input, the
    posting of their docs."""
    import numpy as np  # builder processes only: the ingesting process need not import numpy

    ids = array("I")
    counts = np.zeros(len(groups), np.int64)
    for g, group in enumerate(groups):
        before = len(ids)
        for p in group:
            if type(p) is int:
                ids.append(p)
            else:
                ids.frombytes(p[1:])
        counts[g] = len(ids) - before
    keys = np.sort(np.repeat(np.arange(len(groups)), counts) << 32 | np.frombuffer(ids, np.uint32))
    lengths, data = postings.encode_many(counts, keys & 0xFFFFFFFF)
    bounds = np.zeros(len(groups) + 1, np.int64)
    np.cumsum(lengths, out=bounds[1:])
    return [data[a:b] for a, b in pairwise(bounds.tolist())]


def _united(posts: list[Posting]) -> bytes:
    """One posting of the docs of `posts` (disjoint: each from another input)."""
    small = postings.TAG_SMALL
    if all(type(p) is int or p[0] == small for p in posts):  # short id lists: no BitMap
        return _united_ids([posts])[0]
    return postings.encode(BitMap.union(*map(postings.docs_of, posts)))


def _merge_field(writer: SegmentFileWriter, readers: list[SegmentReader], mappers: list[_Mapper],
                 name: str) -> dict[str, Any]:
    members = [i for i, r in enumerate(readers) if r.has_field(name)]

    def merged(kind: str) -> Iterator[Batch]:
        return (batch for batch, _ in _merged_batches(readers, mappers, members, name, kind))

    # Token -> (the first value of several docs holding it, that value's merged posting), gathered while
    # the values are merged, before the tokens.
    owners: dict[bytes, tuple[bytes, bytes]] = {}
    copies = _Copies()

    def values() -> Iterator[Batch]:
        for terms, posts in merged("val"):
            for j in [j for j, p in enumerate(posts) if type(p) is not int]:
                for token in tokenize(terms[j].decode()):
                    key = token.encode()
                    if key not in owners:
                        owners[key] = (terms[j], bytes(posts[j]))  # not a view of the input's block
            copies("val", terms, posts)
            yield terms, posts

    inputs_refer = any(readers[i].token_refs(name) for i in members)
    token_refs = _TokenRefs(readers, mappers, name, owners) if inputs_refer else None
    referring = [inputs_refer]  # whether the output's token dictionary may hold references
    common_in = {i: {t.encode() for t in readers[i].common_tokens(name)} for i in members}
    maybe_common = frozenset().union(*common_in.values())
    common: list[str] = []

    def tokens() -> Iterator[Batch]:
        for batch, holders in _merged_batches(readers, mappers, members, name, "tok", maybe_common, token_refs):
            # Inputs without the token are vacuously complete for it.
            common.extend(t.decode() for t, inputs in holders.items() if all(t in common_in[i] for i in inputs))
            terms, posts = batch
            for j in compress(range(len(terms)), map(owners.__contains__, terms)):
                p = posts[j]
                if type(p) is not int and p[0] != postings.TAG_REF:
                    text, value_posting = owners[terms[j]]
                    if p == value_posting:  # the token stands in that value only
                        posts[j] = postings.ref(text)
                        referring[0] = True
            copies("tok", terms, posts)
            yield batch

    exists = BitMap.union(*(mappers[i].bitmap(readers[i].exists(name)) for i in members))
    out: dict[str, Any] = {"docs": len(exists), "exists": writer.add(postings.encode(exists))}
    out["val"] = termdict.write_batches(writer.add, values(), filters=True) or {"first": [], "blocks": []}
    out["tok"] = termdict.write_batches(writer.add, tokens()) or {"first": [], "blocks": []}
    if referring[0]:
        out["tok"]["refs"] = True
    common.sort()  # str order is code point order, the order of the UTF-8 terms
    common_set = set(common)
    out["common"] = common

    def numbers() -> Iterator[Batch]:
        for terms, posts in merged("num"):
            copies("num", terms, posts)
            yield terms, posts

    def grams() -> Iterator[Batch]:
        for terms, posts in merged("gram"):
            keep = [j for j, t in enumerate(terms) if all(tok in common_set for tok in t.decode().split(" "))]
            terms, posts = [terms[j] for j in keep], [posts[j] for j in keep]
            copies("gram", terms, posts)
            yield terms, posts

    out["num"] = termdict.write_batches(writer.add, numbers())
    out["gram"] = termdict.write_batches(writer.add, grams())
    for kind in copies.made:
        out[kind]["copies"] = True
    return out
