"""The row block format (engine/segments/rowblock.py) gives back every row as it was encoded."""

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from engine.segments import rowblock


@given(st.lists(st.binary(max_size=300), max_size=600))
def test_rows_come_back_in_order(raws: list[bytes]) -> None:
    block = rowblock.RowBlock(rowblock.encode(raws))
    assert block.rows() == raws
    assert [block.data[a:b] for a, b in pairwise(block.offsets)] == raws
    assert block.offsets[-1] == len(block.data)
