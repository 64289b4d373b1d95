"""Hypothesis strategies for logs and queries drawn from one small vocabulary, so that queries hit.

For property tests of the engine against the oracle:

    @given(st.lists(log_objects(), max_size=50), queries())
    def test_search_agrees(objs, q):
        engine.append(objs)
        entries = [(o, log_time(o, 0), i) for i, o in enumerate(objs)]   # every log has a timestamp
        assert [o for o, _, _ in scan(entries, q)][:100] == engine.search(q, limit=100).logs

`queries()` builds ASTs that always run (no QueryError) and print to text that parses back to them
(`parse(str(q)) == q`): And/Or are flat, bare texts are valid bare values.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

from engine.timestamps import NS_PER_SECOND, format_ns
from querylang import All, And, Exact, Exists, Match, Not, Or, Prefix, Query, Range, Regex, Wildcard

# ---- vocabulary ----

LEVELS = ["debug", "info", "warn", "error", "fatal"]
WORDS = [
    "failed", "to", "connect", "connection", "timeout", "after", "retry", "disk", "full", "user",
    "login", "ok", "server", "café", "naïve", "Überweisung", "données", "日本", "ошибка",
]  # fmt: skip
MESSAGES = [
    "Failed to connect",
    "Failed to connect to server-0012",
    "Timeout after 30s",
    "connection timeout after retry",
    "disk full",
    "user login ok",
    "café naïve données",
    "Überweisung failed: ошибка 日本",
    "retry 3 of 5 after 1.5s",
]
REGIONS = ["eu-west-1", "us-east-2", "ap-south-1"]
STATUSES = [200, 201, 301, 404, 500, 503]
RESOURCE_IDS = [f"server-{n:04d}" for n in (1, 7, 12, 13, 120, 1234)]

# Logs spread over a week, so time ranges cut through them.
WINDOW_START_NS = 1_694_304_000 * NS_PER_SECOND  # 2023-09-10T00:00:00Z
WINDOW_NS = 7 * 86400 * NS_PER_SECOND

# Field names as queries write them; the case variants must find the same log fields.
TEXT_FIELDS = ["level", "message", "resourceId", "metadata.parentResourceId", "metadata.region", "tags",
               "events.name", "user", "ok", "LEVEL", "resourceid", "Metadata.ParentResourceID", "nosuchfield"]
NUMBER_FIELDS = ["status", "latency_ms", "metadata.depth", "events.code", "Status", "level"]
TIME_FIELDS = ["timestamp", "TimeStamp"]

# Regexes (field=None or a text field); one has a slash to exercise `\/` in printing. Several have
# literals that start or end inside a word, which block filters (engine/segments/blockfilter.py) must allow.
REGEXES = [
    r"server-00[0-9]+", r"^Failed", r"(?i)timeout", r"\d+(\.\d+)?s", r"eu-.*-1", r"a/b", r"^$", r"ошибка",
    r"imeout aft", r"ailed to c.*0012", r"nect", r"out after [0-9]+s",
]  # fmt: skip


# ---- logs ----


def times_ns() -> st.SearchStrategy[int]:
    """Times inside the window, often on round seconds so several logs share one."""
    return st.one_of(
        st.integers(0, 7 * 86400).map(lambda s: WINDOW_START_NS + s * NS_PER_SECOND),
        st.integers(0, WINDOW_NS).map(lambda offset: WINDOW_START_NS + offset),
        st.sampled_from([WINDOW_START_NS, WINDOW_START_NS + 3600 * NS_PER_SECOND]),
    )


@st.composite
def timestamp_values(draw: st.DrawFn) -> str | int | float:
    """A log's `timestamp` in one of the accepted forms; its time is whatever `log_time` reads from it."""
    ns = draw(times_ns())
    seconds = ns // NS_PER_SECOND
    form = draw(st.sampled_from(["rfc3339", "offset", "space", "date", "seconds", "float", "millis", "ns"]))
    if form == "rfc3339":
        return format_ns(ns)
    if form == "offset":
        # The same instant written in +02:00 or -0700.
        hours = draw(st.sampled_from([2, -7]))
        local = format_ns(ns + hours * 3600 * NS_PER_SECOND)[:-1]
        sign = "+" if hours > 0 else "-"
        return local + (f"{sign}{abs(hours):02d}:00" if hours > 0 else f"{sign}{abs(hours):02d}00")
    if form == "space":
        return format_ns(ns).replace("T", " ")
    if form == "date":
        return format_ns(ns)[:10]
    if form == "seconds":
        return seconds
    if form == "float":
        return seconds + draw(st.sampled_from([0.0, 0.25, 0.5]))
    if form == "millis":
        return ns // 1_000_000
    return ns


