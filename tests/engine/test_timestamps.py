"""The fast path for the usual log time shape reads exactly what the general RFC 3339 parser reads."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from engine.timestamps import _parse_rfc3339_general, parse_rfc3339

_digit = st.sampled_from("0123456789")
_odd = st.sampled_from("0123456789٣x ")  # an Arabic-Indic digit, a letter, a space


def _digits(count: int, alphabet: st.SearchStrategy[str] = _digit) -> st.SearchStrategy[str]:
    return st.lists(alphabet, min_size=count, max_size=count).map("".join)


@st.composite
def log_times(draw: st.DrawFn) -> str:
    digits = _odd if draw(st.booleans()) else _digit
    date = f"{draw(_digits(4, digits))}-{draw(_digits(2, digits))}-{draw(_digits(2, digits))}"
    time = f"{draw(_digits(2, digits))}:{draw(_digits(2, digits))}:{draw(_digits(2, digits))}"
    fraction = draw(st.sampled_from(["", "."])) + draw(st.text(_digit, max_size=11))
    zone = draw(st.sampled_from(["Z", "z", "", "+02:00", "-0700"]))
    return date + draw(st.sampled_from("Tt _")) + time + fraction + zone


@given(log_times())
@example("2023-09-15T08:00:00Z")
@example("2024-02-29T23:59:60.123456789Z")
@example("2023-02-29T00:00:00Z")
@example("2023-09-01T00:00:00.Z")
@example("2023-09-01T24:00:00Z")
@example("2023-13-01T00:00:00Z")
def test_the_usual_shape_parses_as_the_general_parser_does(text):
    assert parse_rfc3339(text) == _parse_rfc3339_general(text)
    assert parse_rfc3339(text) == _parse_rfc3339_general(text)  # its minute may be remembered now


@given(log_times(), st.data())
def test_a_remembered_minute_reads_the_rest_as_the_general_parser_does(first, data):
    parse_rfc3339(first)  # remembers first[:16] when it is a valid minute in the usual shape
    rest = data.draw(st.sampled_from(["", ":", ":5", ":60Z", ":61Z", ":0٣Z", ":05.Z", ":05.1234567890Z"])
                     | log_times().map(lambda t: t[16:]))
    text = first[:16] + rest
    assert parse_rfc3339(text) == _parse_rfc3339_general(text)
