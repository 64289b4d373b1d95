"""Runs a parsed query over a snapshot of sources (the memtable and each segment) with bitmaps.

A source answers these questions (engine/segments/reader.py and engine/memtable.py implement them):

    doc_count, min_ts, max_ts, time_sorted
    field_names(), resolve_field(name)          field names, and those equal to `name` ignoring case
    everything(), exists(f)                     all docs, docs having field f
    token(f, t), value(f, text)                 docs whose f holds token t / has verbatim value text
    gram(f, tokens) -> BitMap | None            docs where 2-3 common tokens stand together; None: not indexed
    phrase(f, tokens) -> BitMap | None          docs where the tokens stand together; None: use the above
    token_range(f, low, high), tokens(f), values(f, literals=())   dictionary scans
    numeric(f, low, high, low_inclusive, high_inclusive), time_range(low, high)
    before(ts, seq), after(ts, seq)             docs sorting before/after a cursor key
    newest(docs, k), oldest(docs, k)            (ts, seq, doc) of the k newest/oldest of docs
    fetch(docs) -> list[bytes]                  original JSON

Words and phrases are posting-list intersections; phrases of common words are answered from the gram
index, and any candidate the index cannot decide is checked with the plain per-log predicate
(engine/predicate.py), which is also the test oracle's definition of a match.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

import orjson
from pyroaring import BitMap

from querylang.ast import All, And, Exact, Exists, Match, Not, Or, Prefix, Query, Range, Regex, Wildcard

from .documents import flatten
from .errors import QueryError, QueryTimeoutError
from .predicate import compile_predicate
from .timestamps import parse_query_time
from .tokens import tokenize

TIME_FIELD = "timestamp"


class Budget:
    """The search's deadline; long loops call `check()` so an over-budget query fails instead of stalling."""

    def __init__(self, seconds: float, now_ns: int) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.now_ns = now_ns
        self._ticks = 0

    def check(self) -> None:
        self._ticks += 1
        if self._ticks & 63 == 0 and time.monotonic() > self.deadline:
            self.expired()

    def check_now(self) -> None:
        if time.monotonic() > self.deadline:
            self.expired()

    def expired(self) -> None:
        raise QueryTimeoutError(
            f"search ran past its time budget of {self.seconds:g} s; narrow the query or the time range")


def is_time_field(field: str | None) -> bool:
    return field is not None and field.lower() == TIME_FIELD


def time_bound(text: str, budget: Budget, what: str) -> int:
    ns = parse_query_time(text, budget.now_ns)
    if ns is None:
        raise QueryError(f"{what} {text!r} is not a time (use RFC 3339 like 2023-09-15T08:00:00Z, a date, "
                         "an epoch number, or now-1h)")
    return ns


