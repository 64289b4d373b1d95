"""Page cursors: the opaque text that continues a search where the previous page ended.

A cursor is the unpadded URL-safe base64 of three little-endian i64: the time and ingest sequence number
of the last hit returned, and the last sequence number stored when the first page was made (later pages
see only logs stored by then, so they neither repeat nor skip while new logs arrive).
"""

from __future__ import annotations

import base64
import struct

from .errors import QueryError

_CURSOR = struct.Struct("<qqq")


def encode_cursor(ts: int, seq: int, snapshot: int) -> str:
    return base64.urlsafe_b64encode(_CURSOR.pack(ts, seq, snapshot)).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return _CURSOR.unpack(raw)
    except (ValueError, struct.error):
        raise QueryError(f"cursor {cursor!r} is not one this engine returned") from None
