"""Entry point of a builder process: `python -m engine.buildworker` (see engine/builders.py).

A module of its own, which nothing imports, so that running it as __main__ does not load it twice.
"""

# What the jobs use (numpy and pyarrow too), loaded before the first job comes.
import engine.flush
import engine.segments.textfield  # noqa: F401
from engine.builders import serve

serve()
