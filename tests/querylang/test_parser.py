"""querylang.parse: every form of the language, precedence, errors with their columns, and the round trip."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from querylang import (
    All,
    And,
    Exact,
    Exists,
    Match,
    Not,
    Or,
    Prefix,
    Query,
    QuerySyntaxError,
    Range,
    Regex,
    Wildcard,
    highlight_terms,
    parse,
)
from tests.strategies import QUERY_ALPHABET, queries, query_fragments


def w(text: str, field: str | None = None) -> Match:
    return Match(field, text, False)


FORMS: list[tuple[str, Query]] = [
    # words and phrases
    ("Failed", Match(None, "Failed", False)),
    ('"Failed to connect"', Match(None, "Failed to connect", True)),
    ("café", w("café")),
    ("server-1234", w("server-1234")),
    ("10.0.0.1", w("10.0.0.1")),
    ("key=value", w("key=value")),
    ("AT&T", w("AT&T")),
    ("and", w("and")),
    ("level:error", Match("level", "error", False)),
    ('message:"Failed to connect"', Match("message", "Failed to connect", True)),
    ("resourceId:server-1234", Match("resourceId", "server-1234", False)),
    ("metadata.parentResourceId:server-1", Match("metadata.parentResourceId", "server-1", False)),
    ("@timestamp:x", Match("@timestamp", "x", False)),
    ("user-agent:curl", Match("user-agent", "curl", False)),
    ("url:http://a/b", Match("url", "http://a/b", False)),
    ("timestamp:2023-09-10T00:00:00Z", Match("timestamp", "2023-09-10T00:00:00Z", False)),
    ('"say \\"hi\\" \\\\ now"', Match(None, 'say "hi" \\ now', True)),
    # exact
    ('resourceId:="server-1234"', Exact("resourceId", "server-1234")),
    ("resourceId:=server-1234", Exact("resourceId", "server-1234")),
    ('level:=""', Exact("level", "")),
    # prefixes and wildcards
    ("resourceId:server-12*", Prefix("resourceId", "server-12")),
    ("message:conn*", Prefix("message", "conn")),
    ("conn*", Prefix(None, "conn")),
    ('"failed to conn"*', Prefix(None, "failed to conn")),
    ('message:"failed to conn"*', Prefix("message", "failed to conn")),
    ("message:fa*ed", Wildcard("message", "fa*ed")),
    ("f?iled", Wildcard(None, "f?iled")),
    ("*ailed", Wildcard(None, "*ailed")),
    ("co*n*", Wildcard(None, "co*n*")),
    # regexes
    ("message:/Timeout .* after [0-9]+s/", Regex("message", "Timeout .* after [0-9]+s")),
    ("/fail(ed|ure)/", Regex(None, "fail(ed|ure)")),
    (r"path:/\/api\/v1/", Regex("path", "/api/v1")),
    (r"x:/a\d\\/", Regex("x", r"a\d\\")),
    # ranges and comparisons
    (
        "timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]",
        Range("timestamp", "2023-09-10T00:00:00Z", "2023-09-15T23:59:59Z", True, True),
    ),
    ("timestamp:{a TO b}", Range("timestamp", "a", "b", False, False)),
    ("timestamp:[a TO b}", Range("timestamp", "a", "b", True, False)),
    ("timestamp:{a TO b]", Range("timestamp", "a", "b", False, True)),
    ("status:[200 TO 299]", Range("status", "200", "299", True, True)),
    ("status:[* TO 299]", Range("status", None, "299", True, True)),
    ("status:[500 TO *]", Range("status", "500", None, True, True)),
    ("status:{* TO *}", Range("status", None, None, False, False)),
    ('timestamp:["2023-09-10 08:00" TO now]', Range("timestamp", "2023-09-10 08:00", "now", True, True)),
    ("timestamp>=2023-09-10T00:00:00Z", Range("timestamp", "2023-09-10T00:00:00Z", None, True, True)),
    ("timestamp<now-1h", Range("timestamp", None, "now-1h", True, False)),
    ("field:>1000", Range("field", "1000", None, False, True)),
    ("field:>=now-1h", Range("field", "now-1h", None, True, True)),
    ("field:<-5", Range("field", None, "-5", True, False)),
    ("field<=1e3", Range("field", None, "1e3", True, True)),
    ("field: >= 5", Range("field", "5", None, True, True)),
    # exists, all, empty
    ("field:*", Exists("field")),
    ("*", All()),
    ("", All()),
    ("   ", All()),
]


@pytest.mark.parametrize(("text", "expected"), FORMS, ids=[text or "<empty>" for text, _ in FORMS])
def test_forms(text: str, expected: Query) -> None:
    assert parse(text) == expected


BOOLEANS: list[tuple[str, Query]] = [
    ("a AND b", And((w("a"), w("b")))),
    ("a && b", And((w("a"), w("b")))),
    ("a&&b", And((w("a"), w("b")))),
    ("a b", And((w("a"), w("b")))),
    ("a OR b", Or((w("a"), w("b")))),
    ("a || b", Or((w("a"), w("b")))),
    ("NOT a", Not(w("a"))),
    ("-a", Not(w("a"))),
    ("!a", Not(w("a"))),
    ("NOT(a)", Not(w("a"))),
    ("NOT NOT a", Not(Not(w("a")))),
    ("-level:debug", Not(Match("level", "debug", False))),
    ("(a)", w("a")),
    # NOT binds tighter than AND, which binds tighter than OR
    ("a b OR c", Or((And((w("a"), w("b"))), w("c")))),
    ("a OR b c", Or((w("a"), And((w("b"), w("c")))))),
    ("a OR b AND c OR d", Or((w("a"), And((w("b"), w("c"))), w("d")))),
    ("NOT a b", And((Not(w("a")), w("b")))),
    ("NOT a OR b", Or((Not(w("a")), w("b")))),
    ("a -b !c", And((w("a"), Not(w("b")), Not(w("c"))))),
    ("(a OR b) c", And((Or((w("a"), w("b"))), w("c")))),
    ("NOT (a OR b)", Not(Or((w("a"), w("b"))))),
    # same-kind nesting is flattened, parentheses or not
    ("a AND b AND c", And((w("a"), w("b"), w("c")))),
    ("(a AND b) AND (c d)", And((w("a"), w("b"), w("c"), w("d")))),
    ("a OR (b OR c)", Or((w("a"), w("b"), w("c")))),
    # only upper-case keywords
    ("a and b", And((w("a"), w("and"), w("b")))),
    ("a or NOTE", And((w("a"), w("or"), w("NOTE")))),
    ("ANDROID OR ORACLE", Or((w("ANDROID"), w("ORACLE")))),
    ("* AND a", And((All(), w("a")))),
    # a field distributes over its group
    ("field:(a OR b)", Or((w("a", "field"), w("b", "field")))),
    ("level:(error warn)", And((w("error", "level"), w("warn", "level")))),
    (
        "level:(error OR -warn c)",
        Or((w("error", "level"), And((Not(w("warn", "level")), w("c", "level"))))),
    ),
    (
        'status:(200 OR [500 TO 599] OR >=900 OR =x OR "y" OR z* OR /r/ OR *)',
        Or(
            (
                w("200", "status"),
                Range("status", "500", "599", True, True),
                Range("status", "900", None, True, True),
                Exact("status", "x"),
                Match("status", "y", True),
                Prefix("status", "z"),
                Regex("status", "r"),
                Exists("status"),
            )
        ),
    ),
    ("x AND level:(a AND b)", And((w("x"), w("a", "level"), w("b", "level")))),
    ("level:((a))", w("a", "level")),
]


@pytest.mark.parametrize(("text", "expected"), BOOLEANS, ids=[text for text, _ in BOOLEANS])
def test_boolean_structure(text: str, expected: Query) -> None:
    assert parse(text) == expected


ERRORS: list[tuple[str, str, int]] = [
    ("level:", 'expected a value after "level:"', 7),
    ("level: ", 'expected a value after "level:"', 7),
    ("level: AND x", 'expected a value after "level:"', 8),
    ("level:>", 'expected a value after "level:>"', 8),
    ("status>=", 'expected a value after "status>="', 9),
    ("level:=", 'expected a value after "level:="', 8),
    ('message:"Failed', "unclosed quote starting", 9),
    ('a "b', "unclosed quote starting", 3),
    ("/abc", "unclosed regex starting", 1),
    ("(a OR b", "unbalanced parenthesis", 1),
    ("x (a OR (b)", "unbalanced parenthesis", 3),
    ("a OR b)", "unbalanced parenthesis", 7),
    ("level:)", "unbalanced parenthesis", 7),
    ("level:(a OR b", "unbalanced parenthesis", 7),
    ("()", "empty parentheses", 1),
    ("a AND", 'expected a search term after "AND"', 6),
    ("a OR OR b", 'expected a search term after "OR"', 6),
    ("NOT", 'expected a search term after "NOT"', 4),
    ("(a AND)", 'expected a search term after "AND"', 7),
    ("AND a", 'expected a search term, not "AND"', 1),
    ("[a TO b]", 'expected a search term, not "["', 1),
    ("t:[a", 'expected "TO" after "a"', 5),
    ("t:[a b]", 'expected "TO" after "a"', 6),
    ("t:[a TO", 'expected a value after "TO"', 8),
    ("t:[a TO b", "unclosed range starting", 3),
    ("t:[a TO b c]", 'expected "]" or "}" after "b"', 11),
    ('"--"', '"--" has no word to search for', 1),
    ("level:...", '"..." has no word to search for', 7),
    ('""*', '""* has no word to search for', 1),
    ("level!=error", 'unknown operator "!="', 6),
    ("a ~ b", 'unknown operator "~"', 3),
    ("+a", 'unknown operator "+"', 1),
    ("se*rver-12", '* and ? are wildcards within one word; quote "se*rver-12" to search it as text', 1),
    ("level:a-b?", '* and ? are wildcards within one word; quote "a-b?" to search it as text', 7),
    ("message:/[/", "invalid regex /[/: unterminated character set at position 0", 9),
    (":a", 'expected a search term, not ":a"', 1),
    ("a:b )", "unbalanced parenthesis", 5),
]


@pytest.mark.parametrize(("text", "reason", "column"), ERRORS, ids=[text for text, _, _ in ERRORS])
def test_errors(text: str, reason: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    error = info.value
    assert (error.reason, error.column) == (reason, column)
    assert str(error) == f"{reason} at column {column}"
    assert error.text == text
    assert isinstance(error, ValueError)


def test_error_names_what_is_expected_in_plain_words() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("level:")
    assert "word" in info.value.expected and "phrase" in info.value.expected
    with pytest.raises(QuerySyntaxError) as info:
        parse("t:[a")
    assert info.value.expected == ("TO",)


@given(st.one_of(query_fragments, st.text(QUERY_ALPHABET + "\n\t", max_size=24)))
@settings(max_examples=400, deadline=None)
def test_any_text_parses_or_raises_a_readable_error(text: str) -> None:
    try:
        q = parse(text)
    except QuerySyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
        # Lark's generated names (__ANON_0) never leak; the user's own text, or a quoted piece of it
        # ('expected a search term after "__"'), may hold "__".
        own = re.sub(r'"([^"]*)"', lambda m: "" if m.group(1) in text else m.group(0), error.reason)
        assert "ANON" not in str(error) and "__" not in own.replace(text, "")
        assert not any(name in error.reason for name in ("RPAR", "LPAR", "$END", "BOUND", "WORD"))
    else:
        assert parse(str(q)) == q


@given(queries())
@settings(max_examples=300, deadline=None)
def test_round_trip(q: Query) -> None:
    assert parse(str(q)) == q


CANONICAL = [
    ("a b OR c", "a AND b OR c"),
    ("(a OR b) -c", "(a OR b) AND NOT c"),
    ("NOT (a b)", "NOT (a AND b)"),
    ("level:(error OR warn)", "level:error OR level:warn"),
    ('"one"', '"one"'),
    ("timestamp>=2023-09-10T00:00:00Z", "timestamp:>=2023-09-10T00:00:00Z"),
    ("t:[* TO 5]", "t:<=5"),
    ("t:{* TO 5]", "t:{* TO 5]"),
    ('t:["2023-09-10 08:00" TO "TO"}', 't:["2023-09-10 08:00" TO "TO"}'),
    ("x:=y", 'x:="y"'),
    (r"p:/a\/b/", r"p:/a\/b/"),
    ('"a\\"b"*', '"a\\"b"*'),
    ("conn*", "conn*"),
    ("-x:*", "NOT x:*"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_canonical_text(text: str, canonical: str) -> None:
    assert str(parse(text)) == canonical


def test_printing_quotes_what_cannot_be_bare() -> None:
    assert str(Match(None, "a:b", False)) == '"a:b"'
    assert str(Match(None, "AND", False)) == '"AND"'
    assert str(Match("f", "two words", False)) == 'f:"two words"'
    assert str(Prefix(None, "failed to conn")) == '"failed to conn"*'
    assert str(Range("t", "a b", None)) == 't:>="a b"'
    assert str(Range("t", "*", None)) == 't:>="*"'


def test_highlight_terms() -> None:
    q = parse('Failed "to connect" -timeout conn* level:error NOT NOT retry f?iled timestamp:2023 NOT (x y)')
    assert highlight_terms(q) == ["Failed", "to connect", "conn", "error", "retry"]
    assert highlight_terms(parse("a OR a")) == ["a"]
    assert highlight_terms(All()) == []


def test_the_same_text_gives_the_same_tree_and_the_same_error() -> None:
    text = 'level:error AND timestamp:[now-15m TO now]'
    assert parse(text) is parse(text)  # parsed once; times stay text, so a shared tree is never stale
    assert parse(text).items[1] == Range("timestamp", "now-15m", "now", True, True)
    for _ in range(2):
        with pytest.raises(QuerySyntaxError, match="column 8"):
            parse("level:(")
