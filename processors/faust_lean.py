"""Two per-message costs of a Faust agent the worker does not need, removed through
Faust's documented extension points (a ``Schema`` subclass and the ``Monitor`` setting).

Why: profiling a no-op Faust agent on the benchmark workload (yappi, CPU clock) put
~12 % of its CPU in decoding keys and values with the ``raw`` codec (the serializer
registry, a codec lookup and two ``app.conf`` reads per message, for bytes that come
out unchanged) and ~6 % in the default ``Monitor``'s per-message bookkeeping
(timestamps, per-stream and per-task dictionaries, a dict per event) that only
Faust's web statistics pages read, and the worker runs without them.

* :class:`RawSchema` hands the message's key and value bytes to the stream as they
  are. The worker validates every event itself and dead-letters a bad one with its
  reason (``streams.decode``), so nothing is lost by skipping Faust's codecs.
* :class:`LeanMonitor` keeps the totals (messages received, events, commits as
  Faust records them) and skips the per-event timing and dictionaries.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import faust
from faust.sensors.monitor import Monitor
from faust.types import TP, AppT, EventT, Message, StreamT


class RawSchema(faust.Schema):
    """Key and value bytes as they arrived: no codec, no serializer registry."""

    def loads_key(self, app: AppT, message: Message, *, loads: Any = None, serializer: Any = None) -> Any:
        return message.key

    def loads_value(self, app: AppT, message: Message, *, loads: Any = None, serializer: Any = None) -> Any:
        return message.value


class LeanMonitor(Monitor):
    """Faust's monitor without its per-message and per-event bookkeeping."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        self.messages_received_total += 1

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT, event: EventT) -> Optional[Dict]:
        self.events_total += 1
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: StreamT, event: EventT, state: Optional[Dict] = None
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        return None
