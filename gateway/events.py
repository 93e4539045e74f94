"""A per-terminal broadcast of what the terminal shows and prints, for the EPJ's event stream.

Each subscriber gets a bounded channel; a subscriber that stops reading loses events rather
than slowing the terminal down (the journal, not the stream, is the record of truth).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from medipay.clock import Clock

# Enough for a whole receipt plus status texts between two reads of a slow client.
SUBSCRIBER_BUFFER = 256


class EventHub:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._subscribers: set[trio.MemorySendChannel[dict[str, Any]]] = set()
        self.dropped = 0

    def publish(self, event: dict[str, Any]) -> None:
        event = {"at": self._clock.now().isoformat(), **event}
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[trio.MemoryReceiveChannel[dict[str, Any]]]:
        send, receive = trio.open_memory_channel[dict[str, Any]](SUBSCRIBER_BUFFER)
        self._subscribers.add(send)
        try:
            yield receive
        finally:
            self._subscribers.discard(send)
            await send.aclose()