class Evaluator:
    """Evaluates one query on one source, returning the matching doc ids."""

    def __init__(self, source, budget: Budget) -> None:
        self.src = source
        self.budget = budget

    def run(self, q: Query) -> BitMap:
        self.budget.check_now()
        method = getattr(self, "_" + type(q).__name__.lower())
        return method(q)

    # ---- booleans ------------------------------------------------------------------------------------
    def _all(self, q: All) -> BitMap:
        return self.src.everything()

    def _and(self, q: And) -> BitMap:
        # Operands in the order given; cheapest_first() puts the costly ones last, once per query.
        positive = [item for item in q.items if not isinstance(item, Not)]
        negative = [item.item for item in q.items if isinstance(item, Not)]
        result: BitMap | None = None
        for item in positive:
            bm = self.run(item)
            result = bm if result is None else result & bm
            if not result:
                return BitMap()
        if result is None:
            result = self.src.everything()
        for item in negative:
            result = result - self.run(item)
            if not result:
                break
        return result

    def _or(self, q: Or) -> BitMap:
        return BitMap.union(*(self.run(item) for item in q.items))

    def _not(self, q: Not) -> BitMap:
        return self.src.everything() - self.run(q.item)

    # ---- fields ----------------------------------------------------------------------------------------
    def _fields(self, field: str | None) -> list[str]:
        if field is None:
            return [f for f in self.src.field_names() if f != TIME_FIELD]
        return [f for f in self.src.resolve_field(field) if f != TIME_FIELD]

    def _union_over_fields(self, field: str | None, per_field: Callable[[str], BitMap]) -> BitMap:
        parts = []
        for f in self._fields(field):
            parts.append(per_field(f))
            self.budget.check()
        return BitMap.union(*parts) if parts else BitMap()

    def _exists(self, q: Exists) -> BitMap:
        if is_time_field(q.field):
            return self.src.everything()
        return self._union_over_fields(q.field, self.src.exists)

    def _time_equal(self, text: str) -> BitMap:
        ns = time_bound(text, self.budget, "timestamp value")
        return self.src.time_range(ns, ns)

    def _match(self, q: Match) -> BitMap:
        if is_time_field(q.field):
            return self._time_equal(q.text)
        tokens = tokenize(q.text)
        if not tokens:
            return BitMap()
        return self._union_over_fields(q.field, lambda f: self._phrase(f, tokens, q))

    def _phrase(self, field: str, tokens: list[str], q: Query) -> BitMap:
        src = self.src
        if len(tokens) == 1:
            return src.token(field, tokens[0])
        answer = src.phrase(field, tokens)
        if answer is not None:
            return answer
        postings = {}
        for t in set(tokens):
            postings[t] = src.token(field, t)
            if not postings[t]:
                return BitMap()
        candidates = BitMap.intersection(*postings.values())
        exact = False
        if candidates and src.time_sorted:
            candidates, exact = self._narrow_with_grams(field, tokens, postings, candidates)
        if not candidates or exact:
            return candidates
        if isinstance(q, Match):
            # A value equal to the typed text holds the phrase; for ids (resourceId:server-1234) that is
            # usually every candidate, and no row needs reading.
            certain = candidates & src.value(field, q.text)
            rest = candidates - certain
            return certain | self._verify(rest, q) if rest else certain
        return self._verify(candidates, q)

    def _narrow_with_grams(self, field: str, tokens: list[str], postings: dict[str, BitMap],
                           candidates: BitMap) -> tuple[BitMap, bool]:
        common = [self.src.is_common(field, t) for t in tokens]
        for n in (3, 2):
            for i in range(len(tokens) - n + 1):
                if all(common[i:i + n]):
                    bm = self.src.gram(field, tuple(tokens[i:i + n]))
                    candidates = candidates & bm if bm is not None else BitMap()
                    if not candidates:
                        return candidates, True
        # Grams prove the phrase when one gram covers it whole.
        return candidates, len(tokens) <= 3 and all(common)

    def _verify(self, candidates: BitMap, q: Query) -> BitMap:
        """Keep the candidates that the per-log predicate accepts (reads their rows)."""
        predicate = compile_predicate(q, self.budget.now_ns)
        src = self.src
        kept = BitMap()
        ids = list(candidates)
        for start in range(0, len(ids), 512):
            chunk = ids[start:start + 512]
            keys = src.keys(chunk)
            for doc, raw, (ts, _) in zip(chunk, src.fetch(chunk), keys, strict=True):
                if predicate(flatten(orjson.loads(raw)), ts):
                    kept.add(doc)
            self.budget.check_now()
        return kept

    def _exact(self, q: Exact) -> BitMap:
        if is_time_field(q.field):
            return self._time_equal(q.value)
        return self._union_over_fields(q.field, lambda f: self.src.value(f, q.value))

    def _prefix(self, q: Prefix) -> BitMap:
        if is_time_field(q.field):
            raise QueryError("timestamp takes ranges, comparisons or an exact time, not a prefix")
        tokens = tokenize(q.text)
        if not tokens:
            return BitMap()
        last = tokens[-1]
        high = last[:-1] + chr(ord(last[-1]) + 1)

        def per_field(f: str) -> BitMap:
            parts = []
            for _, bm in self.src.token_range(f, last, high):
                parts.append(bm)
                self.budget.check()
            docs = BitMap.union(*parts) if parts else BitMap()
            if len(tokens) > 1 and docs:
                docs &= self._phrase(f, tokens[:-1], Match(f, " ".join(tokens[:-1])))
                if docs:
                    docs = self._verify(docs, Prefix(f, q.text))
            return docs

        return self._union_over_fields(q.field, per_field)

    def _wildcard(self, q: Wildcard) -> BitMap:
        if is_time_field(q.field):
            raise QueryError("timestamp takes ranges, comparisons or an exact time, not a wildcard")
        pattern = q.pattern.lower()
        regex = re.compile("".join(r"\w*" if c == "*" else r"\w" if c == "?" else re.escape(c) for c in pattern))
        literal = re.split(r"[*?]", pattern, maxsplit=1)[0]

        def per_field(f: str) -> BitMap:
            parts = []
            if literal:
                high = literal[:-1] + chr(ord(literal[-1]) + 1)
                for token, bm in self.src.token_range(f, literal, high):
                    if regex.fullmatch(token):
                        parts.append(bm)
                    self.budget.check()
            else:
                for token, thunk in self.src.tokens(f):
                    if regex.fullmatch(token):
                        parts.append(thunk())
                    self.budget.check()
            return BitMap.union(*parts) if parts else BitMap()

        return self._union_over_fields(q.field, per_field)

    def _regex(self, q: Regex) -> BitMap:
        if is_time_field(q.field):
            raise QueryError("timestamp takes ranges, comparisons or an exact time, not a regex")
        regex = re.compile(q.pattern)
        literals = required_literals(q.pattern)

        def per_field(f: str) -> BitMap:
            parts = []
            for text, thunk in self.src.values(f, literals):
                if regex.search(text):
                    parts.append(thunk())
                self.budget.check()
            return BitMap.union(*parts) if parts else BitMap()

        return self._union_over_fields(q.field, per_field)

    def _range(self, q: Range) -> BitMap:
        if is_time_field(q.field):
            low = None if q.low is None else time_bound(q.low, self.budget, "range bound")
            high = None if q.high is None else time_bound(q.high, self.budget, "range bound")
            if low is not None and not q.low_inclusive:
                low += 1
            if high is not None and not q.high_inclusive:
                high -= 1
            if low is not None and high is not None and low > high:
                return BitMap()
            return self.src.time_range(low, high)
        low = None if q.low is None else _number(q.low, q.field)
        high = None if q.high is None else _number(q.high, q.field)
        return self._union_over_fields(
            q.field, lambda f: self.src.numeric(f, low, high, q.low_inclusive, q.high_inclusive))