def _message() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(MESSAGES),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map("-".join),
    )


def _name(draw: st.DrawFn, name: str, variants: list[str]) -> str:
    # Sometimes a log writes a field name in another case (resourceID for resourceId).
    return draw(st.sampled_from([name, name, name, *variants]))


@st.composite
def log_objects(draw: st.DrawFn, with_timestamp: bool = True) -> dict:
    """A JSON log object: level, message, resource ids, nested metadata, numbers, booleans, arrays, nulls.

    With `with_timestamp` (the default) every log has a `timestamp`, so a test knows every log's time
    without the time of receipt.
    """
    obj: dict = {}
    if with_timestamp:
        obj["timestamp"] = draw(timestamp_values())
    if draw(st.integers(0, 5)):
        obj[_name(draw, "level", ["Level", "LEVEL"])] = draw(st.sampled_from([*LEVELS, "ERROR", "Warn"]))
    if draw(st.integers(0, 4)):
        obj[_name(draw, "message", ["MESSAGE"])] = draw(_message())
    if draw(st.booleans()):
        obj[_name(draw, "resourceId", ["resourceID", "ResourceId"])] = draw(st.sampled_from(RESOURCE_IDS))
    if draw(st.booleans()):
        metadata: dict = {"parentResourceId": draw(st.sampled_from(RESOURCE_IDS))}
        if draw(st.booleans()):
            metadata["region"] = draw(st.sampled_from(REGIONS))
        if draw(st.booleans()):
            metadata["depth"] = draw(st.integers(-2, 5))
        if draw(st.booleans()):
            metadata["empty"] = {}
        obj["metadata"] = metadata
    if draw(st.booleans()):
        obj["status"] = draw(st.sampled_from(STATUSES))
    if draw(st.booleans()):
        obj["latency_ms"] = draw(st.one_of(st.sampled_from([0.5, 12.25, 1000.0, 30.0]), st.integers(0, 2000)))
    if draw(st.booleans()):
        obj["ok"] = draw(st.booleans())
    if draw(st.booleans()):
        obj["tags"] = draw(st.lists(st.sampled_from([*WORDS[:8], "server-0012", 7, True]), max_size=3))
    if draw(st.integers(0, 3)) == 0:
        event = st.fixed_dictionaries({"name": st.sampled_from(WORDS[:6]), "code": st.sampled_from(STATUSES)})
        obj["events"] = draw(st.lists(event, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        obj["user"] = draw(st.one_of(st.none(), st.sampled_from(["alice", "Bob", "café"])))
    if draw(st.integers(0, 5)) == 0:
        # A number written in a string, and a number in a text field, for Range vs Match.
        obj["level"] = draw(st.sampled_from(["500", 3, 4.5]))
    return obj


# ---- queries ----


def _time_text(ns: int, form: str) -> str:
    if form == "rfc3339":
        return format_ns(ns)
    if form == "space":
        return format_ns(ns).replace("T", " ")
    if form == "date":
        return format_ns(ns)[:10]
    return str(ns // NS_PER_SECOND)  # epoch seconds


@st.composite
def time_texts(draw: st.DrawFn) -> str:
    """A time in the window as a query writes it (RFC 3339, with a space, a date, epoch seconds)."""
    ns = draw(times_ns())
    return _time_text(ns, draw(st.sampled_from(["rfc3339", "space", "date", "epoch"])))


def _field() -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(TEXT_FIELDS))


_single_words = st.one_of(
    st.sampled_from([w for w in WORDS if w.isalnum()]),
    st.sampled_from(LEVELS),
    st.sampled_from(RESOURCE_IDS),
    st.sampled_from(["30s", "1.5s", "eu-west-1", "true", "null", "200", "0012", "AND", "TO", "and"]),
)


@st.composite
def _matches(draw: st.DrawFn) -> Query:
    field = draw(_field())
    if draw(st.booleans()):
        text = draw(st.one_of(st.sampled_from(MESSAGES), _message()))
        return Match(field, text, True)
    text = draw(_single_words)
    # Keywords can only be written quoted.
    quoted = text in ("AND", "OR", "NOT") or draw(st.booleans())
    return Match(field, text, quoted)


@st.composite
def _exacts(draw: st.DrawFn) -> Query:
    field = draw(st.sampled_from([*TEXT_FIELDS, "status"]))
    value = draw(
        st.one_of(
            st.sampled_from([*LEVELS, "ERROR", *RESOURCE_IDS, *REGIONS, "true", "false", "null", "200"]),
            st.sampled_from(MESSAGES),
        )
    )
    return Exact(field, value)


@st.composite
def _prefixes(draw: st.DrawFn) -> Query:
    field = draw(_field())
    source = draw(st.one_of(st.sampled_from(WORDS), st.sampled_from(RESOURCE_IDS), st.sampled_from(MESSAGES)))
    cut = draw(st.integers(1, len(source)))
    text = source[:cut]
    if not any(c.isalnum() for c in text):
        text = source
    return Prefix(field, text)


@st.composite
def _wildcards(draw: st.DrawFn) -> Query:
    field = draw(_field())
    word = draw(st.sampled_from([w for w in [*WORDS, *LEVELS, "0012"] if w.isalnum()]))
    chars = list(word)
    for _ in range(draw(st.integers(1, 2))):
        i = draw(st.integers(0, len(chars) - 1))
        chars[i] = draw(st.sampled_from(["*", "?"]))
    if draw(st.booleans()):
        chars.insert(0, "*")
    pattern = "".join(chars)
    # A lone trailing `*` is written as a Prefix, and `*` alone means every log.
    if (pattern.endswith("*") and "?" not in pattern and pattern.count("*") == 1) or set(pattern) == {"*"}:
        pattern = pattern.rstrip("*") + "?*"
    return Wildcard(field, pattern)


@st.composite
def _regexes(draw: st.DrawFn) -> Query:
    return Regex(draw(_field()), draw(st.sampled_from(REGEXES)))


def _number_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(STATUSES).map(str),
        st.integers(-3, 2000).map(str),
        st.sampled_from(["0.5", "12.25", "1e3", "-1.5", "4.5"]),
    )


@st.composite
def _ranges(draw: st.DrawFn) -> Query:
    on_time = draw(st.booleans())
    field = draw(st.sampled_from(TIME_FIELDS if on_time else NUMBER_FIELDS))
    bound = time_texts() if on_time else _number_text()
    low = draw(st.one_of(st.none(), bound))
    high = draw(st.one_of(st.none(), bound))
    return Range(field, low, high, draw(st.booleans()), draw(st.booleans()))


@st.composite
def _time_points(draw: st.DrawFn) -> Query:
    field = draw(st.sampled_from(TIME_FIELDS))
    text = draw(time_texts())
    if draw(st.booleans()):
        return Exact(field, text)
    return Match(field, text, " " in text or draw(st.booleans()))


def _exists() -> st.SearchStrategy[Query]:
    names = [*TEXT_FIELDS, *NUMBER_FIELDS, *TIME_FIELDS, "metadata.empty", "events"]
    return st.sampled_from(names).map(Exists)


def leaf_queries() -> st.SearchStrategy[Query]:
    """One operator on one field (or full text), from the vocabulary of `log_objects`."""
    return st.one_of(
        _matches(), _exacts(), _prefixes(), _wildcards(), _regexes(), _ranges(), _time_points(), _exists(),
        st.just(All()),
    )  # fmt: skip


def _flat(kind: type[And] | type[Or], items: list[Query]) -> Query:
    flat: list[Query] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


def queries(max_leaves: int = 8) -> st.SearchStrategy[Query]:
    """Queries with nested AND/OR/NOT over `leaf_queries`, in the normal form the parser produces."""
    return st.recursive(
        leaf_queries(),
        lambda children: st.one_of(
            children.map(Not),
            st.lists(children, min_size=2, max_size=3).map(lambda items: _flat(And, items)),
            st.lists(children, min_size=2, max_size=3).map(lambda items: _flat(Or, items)),
        ),
        max_leaves=max_leaves,
    )


def query_texts(max_leaves: int = 8) -> st.SearchStrategy[str]:
    """`queries()` printed as canonical text."""
    return queries(max_leaves).map(str)


# Characters for fuzzing the parser with arbitrary text: the language's punctuation, keywords and words.
QUERY_ALPHABET = string.ascii_letters[:6] + '0129 :*?"()[]{}<>=!-+/\\~^&|.@_é'
query_fragments = st.lists(
    st.one_of(
        st.sampled_from(["AND", "OR", "NOT", "TO", " AND ", " OR ", "level:", "timestamp>=", "now-1h", "*"]),
        st.text(QUERY_ALPHABET, max_size=4),
    ),
    max_size=8,
).map("".join)
