"""ServerConfig: where the server keeps its data, where it listens, and its limits.

Flags win over environment variables (`STRATA_DATA`, `STRATA_HOST`, `STRATA_PORT`), which win over defaults.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FsyncPolicy = Literal["always", "interval", "never"]

DEFAULT_DATA_DIR = "./strata-data"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_MAX_BODY_BYTES = 64 << 20
# One front process per core beyond the first, up to 3; none on one core. Measured on 2 cores only
# (benchmarks.server: 4 clients posting bodies of 1,000 logs, then 64 clients posting single logs, all on the
# same machine): no fronts 133,031 logs/s and 3,428 requests/s; 1 front 124,958-128,865 and 6,803-7,571 (3
# runs). The same single posts to a fresh server: 1 front 8,356-8,502 requests/s, 2 fronts 8,140-8,291.
DEFAULT_FRONTS = min((os.cpu_count() or 1) - 1, 3)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    fsync: FsyncPolicy = "always"

    # A request body (compressed, and again once decompressed) above this is refused with 413 while it is
    # read, so one client cannot make the server buffer without bound.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # One log above this is refused with 400 naming its line; None keeps the engine's default (1 MiB).
    max_log_bytes: int | None = None

    # How long an append waits for segment writing to catch up before the client gets 503 + Retry-After.
    # Short, so a stalled writer turns into fast 503s instead of piles of hung connections.
    stall_timeout: float = 1.5
    # A search running longer than this answers 504.
    search_timeout: float = 10.0

    # Threads that may run searches, exports and histograms at once. Searches are CPU-bound under the GIL,
    # so more threads only add latency. Ingest has its own pool, so searches never hold up acknowledgements.
    query_threads: int = 4
    ingest_threads: int = 16

    # In-flight requests get this long to finish after SIGINT/SIGTERM before they are cancelled.
    graceful_timeout: float = 10.0
    access_log: bool = False

    # Processes that accept the connections and relay their requests to the one that owns the engine
    # (server/relay.py); 0: that one accepts them itself.
    fronts: int = DEFAULT_FRONTS

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_env_and_args(cls, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> ServerConfig:
        """A config from command-line flags (see `add_arguments`) over `STRATA_*` variables over defaults."""
        parser = argparse.ArgumentParser(prog="python -m server", description="Run the Strata HTTP server.")
        add_arguments(parser)
        return cls.from_namespace(parser.parse_args(argv), env)

    @classmethod
    def from_namespace(cls, args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ServerConfig:
        """A config from flags already parsed with `add_arguments` (lets `strata serve` share them)."""
        env = os.environ if env is None else env

        def pick(flag: object, var: str, default: str) -> str:
            if flag is not None:
                return str(flag)
            return env.get(var) or default

        def pick_number(flag: object, var: str, default: int, what: str) -> int:
            text = pick(flag, var, str(default))
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"{what} must be a number, not {text!r}") from None

        port = pick_number(args.port, "STRATA_PORT", DEFAULT_PORT, "port")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {port}")
        fronts = pick_number(args.fronts, "STRATA_FRONTS", DEFAULT_FRONTS, "fronts")
        if fronts < 0:
            raise ValueError(f"fronts must be 0 or more, not {fronts}")
        if args.max_body_bytes is not None and args.max_body_bytes < 1:
            raise ValueError("--max-body-bytes must be positive")
        return cls(
            data_dir=Path(pick(args.data, "STRATA_DATA", DEFAULT_DATA_DIR)),
            host=pick(args.host, "STRATA_HOST", DEFAULT_HOST),
            port=port,
            fsync=args.fsync or "always",
            max_body_bytes=args.max_body_bytes or DEFAULT_MAX_BODY_BYTES,
            max_log_bytes=args.max_log_bytes,
            access_log=args.access_log,
            fronts=fronts,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server's flags to `parser`; every default is None so environment variables can fill in."""
    parser.add_argument("--data", metavar="DIR", help=f"data directory (STRATA_DATA, default {DEFAULT_DATA_DIR})")
    parser.add_argument("--host", help=f"address to listen on (STRATA_HOST, default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, help=f"port to listen on (STRATA_PORT, default {DEFAULT_PORT})")
    parser.add_argument(
        "--fsync",
        choices=["always", "interval", "never"],
        help="when an acknowledged log is on disk: always (before the 200, the default), "
        "interval (within 0.1 s), never (left to the OS)",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, metavar="N", help="largest request body, compressed or not (64 MiB)"
    )
    parser.add_argument("--max-log-bytes", type=int, metavar="N", help="largest single log (default 1 MiB)")
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--fronts",
        type=int,
        metavar="N",
        help=f"processes that take the connections and parse HTTP for the one that owns the engine; 0: it "
        f"serves alone, on Hypercorn (STRATA_FRONTS, default {DEFAULT_FRONTS} on this machine)",
    )
