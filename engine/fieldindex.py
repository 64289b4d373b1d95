"""Postings of one field gathered a value at a time: the memtable's index (the segment builder groups whole
columns instead, engine/segments/columns.py).

For each field: the docs of each verbatim value text and of each JSON number, and of each token (filled by
the memtable). The docs having the field come from the memtable's parsed columns instead. A key held by one
doc stores that doc id as an int, by several an ascending array("I"): most keys of ids and messages hold one
doc, and a one-element container costs ~60 bytes more. Arrays, unlike lists, are not tracked by the cyclic
garbage collector, and neither is a dict holding only strings, ints and arrays, so a memtable's index adds
almost nothing for the collector to walk: with lists, the young collections after indexing a chunk were the
longest pauses of a server searching under ingest.
"""

from __future__ import annotations

from array import array

from .tokens import value_text

Docs = int | array


class FieldPostings:
    __slots__ = ("nums", "toks", "vals")

    def __init__(self) -> None:
        self.vals: dict[str, Docs] = {}
        self.nums: dict[float, Docs] = {}
        self.toks: dict[str, Docs] = {}


def add_doc(index: dict, key: object, doc: int) -> None:
    """Record that `doc` holds `key`; docs arrive in ascending order."""
    docs = index.get(key)
    if docs is None:
        index[key] = doc
    elif type(docs) is int:
        if docs != doc:
            index[key] = array("I", (docs, doc))
    elif docs[-1] != doc:
        docs.append(doc)


def add_value(fields: dict[str, FieldPostings], doc: int, name: str, value: object) -> tuple[FieldPostings, str]:
    """Record one (field, scalar value) of `doc`; returns the field's postings and the value's text."""
    f = fields.get(name)
    if f is None:
        f = fields[name] = FieldPostings()
    if type(value) is str:
        text = value
    else:
        text = value_text(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            add_doc(f.nums, value, doc)
    add_doc(f.vals, text, doc)
    return f, text

