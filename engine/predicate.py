"""What each query operator means, checked one log at a time.

This is the specification the index path (`engine.search`) must agree with, and the oracle of the property
tests (`tests/oracle.py`). A log is seen as its flattened fields (`documents.flatten` of the original object)
plus its time in nanoseconds.

- A query field name matches every log field whose name is equal ignoring letter case; a field with several
  values (an array, or several case variants of the name) matches when any one value does. `field=None`
  (full text) looks at every field except the one named exactly "timestamp".
- `timestamp`, in any case, in a query means the log's time, which every log has. Match and Exact compare an
  exact time; Range compares times (bounds read by `parse_query_time`); Exists is always true; Prefix,
  Wildcard and Regex on it are a QueryError. The log field named "timestamp" is not looked at otherwise.
- Match: the tokens of the text appear as a consecutive run among the tokens of one value. A text without
  tokens (which the parser refuses) matches nothing; so does such a Prefix.
- Exact: the value's verbatim text (`value_text`) equals the query's, case-sensitively.
- Prefix: the text's tokens but the last appear consecutively, directly followed by a token that starts
  with the last one.
- Wildcard: one token of a value fully matches the lowercased pattern (`*` = any run of word characters,
  `?` = one word character, everything else literal).
- Regex: `re.search` on a value's verbatim text.
- Range on other fields: only JSON numbers (not booleans) compare, exactly as Python compares int and float;
  the bounds must be numbers.
- Exists: the field has at least one value, null included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from querylang import All, And, Exact, Exists, Match, Not, Or, Prefix, Query, Range, Regex, Wildcard

from .documents import TIMESTAMP_FIELD, Scalar
from .errors import QueryError
from .timestamps import parse_query_time
from .tokens import tokenize, value_text

Fields = list[tuple[str, Scalar]]
Predicate = Callable[[Fields, int], bool]

_ANY_FIELD = None  # key of the full-text values in `_Log`


class _Log:
    """One log during evaluation; groups values by field and tokenizes each text once, on first need."""

    __slots__ = ("_by_name", "_fields", "_tokens", "time")

    def __init__(self, fields: Fields, time: int) -> None:
        self._fields = fields
        self.time = time
        self._by_name: dict[str | None, list[Scalar]] | None = None
        self._tokens: dict[str, list[str]] = {}

    def values(self, key: str | None) -> list[Scalar]:
        """The values of the fields named `key` (lowercased), or of every full-text field for None."""
        if self._by_name is None:
            by_name: dict[str | None, list[Scalar]] = {_ANY_FIELD: []}
            everything = by_name[_ANY_FIELD]
            for name, value in self._fields:
                by_name.setdefault(name.lower(), []).append(value)
                if name != TIMESTAMP_FIELD:
                    everything.append(value)
            self._by_name = by_name
        return self._by_name.get(key, [])

    def tokens(self, value: Scalar) -> list[str]:
        text = value_text(value)
        tokens = self._tokens.get(text)
        if tokens is None:
            tokens = self._tokens[text] = tokenize(text)
        return tokens


_Test = Callable[[_Log], bool]


def compile_predicate(query: Query, now_ns: int | None = None) -> Predicate:
    """A function telling whether a log (flattened fields, time in ns) matches `query`.

    All the work that does not depend on the log (tokenizing, compiling regexes, reading bounds) is done
    here, once. `now_ns` fixes `now` for relative times (default: the clock, read once here). Raises
    QueryError when the query cannot run (a regex on timestamp, a bound that is no number or time, ...).
    """
    test = _compile(query, now_ns)

    def predicate(fields: Fields, time_ns: int) -> bool:
        return test(_Log(fields, time_ns))

    return predicate


def _compile(query: Query, now_ns: int | None) -> _Test:
    if isinstance(query, And):
        parts = [_compile(item, now_ns) for item in query.items]
        return lambda log: all(part(log) for part in parts)
    if isinstance(query, Or):
        parts = [_compile(item, now_ns) for item in query.items]
        return lambda log: any(part(log) for part in parts)
    if isinstance(query, Not):
        part = _compile(query.item, now_ns)
        return lambda log: not part(log)
    if isinstance(query, All):
        return lambda log: True
    if isinstance(query, Exists):
        if _is_time(query.field):
            return lambda log: True
        key = query.field.lower()
        return lambda log: bool(log.values(key))
    if isinstance(query, Match | Exact) and _is_time(query.field):
        ns = _time(query.text if isinstance(query, Match) else query.value, now_ns)
        return lambda log: log.time == ns
    if isinstance(query, Range):
        return _range(query, now_ns)
    if isinstance(query, Prefix | Wildcard | Regex) and _is_time(query.field):
        raise QueryError("timestamp takes ranges, comparisons or an exact time")
    key = None if query.field is None else query.field.lower()
    if isinstance(query, Match):
        return _match(key, query.text)
    if isinstance(query, Exact):
        value = query.value
        return lambda log: any(value_text(v) == value for v in log.values(key))
    if isinstance(query, Prefix):
        return _prefix(key, query.text)
    if isinstance(query, Wildcard):
        return _wildcard(key, query.pattern)
    if isinstance(query, Regex):
        return _regex(key, query.pattern)
    raise TypeError(f"not a query node: {query!r}")


def _is_time(field: str | None) -> bool:
    return field is not None and field.lower() == TIMESTAMP_FIELD


def _time(text: str, now_ns: int | None) -> int:
    ns = parse_query_time(text, now_ns)
    if ns is None:
        raise QueryError(
            f'"{text}" is not a time (expected RFC 3339 like 2023-09-15T08:00:00Z, a date, '
            "epoch seconds or milliseconds, or now-1h)"
        )
    return ns


def _match(key: str | None, text: str) -> _Test:
    wanted = tokenize(text)
    if not wanted:
        return lambda log: False

    def test(log: _Log) -> bool:
        return any(holds_phrase(log.tokens(value), wanted) for value in log.values(key))

    return test


def holds_phrase(tokens: Sequence[str], wanted: Sequence[str]) -> bool:
    """Whether `wanted` (not empty) stands as a consecutive run in `tokens`: Match on one value.
    Both must be lists or both tuples, as their slices are compared."""
    first = wanted[0]
    if first not in tokens:
        return False
    size = len(wanted)
    if size == 1:
        return True
    return any(token == first and tokens[i:i + size] == wanted for i, token in enumerate(tokens))


def _prefix(key: str | None, text: str) -> _Test:
    wanted = tokenize(text)
    if not wanted:
        return lambda log: False
    head, last = wanted[:-1], wanted[-1]
    size = len(head)

    def test(log: _Log) -> bool:
        for value in log.values(key):
            tokens = log.tokens(value)
            for i in range(len(tokens) - size):
                if tokens[i + size].startswith(last) and tokens[i : i + size] == head:
                    return True
        return False

    return test


def _wildcard(key: str | None, pattern: str) -> _Test:
    regex = re.compile(
        "".join(r"\w*" if c == "*" else r"\w" if c == "?" else re.escape(c) for c in pattern.lower())
    )

    def test(log: _Log) -> bool:
        return any(regex.fullmatch(token) for value in log.values(key) for token in log.tokens(value))

    return test


def _regex(key: str | None, pattern: str) -> _Test:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise QueryError(f"invalid regex /{pattern}/: {exc}") from None
    return lambda log: any(regex.search(value_text(value)) for value in log.values(key))


def _range(query: Range, now_ns: int | None) -> _Test:
    if _is_time(query.field):
        low = None if query.low is None else _time(query.low, now_ns)
        high = None if query.high is None else _time(query.high, now_ns)
        within = _within(low, high, query.low_inclusive, query.high_inclusive)
        return lambda log: within(log.time)
    low_n = None if query.low is None else _number(query.field, query.low)
    high_n = None if query.high is None else _number(query.field, query.high)
    within = _within(low_n, high_n, query.low_inclusive, query.high_inclusive)
    key = query.field.lower()
    return lambda log: any(
        isinstance(v, int | float) and not isinstance(v, bool) and within(v) for v in log.values(key)
    )


def _number(field: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise QueryError(f'range bound "{text}" on {field} is not a number') from None


def _within(
    low: float | None, high: float | None, low_inclusive: bool, high_inclusive: bool
) -> Callable[[float], bool]:
    def within(x: float) -> bool:
        if low is not None and (x < low if low_inclusive else x <= low):
            return False
        return high is None or (x <= high if high_inclusive else x < high)

    return within
