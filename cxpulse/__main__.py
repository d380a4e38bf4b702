"""``python -m cxpulse``: the same CLI without relying on PATH (the demo spawns children this way)."""

import sys

from cxpulse.cli import main

sys.exit(main())
