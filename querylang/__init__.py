"""The Strata query language: text in, AST out.

`parse(text)` returns a `Query` (the frozen dataclasses of `querylang.ast`) or raises `QuerySyntaxError`;
`str(query)` prints canonical text that parses back to the same query. The syntax is defined only in
`grammar.lark`. This package imports only the standard library and lark: it knows nothing of storage.
"""

from __future__ import annotations

from .ast import All as All
from .ast import And as And
from .ast import Exact as Exact
from .ast import Exists as Exists
from .ast import Match as Match
from .ast import Not as Not
from .ast import Or as Or
from .ast import Prefix as Prefix
from .ast import Query as Query
from .ast import Range as Range
from .ast import Regex as Regex
from .ast import Wildcard as Wildcard
from .parser import QuerySyntaxError as QuerySyntaxError
from .parser import parse as parse

__all__ = [
    "All",
    "And",
    "Exact",
    "Exists",
    "Match",
    "Not",
    "Or",
    "Prefix",
    "Query",
    "QuerySyntaxError",
    "Range",
    "Regex",
    "Wildcard",
    "highlight_terms",
    "parse",
]


def highlight_terms(query: Query) -> list[str]:
    """The words, phrases and prefixes a console should highlight in matching logs, first seen first.

    These are the texts of the Match and Prefix nodes that are not negated (under an even number of NOTs);
    a match on `timestamp` is left out because it compares times, not text.
    """
    found: dict[str, None] = {}
    _collect(query, False, found)
    return list(found)


def _collect(query: Query, negated: bool, found: dict[str, None]) -> None:
    if isinstance(query, And | Or):
        for item in query.items:
            _collect(item, negated, found)
    elif isinstance(query, Not):
        _collect(query.item, not negated, found)
    elif isinstance(query, Match | Prefix) and not negated and (query.field or "").lower() != "timestamp":
        found.setdefault(query.text)
