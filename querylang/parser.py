"""Query text to AST: the LALR parser for `grammar.lark`, a transformer that builds `querylang.ast` nodes,
and `QuerySyntaxError` with messages a person can act on.

Error messages are built from Lark's error (the unexpected token or character, the terminals the parser
would accept there, and the tokens it has read) rather than from `match_examples`: Lark's LALR states compare
equal only at the same stack depth, so an example like `level:` would not recognize `(a OR level:`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from .ast import All, And, Exact, Exists, Match, Not, Or, Prefix, Query, Range, Regex, Wildcard


class QuerySyntaxError(ValueError):
    """Raised by `parse` when the text is not a query.

    `column` is the 1-based position of the problem in the text (counting every character, newlines
    included), `expected` names what the parser would accept there (short words such as "value", "word",
    ")"), `text` is the query, and `reason` the message without its position.
    """

    def __init__(self, reason: str, *, column: int, text: str, expected: tuple[str, ...] = ()) -> None:
        super().__init__(f"{reason} at column {column}")
        self.reason = reason
        self.column = column
        self.expected = expected
        self.text = text


@functools.cache
def _lark() -> Lark:
    # Built on first use (about 50 ms), then shared: each parse keeps its state in objects of its own.
    return Lark.open_from_package(__package__, "grammar.lark", parser="lalr", lexer="contextual")


# Dashboards, paging and tails send the same text again and again; an AST is immutable, so one may be shared.
# Lark takes 0.03 ms for a word and 0.12 ms for an AND of four, against 0.1-0.4 ms for the whole search.
@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Query:
    """The query `text` as an AST. Raises QuerySyntaxError when it is not a valid query."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    try:
        return _Builder(text).transform(tree)
    except VisitError as exc:
        raise exc.orig_exc from None


# A value written after `field:` (or inside `field:( … )`) becomes a query once the field is known; free
# text is the same thing applied to None.
_Term = Callable[[str | None], Query]


def _has_word(text: str) -> bool:
    # Same notion of a word as engine.tokens.tokenize: a run of \w characters in the lowercased text.
    return re.search(r"\w", text.lower()) is not None


def _unquote(token: str) -> str:
    return re.sub(r'\\([\\"])', r"\1", token[1:-1])


def _unescape_regex(token: str) -> str:
    return re.sub(r"\\([\s\S])", lambda m: "/" if m[1] == "/" else m[0], token[1:-1])


def _flatten(kind: type[And] | type[Or], items: Iterable[Query]) -> Query:
    flat: list[Query] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


