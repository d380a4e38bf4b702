"""Run the Faust worker as a process: topics first, then consume until signalled."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cxpulse.settings import Settings
from processors import gc_tuning
from processors.app import create_app
from streams.topics import ensure_topics

log = logging.getLogger(__name__)


def _settle_gc(settings: Settings) -> Any:
    async def settle_gc() -> None:
        """Once the app's services exist, so that their objects are frozen too."""
        await asyncio.sleep(1.0)  # let the consumer's first assignment settle too
        gc_tuning.settle(settings.gc_young_threshold)

    return settle_gc


def run_worker(settings: Settings) -> int:
    """Blocks until SIGINT/SIGTERM; Faust stops its agents, acks and commits on the way out."""
    from faust.worker import Worker

    # The dead-letter topic must exist before the first bad message, and Faust only
    # declares the topics its agents read from.
    asyncio.run(ensure_topics(settings))
    app = create_app(settings)
    if settings.gc_freeze:
        app.task(_settle_gc(settings))
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
