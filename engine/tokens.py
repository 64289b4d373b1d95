"""The one tokenizer of Strata, shared by indexing, query execution and the test oracle.

A text value is lowercased, then split into tokens: the maximal runs of Unicode word characters
(`\\w+` in Python's `re`). Numbers and booleans are tokenized through their JSON text
(`value_text`), so `200` is the token "200" and `3.5` the tokens "3" and "5".
"""

import re

_WORD = re.compile(r"\w+")
# ASCII text, the usual case, is tokenized 2.5x faster (0.54 -> 0.21 us a value on generated logs) as bytes:
# one translate lowercases A-Z and turns every non-word character into a space, and split() cuts there.
_ASCII_WORDS = bytes(
    (c + 32 if 65 <= c <= 90 else c) if chr(c).isalnum() or c == 95 else 32 for c in range(128)
) + bytes(range(128, 256))


def tokenize(text: str) -> list[str]:
    """The tokens of `text`, in order, repeats kept."""
    if text.isascii():
        return text.encode().translate(_ASCII_WORDS).decode().split()
    return _WORD.findall(text.lower())


def ascii_word_bytes(data: bytes) -> bytes:
    """ASCII text as bytes, with A-Z lowercased and every non-word byte a space: its whitespace-separated
    words are the text's tokens. Lengths are kept, so texts joined into one buffer keep their offsets."""
    return data.translate(_ASCII_WORDS)


def value_text(value: object) -> str:
    """The verbatim text of a scalar JSON value: strings as they are, everything else as JSON writes it."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    return str(value)
