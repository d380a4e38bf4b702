"""One Faust message that carries a run of fetched messages of one partition.

Why: one event per Kafka message, most of a Faust worker's CPU is Faust's per-message
delivery, not the agent: the conductor's callback (flow control, producer buffer,
refcount, decode, event creation, queue put) and the stream's iterator (tracking,
sensors, ack) run for every message; a no-op agent costs ~100 µs a message on the
benchmark machine (docs/performance.md). The worker folds messages in batches
anyway, so :class:`processors.fast_consumer.FastDrainConsumer` can hand a topic's
messages to the conductor as one :class:`MessageBatch` per fetched run of a
partition, and Faust's machinery runs once per run instead of once per message.

What stays Faust's: group membership, assignment, fetching, rebalances (a batch
carries the generation it was fetched in, and the stream drops stale ones like any
message), and offset commits. The agent acks every message of a batch through the
public ``Consumer.ack`` once the batch is stored; the batch itself is acked by the
stream like any event. A batch whose processing failed is left un-acked (its
messages too), so no commit passes its first message and it is replayed.

Only topics listed in ``FastTransport.batch_topics`` are delivered this way, and
every agent subscribed to such a topic must accept :class:`MessageBatch` values.
"""

from __future__ import annotations

from typing import Any, Sequence, cast

from faust.types import TP
from faust.types.tuples import ConsumerMessage


class MessageBatch(ConsumerMessage):
    """A carrier: its ``value`` is the run's messages in offset order (so a ``RawSchema``
    topic hands the list to the agent unchanged); its own offset is the last one's.
    ``first_offset`` lets the drain loop detect a gap before the run.
    """

    first_offset: int

    @property
    def messages(self) -> Sequence[ConsumerMessage]:
        return cast(Sequence[ConsumerMessage], self.value)

    @classmethod
    def of(cls, tp: TP, messages: Sequence[ConsumerMessage], generation_id: int | None) -> "MessageBatch":
        last = messages[-1]
        batch = cls(
            last.topic,
            last.partition,
            last.offset,
            last.timestamp,
            last.timestamp_type,
            None,
            None,
            messages,  # type: ignore[arg-type]
            None,
            0,
            sum(m.serialized_value_size or 0 for m in messages),
            tp,
            generation_id=generation_id,
        )
        batch.first_offset = messages[0].offset
        return batch

    def holes(self) -> list[tuple[int, int]]:
        """Offset ranges (inclusive) missing inside the run: compacted or control records.

        Nobody acks a missing offset, so the drain loop records these as gaps, as it
        does for a gap between two fetched messages; the usual run has none.
        """
        messages = self.messages
        if self.offset - self.first_offset + 1 == len(messages):
            return []
        holes: list[tuple[int, int]] = []
        previous = messages[0].offset
        for message in messages[1:]:
            if message.offset - previous > 1:
                holes.append((previous + 1, message.offset - 1))
            previous = message.offset
        return holes


def is_batch(message: Any) -> bool:
    return isinstance(message, MessageBatch)
