"""`python -m cli`: the same as the `strata` console script."""

import sys

from .main import main

sys.exit(main())
