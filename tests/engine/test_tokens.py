"""The tokenizer's ASCII fast path gives exactly what the `\\w+` definition gives."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from engine.tokens import tokenize


def _by_definition(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


@given(st.text(alphabet=st.characters(max_codepoint=127)))
@example("User 413713 logged in from 10.160.174.178")
@example("snake_case-And\tTABS\x1c\x1fUNIT_SEP 0x1F")
def test_ascii_text_tokenizes_as_the_definition_says(text):
    assert text.isascii()
    assert tokenize(text) == _by_definition(text)


@given(st.text())
@example("Ärger İstanbul ǅemal ²³ \u0661\U0001d7d9")  # Arabic-Indic and double-struck digits
def test_any_text_tokenizes_as_the_definition_says(text):
    assert tokenize(text) == _by_definition(text)
