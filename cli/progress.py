"""The ingest progress bar on stderr: logs, bytes, logs/s, and an ETA when the input size is known."""

from __future__ import annotations

import time
from typing import IO

from .output import human_bytes

# Redrawing more often than this costs CPU and is not readable anyway.
REDRAW_SECONDS = 0.1
BAR_WIDTH = 20


class Progress:
    """Draws on `stream` (a TTY) when `enabled`; otherwise every call does nothing."""

    def __init__(self, stream: IO[str], *, enabled: bool, total_bytes: int | None = None) -> None:
        self._stream = stream
        self._enabled = enabled
        self.total_bytes = total_bytes
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        self.logs = 0
        self.bytes_read = 0

    def update(self, *, logs: int, bytes_read: int) -> None:
        self.logs, self.bytes_read = logs, bytes_read
        now = time.monotonic()
        if self._enabled and now - self._last_draw >= REDRAW_SECONDS:
            self._last_draw = now
            self._draw(now)

    def finish(self) -> None:
        if self._enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()

    def clear(self) -> None:
        """Erase the bar so that a message can be written on a clean line."""
        if self._enabled and self._drawn:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
            self._drawn = False

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._started, 1e-9)
        rate = self.logs / elapsed
        parts = [f"{self.logs:,} logs", human_bytes(self.bytes_read)]
        if self.total_bytes:
            fraction = min(self.bytes_read / self.total_bytes, 1.0)
            filled = int(fraction * BAR_WIDTH)
            parts[1] += f" / {human_bytes(self.total_bytes)}"
            parts.insert(0, f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%}")
        parts.append(f"{rate:,.0f} logs/s")
        if self.total_bytes and self.bytes_read:
            remaining = elapsed * (self.total_bytes - self.bytes_read) / self.bytes_read
            parts.append(f"ETA {_clock(remaining)}")
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        self._stream.write("\r\x1b[2K" + self.line(now))
        self._stream.flush()
        self._drawn = True


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
