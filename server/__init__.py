"""The Strata HTTP server: ingest and query API on Quart-Trio and Hypercorn (port 3000 by default).

`serve(config)` runs it until SIGINT/SIGTERM; `ServerConfig.from_env_and_args(argv)` reads the same flags
and `STRATA_*` variables as `python -m server`; `create_app(config)` is the bare ASGI application.
"""

from .app import create_app as create_app
from .config import ServerConfig as ServerConfig
from .config import add_arguments as add_arguments
from .serve import serve as serve
from .serve import serve_async as serve_async

__all__ = ["ServerConfig", "add_arguments", "create_app", "serve", "serve_async"]
