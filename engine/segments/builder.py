"""Turns rows into one segment file (format in engine/segments/format.py). Runs in the builder process.

Indexes built for every field (dotted name; the top-level `timestamp` is the time column instead):
- `tok`: token -> documents whose value of the field holds the token (engine/tokens.py);
- `val`: verbatim value text -> documents (exact match, regex, top values);
- `num`: number key (engine/segments/numkeys.py) -> documents, for JSON numbers only;
- `gram`: "a b" and "a b c" -> documents where those common tokens stand next to each other. Only
  tokens held by at least `common_docs` documents get grams (Lucene's "common grams" idea): a phrase of
  rare words is cheap to check on its few candidates, and a phrase of common words, the expensive case,
  is answered from grams without reading rows.
Tokens are computed once per distinct value, not per log: levels, hosts and message templates repeat.
A field whose every value is a string, one per log (most fields), is indexed by array operations instead
(engine/segments/textfield.py), into the same bytes; `write_field` here takes numbers, arrays and mixes.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from ..gcpause import paused_gc
from ..tokens import tokenize
from . import columns as columns_
from . import postings, rowblock, termdict
from .columns import FieldValues
from .format import FLUSH_ROWS_LEVEL, SegmentFileWriter
from .numkeys import number_key
from .rowblock import ROWS_PER_BLOCK
from .rows import Rows

# A token held by at least max(GRAM_MIN_DOCS, docs / GRAM_DOCS_DIVISOR) documents is "common" and gets
# grams. Lower means more phrases answered from the index, at the cost of a larger gram dictionary.
GRAM_MIN_DOCS = 32
GRAM_DOCS_DIVISOR = 256


def build_segment(path: Path, rows: Rows) -> dict[str, Any]:
    """Write `rows` as a segment at `path`; returns {"docs", "min_ts", "max_ts", "bytes"}."""
    n = len(rows)
    if n == 0:
        raise ValueError("a segment needs at least one row")
    # numpy and pyarrow (textfield) are loaded here, in builder processes: the process that ingests
    # imports this module but never builds, and need not pay their ~140 ms of import.
    import numpy as np

    times, seqs = np.frombuffer(rows.times, np.int64), np.frombuffer(rows.seqs, np.int64)
    order = np.lexsort((seqs, times))
    with SegmentFileWriter(path, rows_level=FLUSH_ROWS_LEVEL) as writer:
        with paused_gc():
            meta = _write(writer, rows, order.tolist(), array("q", times[order].tobytes()),
                          array("q", seqs[order].tobytes()))
        return writer.finish(meta)


def _write(writer: SegmentFileWriter, rows: Rows, order: list[int], times: array, seqs: array) -> dict[str, Any]:
    from . import textfield

    columns: dict[str, columns_.Column] = {}
    row_blocks = []
    loads = orjson.loads
    for block_start in range(0, len(order), ROWS_PER_BLOCK):
        raws = [rows.raw(i) for i in order[block_start:block_start + ROWS_PER_BLOCK]]
        block = rowblock.encode(raws)
        end = block_start + len(raws) - 1
        row_blocks.append([writer.add(block, rows=True), times[block_start], times[end], block_start])
        columns_.add_rows(columns, block_start, map(loads, raws))
    meta = writer.column_meta(times, seqs, row_blocks)
    common_docs = max(GRAM_MIN_DOCS, len(order) // GRAM_DOCS_DIVISOR)
    fields = columns_.flattened(columns)
    del columns
    for name in sorted(fields):
        docs, values = fields.pop(name)
        if set(map(type, values)) == {str} and len(docs) == len(set(docs)):
            meta["fields"][name] = textfield.write_field(writer, docs, values, common_docs)
        else:
            meta["fields"][name] = write_field(writer, columns_.grouped(docs, values), common_docs)
    return meta


def write_field(writer: SegmentFileWriter, f: FieldValues, common_docs: int) -> dict[str, Any]:
    """Write the dictionaries of field `f`; returns its meta entry (format.py)."""
    # A token held by one value shares that value's doc list (ascending, no repeats); a token held by
    # several gets its own list, sorted once at the end.
    tok_lists: dict[str, list[int]] = {}
    shared: set[str] = set()
    value_tokens: list[tuple[list[str], list[int]]] = []
    vals = f.vals
    for text, docs in vals.items():
        tokens = tokenize(text)
        if len(tokens) > 1:
            value_tokens.append((tokens, docs))
            tokens = set(tokens)
        for token in tokens:
            held = tok_lists.get(token)
            if held is None:
                tok_lists[token] = docs
            elif token in shared:
                held.extend(docs)
            else:
                tok_lists[token] = held + docs
                shared.add(token)
    for token in shared:
        tok_lists[token] = sorted(set(tok_lists[token]))  # one doc may hold several values (arrays)
    common = {t for t, d in tok_lists.items() if len(d) >= common_docs}
    grams: dict[str, list[int]] = defaultdict(list)
    if common:
        # Values of one template share their common tokens' places (the shape): grams once per shape.
        common_or_none = {t: t for t in common}.get
        by_shape: dict[tuple[str | None, ...], list[int]] = {}
        for tokens, docs in value_tokens:
            by_shape.setdefault(tuple(map(common_or_none, tokens)), []).extend(docs)
        for shape, docs in by_shape.items():
            for gram in _grams(shape):
                grams[gram].extend(docs)
    num = None
    if f.nums:
        num = _write_dict(writer, {number_key(x): d for x, d in f.nums.items()})
    return {
        "docs": len(f.docs),
        "common": sorted(common),
        "exists": writer.add(postings.encode_sorted(f.docs)),
        "tok": _write_dict(writer, tok_lists),
        "val": _write_dict(writer, vals, filters=True),
        "num": num,
        "gram": _write_dict(writer, {g: sorted(set(d)) for g, d in grams.items()}) if grams else None,
    }


def _grams(shape: tuple[str | None, ...]) -> set[str]:
    """The grams of a value whose tokens are `shape`, with None in place of each token that is not common."""
    out = set()
    for i in range(len(shape) - 1):
        a, b = shape[i], shape[i + 1]
        if a is not None and b is not None:
            out.add(a + " " + b)
            if i + 2 < len(shape) and (c := shape[i + 2]) is not None:
                out.add(a + " " + b + " " + c)
    return out


def _write_dict(writer: SegmentFileWriter, lists: dict[str, list[int]] | dict[bytes, list[int]], *,
                filters: bool = False) -> dict[str, Any]:
    """`lists`: term (text, or number key bytes) -> ascending doc ids without repeats."""
    if not lists:
        return {"first": [], "blocks": []}
    # str order is code point order, which is UTF-8 byte order: sort before encoding.
    keys = sorted(lists)
    terms = [t.encode() if type(t) is str else t for t in keys]
    docs = list(map(lists.__getitem__, keys))
    if max(map(len, docs)) == 1:  # every term held by one doc (ids): its posting is that doc's id
        posts: list[termdict.Posting] = list(map(itemgetter(0), docs))
    else:  # postings.one_or_encoded, inlined: a call per term is the builder's hot loop
        encode = postings.encode_sorted
        posts = [d[0] if len(d) == 1 else encode(d) for d in docs]
    meta = termdict.write_batches(writer.add, [(terms, posts)], filters=filters)
    assert meta is not None
    return meta
