"""The array path of the segment builder (engine/segments/textfield.py) writes the bytes of the Python path
(builder.write_field): same sections, in the same order, and the same meta, for generated logs and for
random texts (non-ASCII, punctuation only, empty, repeated, many common words so that grams appear)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.segments import builder, columns, textfield
from tests.live_server import generate


class _Sections:
    """A stand-in for SegmentFileWriter that keeps what is added, uncompressed."""

    def __init__(self) -> None:
        self.sections: list[bytes] = []

    def add(self, data: bytes, *, rows: bool = False) -> list[int]:
        self.sections.append(data)
        return [len(self.sections) - 1, len(data), 0]


def _both(docs: list[int], values: list[str], common_docs: int) -> tuple[tuple, tuple]:
    python, arrays = _Sections(), _Sections()
    expected = builder.write_field(python, columns.grouped(docs, values), common_docs)
    got = textfield.write_field(arrays, docs, values, common_docs)
    return (got, arrays.sections), (expected, python.sections)


def test_generated_logs_give_the_same_bytes() -> None:
    gathered: dict[str, columns.Column] = {}
    columns.add_rows(gathered, 0, map(orjson.loads, generate(3_000, seed=11)))
    checked = 0
    for name, (docs, values) in columns.flattened(gathered).items():
        if set(map(type, values)) == {str}:
            got, expected = _both(docs, values, common_docs=32)
            assert got == expected, name
            checked += 1
    assert checked >= 6


_WORDS = st.sampled_from(["error", "Error", "ERROR", "to", "db", "café", "ÉTÉ", "日本", "x_1", "42", "ǅ", "ß"])
_TEXTS = st.one_of(
    st.lists(_WORDS, max_size=8).map(" ".join),
    st.lists(_WORDS, max_size=6).map("-".join),
    st.text(max_size=12),
    st.sampled_from(["", " ", "--", "a  b", "İstanbul", "\u00a0x\u2003y", "x\ny"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=60), st.integers(0, 3), st.integers(1, 6))
def test_random_texts_give_the_same_bytes(values: list[str], first: int, common_docs: int) -> None:
    docs = list(range(first, first + 3 * len(values), 3))
    got, expected = _both(docs, values, common_docs)
    assert got == expected


def test_fields_without_tokens_or_with_empty_values_only() -> None:
    for values in (["", ""], ["--", " ", "--"], ["", "-"], ["é", ""]):
        got, expected = _both(list(range(len(values))), values, common_docs=1)
        assert got == expected, values
