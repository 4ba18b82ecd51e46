"""The box application for the card-roaming spine: cards in readers ⇄ registrations at the registry.

On insert: read CHUID and the 9E certificate → ask a nonce → the card signs the registration digest with
key 9E → ``register``; the holder's profile is cached. On removal: wipe the holder's cache at once and
``deregister``. After every (re)connect all present cards register again (the registry may have restarted;
no user action is needed). Card and link I/O are passed in; PC/SC calls run in worker threads because
pyscard blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from roamline.firmware.card.errors import CardError
from roamline.firmware.card.events import CardEvent, CardInserted, CardRemoved, ReaderLost
from roamline.firmware.card.reader import ReaderLoop
from roamline.firmware.link.client import LinkClient
from roamline.firmware.link.outbox import OutboxCourier
from roamline.firmware.store import BoxStore
from roamline.wire import messages, signing
from roamline.wire.clock import Clock
from roamline.wire.errors import BoxRevoked, LinkClosed, PeerError, RequestTimeout
from roamline.wire.messages import Envelope, NoncePurpose

log = logging.getLogger(__name__)

SLOT_CARD_AUTH = 0x9E

Observer = Callable[[str, dict[str, Any]], None]


@dataclass(slots=True)
class CardSlot:
    """What the box knows about the card in one reader."""

    reader: str
    inserted_at: float  # monotonic, when PC/SC reported the card
    card_id: str = ""
    cert_pem: str = ""
    registration_id: str = ""
    holder: str = ""
    superseded: bool = False
    wiped: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class BoxApp:
    def __init__(self, *, box_id: str, readers: ReaderLoop, link: LinkClient, store: BoxStore, clock: Clock,
                 observer: Observer | None = None,
                 refresh_s: float = 10.0, location: dict[str, Any] | None = None) -> None:
        self.box_id = box_id
        self._readers = readers
        self._link = link
        self._store = store
        self._clock = clock
        self._observer = observer
        self._refresh_s = refresh_s
        self._location = location
        self._slots: dict[str, CardSlot] = {}
        self._undelivered_deregisters: set[str] = set()
        self._courier = OutboxCourier(store, link)
        self._events: asyncio.Queue[CardEvent] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- wiring -------------------------------------------------------------------------------------

    def card_sink(self, event: CardEvent) -> None:
        """Given to the ReaderLoop as its sink: runs on the PC/SC thread, hands over to the event loop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def slots(self) -> dict[str, CardSlot]:
        return dict(self._slots)

    async def run(self) -> None:
        """Consume card events and refresh leases until cancelled."""
        self._loop = asyncio.get_running_loop()
        refresher = asyncio.create_task(self._refresh_loop(), name="lease-refresh")
        try:
            while True:
                await self._on_card_event(await self._events.get())
        finally:
            refresher.cancel()
            for slot in self._slots.values():
                if slot.task is not None:
                    slot.task.cancel()

    def _emit(self, event: str, **fields: Any) -> None:
        log.info(event, extra={"fields": fields})
        self._store.log_event(event, self._clock.wall(), **fields)
        if self._observer is not None:
            self._observer(event, fields)

    # -- cards --------------------------------------------------------------------------------------

    async def _on_card_event(self, event: CardEvent) -> None:
        if isinstance(event, CardInserted):
            self._forget(event.reader)
            slot = CardSlot(reader=event.reader, inserted_at=event.at)
            self._slots[event.reader] = slot
            self._emit("card-inserted", reader=event.reader)
            slot.task = asyncio.create_task(self._admit(slot), name=f"admit-{event.reader}")
        elif isinstance(event, (CardRemoved, ReaderLost)) and event.reader in self._slots:
            self._emit("card-removed", reader=event.reader)
            await self._leave(event.reader)

    def _wipe(self, slot: CardSlot, why: str) -> None:
        """Forget what was cached for this holder (profile, speed-dials, call list)."""
        if slot.card_id and not slot.wiped:
            self._store.wipe_holder(slot.card_id)
            slot.wiped = True
            self._emit("holder-wiped", card_id=slot.card_id, why=why)

    def _forget(self, reader: str) -> CardSlot | None:
        slot = self._slots.pop(reader, None)
        if slot is not None:
            if slot.task is not None:
                slot.task.cancel()
            self._wipe(slot, "card left")
        return slot

    async def _leave(self, reader: str) -> None:
        slot = self._forget(reader)
        if slot is None or not slot.registration_id or slot.superseded:
            return
        try:
            await self._link.request(messages.Deregister(card_id=slot.card_id))
            self._emit("deregistered", card_id=slot.card_id)
        except PeerError:  # RequestTimeout included
            # Told on the next connect; meanwhile the lease makes the registration lapse by itself.
            self._undelivered_deregisters.add(slot.card_id)

    async def _admit(self, slot: CardSlot) -> None:
        try:
            slot.card_id, slot.cert_pem = await asyncio.to_thread(self._read_card, slot.reader)
            self._emit("card-read", reader=slot.reader, card_id=slot.card_id)
            await self._register(slot)
        except CardError as exc:
            self._emit("card-unusable", reader=slot.reader, reason=str(exc))
        except BoxRevoked:  # the registry will not take cards from this box: say so, do not retry
            self._emit("registration-refused", card_id=slot.card_id, reason="box revoked")
        except (LinkClosed, RequestTimeout):
            self._emit("registration-deferred", card_id=slot.card_id, reason="registry unreachable")

    def _read_card(self, reader: str) -> tuple[str, str]:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        with self._readers.session(reader) as piv:
            piv.select()
            chuid = piv.read_chuid()
            der = piv.read_certificate(SLOT_CARD_AUTH)
        pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")
        return chuid.card_id, pem

    def _sign(self, reader: str, digest: bytes) -> bytes:
        with self._readers.session(reader) as piv:
            piv.select()
            return piv.sign(SLOT_CARD_AUTH, digest)

    async def _register(self, slot: CardSlot) -> None:
        ask = messages.NonceRequest(purpose=NoncePurpose.REGISTER)
        issued = messages.expect(await self._link.request(ask), messages.NonceIssued)
        digest = signing.registration_digest(issued.nonce, self.box_id, slot.card_id)
        signature = await asyncio.to_thread(self._sign, slot.reader, digest)
        try:
            reply = messages.expect(await self._link.request(messages.Register(
                card_cert_pem=slot.cert_pem, card_id=slot.card_id, nonce=issued.nonce, signature=signature,
                location=self._location)), messages.Registered)
        except PeerError as exc:
            self._emit("registration-refused", card_id=slot.card_id, reason=str(exc))
            return
        if self._slots.get(slot.reader) is not slot:
            return  # the card left while we were registering; _leave handled it
        slot.registration_id, slot.holder, slot.superseded = reply.registration_id, reply.holder, False
        slot.wiped = False
        self._store.cache_holder(slot.card_id, {"holder": reply.holder, "numbers": list(reply.numbers),
                                                **reply.profile}, self._clock.wall())
        elapsed_ms = (self._clock.monotonic() - slot.inserted_at) * 1000
        self._emit("registered", card_id=slot.card_id, holder=reply.holder, numbers=list(reply.numbers),
                   insert_to_routable_ms=round(elapsed_ms, 2))

    # -- link ---------------------------------------------------------------------------------------

    async def tell_cloud(self, kind: str, payload: dict[str, Any], key: str | None = None) -> str:
        """Queue something the registry must hear (durably) and try to deliver it now."""
        key = self._store.enqueue(kind, payload, self._clock.wall(), key=key)
        if self._link.is_up:
            await self._courier.flush()
        return key

    async def on_link_up(self, welcome: messages.Welcome) -> None:
        """After every (re)connect: tell what we could not, and register every card present again."""
        self._emit("link-up", box_id=welcome.box_id)
        delivered = await self._courier.flush()
        if delivered:
            self._emit("outbox-delivered", items=delivered)
        for card_id in sorted(self._undelivered_deregisters):
            with contextlib.suppress(PeerError):  # RequestTimeout included
                await self._link.request(messages.Deregister(card_id=card_id))
                self._undelivered_deregisters.discard(card_id)
        for slot in list(self._slots.values()):
            if slot.card_id and not slot.superseded and (slot.task is None or slot.task.done()):
                slot.task = asyncio.create_task(self._reregister(slot), name=f"reregister-{slot.reader}")

    async def _reregister(self, slot: CardSlot) -> None:
        with contextlib.suppress(CardError, LinkClosed, RequestTimeout):
            await self._register(slot)

    async def on_push(self, envelope: Envelope) -> None:
        msg = envelope.message
        if isinstance(msg, messages.Superseded):
            for slot in self._slots.values():
                if slot.card_id == msg.card_id:
                    slot.superseded, slot.registration_id = True, ""
                    self._emit("superseded", card_id=msg.card_id)
                    self._wipe(slot, "registered elsewhere")
        elif isinstance(msg, messages.Revoked):
            self._emit("revoked", what=str(msg.kind), id=msg.id)  # not kind=: log_event's own argument
            for slot in self._slots.values():
                if slot.card_id == msg.id:
                    slot.superseded, slot.registration_id = True, ""
                    self._wipe(slot, "card revoked")
        elif isinstance(msg, messages.HolderProfile):
            for slot in self._slots.values():
                if slot.card_id == msg.card_id and slot.registration_id:
                    self._store.cache_holder(slot.card_id, msg.profile, self._clock.wall())
        else:
            log.debug("push-ignored", extra={"fields": {"type": msg.TYPE}})

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            registered = tuple(s.card_id for s in self._slots.values() if s.registration_id)
            if not registered or not self._link.is_up:
                continue
            try:
                reply = messages.expect(await self._link.request(messages.Refresh(card_ids=registered)),
                                        messages.Refreshed)
            except PeerError:  # RequestTimeout included
                continue
            for slot in self._slots.values():
                if slot.card_id in reply.missing and not slot.superseded:
                    slot.registration_id = ""
                    slot.task = asyncio.create_task(self._reregister(slot))
