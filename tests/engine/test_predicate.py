"""engine.predicate: the meaning of every operator, on small hand-made logs."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.documents import flatten, log_time
from engine.errors import QueryError
from engine.predicate import compile_predicate
from engine.timestamps import NS_PER_SECOND, parse_query_time
from querylang import All, Exact, Exists, Match, Prefix, Query, Range, Regex, Wildcard, parse
from tests.oracle import scan
from tests.strategies import log_objects, queries

T0 = parse_query_time("2023-09-15T08:00:00Z")

LOG = {
    "timestamp": "2023-09-15T08:00:00Z",
    "level": "ERROR",
    "message": "Failed to connect to server-1234 after 30s",
    "resourceId": "server-1234",
    "metadata": {"parentResourceId": "rg-eu-1", "depth": 3, "ratio": 0.25, "note": None},
    "status": 503,
    "ok": False,
    "tags": ["db", "Primary Replica", 7],
    "events": [{"code": 200}, {"code": 404}],
    "user": "café naïve",
}


def matches(query: str | Query, obj: dict = LOG, time_ns: int = T0, now_ns: int | None = None) -> bool:
    q = parse(query) if isinstance(query, str) else query
    return compile_predicate(q, now_ns)(flatten(obj), time_ns)


# ---- Match ----


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("failed", True),  # case-insensitive tokens
        ("FAILED", True),
        ("fail", False),  # whole tokens only
        ('"failed to connect"', True),  # consecutive run
        ('"connect failed"', False),
        ('"to server"', True),
        ('"failed connect"', False),  # not consecutive
        ("server-1234", True),  # several tokens in a run
        ("1234-server", False),
        ("message:server", True),
        ("message:error", False),
        ("level:error", True),
        ('"Failed, to. connect!"', True),  # punctuation is not part of tokens
        ("user:cafe", False),  # no accent folding
        ("user:café", True),
        ("503", True),  # numbers through their JSON text
        ("status:503", True),
        ("false", True),  # booleans too
        ("ok:false", True),
        ("metadata.ratio:0.25", True),
        ('metadata.ratio:"0 25"', True),  # 0.25 is the tokens 0 and 25
        ("metadata.note:null", True),
        ("tags:primary", True),  # any element of an array
        ('tags:"primary replica"', True),
        ('tags:"db primary"', False),  # a phrase does not span array elements
        ("tags:7", True),
        ("events.code:404", True),
        ("nosuch:failed", False),
    ],
)
def test_match(query: str, expected: bool) -> None:
    assert matches(query) is expected


def test_field_names_ignore_case() -> None:
    assert matches("LEVEL:error")
    assert matches("ResourceID:server-1234")
    assert matches("METADATA.PARENTRESOURCEID:rg")
    obj = {"resourceID": "server-1", "ResourceId": "server-2"}
    # Several case variants of one name are several values of one field.
    assert matches("resourceId:server-1", obj)
    assert matches("resourceid:server-2", obj)
    assert matches('resourceId:="server-2"', obj)


# ---- Exact ----


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('resourceId:="server-1234"', True),
        ('resourceId:="Server-1234"', False),  # case-sensitive
        ('resourceId:="server"', False),  # the whole value
        ('level:="ERROR"', True),
        ('level:="error"', False),
        ('status:="503"', True),
        ('ok:="false"', True),
        ('metadata.note:="null"', True),
        ('metadata.ratio:="0.25"', True),
        ('tags:="Primary Replica"', True),
        ('tags:="7"', True),
        ('nosuch:="x"', False),
    ],
)
def test_exact(query: str, expected: bool) -> None:
    assert matches(query) is expected


# ---- Prefix and Wildcard ----


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("conn*", True),
        ("CONN*", True),
        ("onnect*", False),
        ("message:serv*", True),
        ("level:serv*", False),
        ("resourceId:server-12*", True),  # tokens "server" then a token starting "12"
        ("resourceId:server-2*", False),
        ("resourceId:serv-12*", False),  # the leading tokens must be whole
        ('"failed to conn"*', True),
        ('"failed conn"*', False),
        ("tags:prim*", True),
        ("metadata.depth:3*", True),
    ],
)
def test_prefix(query: str, expected: bool) -> None:
    assert matches(query) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fa*ed", True),
        ("f?iled", True),
        ("f?led", False),  # ? is exactly one character
        ("FA*ED", True),  # the pattern is lowercased
        ("*ailed", True),
        ("fa*", True),
        ("f*d*", True),
        ("message:conn*t", True),
        ("level:conn*t", False),
        ("resourceId:1?34", True),
        ("user:caf?", True),  # ? is one word character, é included
        ("user:na*ve", True),
        ("*ailed-x", False),
    ],
)
def test_wildcard(query: str, expected: bool) -> None:
    q = parse(query) if not query.endswith("-x") else Wildcard(None, "*ailed-x")
    assert matches(q) is expected


def test_wildcard_is_one_token() -> None:
    # `*` runs over word characters only, so it never crosses into the next token.
    assert not matches(Wildcard("message", "failed*connect"))
    assert matches(Wildcard("resourceId", "serv*"))


# ---- Regex ----


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("message:/Failed .* after [0-9]+s/", True),
        ("message:/failed/", False),  # case-sensitive
        ("message:/(?i)failed/", True),
        ("/^server-\\d+$/", True),  # full-text: any field's verbatim value
        ("resourceId:/1234$/", True),
        ("status:/^50/", True),  # numbers through their JSON text
        ("metadata.note:/^null$/", True),
        ("tags:/^Primary/", True),
        ("/2023-09-15/", False),  # the log's own "timestamp" field is not full text
    ],
)
def test_regex(query: str, expected: bool) -> None:
    assert matches(query) is expected


# ---- Range on numbers ----


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status:[500 TO 599]", True),
        ("status:[200 TO 299]", False),
        ("status:{503 TO 600]", False),
        ("status:[503 TO 503]", True),
        ("status:[* TO 503}", False),
        ("status:>=503", True),
        ("status:>503", False),
        ("status:<1e3", True),
        ("metadata.ratio:[0.2 TO 0.3]", True),
        ("metadata.depth:>2.5", True),
        ("events.code:[400 TO 499]", True),  # any value of the array
        ("tags:[5 TO 10]", True),  # the number 7 in an array of strings
        ("ok:[0 TO 1]", False),  # booleans are not numbers
        ("metadata.note:[* TO *]", False),  # null is not a number
        ("status:[* TO *]", True),
        ("Status:>500", True),
    ],
)
def test_number_range(query: str, expected: bool) -> None:
    assert matches(query) is expected


def test_numbers_in_strings_do_not_compare() -> None:
    assert not matches("code:>100", {"code": "500"})
    assert matches("code:>100", {"code": 500})


def test_huge_integers_compare_exactly() -> None:
    big = 2**63 + 1
    assert matches(Range("n", str(float(2**63)), None, False, True), {"n": big})
    assert not matches(Range("n", str(float(2**63)), None, False, True), {"n": 2**63})


def test_range_bound_that_is_no_number_is_a_query_error() -> None:
    with pytest.raises(QueryError, match='"abc"'):
        compile_predicate(parse("status:>abc"))


# ---- timestamp ----


def test_timestamp_means_the_log_time() -> None:
    # The time argument decides, not the log's "timestamp" text.
    other = T0 + 3600 * NS_PER_SECOND
    assert matches("timestamp:[2023-09-15T08:30:00Z TO 2023-09-15T09:30:00Z]", time_ns=other)
    assert not matches("timestamp:[2023-09-15T08:30:00Z TO 2023-09-15T09:30:00Z]")
    assert matches("TimeStamp>=2023-09-15", time_ns=other)
    assert matches("timestamp:{2023-09-15T08:00:00Z TO *]", time_ns=T0 + 1)
    assert not matches("timestamp:{2023-09-15T08:00:00Z TO *]")
    assert matches("timestamp:<1694764800001")  # epoch milliseconds
    assert matches('timestamp:>="2023-09-15 10:00:00+02:00"')


def test_timestamp_exact_time() -> None:
    assert matches("timestamp:2023-09-15T08:00:00Z")
    assert matches('timestamp:="2023-09-15 10:00:00+02:00"')
    assert matches("timestamp:1694764800")
    assert not matches("timestamp:2023-09-15T08:00:01Z")


def test_timestamp_relative_to_now() -> None:
    now = T0 + 1800 * NS_PER_SECOND
    assert matches("timestamp>=now-1h", now_ns=now)
    assert not matches("timestamp>=now-15m", now_ns=now)


def test_every_log_has_a_timestamp() -> None:
    assert matches("timestamp:*", {})
    assert matches(Exists("TIMESTAMP"), {})


@pytest.mark.parametrize("query", ["timestamp:2023*", "timestamp:20?3", "timestamp:/2023/", "TimeStamp:x*"])
def test_text_operators_on_timestamp_are_query_errors(query: str) -> None:
    with pytest.raises(QueryError, match="timestamp takes ranges, comparisons or an exact time"):
        compile_predicate(parse(query))


@pytest.mark.parametrize("query", ["timestamp:yesterday", "timestamp:>=soon", "timestamp:[a TO *]"])
def test_timestamp_that_is_no_time_is_a_query_error(query: str) -> None:
    with pytest.raises(QueryError, match="not a time"):
        compile_predicate(parse(query))


def test_the_timestamp_field_is_not_text() -> None:
    obj = {"timestamp": "2023-09-15T08:00:00Z", "note": "x"}
    assert not matches('"2023"', obj)
    assert not matches("/08:00/", obj)
    assert not matches("2023*", obj)
    # Another case or a nested field is ordinary text.
    assert matches('"2023"', {"Timestamp": "2023"})
    assert matches("metadata.timestamp:2023", {"metadata": {"timestamp": "2023-09-15"}})


# ---- Exists, All, booleans ----


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Exists("level"), True),
        (Exists("LEVEL"), True),
        (Exists("metadata.note"), True),  # null counts
        (Exists("metadata"), False),  # only scalar fields exist after flattening
        (Exists("events.code"), True),
        (Exists("nosuch"), False),
        (All(), True),
    ],
)
def test_exists_and_all(query: Query, expected: bool) -> None:
    assert matches(query) is expected


def test_empty_arrays_and_objects_add_no_field() -> None:
    assert not matches(Exists("tags"), {"tags": [], "meta": {}})
    assert not matches(Exists("meta"), {"tags": [], "meta": {}})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("failed connect", True),
        ("failed AND nosuchword", False),
        ("failed OR nosuchword", True),
        ("NOT failed", False),
        ("-nosuchword", True),
        ("-level:info", True),  # true when the field is missing or differs
        ("level:(error OR warn) status:>=500", True),
        ("NOT (failed OR nosuchword)", False),
        ("nosuch:* OR level:error", True),
    ],
)
def test_booleans(query: str, expected: bool) -> None:
    assert matches(query) is expected


def test_not_of_a_missing_field_matches() -> None:
    assert matches("NOT level:error", {"message": "x"})


# ---- errors at compile time ----


def test_errors_are_raised_when_compiling_not_per_log() -> None:
    with pytest.raises(QueryError, match="invalid regex"):
        compile_predicate(Regex("message", "("))


def test_texts_without_words_match_nothing() -> None:
    # The parser refuses them; a hand-built AST gets the index path's answer.
    assert not matches(Match(None, "--", True), {"m": "-- --"})
    assert not matches(Prefix("m", "-"), {"m": "-- --"})


def test_exact_of_an_empty_text() -> None:
    assert matches(Exact("s", ""), {"s": ""})
    assert not matches(Exact("s", ""), {"s": " "})


# ---- the oracle built on the predicate ----


def test_scan_orders_newest_first_then_latest_ingested() -> None:
    entries = [({"m": "a"}, 10, 0), ({"m": "b"}, 30, 1), ({"m": "a b"}, 30, 2), ({"m": "c"}, 20, 3)]
    assert [seq for _, _, seq in scan(entries, "*")] == [2, 1, 3, 0]
    assert [seq for _, _, seq in scan(entries, "a")] == [2, 0]
    assert [seq for _, _, seq in scan(entries, "*", start=20, end=30)] == [2, 1, 3]  # inclusive


def test_scan_takes_time_texts_and_datetimes() -> None:
    entries = [({}, T0, 0), ({}, T0 + NS_PER_SECOND, 1)]
    assert [seq for _, _, seq in scan(entries, "*", start="2023-09-15T08:00:01Z")] == [1]
    assert [seq for _, _, seq in scan(entries, "*", end=dt.datetime(2023, 9, 15, 8, 0, 0))] == [0]
    assert [seq for _, _, seq in scan(entries, "*", start="now-1s", now_ns=T0 + 2 * NS_PER_SECOND)] == [1]
    with pytest.raises(QueryError):
        scan(entries, "*", start="soon")


@given(st.lists(log_objects(), max_size=8), queries())
@settings(max_examples=200, deadline=None)
def test_generated_queries_always_run(objs: list[dict], q: Query) -> None:
    entries = [(obj, log_time(obj, 0), i) for i, obj in enumerate(objs)]
    hits = scan(entries, q)
    assert all(entry in entries for entry in hits)
