"""The data directory's lock: one process at a time, and a clear error naming the one holding it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from . import filenames
from .errors import LockedError


def lock_directory(directory: Path) -> int:
    path = directory / filenames.LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise LockedError(f"{directory} is already open by another process (pid {holder}); "
                          "stop it or point this one at another data directory") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
