"""The builder's columnar grouping (engine/segments/columns.py) against engine/documents.flatten, log by log."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.documents import flatten
from engine.segments import columns
from engine.tokens import value_text

# Few key names, some with dots and "timestamp", so that paths collide ("a.b" beside {"a": {"b": ...}}) and
# a nested timestamp is a field while the top-level one is not.
_KEYS = st.sampled_from(["a", "b", "a.b", "timestamp", "msg"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                     st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["x", "Y z", "", "1", "true"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(_KEYS, inner, max_size=3)), max_leaves=8)


def _expected(objs: list[dict]) -> dict[str, columns.FieldValues]:
    out: dict[str, columns.FieldValues] = {}
    for doc, obj in enumerate(objs):
        for name, value in flatten({k: v for k, v in obj.items() if k != "timestamp"}):
            f = out.setdefault(name, columns.FieldValues([], {}, {}))
            if doc not in f.docs:
                f.docs.append(doc)
            docs = f.vals.setdefault(value_text(value), [])
            if doc not in docs:
                docs.append(doc)
            if isinstance(value, int | float) and not isinstance(value, bool):
                docs = f.nums.setdefault(value, [])
                if doc not in docs:
                    docs.append(doc)
    return out


@given(st.lists(st.dictionaries(_KEYS, _VALUES, max_size=4), max_size=12), st.integers(1, 5))
def test_fields_are_the_flattened_logs_grouped(objs: list[dict], per_call: int) -> None:
    gathered: dict[str, columns.Column] = {}
    for start in range(0, len(objs), per_call):  # rows arrive a block at a time
        columns.add_rows(gathered, start, objs[start:start + per_call])
    assert columns.fields(gathered) == _expected(objs)
