"""Conversions between numpy and pyarrow arrays by their buffers, and the numpy idioms they share, for the
builder processes' array code (engine/segments/textfield.py, merger.py, termdict.py).

pyarrow's own conversions (pa.array, to_numpy, take of a numpy array) import pandas when it is installed:
~30 MB more in every builder process. These build arrays from buffers and read buffers back instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa


def run_starts(counts: np.ndarray) -> np.ndarray:
    """The exclusive prefix sum of `counts`, one longer: where each of consecutive runs starts."""
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indexes starts[0] .. starts[0] + lengths[0] - 1, then those of the next range, and so on."""
    return np.repeat(starts - run_starts(lengths)[:-1], lengths) + np.arange(int(lengths.sum()))


def offsets_of(items: list[bytes]) -> np.ndarray:
    """Where each of `items` starts when they are joined, and where the last ends."""
    return run_starts(np.fromiter(map(len, items), np.int64, len(items)))


def strings(texts: list[str]) -> pa.Array:
    """A large_string array of `texts`."""
    data = "".join(texts).encode()
    if len(data) == sum(map(len, texts)):  # ASCII: a text's length in characters is its length in bytes
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    else:
        encoded = [t.encode() for t in texts]
        lengths = np.fromiter(map(len, encoded), np.int64, len(texts))
    return pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(run_starts(lengths)), pa.py_buffer(data))


def binaries(items: list[bytes]) -> pa.Array:
    """A large_binary array of `items`."""
    return binary_array(offsets_of(items), b"".join(items))


def binary_array(offsets: np.ndarray, data: bytes) -> pa.Array:
    """A large_binary array whose item i is data[offsets[i]:offsets[i + 1]]."""
    offsets = np.ascontiguousarray(offsets, np.int64)
    return pa.Array.from_buffers(pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def binary_parts(array: pa.Array) -> tuple[np.ndarray, bytes]:
    """`binary_array` reversed: the offsets of a large_binary array's items into the bytes returned."""
    offsets = np.frombuffer(array.buffers()[1], np.int64, len(array) + 1, 8 * array.offset)
    return offsets, buffer_bytes(array.buffers()[2])


def ints(array: pa.Array) -> np.ndarray:
    """The values of an arrow array of integers without nulls."""
    dtype = np.dtype(str(array.type))
    if not len(array):
        return np.zeros(0, dtype)
    return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * dtype.itemsize)


def bools(array: pa.Array) -> np.ndarray:
    """The values of an arrow array of booleans without nulls."""
    if not len(array):
        return np.zeros(0, bool)
    bits = np.unpackbits(np.frombuffer(array.buffers()[1], np.uint8), bitorder="little")
    return bits[array.offset:array.offset + len(array)].astype(bool)


def buffer_bytes(buffer: pa.Buffer | None) -> bytes:
    """A data buffer's bytes (arrow may leave out the buffer of an array of empty strings)."""
    return b"" if buffer is None else buffer.to_pybytes()


def arrow_ints(values: Any) -> pa.Array:
    """An int64 arrow array of numpy integers."""
    values = np.ascontiguousarray(values, np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])
