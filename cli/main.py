"""`strata`: the command-line entry point. Parses arguments, opens a store, runs one command, and maps the
outcome to an exit status:

    0   success (for query: at least one match)
    1   query: no match
    2   bad query (the message points at the column) or bad arguments
    3   anything else failed: server unreachable, data directory locked, a log refused by ingest
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO

import orjson

from . import output
from .ingest import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_LOGS, ingest
from .progress import Progress
from .remote import DEFAULT_SERVER, RemoteStore
from .store import BadQuery, CliError, SearchPage, Store, TailDropped
from .times import parse_duration, since_to_start

EXIT_OK = 0
EXIT_NO_MATCH = 1
EXIT_BAD_QUERY = 2
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130

SYNTAX = (
    "query syntax: word  \"a phrase\"  level:error  message:\"Failed to connect\"  resourceId:=\"exact\"\n"
    "  conn*  message:/regex/  timestamp:[2023-09-10 TO 2023-09-15]  timestamp>=now-1h  field:*\n"
    "  a AND b  a OR b  NOT a  -a  ( … )  *"
)

QUERY_EXAMPLES = f"""\
examples:
  strata query level:error
  strata query 'message:"Failed to connect"' --since 1h
  strata query 'resourceId:server-1234' --output ndjson | jq .message
  strata query 'timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]' --limit 10
  strata query '*' --start 2023-09-15 --end 2023-09-16 --output json
  strata query level:error --data ./strata-data     # no server: open the directory here

{SYNTAX}

exit status: 0 matches, 1 no match, 2 bad query (the error shows the column), 3 other failure
"""

TAIL_EXAMPLES = """\
examples:
  strata tail level:error
  strata tail 'resourceId:server-1234 AND NOT level:debug' --output ndjson
  strata tail '*' -n 0        # only logs that arrive from now on
"""

INGEST_EXAMPLES = """\
examples:
  strata ingest logs.ndjson
  strata ingest day1.ndjson.gz day2.ndjson.zst export.json
  generate-logs | strata ingest -
  strata ingest --skip 12344 logs.ndjson     # resume after fixing line 12345
  strata ingest --data ./strata-data logs.ndjson    # no server: write the directory here

NDJSON (one object per line), a JSON array of objects, or one JSON object; .gz and .zst are
decompressed. Each batch is stored atomically. When a log is refused, the logs before it are stored,
nothing after it, and the error prints the command that resumes after the fix.
"""

STATS_EXAMPLES = """\
examples:
  strata stats
  strata stats --data ./strata-data --output json
