"""python -m server --data DIR --host H --port P --fsync POLICY"""

from __future__ import annotations

import errno
import sys

from engine import StrataError

from .config import ServerConfig
from .serve import serve

_BIND_ERRORS = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}


def main(argv: list[str] | None = None) -> int:
    try:
        config = ServerConfig.from_env_and_args(argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        serve(config)
    except StrataError as exc:  # LockedError, CorruptionError, ...: the message says what to do
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" (cannot listen on {config.host}:{config.port})" if exc.errno in _BIND_ERRORS else ""
        print(f"error: {exc}{where}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
