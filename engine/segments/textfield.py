"""The dictionaries of a text field, built with array operations: the segment builder's path for a field
whose every value is a string and whose docs each hold one value (no arrays), which is most fields of logs.

Grouping values, tokenizing them and gathering each token's docs in Python loops cost ~1 us per token
occurrence and per term. Here pyarrow's string kernels group the values (dictionary encoding) and cut
ASCII texts into tokens (engine/tokens.py's translate table, then a split on spaces); numpy sorts
(token, doc) pairs into postings; termdict.write_arrays cuts and encodes the blocks. Python steps remain
once per distinct non-ASCII text (tokenized by engine/tokens.py), per term held by several docs (its
encoded posting) and per distinct gram.

The output is the bytes that builder.write_field writes for the same values; tests/engine/test_textfield.py
compares the two on generated logs and random values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..tokens import ascii_word_bytes, tokenize
from . import postings, termdict
from .arrowconv import arrow_ints, buffer_bytes, ints, ranges, run_starts, strings
from .format import SegmentFileWriter

_LOW32 = (1 << 32) - 1

# pyarrow's default allocator (mimalloc) kept ~40 MB of freed memory in each builder process after a few
# builds of 10,000 logs; the C library's returns it, at no cost measured in build time.
pa.set_memory_pool(pa.system_memory_pool())


def write_field(writer: SegmentFileWriter, docs: list[int], values: list[str], common_docs: int) -> dict[str, Any]:
    """Write the dictionaries of a field: `docs` ascending without repeats, `values[i]` the text of
    docs[i]. Returns the field's meta entry (format.py), as builder.write_field does."""
    doc_ids = np.asarray(docs, np.int64)
    encoded = pc.dictionary_encode(strings(values))
    texts = encoded.dictionary  # distinct, in order of first appearance
    text_of_doc = ints(encoded.indices)
    text_counts = np.bincount(text_of_doc, minlength=len(texts))
    text_starts = run_starts(text_counts)
    text_docs = doc_ids[np.argsort(text_of_doc, kind="stable")]  # grouped by text, ascending within

    occ_text, occ_token, token_texts = _tokens(texts)
    token_rank = _ranks(token_texts)
    # Each (token, text) pair once, then each of the text's docs: a doc holds one text, so pairs stay unique.
    pairs = _unique(token_rank[occ_token] << 32 | occ_text)
    tok_counts, tok_docs = _expand(pairs >> 32, pairs & _LOW32, len(token_texts), text_counts, text_starts,
                                   text_docs)
    sorted_tokens = token_texts.take(arrow_ints(np.argsort(token_rank)))
    common = tok_counts >= common_docs
    common_tokens = sorted_tokens.take(arrow_ints(np.flatnonzero(common))).to_pylist()

    meta: dict[str, Any] = {
        "docs": len(docs),
        "common": common_tokens,
        "exists": writer.add(postings.encode_sorted(docs)),
    }
    meta["tok"] = _write(writer, sorted_tokens, tok_counts, tok_docs)
    val_order = ints(pc.sort_indices(texts))
    val_counts = text_counts[val_order]
    meta["val"] = _write(writer, texts.take(arrow_ints(val_order)), val_counts,
                         text_docs[ranges(text_starts[val_order], val_counts)], filters=True)
    meta["num"] = None
    grams = None
    if common_tokens:
        grams = _grams(writer, occ_text, token_rank[occ_token], common, common_tokens, text_counts, text_starts,
                       text_docs)
    meta["gram"] = grams
    return meta