def cheapest_first(q: Query) -> Query:
    """`q` with the operands of every AND ordered by `cost`, so that once an AND's result is empty the
    costly operands (phrases, regexes) are never run. The same matches: AND commutes."""
    if isinstance(q, And):
        return And(tuple(sorted((cheapest_first(item) for item in q.items), key=cost)))
    if isinstance(q, Or):
        return Or(tuple(cheapest_first(item) for item in q.items))
    if isinstance(q, Not):
        return Not(cheapest_first(q.item))
    return q


def cost(q: Query) -> int:
    """A rough rank of how much evaluating `q` on a source costs, to order the operands of an AND."""
    if isinstance(q, All) or (isinstance(q, Range | Match | Exact) and is_time_field(q.field)):
        return 0  # everything, or a doc-id interval of the time column
    if isinstance(q, Exact | Exists):
        return 1  # one value's or the field's list
    if isinstance(q, Range):
        return 10  # a range of the number dictionary
    if isinstance(q, Match):
        n = len(tokenize(q.text))
        return 1 if n <= 1 else 2 + n  # one posting; or several, grams and maybe a check of rows
    if isinstance(q, Not):
        return 1 + cost(q.item)
    if isinstance(q, And | Or):
        return sum(cost(item) for item in q.items)
    if isinstance(q, Prefix | Wildcard):
        return 20  # a dictionary range or scan
    return 50  # Regex: a scan of values


def validate(q: Query, budget: Budget) -> None:
    """Raise the QueryError a query would raise on some source, even when no source holds a log."""
    if isinstance(q, And | Or):
        for item in q.items:
            validate(item, budget)
    elif isinstance(q, Not):
        validate(q.item, budget)
    elif isinstance(q, Prefix | Wildcard | Regex) and is_time_field(q.field):
        raise QueryError(f"timestamp takes ranges, comparisons or an exact time, not {type(q).__name__.lower()}")
    elif isinstance(q, Match) and is_time_field(q.field):
        time_bound(q.text, budget, "timestamp value")
    elif isinstance(q, Exact) and is_time_field(q.field):
        time_bound(q.value, budget, "timestamp value")
    elif isinstance(q, Range):
        for bound in (q.low, q.high):
            if bound is None:
                continue
            if is_time_field(q.field):
                time_bound(bound, budget, "range bound")
            else:
                _number(bound, q.field)


def _number(text: str, field: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise QueryError(f"range bound {text!r} for {field!r} is not a number") from None


def required_literals(pattern: str) -> list[str]:
    """Runs of literal characters that every match of a regex must contain (none when unsure).

    Used to skip dictionary values, and whole dictionary blocks, before running the regex. Only literals
    of the top-level sequence count (not those under a branch or repeat), and a case-insensitive pattern
    has none (its literals may appear in another case)."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return []
    if parsed.state.flags & re.IGNORECASE:
        return []
    runs, run = [], []
    for op, arg in [*list(parsed), (None, None)]:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            runs.append("".join(run))
        run = []
    return runs
