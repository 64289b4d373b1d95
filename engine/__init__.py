"""Strata's storage engine, embeddable as a library. This module is the whole public API.

    from engine import Engine

    with Engine.open("data") as db:
        db.append([{"level": "error", "message": "Failed to connect to DB"}])
        hits = db.search("level:error", limit=100)
"""

from querylang import QuerySyntaxError as QuerySyntaxError

from .db import Engine as Engine
from .errors import BackpressureError as BackpressureError
from .errors import CorruptionError as CorruptionError
from .errors import EngineClosedError as EngineClosedError
from .errors import FormatVersionError as FormatVersionError
from .errors import IngestError as IngestError
from .errors import LockedError as LockedError
from .errors import QueryError as QueryError
from .errors import QueryTimeoutError as QueryTimeoutError
from .errors import QueryTooBroadError as QueryTooBroadError
from .errors import StrataError as StrataError
from .errors import WriteFailedError as WriteFailedError
from .options import EngineOptions as EngineOptions
from .results import EngineStatistics as EngineStatistics
from .results import Histogram as Histogram
from .results import Hits as Hits

__all__ = [
    "BackpressureError",
    "CorruptionError",
    "Engine",
    "EngineClosedError",
    "EngineOptions",
    "EngineStatistics",
    "FormatVersionError",
    "Histogram",
    "Hits",
    "IngestError",
    "LockedError",
    "QueryError",
    "QuerySyntaxError",
    "QueryTimeoutError",
    "QueryTooBroadError",
    "StrataError",
    "WriteFailedError",
]
