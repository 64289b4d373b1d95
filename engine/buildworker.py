"""Entry point of a builder process: `python -m engine.buildworker` (see engine/builders.py).

A module of its own, which nothing imports, so that running it as __main__ does not load it twice.
"""

from engine.builders import serve

serve()
