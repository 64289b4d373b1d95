"""The query AST: frozen dataclasses built by the parser, run by `engine.search`, and checked by the oracle.

`str(node)` prints canonical query text; `parse(str(q)) == q` for every query.

Field names are dotted paths as typed (`metadata.parentResourceId`); matching a field name against a log's
fields ignores letter case. `field=None` means any field (full-text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Match:
    """The field contains the tokens of `text`, consecutively (a word is a phrase of one token).

    `quoted` only records how it was written (`"a b"` or `a`) so that printing round-trips.
    """

    field: str | None
    text: str
    quoted: bool = False

    def __str__(self) -> str:
        if not self.quoted:
            bare = _with_field(self.field, self.text)
            if _reads_back(bare, self):
                return bare
        return _with_field(self.field, _quote(self.text))


@dataclass(frozen=True, slots=True)
class Exact:
    """`field:="value"`: the field's whole verbatim value equals `value`, case-sensitively."""

    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}:={_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class Prefix:
    """`field:conn*`, `resourceId:server-12*`: the tokens of `text` before the last one are consecutive,
    followed by a token that starts with the last one."""

    field: str | None
    text: str

    def __str__(self) -> str:
        bare = _with_field(self.field, self.text + "*")
        if _reads_back(bare, self):
            return bare
        return _with_field(self.field, _quote(self.text) + "*")


@dataclass(frozen=True, slots=True)
class Wildcard:
    """`field:fa*ed`, `field:f?iled`: one token matching the pattern, lowercased; `*` is any run of word
    characters (possibly empty), `?` exactly one."""

    field: str | None
    pattern: str

    def __str__(self) -> str:
        return _with_field(self.field, self.pattern)


@dataclass(frozen=True, slots=True)
class Regex:
    """`field:/pattern/`: Python `re.search` on the field's verbatim value; case-sensitive unless `(?i)`."""

    field: str | None
    pattern: str

    def __str__(self) -> str:
        # Escape every slash that is not already part of an escape pair; the parser reads `\/` as `/`.
        body = re.sub(r"\\[\s\S]|/", lambda m: "\\/" if m[0] == "/" else m[0], self.pattern)
        return _with_field(self.field, f"/{body}/")


@dataclass(frozen=True, slots=True)
class Range:
    """A range or comparison. Bounds are the text as typed (None = open): numbers for ordinary fields,
    times (RFC 3339, a date, an epoch number, `now`, `now-1h`) for `timestamp`. The engine resolves them."""

    field: str
    low: str | None
    high: str | None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __str__(self) -> str:
        low, high = _bound(self.field, self.low), _bound(self.field, self.high)
        if self.high is None and self.high_inclusive and self.low is not None:
            return f"{self.field}:{'>=' if self.low_inclusive else '>'}{low}"
        if self.low is None and self.low_inclusive and self.high is not None:
            return f"{self.field}:{'<=' if self.high_inclusive else '<'}{high}"
        opening = "[" if self.low_inclusive else "{"
        closing = "]" if self.high_inclusive else "}"
        return f"{self.field}:{opening}{low} TO {high}{closing}"


@dataclass(frozen=True, slots=True)
class Exists:
    """`field:*`: the log has the field (any value)."""

    field: str

    def __str__(self) -> str:
        return f"{self.field}:*"


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Query, ...]

    def __str__(self) -> str:
        return " AND ".join(_grouped(item, (And, Or)) for item in self.items)


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Query, ...]

    def __str__(self) -> str:
        return " OR ".join(_grouped(item, (Or,)) for item in self.items)


@dataclass(frozen=True, slots=True)
class Not:
    item: Query

    def __str__(self) -> str:
        return "NOT " + _grouped(self.item, (And, Or))


@dataclass(frozen=True, slots=True)
class All:
    """`*`: every log."""

    def __str__(self) -> str:
        return "*"


Query = Match | Exact | Prefix | Wildcard | Regex | Range | Exists | And | Or | Not | All


# ---- printing canonical text ----


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _with_field(field: str | None, value: str) -> str:
    return value if field is None else f"{field}:{value}"


def _reads_back(text: str, node: Query) -> bool:
    """Whether `text` parses back to `node`: a value is printed bare only then, else quoted.

    Asking the parser keeps the lexical rules in grammar.lark alone instead of copying them here.
    """
    from .parser import QuerySyntaxError, parse  # parser imports this module

    try:
        return parse(text) == node
    except QuerySyntaxError:
        return False


def _bound(field: str, text: str | None) -> str:
    if text is None:
        return "*"
    if _reads_back(f"{field}:>={text}", Range(field, text, None)):
        return text
    return _quote(text)


def _grouped(item: Query, kinds: tuple[type, ...]) -> str:
    return f"({item})" if isinstance(item, kinds) else str(item)