"""

SERVE_HELP = "run the HTTP server and web console (strata serve --help for its options)"


def _add_store_options(parser: argparse.ArgumentParser, *, data_help: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--server", metavar="URL", default=os.environ.get("STRATA_SERVER", DEFAULT_SERVER),
                       help="server to talk to (default: $STRATA_SERVER or %(default)s)")
    group.add_argument("--data", metavar="DIR", help=data_help)


def _add_time_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--since", metavar="DURATION", type=_duration,
                       help="only logs from this long ago until now: 30s, 15m, 1h, 7d")
    group.add_argument("--start", metavar="TIME",
                       help="only logs at or after TIME (RFC 3339, a date, epoch, now-1h)")
    parser.add_argument("--end", metavar="TIME", help="only logs at or before TIME")


def _duration(text: str) -> str:
    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="strata", formatter_class=formatter,
        description="Strata, a log store: ingest JSON logs, search them, follow them.",
        epilog="Run `strata COMMAND --help` for a command's options and examples.\n"
               "The web console is at the server's address, e.g. http://127.0.0.1:3000/.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # `serve` is parsed by the server's own configuration (flags and STRATA_* variables); see main().
    commands.add_parser("serve", help=SERVE_HELP, add_help=False)

    query = commands.add_parser(
        "query", help="search logs and print the newest matches", formatter_class=formatter,
        description="Search logs and print the newest matches first.", epilog=QUERY_EXAMPLES)
    query.add_argument("query", nargs="?", default="*", metavar="QUERY", help="the query (default: *)")
    _add_time_options(query)
    query.add_argument("--limit", "-n", type=_positive, default=100, metavar="N",
                       help="print at most N logs (default: %(default)s)")
    query.add_argument("--cursor", metavar="CURSOR", help="continue after a previous page (its next_cursor)")
    query.add_argument("--order", choices=("newest", "oldest"), default="newest",
                       help="newest first (default) or oldest first")
    _add_output_options(query)
    _add_store_options(query, data_help="open this data directory here instead of asking a server "
                                         "(fails while a server holds it)")

    tail = commands.add_parser(
        "tail", help="follow new matching logs as they arrive", formatter_class=formatter,
        description="Print the last matching logs, then follow new ones as they arrive, like tail -f.",
        epilog=TAIL_EXAMPLES)
    tail.add_argument("query", nargs="?", default="*", metavar="QUERY", help="the query (default: *)")
    tail.add_argument("--lines", "-n", type=_positive, default=10, metavar="N",
                      help="first print the last N matches (default: %(default)s)")
    _add_output_options(tail)
    tail.add_argument("--server", metavar="URL", default=os.environ.get("STRATA_SERVER", DEFAULT_SERVER),
                      help="server to follow (default: $STRATA_SERVER or %(default)s)")

    ing = commands.add_parser(
        "ingest", help="send NDJSON or JSON files to the store in batches", formatter_class=formatter,
        description="Send logs from files (or - for stdin) in batches, with a progress bar on a terminal.",
        epilog=INGEST_EXAMPLES)
    ing.add_argument("files", nargs="+", metavar="FILE", help="NDJSON/JSON file, .gz or .zst, or - for stdin")
    ing.add_argument("--skip", type=_positive, default=0, metavar="N",
                     help="skip the first N lines (or array elements) of the first FILE, to resume")
    ing.add_argument("--batch-size", type=_positive, default=DEFAULT_BATCH_LOGS, metavar="N",
                     help="logs per request (default: %(default)s)")
    ing.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    _add_store_options(ing, data_help="write into this data directory here instead of sending to a "
                                      "server (created if missing; fails while a server holds it)")

    stats = commands.add_parser(
        "stats", help="logs, segments, bytes on disk, time span", formatter_class=formatter,
        description="Show how much is stored: logs, segments, bytes on disk, bytes per log, and the "
                    "oldest and newest timestamps.", epilog=STATS_EXAMPLES)
    stats.add_argument("--output", "-o", choices=("table", "json"), default="table",
                       help="table for people (default) or json")
    _add_store_options(stats, data_help="read this data directory here instead of asking a server")
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", choices=output.OUTPUT_FORMATS, default="table",
                        help="table (default; fits the terminal), json (one document), ndjson (one log "
                             "per line), raw (each log's original text)")
    parser.add_argument("--color", "--colour", choices=("auto", "always", "never"), default="auto",
                        help="colour levels in tables: auto (when stdout is a terminal), always, never")
    parser.add_argument("--local", action="store_true", help="tables show local time instead of UTC")


def _use_colour(choice: str, stream: IO[str]) -> bool:
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def open_store(args: argparse.Namespace, *, create: bool = False) -> Store:
    """The store a command talks to: the directory of --data opened here, or the server of --server."""
    if getattr(args, "data", None):
        # Imported only here: talking to a server needs no engine.
        from .embedded import EmbeddedStore

        return EmbeddedStore(args.data, create=create)
    return RemoteStore(args.server)


def run_query(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    start = since_to_start(args.since) if args.since else args.start
    with open_store(args) as store:
        if args.output == "raw":
            return _query_raw(store, args, start, out)
        page = store.search(args.query, start=start, end=args.end, limit=args.limit, cursor=args.cursor,
                            order=args.order)
        if args.output == "table":
            output.render_table(page, out, colour=_use_colour(args.color, out), local_time=args.local)
            out.flush()
            err.write(output.table_footer(page) + "\n")
        elif args.output == "json":
            output.render_json(page, out)
        else:
            output.render_ndjson(page.logs, out)
    return EXIT_OK if page.logs else EXIT_NO_MATCH


def _query_raw(store: Store, args: argparse.Namespace, start: str | None, out: IO[str]) -> int:
    out.flush()
    binary = out.buffer if hasattr(out, "buffer") else None
    if args.order == "newest" and args.cursor is None and args.data is None:
        # The export stream carries each log's original bytes; stop reading after --limit.
        lines = _take(store.export_raw(args.query, start=start, end=args.end), args.limit)
    else:
        page = store.search(args.query, start=start, end=args.end, limit=args.limit, cursor=args.cursor,
                            order=args.order)
        lines = iter(page.raw if page.raw is not None else [orjson.dumps(log) for log in page.logs])
    if binary is not None:
        count = output.render_raw(lines, binary)
    else:
        count = 0
        for line in lines:
            out.write(line.decode("utf-8", "replace") + "\n")
            count += 1
    return EXIT_OK if count else EXIT_NO_MATCH


def _take(lines: Iterator[bytes], limit: int) -> list[bytes]:
    taken: list[bytes] = []
    try:
        for line in lines:
            if len(taken) >= limit:
                break
            taken.append(line)
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()  # ends the export stream early
    return taken


def run_tail(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    printer = _TailPrinter(args, out, _use_colour(args.color, out))
    with RemoteStore(args.server) as store:
        # Subscribe first so that nothing arriving during the look-back is missed; a log that arrives in
        # between comes both ways, and the copy from the stream is skipped.
        stream = store.tail(args.query)
        recent = store.search(args.query, start=None, end=None, limit=args.lines).logs if args.lines else []
        printer.write(recent[::-1])
        already_shown = {orjson.dumps(log) for log in recent}
        for item in stream:
            if isinstance(item, TailDropped):
                err.write(f"strata: the server dropped {item.count:,} logs: this terminal reads too slowly\n")
            elif already_shown and orjson.dumps(item) in already_shown:
                already_shown.discard(orjson.dumps(item))
            else:
                printer.write([item])
    return EXIT_OK


class _TailPrinter:
    """Writes followed logs in the chosen format, flushing each so pipes see them at once."""

    def __init__(self, args: argparse.Namespace, out: IO[str], colour: bool) -> None:
        self._args, self._out, self._colour = args, out, colour
        self._header_done = False

    def write(self, logs: list[dict]) -> None:
        if not logs:
            return
        fmt = self._args.output
        if fmt == "table":
            page = SearchPage(total=len(logs), logs=logs, next_cursor=None, took_ms=0.0)
            # A fixed resource column keeps the rows of successive writes aligned.
            output.render_table(page, self._out, colour=self._colour, local_time=self._args.local,
                                header=not self._header_done, resource_width=output.RESOURCE_MAX)
            self._header_done = True
        elif fmt == "json":
            for log in logs:
                output.render_json(SearchPage(1, [log], None, 0.0), self._out)
        else:  # ndjson, raw: a followed log arrives parsed, so both print it as compact JSON
            output.render_ndjson(logs, self._out)
        self._out.flush()


def run_ingest(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    progress = Progress(err, enabled=not args.quiet and err.isatty())
    started = time.monotonic()
    with open_store(args, create=True) as store:
        report = ingest(store, args.files, skip=args.skip, batch_logs=max(args.batch_size, 1),
                        batch_bytes=DEFAULT_BATCH_BYTES, progress=progress)
        if args.data and not args.quiet and err.isatty():
            err.write("writing segments…\n")
        store.flush()
    report.seconds = time.monotonic() - started
    if not args.quiet:
        err.write(report.summary() + "\n")
    return EXIT_OK


def run_stats(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    with open_store(args) as store:
        stats = store.stats()
    if args.output == "json":
        out.write(orjson.dumps(output.stats_fields(stats), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        output.render_stats(stats, out)
    return EXIT_OK


SERVE_EXAMPLES = """\
examples:
  strata serve                                   # ./strata-data on http://127.0.0.1:3000
  strata serve --data /var/lib/strata --host 0.0.0.0 --port 8080
  STRATA_DATA=/srv/logs strata serve --fsync interval

