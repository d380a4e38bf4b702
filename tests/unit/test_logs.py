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


def _emit(**extra: object) -> dict:
    """One record through a real logger (so ``extra=`` is applied as logging does it)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.logs.extra")
    logger.propagate, logger.level = False, logging.INFO
    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.warning("dead-lettered %s", "cx.calls:0:7", extra=extra)
    finally:
        logger.removeHandler(handler)
    return json.loads(JsonFormatter().format(records[0]))


def test_extra_fields_become_json_keys_for_filtering_by_reason() -> None:
    source = {"topic": "cx.calls", "partition": 0, "offset": 7}
    entry = _emit(reason="late", source=source, stream="calls")
    assert entry["reason"] == "late" and entry["source"] == source and entry["stream"] == "calls"
    assert entry["message"] == "dead-lettered cx.calls:0:7"
    # nothing of the LogRecord's own plumbing leaks into the line
    assert set(entry) == {"ts", "level", "logger", "message", "reason", "source", "stream"}


def test_a_line_without_extras_has_only_the_fixed_keys() -> None:
    assert set(_emit()) == {"ts", "level", "logger", "message"}


def test_extras_that_json_cannot_encode_are_written_as_text() -> None:
    from datetime import datetime, timezone

    when = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)
    assert _emit(when=when)["when"] == str(when)


def test_an_extra_cannot_overwrite_a_fixed_key() -> None:
    """logging itself refuses ``extra={"message": ...}``; "level" and "ts" are ours, not logging's."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.level, record.ts = "FORGED", "FORGED"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "INFO" and entry["ts"] != "FORGED"
