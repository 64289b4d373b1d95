"""Rows parsed into per-field columns, then each field's values grouped by text: the builder's first step.

Walking every log's fields with a call per field value (engine/fieldindex.py, as the memtable does) cost
~0.5 us per value, more than the rest of a segment build's indexing. Here the loop per value is one dict
look-up and two appends into the column of its top-level key; flattening nested objects and arrays, telling
numbers from text and grouping docs by value then run once per field, over whole lists.

Semantics are those of engine/documents.py: nested objects flatten to dotted names, the elements of an
array are all values of the array's field, and the top-level `timestamp` is left to the time column. Two
paths can reach one name (a key "a.b" beside {"a": {"b": ...}}); their values are put back in doc order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

from ..documents import TIMESTAMP_FIELD, flatten_list
from ..tokens import value_text

Column = tuple[list[int], list[object]]  # docs (ascending, a doc repeats for arrays) and their values


def add_rows(columns: dict[str, Column], first_doc: int, objs: Iterable[dict]) -> None:
    """Append the top-level values of `objs`, docs numbered from `first_doc`, to their key's column."""
    get = columns.get
    for doc, obj in enumerate(objs, first_doc):
        for key, value in obj.items():
            col = get(key)
            if col is None:
                col = columns[key] = ([], [])
            col[0].append(doc)
            col[1].append(value)


@dataclass(slots=True)
class FieldValues:
    """One field of a segment: the docs having it, and the docs of each value text and each JSON number
    (ascending, no repeats)."""

    docs: list[int]
    vals: dict[str, list[int]]
    nums: dict[float, list[int]]


def fields(columns: dict[str, Column]) -> dict[str, FieldValues]:
    """The flattened fields of the rows gathered in `columns`, each with its values grouped."""
    return {name: grouped(*column) for name, column in flattened(columns).items()}


def flattened(columns: dict[str, Column]) -> dict[str, Column]:
    """The flattened fields of the rows gathered in `columns`, each with its docs and values in doc order."""
    pieces: dict[str, list[Column]] = {}
    _flatten(columns, "", pieces)
    return {name: parts[0] if len(parts) == 1 else _in_doc_order(parts) for name, parts in pieces.items()}


def _flatten(columns: dict[str, Column], prefix: str, pieces: dict[str, list[Column]]) -> None:
    for key, (docs, values) in columns.items():
        if not prefix and key == TIMESTAMP_FIELD:
            continue
        name = prefix + key
        kinds = set(map(type, values))
        if dict not in kinds and list not in kinds:
            pieces.setdefault(name, []).append((docs, values))
            continue
        nested: dict[str, Column] = {}
        scalars: Column = ([], [])
        from_lists: dict[str, Column] = {}
        get = nested.get
        for doc, value in zip(docs, values, strict=True):
            kind = type(value)
            if kind is dict:
                for sub_key, sub_value in value.items():  # add_rows, inlined: a call per doc costs more
                    col = get(sub_key)
                    if col is None:
                        col = nested[sub_key] = ([], [])
                    col[0].append(doc)
                    col[1].append(sub_value)
            elif kind is list:
                for sub_name, item in flatten_list(name, value):
                    col = from_lists.setdefault(sub_name, ([], []))
                    col[0].append(doc)
                    col[1].append(item)
            else:
                scalars[0].append(doc)
                scalars[1].append(value)
        if scalars[0]:
            pieces.setdefault(name, []).append(scalars)
        _flatten(nested, name + ".", pieces)
        for sub_name, col in from_lists.items():
            pieces.setdefault(sub_name, []).append(col)


def _in_doc_order(parts: list[Column]) -> Column:
    pairs = sorted(((d, v) for docs, values in parts for d, v in zip(docs, values, strict=True)), key=itemgetter(0))
    return [d for d, _ in pairs], [v for _, v in pairs]


def grouped(docs: list[int], values: list[object]) -> FieldValues:
    """A field's values grouped by text (and by number, for JSON numbers)."""
    nums: dict[float, list[int]] = {}
    if set(map(type, values)) == {str}:
        texts = values
    else:
        texts = []
        for doc, value in zip(docs, values, strict=True):
            if type(value) is str:
                texts.append(value)
                continue
            texts.append(value_text(value))
            if isinstance(value, int | float) and not isinstance(value, bool):
                held = nums.get(value)
                if held is None:
                    nums[value] = [doc]
                elif held[-1] != doc:
                    held.append(doc)
    vals: dict[str, list[int]] = {}
    get = vals.get
    for doc, text in zip(docs, texts, strict=True):
        held = get(text)
        if held is None:
            vals[text] = [doc]
        elif held[-1] != doc:  # an array may hold one text twice
            held.append(doc)
    # Arrays repeat a doc in `docs`.
    return FieldValues(docs if len(set(docs)) == len(docs) else list(dict.fromkeys(docs)), vals, nums)
