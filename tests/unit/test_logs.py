from __future__ import annotations

import json
import logging

from cxpulse.logs import JsonFormatter, logging_config


def test_json_lines_carry_level_logger_message_and_exception() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("processors.batch", logging.WARNING, __file__, 1,
                                   "dead-lettered %s (%s)", ("cx.calls:0:7", "late"), sys.exc_info())
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "processors.batch"
    assert entry["message"] == "dead-lettered cx.calls:0:7 (late)"
    assert "ValueError: boom" in entry["exception"] and entry["ts"].endswith("+00:00")


def test_config_picks_the_format_and_level() -> None:
    assert logging_config("debug", "json")["root"]["level"] == "DEBUG"
    assert logging_config("INFO", "json")["formatters"]["cxpulse"] == {"()": JsonFormatter}
    assert "format" in logging_config("INFO", "text")["formatters"]["cxpulse"]
