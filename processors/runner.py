"""Run the Faust worker as a process: topics first, then consume until signalled."""

from __future__ import annotations

import asyncio
import logging

from cxpulse.settings import Settings
from processors.app import create_app
from streams.topics import ensure_topics

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    """Blocks until SIGINT/SIGTERM; Faust stops its agents, acks and commits on the way out."""
    from faust.worker import Worker

    # The dead-letter topic must exist before the first bad message, and Faust only
    # declares the topics its agents read from.
    asyncio.run(ensure_topics(settings))
    app = create_app(settings)
    from cxpulse.logs import logging_config

    worker = Worker(
        app, loglevel=settings.log_level.lower(), quiet=True, redirect_stdouts=False,
        logging_config=logging_config(settings.log_level, settings.log_format),
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