def _tokens(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Every token occurrence of `texts`, each text's in order: its text's index, its token's index, and
    the distinct tokens."""
    ascii_ = pc.string_is_ascii(texts)
    all_ascii = pc.all(ascii_).as_py() is not False
    _, offsets, data = texts.buffers()
    # The translate keeps lengths, so the texts' offsets fit the translated buffer.
    words = pa.LargeStringArray.from_buffers(len(texts), offsets, pa.py_buffer(ascii_word_bytes(buffer_bytes(data))),
                                             offset=texts.offset)
    lists = pc.ascii_split_whitespace(words)
    parents = pc.list_parent_indices(lists)
    keep = pc.binary_length(pc.list_flatten(lists)).cast(pa.bool_())  # a split keeps the empty ends
    if not all_ascii:  # the words of non-ASCII texts are left out here: tokens.tokenize cuts them, below
        keep = pc.and_(keep, ascii_.take(parents))
    occ_words = pc.list_flatten(lists).filter(keep).cast(pa.large_string())
    occ_text = ints(parents.filter(keep)).astype(np.int64)
    if not all_ascii:
        extra_text: list[int] = []
        extra_words: list[str] = []
        for i in ints(pc.indices_nonzero(pc.invert(ascii_))).tolist():
            tokens = tokenize(texts[i].as_py())
            extra_text += [i] * len(tokens)
            extra_words += tokens
        occ_words = pa.concat_arrays([occ_words, strings(extra_words)])
        occ_text = np.concatenate([occ_text, np.asarray(extra_text, np.int64)])
    by_token = pc.dictionary_encode(occ_words)
    return occ_text, ints(by_token.indices).astype(np.int64), by_token.dictionary


def _grams(writer: SegmentFileWriter, occ_text: np.ndarray, occ_rank: np.ndarray, common: np.ndarray,
           tokens: list[str], text_counts: np.ndarray, text_starts: np.ndarray,
           text_docs: np.ndarray) -> dict[str, Any] | None:
    """The gram dictionary (builder.py): "a b" and "a b c" of common tokens next to each other in a text."""
    is_common = common[occ_rank]
    same_text = occ_text[1:] == occ_text[:-1]
    two = is_common[:-1] & is_common[1:] & same_text
    three = two[:-1] & is_common[2:] & same_text[1:]
    at2, at3 = np.flatnonzero(two), np.flatnonzero(three)
    if not len(at2):
        return None
    # Grams get ids in two steps, (a, b) then (ab, c), over the common tokens' places in `common` (c = -1
    # for a bigram), so that no key outgrows int64; then each (gram, text) pair once.
    place = np.cumsum(common) - 1
    base = int(common.sum()) + 1
    starts = np.concatenate([at2, at3])
    pair_values, pair_ids = np.unique(place[occ_rank[starts]] * base + place[occ_rank[starts + 1]],
                                      return_inverse=True)
    thirds = np.zeros(len(starts), np.int64)
    thirds[len(at2):] = place[occ_rank[at3 + 2]] + 1
    gram_values, gram_ids = np.unique(pair_ids * base + thirds, return_inverse=True)
    text_count = len(text_counts)
    pairs = _unique(gram_ids * text_count + np.concatenate([occ_text[at2], occ_text[at3]]))
    ab, c = np.divmod(gram_values, base)
    a, b = np.divmod(pair_values[ab], base)
    names = [f"{tokens[x]} {tokens[y]}" if not z else f"{tokens[x]} {tokens[y]} {tokens[z - 1]}"
             for x, y, z in zip(a.tolist(), b.tolist(), c.tolist(), strict=True)]
    gram_texts = strings(names)
    rank = _ranks(gram_texts)
    counts, docs = _expand(rank[pairs // text_count], pairs % text_count, len(names), text_counts, text_starts,
                           text_docs)
    return _write(writer, gram_texts.take(arrow_ints(np.argsort(rank))), counts, docs)


def _expand(keys: np.ndarray, texts: np.ndarray, key_count: int, text_counts: np.ndarray,
            text_starts: np.ndarray, text_docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Postings of keys from (key, text) pairs, each pair once: the docs of each key (the union of its
    texts' docs, which do not overlap), ascending, keys in order; and how many each key has."""
    lengths = text_counts[texts]
    docs = text_docs[ranges(text_starts[texts], lengths)]
    pairs = np.sort(np.repeat(keys, lengths) << 32 | docs)
    return np.bincount(pairs >> 32, minlength=key_count), pairs & _LOW32


def _write(writer: SegmentFileWriter, terms: pa.Array, counts: np.ndarray, docs: np.ndarray, *,
           filters: bool = False) -> dict[str, Any]:
    if not len(terms):
        return {"first": [], "blocks": []}
    _, offsets, data = terms.buffers()
    offsets = np.frombuffer(offsets, np.int64)[terms.offset:terms.offset + len(terms) + 1]
    meta = termdict.write_arrays(writer.add, offsets, buffer_bytes(data), counts, docs, filters=filters)
    assert meta is not None
    return meta


def _ranks(strings: pa.Array) -> np.ndarray:
    """The place of each string in byte order (UTF-8 byte order is str order)."""
    rank = np.empty(len(strings), np.int64)
    rank[ints(pc.sort_indices(strings))] = np.arange(len(strings))
    return rank


def _unique(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    keep = np.ones(len(values), bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]