The web console is at the server's address; the API is described at /openapi.json.
"""


def run_serve(argv: Sequence[str], err: IO[str]) -> int:
    """`strata serve …`: the server's own flags and STRATA_* variables, then run until SIGINT/SIGTERM."""
    from engine import StrataError
    from server import ServerConfig, add_arguments, serve

    parser = argparse.ArgumentParser(
        prog="strata serve", description="Run the HTTP server and web console.", epilog=SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(list(argv))
    try:
        config = ServerConfig.from_namespace(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        serve(config)
    except StrataError as exc:  # the data directory is locked or damaged: the message says which
        err.write(f"strata: {exc}\n")
        return EXIT_FAILED
    except OSError as exc:
        err.write(f"strata: cannot listen on {config.host}:{config.port}: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def report_bad_query(exc: BadQuery, query: str, err: IO[str]) -> None:
    err.write(f"strata: bad query: {exc}\n")
    if exc.column is not None and query:
        # The caret goes under the column the parser names (1-based), under a printable copy of the query.
        shown = query.replace("\t", " ").replace("\n", " ")
        err.write(f"  {shown}\n  {' ' * max(exc.column - 1, 0)}^\n")


_COMMANDS = {"query": run_query, "tail": run_tail, "ingest": run_ingest, "stats": run_stats}


def main(argv: Sequence[str] | None = None) -> int:
    """Run `strata` with `argv` (default: the process arguments) and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = sys.stdout, sys.stderr
    if argv[:1] == ["serve"]:
        return run_serve(argv[1:], err)
    args = build_parser().parse_args(argv)  # exits with status 2 on bad arguments
    try:
        return _COMMANDS[args.command](args, out, err)
    except BadQuery as exc:
        report_bad_query(exc, args.query, err)
        return EXIT_BAD_QUERY
    except CliError as exc:
        err.write(f"strata: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write("\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`strata query … | head`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
