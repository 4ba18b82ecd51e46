"""Delivers the box's durable outbox to the registry, exactly once.

Items wait in the local store (call records, voicemail notices, 911 events …) until the registry
acknowledges their idempotency key; an item is forgotten only after its ``ack``. A crash between the
registry storing an item and the box reading the ack means the item is sent again, and the registry
recognises the key: stored once, acknowledged twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from roamline.firmware.store import BoxStore
from roamline.wire import messages
from roamline.wire.errors import PeerError
from roamline.wire.messages import Message

log = logging.getLogger(__name__)


class Requester(Protocol):
    async def request(self, message: Message, timeout: float | None = None) -> Message: ...  # noqa: ASYNC109


class OutboxCourier:
    """``flush`` sends every pending item in order, stopping at the first failure (kept for next time)."""

    def __init__(self, store: BoxStore, link: Requester, *, batch: int = 100) -> None:
        self._store = store
        self._link = link
        self._batch = batch
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Deliver what is pending; returns how many items were acknowledged. Never raises on link trouble."""
        delivered = 0
        async with self._lock:  # one flush at a time, so an item is never in flight twice from here
            while items := self._store.pending(self._batch):
                for item in items:
                    try:
                        reply = await self._link.request(
                            messages.Deliver(key=item.key, kind=item.kind, payload=item.payload))
                        ack = messages.expect(reply, messages.Ack)
                    except PeerError as exc:  # RequestTimeout included
                        log.info("outbox-deferred", extra={"fields": {"key": item.key, "reason": str(exc)}})
                        return delivered
                    if item.key not in ack.keys:
                        log.warning("outbox-ack-mismatch", extra={"fields": {"key": item.key}})
                        return delivered
                    self._store.delivered([item.key])
                    delivered += 1
        return delivered
