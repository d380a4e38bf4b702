"""Log set-up shared by every process: plain text for people, JSON lines for log pipelines.

``CXPULSE_LOG_FORMAT=json`` makes every line one JSON object (time, level, logger,
message, the exception if any, and every field passed with ``extra=``), so a log
shipper can filter dead letters by reason or a worker's broker outages without
regexes: ``log.warning("dead-lettered %s", src, extra={"reason": "late"})`` gives a
line with ``"reason": "late"``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_OWN_KEYS = frozenset({"ts", "level", "logger", "message", "exception"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra=`` fields become top-level keys (they never
    override the fixed ones), and values JSON cannot encode are written as ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in _OWN_KEYS:
                entry[key] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict; also handed to Faust's worker."""
    formatter: dict[str, Any] = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cxpulse": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": sys.stderr, "formatter": "cxpulse"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


def setup_logging(level: str, fmt: str = "text") -> None:
    import logging.config

    logging.config.dictConfig(logging_config(level, fmt))
