"""Order-preserving byte keys for numbers, so a numeric range is a range scan of a term dictionary.

A key is the IEEE 754 big-endian double with the sign bit flipped for non-negative numbers and every bit
inverted for negative ones; byte order of keys is then numeric order. Integers beyond 2**53 round to the
nearest double. Written to disk; never change.
"""

from __future__ import annotations

import struct

_DOUBLE = struct.Struct(">d")
_U64 = struct.Struct(">Q")
_SIGN = 1 << 63
_MASK = (1 << 64) - 1


def number_key(x: float) -> bytes:
    (bits,) = _U64.unpack(_DOUBLE.pack(float(x) + 0.0))  # + 0.0 turns -0.0 into 0.0
    bits = bits ^ _MASK if bits & _SIGN else bits | _SIGN
    return _U64.pack(bits)