@v_args(inline=True)
class _Builder(Transformer):
    """Builds AST nodes bottom-up; value rules return `_Term`s that `field_value` applies to the field."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _error(self, reason: str, token: Token) -> QuerySyntaxError:
        return QuerySyntaxError(reason, column=token.start_pos + 1, text=self._text)

    def _words(self, text: str, token: Token) -> str:
        if not _has_word(text):
            written = token.value if token.value.startswith('"') else f'"{token.value}"'
            raise self._error(f"{written} has no word to search for", token)
        return text

    # -- boolean structure --

    def start(self, query: Query | None = None) -> Query:
        return All() if query is None else query

    def or_(self, left: Query, right: Query) -> Query:
        return _flatten(Or, (left, right))

    def and_(self, left: Query, right: Query) -> Query:
        return _flatten(And, (left, right))

    def not_(self, item: Query) -> Query:
        return Not(item)

    def match_all(self, _star: Token) -> Query:
        return All()

    def free_text(self, term: _Term) -> Query:
        return term(None)

    def field_value(self, field: Token, term: _Term) -> Query:
        return term(str(field))

    def value_or(self, left: _Term, right: _Term) -> _Term:
        return lambda field: _flatten(Or, (left(field), right(field)))

    def value_and(self, left: _Term, right: _Term) -> _Term:
        return lambda field: _flatten(And, (left(field), right(field)))

    def value_not(self, item: _Term) -> _Term:
        return lambda field: Not(item(field))

    # -- values --

    def word(self, token: Token) -> _Term:
        text = self._words(str(token), token)
        return lambda field: Match(field, text, False)

    def phrase(self, token: Token) -> _Term:
        text = self._words(_unquote(token), token)
        return lambda field: Match(field, text, True)

    def prefix(self, token: Token) -> _Term:
        text = self._words(token[:-1], token)
        return lambda field: Prefix(field, text)

    def quoted_prefix(self, token: Token) -> _Term:
        text = self._words(_unquote(token[:-1]), token)
        return lambda field: Prefix(field, text)

    def wildcard(self, token: Token) -> _Term:
        pattern = str(token)
        return lambda field: Wildcard(field, pattern)

    def regex(self, token: Token) -> _Term:
        pattern = _unescape_regex(token)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise self._error(f"invalid regex {token.value}: {exc}", token) from None
        return lambda field: Regex(field, pattern)

    def exists(self, _star: Token) -> _Term:
        return lambda field: Exists(field)

    def exact(self, token: Token) -> _Term:
        value = _unquote(token) if token.type == "QUOTED" else str(token)
        return lambda field: Exact(field, value)

    def compare(self, op: Token, bound: Token) -> _Term:
        value = _bound_text(bound)
        if op.startswith(">"):
            return lambda field: Range(field, value, None, op == ">=", True)
        return lambda field: Range(field, None, value, True, op == "<=")

    def range(self, open_: Token, low: Token, high: Token, close: Token) -> _Term:
        low_text = None if low.type == "STAR" else _bound_text(low)
        high_text = None if high.type == "STAR" else _bound_text(high)
        low_inclusive = open_ == "["
        high_inclusive = close == "]"
        return lambda field: Range(field, low_text, high_text, low_inclusive, high_inclusive)


def _bound_text(token: Token) -> str:
    return _unquote(token) if token.type == "QUOTED" else str(token)


# ---- syntax errors ----

# What a person calls each terminal of grammar.lark, for `QuerySyntaxError.expected`.
_TERMINAL_NAMES = {
    "FIELD": "field",
    "WORD": "word",
    "QUOTED": "phrase",
    "PREFIX": "prefix",
    "QUOTED_PREFIX": "prefix",
    "WILDCARD": "wildcard",
    "REGEX": "regex",
    "STAR": "*",
    "BOUND": "value",
    "COMPARISON": "comparison",
    "RANGE_OPEN": "range",
    "RANGE_CLOSE": "] or }",
    "_TO": "TO",
    "_COLON": ":",
    "_EQUAL": "=",
    "_LPAR": "(",
    "_RPAR": ")",
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
}
# Characters that start operators the language does not have (`!=`, `~`, `^2`, `+a`, ...).
_OPERATOR_CHARS = re.compile(r"[<>=!~^+&|]+")


def _expected(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({_TERMINAL_NAMES[n] for n in names if n in _TERMINAL_NAMES}))


def _syntax_error(text: str, exc: UnexpectedInput) -> QuerySyntaxError:
    interactive = exc.interactive_parser
    stack = interactive.parser_state.value_stack if interactive is not None else []
    # What the parser accepts here; narrower than what the lexer's state allowed, after LALR merging.
    accepts = set(interactive.accepts()) if interactive is not None else set(getattr(exc, "expected", ()))
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        column, reason = _bad_characters(text, pos) or (pos + 1, f'unexpected "{text[pos]}"')
        return QuerySyntaxError(reason, column=column, text=text, expected=_expected(accepts))
    assert isinstance(exc, UnexpectedToken)
    if exc.token.type == "BOUND" and "BOUND" not in accepts:
        # No terminal of this place matched, and Lark's fallback lexer read a BOUND: look at the characters.
        found = _bad_characters(text, exc.token.start_pos)
        if found is not None:
            return QuerySyntaxError(found[1], column=found[0], text=text, expected=_expected(accepts))
    return _bad_token(text, exc.token, accepts, stack)


def _bad_characters(text: str, pos: int) -> tuple[int, str] | None:
    """(column, reason) for characters that start no token at `pos`, when they tell a known mistake."""
    char = text[pos]
    if char == '"':
        return pos + 1, "unclosed quote starting"
    if char == "/":
        return pos + 1, "unclosed regex starting"
    run = re.match(r'[^\s()"]*', text[pos:])[0]
    if "*" in run or "?" in run:
        return pos + 1, f'* and ? are wildcards within one word; quote "{run}" to search it as text'
    operator = _OPERATOR_CHARS.search(run)
    if operator is not None:
        return pos + operator.start() + 1, f'unknown operator "{operator[0]}"'
    return None


def _bad_token(text: str, token: Token, accepts: set[str], stack: list) -> QuerySyntaxError:
    expected = _expected(accepts)
    at_end = token.type == "$END"
    # $END borrows the position of the last token; the problem is just after it.
    column = token.end_pos + 1 if at_end else token.start_pos + 1
    previous = stack[-1] if stack and isinstance(stack[-1], Token) else None
    open_parens = _unclosed(stack, "_LPAR")

    def error(reason: str, at: int = column) -> QuerySyntaxError:
        return QuerySyntaxError(reason, column=at, text=text, expected=expected)

    if token.type == "_RPAR" and "_RPAR" not in accepts:
        if previous is not None and previous.type == "_LPAR":
            return error("empty parentheses", previous.start_pos + 1)
        if not open_parens:
            return error("unbalanced parenthesis")
    if at_end and "_RPAR" in accepts and open_parens:
        return error("unbalanced parenthesis", open_parens[-1].start_pos + 1)
    if at_end and "RANGE_CLOSE" in accepts:
        range_open = _unclosed(stack, "RANGE_OPEN")
        if range_open:
            return error("unclosed range starting", range_open[-1].start_pos + 1)

    if {"FIELD", "WORD"} <= accepts:
        want = "a search term"
    elif accepts & {"WORD", "BOUND"}:
        want = "a value"
    elif "_TO" in accepts:
        want = '"TO"'
    elif "RANGE_CLOSE" in accepts:
        want = '"]" or "}"'
    else:
        want = " or ".join(f'"{name}"' for name in expected) or "the end of the query"
    if previous is not None:
        return error(f'expected {want} after "{_previous_text(text, stack)}"')
    if at_end:
        return error(f"expected {want}")
    return error(f'expected {want}, not "{token.value}"')


def _unclosed(stack: list, open_type: str) -> list[Token]:
    # The value stack holds the tokens not yet reduced: an opening token there is still unclosed.
    return [v for v in stack if isinstance(v, Token) and v.type == open_type]


def _previous_text(text: str, stack: list) -> str:
    # For `level:` / `level:>=` / `level:=` name the whole `field` + operator, not just the operator.
    last = stack[-1]
    first = last
    i = len(stack) - 1
    while i > 0 and first.type in ("_COLON", "COMPARISON", "_EQUAL"):
        before = stack[i - 1]
        if not isinstance(before, Token) or before.type not in ("FIELD", "_COLON"):
            break
        first = before
        i -= 1
    return text[first.start_pos : last.end_pos]
