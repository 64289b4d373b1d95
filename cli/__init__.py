"""The `strata` command line: serve, query, tail, ingest and stats.

Layout: `main.py` parses arguments and maps outcomes to exit codes; `store.py` is the small interface every
command talks to, implemented over HTTP by `remote.py` and over an embedded engine by `embedded.py`;
`output.py` renders hits and statistics; `ingest.py` reads and batches input files; `progress.py` draws the
ingest progress bar; `times.py` reads `--since` and prints log times.

Nothing imports `cli`.
"""
