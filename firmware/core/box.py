"""The box core: one sans-I/O object that owns the card-roaming lifecycle, call control and the line.

``handle(event, now)`` takes a typed event (card, line, handset, link, call signalling, action results)
and returns the actions to carry out; ``poll(now)`` runs what is due at ``deadline()``. Nothing here
reads a clock, sleeps, or touches a device, a socket or SQLite: the runtime does, and feeds results back
as events. So the whole box runs on a ManualClock in tests.

Cards (DESIGN §6.1): insert → ReadCard → CardRead → nonce request → SignCard → register → cached
holder. Removal wipes the holder at once and sends ``deregister`` without waiting for it (undelivered
ones go after the next connect). After every (re)connect every present card registers again.
Superseded / revoked cards are wiped; a revoked box drops its link and backs off.

Calls (DESIGN §4.6, §6.2–6.4): the handset follows the table in ``firmware.core.calls``. Emergency
strings go out the box's own line at their last digit — with or without a card or the cloud, whatever
the line was doing. Other numbers need a registered holder and go to the cloud (``call.place``); with
the cloud unreachable they leave by the box's own line, and the record waits in the outbox.

Location (issue 11): with the location service passed in (``where``), an off-hook while the box's
location is unconfirmed asks first (``firmware.core.moved_prompt``); location speed-dials (``**1``, 311)
are resolved by the registry (``service.resolve``) and then placed like any number.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from roamline.firmware.card import events as card_ev
from roamline.firmware.core import events as ev
from roamline.firmware.core.calls import OFF_HOOK, Phone, PhoneTable, Trig
from roamline.firmware.core.mailbox import PIN_STATES, Mailbox
from roamline.firmware.core.moved_prompt import MovedPrompt, Where
from roamline.firmware.dialplan import Classified, Classifier, Collecting, DigitCollector, Kind
from roamline.firmware.errors import UsageError
from roamline.firmware.handset import events as hs
from roamline.firmware.line import events as line_ev
from roamline.wire import calls as wire_calls
from roamline.wire import grant as wire_grant
from roamline.wire import messages, signing
from roamline.wire import profile as wire_profile
from roamline.wire.calls import CALL_RECORD_KIND
from roamline.wire.emergency import EMERGENCY_CALL_KIND, report_key
from roamline.wire.local_services import LOCAL_CODE_PATTERN, Outcome, ServiceResolve, ServiceResolved
from roamline.wire.messages import NoncePurpose, RevokedKind

Event = card_ev.CardEvent | line_ev.LineEvent | hs.HandsetEvent | ev.Input

REDIAL_PAUSE_S = 0.5  # an emergency dial that failed (no dial tone: the line still held) is tried again
REDIAL_FALLBACK_S = 3.0  # ... also when the modem never reports the line back on hook
SOS_RETRY_S = 1.0  # no line and the cloud unreachable: call.emergency is sent again (and at link-up)
MAILBOX_CODE = "98"  # *98: the holder's voicemail
NO_LINE_PROMPT = "emergency-no-line"  # 911 with the line's modem gone: what the caller is told meanwhile
READBACK_PROMPT = "readback"  # the spoken address and call-back number (firmware.prompts.readback_text)
ATTENDANT_PROMPT = "attendant-menu"  # a shared line's "press 1 for …" (firmware.prompts.spoken)


def attendant_text(menu: tuple[tuple[str, str], ...]) -> str:
    """The attendant's words: "Press 1 for alice. Press 2 for carol." (labels as the registry sent them)."""
    return " ".join(f"Press {key} for {label}." for key, label in menu)


@dataclass(frozen=True, slots=True)
class CoreConfig:
    box_id: str
    has_line: bool = False
    line_can_bridge: bool = False  # full duplex: a conversation can be carried (else messages only)
    line_number: str = ""  # E.164 of the box's own line ("" if unknown)
    refresh_s: float = 10.0
    interdigit_s: float = 4.0
    first_digit_s: float = 15.0
    revoked_backoff_s: float = 300.0
    location: dict[str, Any] | None = None
    choice_keys: str = "2345678"  # "who is calling?" keys (chosen not to start an emergency string)
    announce_s: float = 6.0  # a refusal spoken on the line (a holder's filter) lasts this long
    callback_window_s: float = 3600.0  # after an emergency call, calls to the line ring here directly
    ring_cadence: str = "us"  # the country's plain ring (the call-back window rings with it)
    cut_grace_s: float = 2.0  # the box cuts a call out over its grant's length this much after the cloud
    # the link down while the own line rings: the box answers it and takes a message itself after the line
    # owner's voicemail timeout (a cached profile's, else this one: the profile's default)
    offline_voicemail_s: float = 25.0
    # a shared line's attendant: after the menu starts, the caller has this long (plus 2 s per holder, the
    # time the menu takes to say) to key a choice; said twice, then the default (every holder rings)
    attendant_wait_s: float = 6.0


@dataclass(slots=True)
class Slot:
    reader: str
    gen: int
    inserted_at: float
    state: str = "reading"  # reading | read | nonce | signing | registering | registered | deferred |
    # superseded | unusable
    card_id: str = ""
    cert_pem: str = ""
    nonce: bytes = b""
    registration_id: str = ""
    holder: str = ""
    numbers: tuple[str, ...] = ()
    profile: wire_profile.Profile = wire_profile.EMPTY  # the holder's profile while the card is in


@dataclass(slots=True)
class Call:
    call_id: str
    direction: str  # "in" | "out"
    route: str  # "cloud" | "own-line" | "emergency"
    card_id: str = ""
    number: str = ""  # the other party (E.164 or as dialled)
    flow_id: int | None = None
    started: float = 0.0
    answered: float | None = None
    answer_inferred: bool = False
    offer_key: str = ""
    cadence: str = ""
    caller: ev.CallerInfo | None = None
    cloud_open: bool = False  # own-line: the cloud chose it and holds the call open until told its end
    emergency_callback: bool = False  # the answering point calling back through the cloud (TTY-safe audio)
    sip: bool = False  # emergency: goes by the cloud's SIP route (no line, or its modem gone)


@dataclass(slots=True)
class LineUse:
    kind: str  # "host-in" | "host-out" | "emergency" | "local"
    call_id: str
    state: str  # "ringing" | "answering" | "dialling" | "alerting" | "connected" | "hanging-up"
    flow_id: int | None = None
    key: str = ""  # the cloud's request waiting for our line.result
    rings: int = 0
    caller: ev.CallerInfo | None = None
    started: float = 0.0
    answered: float | None = None
    inferred: bool = False
    then_dial: str = ""  # the lifeline: dial this once the line is back on hook
    reported: bool = False  # the ring went to the cloud (held back at the first ring for caller ID)
    number: str = ""  # emergency: what is dialled (again, after a failed attempt)
    attempts: int = 0  # emergency: dial attempts so far
    prompt: str = ""  # announcing: what the line is told before it hangs up
    cut_at: float | None = None  # host-out: the grant's longest call (the box cuts it itself)
    menu: tuple[tuple[str, str], ...] = ()  # host-in, a shared line: the attendant's (key, label)
    menu_said: int = 0  # times the menu was said on this call
    menu_until: float | None = None  # the caller's time to key a choice runs out


@dataclass(slots=True)
class _Timers:
    refresh: float | None = None
    waiting_tone_off: float | None = None
    redial: float | None = None  # the emergency call's next dial attempt
    announce_end: float | None = None  # hang up the line after a spoken refusal


class BoxCore:
    def __init__(
        self,
        config: CoreConfig,
        classifier: Classifier,
        now: float,
        *,
        new_id: Callable[[], str],
        check_grant: Callable[[str, str, str, str], wire_grant.Grant] | None = None,
        where: Where | None = None,
    ) -> None:
        self.cfg = config
        # the box's location service: with it, an off-hook while the location is unconfirmed asks first
        self._moved = MovedPrompt(where) if where is not None else None
        # (token, call id, line, number) -> the registry's grant, or GrantError (forged, stale, other call).
        # None: this box dials for the cloud without one (tests of other parts; a real box always checks).
        self._check_grant = check_grant
        self._grants_used: dict[str, None] = {}
        self.classifier = classifier
        self._new_id = new_id
        self.slots: dict[str, Slot] = {}
        self._gen = 0
        self.link_up = False
        self.location: dict[str, Any] | None = config.location  # refreshed by LocationSnapshot events
        self.revoked = False
        self._pending_deregisters: set[str] = set()
        self._n = 0
        self.phone = PhoneTable()
        self.collector: DigitCollector | None = None
        self.holder_card: str = ""  # the card whose holder is calling (chosen or the only one)
        self.offers: dict[str, Call] = {}  # offered, ringing or waiting
        self.active: Call | None = None  # the call the handset is in (or placing)
        self.held: Call | None = None  # the other call while switching with hook flash
        self.line: LineUse | None = None
        # the line's modem answers (False from ModemLost until ModemFound or an operation that worked):
        # an emergency call while it is gone goes by the cloud's SIP route (DESIGN §4.6(1), §6.4)
        self.modem_ok = config.has_line
        self._where = where
        self._line_caller: ev.CallerInfo | None = None
        self._digit_at: float | None = None  # when the last keyed digit happened (its event's own time)
        self.callback_until: float | None = None  # the answering point's call-back window ends then
        self.message_waiting = False  # told to the handset (stutter dial tone, visual indicator)
        self.deposits: dict[str, Deposit] = {}  # voicemail being taken on the line, by message id
        self.mailbox: Mailbox | None = None  # the holder listening to their messages (*98)
        self._resolving: str | None = None  # the location speed-dial asked of the registry (its key)
        self.timers = _Timers(refresh=now + config.refresh_s)

    # ---- queries -----------------------------------------------------------------------------------
    def registered(self) -> list[Slot]:
        return [s for s in self.slots.values() if s.state == "registered"]

    def slot_for(self, card_id: str) -> Slot | None:
        return next((s for s in self.slots.values() if s.card_id == card_id), None)

    def deadline(self) -> float | None:
        ts = [
            t
            for t in (
                self.timers.refresh,
                self.timers.waiting_tone_off,
                self.timers.redial,
                self.timers.announce_end,
                self.line.cut_at if self.line is not None else None,
                self._offline_voicemail_at(),
                self.line.menu_until if self.line is not None else None,
                self.collector.deadline() if self.collector else None,
                self.mailbox.deadline() if self.mailbox is not None else None,
            )
            if t is not None
        ]
        return min(ts) if ts else None

    # ---- entry points ------------------------------------------------------------------------------
    def handle(self, event: Event, now: float) -> list[ev.Action]:
        out: list[ev.Action] = []
        if isinstance(event, card_ev.CardEvent):
            self._card(event, now, out)
        elif isinstance(event, hs.HandsetEvent):
            self._handset(event, now, out)
        elif isinstance(event, line_ev.LineEvent):
            self._line_event(event, now, out)
        elif isinstance(event, (ev.CardRead, ev.CardSigned, ev.CardFailed)):
            self._card_result(event, now, out)
        elif isinstance(event, ev.LinkUp):
            self._link_up(event, now, out)
        elif isinstance(event, ev.LocationSnapshot):
            self.location = event.location
        elif isinstance(event, ev.LinkDown):
            self.link_up = False
            for s in self.slots.values():
                if s.state in ("nonce", "signing", "registering"):
                    s.state = "deferred"
            out.append(ev.Emit("link-down", {"reason": event.reason}))
        elif isinstance(event, ev.Reply):
            self._reply(event, now, out)
        elif isinstance(event, ev.RequestFailed):
            self._failed(event, now, out)
        elif isinstance(event, ev.Pushed):
            self._push(event.message, now, out)
        elif isinstance(event, ev.Offered):
            self._offered(event, now, out)
        elif isinstance(event, ev.Cancelled):
            self._cancelled(event, now, out)
        elif isinstance(event, ev.RemoteHangup):
            self._remote_hangup(event, now, out)
        elif isinstance(event, ev.MediaLost):
            self._media_lost(event, now, out)
        elif isinstance(event, ev.Progress):
            self._progress(event, now, out)
        elif isinstance(event, ev.LineCommand):
            self._line_command(event, now, out)
        elif isinstance(event, ev.LineOpDone):
            self._line_done(event, now, out)
        elif isinstance(event, ev.AttendantFallback):
            self._attendant_fallback(event, now, out)
        elif isinstance(event, ev.TakeVoicemail):
            self._take_voicemail(event, now, out)
        elif isinstance(event, ev.LineRecorded):
            self._voicemail_recorded(event, now, out)
        elif isinstance(event, ev.GreetingRecorded):
            self._greeting_recorded(event, out)
        else:
            raise UsageError(f"the box core takes no {type(event).__name__}")
        return out

    def poll(self, now: float) -> list[ev.Action]:
        out: list[ev.Action] = []
        if self.timers.refresh is not None and now >= self.timers.refresh:
            self.timers.refresh = now + self.cfg.refresh_s
            ids = tuple(s.card_id for s in self.registered())
            if ids and self.link_up:
                out.append(ev.Request(self._key("refresh"), messages.Refresh(card_ids=ids)))
        if self.timers.redial is not None and now >= self.timers.redial:
            self.timers.redial = None
            self._redial(now, out)
        if self.timers.waiting_tone_off is not None and now >= self.timers.waiting_tone_off:
            self.timers.waiting_tone_off = None
            if self.phone.state is Phone.CONNECTED:
                out.append(ev.PlayTone(None))
        if self.timers.announce_end is not None and now >= self.timers.announce_end:
            self.timers.announce_end = None
            if self.line is not None and self.line.state == "announcing":
                self._line_hangup(self.line, "filtered", out)
        line = self.line
        if line is not None and line.menu_until is not None and now >= line.menu_until:
            line.menu_until = None
            if line.kind == "host-in" and line.state == "menu":
                self._menu_again_or_default(line, now, out)
        if line is not None and line.cut_at is not None and now >= line.cut_at:
            line.cut_at = None
            if line.kind == "host-out" and line.state != "hanging-up":
                out.append(ev.Emit("line.cut", {"call_id": line.call_id, "why": "longest call reached"}))
                self._line_hangup(line, "limit", out)
        at = self._offline_voicemail_at()
        if at is not None and now >= at:
            self._take_offline_voicemail(now, out)
        if self.collector is not None:
            d = self.collector.poll(now)
            if not isinstance(d, Collecting):
                self._decided(d, now, out)
        if self.mailbox is not None:
            out += self.mailbox.poll(now)  # the PIN's keys ran out of time
            self._mailbox_ended_by_itself(out)
        return out

    def _key(self, what: str) -> str:
        self._n += 1
        return f"{what}:{self._n}"

    # ---- cards -------------------------------------------------------------------------------------
    def _card(self, e: card_ev.CardEvent, now: float, out: list[ev.Action]) -> None:
        if isinstance(e, card_ev.CardInserted):
            self._forget(e.reader, "card left", out)
            self._gen += 1
            self.slots[e.reader] = Slot(reader=e.reader, gen=self._gen, inserted_at=e.at)
            out.append(ev.Emit("card-inserted", {"reader": e.reader}))
            out.append(ev.ReadCard(e.reader, self._gen))
        elif isinstance(e, (card_ev.CardRemoved, card_ev.ReaderLost)) and e.reader in self.slots:
            out.append(ev.Emit("card-removed", {"reader": e.reader}))
            slot = self._forget(e.reader, "card left", out)
            if slot is not None and slot.registration_id and slot.state == "registered":
                if self.link_up:
                    out.append(
                        ev.Request(
                            f"dereg:{slot.card_id}:{self._key('d')}",
                            messages.Deregister(card_id=slot.card_id),
                        )
                    )
                else:
                    self._pending_deregisters.add(slot.card_id)
            if (
                slot is not None
                and self.holder_card == slot.card_id
                and self.phone.state in (Phone.DIAL_TONE, Phone.COLLECTING)
            ):
                self.holder_card = ""  # new calls need another holder; a call in progress goes on

    def _forget(self, reader: str, why: str, out: list[ev.Action]) -> Slot | None:
        slot = self.slots.pop(reader, None)
        if slot is not None and slot.card_id:
            out.append(ev.WipeHolder(slot.card_id))
            slot.profile = wire_profile.EMPTY
            self._tell_message_waiting(out)
            out.append(ev.Emit("holder-wiped", {"card_id": slot.card_id, "why": why}))
            if self.mailbox is not None and self.mailbox.card_id == slot.card_id:
                self.mailbox = None  # their messages stop with the card
                self._mailbox_fail(out, "")
            for call in [c for c in self.offers.values() if c.card_id == slot.card_id]:
                if call is not self.active:
                    self._drop_offer(call, "unknown-card", out)
        return slot

    def _card_result(
        self, e: ev.CardRead | ev.CardSigned | ev.CardFailed, now: float, out: list[ev.Action]
    ) -> None:
        slot = self.slots.get(e.reader)
        if slot is None or slot.gen != e.gen:
            return  # the card left (or was swapped) meanwhile
        if isinstance(e, ev.CardFailed):
            slot.state = "unusable"
            out.append(ev.Emit("card-unusable", {"reader": e.reader, "reason": e.reason}))
        elif isinstance(e, ev.CardRead):
            slot.card_id, slot.cert_pem, slot.state = e.card_id, e.cert_pem, "read"
            out.append(ev.Emit("card-read", {"reader": e.reader, "card_id": e.card_id}))
            self._start_register(slot, out)
        elif slot.state == "signing":
            slot.state = "registering"
            out.append(
                ev.Request(
                    f"register:{slot.reader}:{slot.gen}",
                    messages.Register(
                        card_cert_pem=slot.cert_pem,
                        card_id=slot.card_id,
                        nonce=slot.nonce,
                        signature=e.signature,
                        location=self.location,
                    ),
                )
            )

    def _start_register(self, slot: Slot, out: list[ev.Action]) -> None:
        if not self.link_up:
            slot.state = "deferred"
            out.append(
                ev.Emit("registration-deferred", {"card_id": slot.card_id, "reason": "registry unreachable"})
            )
            return
        slot.state = "nonce"
        out.append(
            ev.Request(
                f"nonce:{slot.reader}:{slot.gen}", messages.NonceRequest(purpose=NoncePurpose.REGISTER)
            )
        )

    def _link_up(self, e: ev.LinkUp, now: float, out: list[ev.Action]) -> None:
        self.link_up = True
        out.append(ev.Emit("link-up", {"box_id": e.box_id}))
        if self.active is not None and self.active.sip and self.timers.redial is not None:
            self.timers.redial = None  # an emergency call waiting for the cloud goes now
            self._sos_resend(out)
        out.append(ev.FlushOutbox())
        for card_id in sorted(self._pending_deregisters):
            out.append(ev.Request(f"dereg:{card_id}:{self._key('d')}", messages.Deregister(card_id=card_id)))
        self._pending_deregisters.clear()
        for slot in self.slots.values():
            if slot.card_id and slot.state in ("read", "deferred", "registered"):
                self._start_register(slot, out)
        if self._moved is not None:
            out.extend(self._moved.resend())

    def _slot_by_key(self, key: str) -> Slot | None:
        _head, _, rest = key.partition(":")
        reader, _, gen = rest.rpartition(":")
        slot = self.slots.get(reader)
        return slot if slot is not None and str(slot.gen) == gen else None

    def _reply(self, e: ev.Reply, now: float, out: list[ev.Action]) -> None:
        kind = e.key.partition(":")[0]
        msg = e.message
        if kind == "nonce":
            slot = self._slot_by_key(e.key)
            if slot is None or slot.state != "nonce" or not isinstance(msg, messages.NonceIssued):
                return
            slot.nonce, slot.state = msg.nonce, "signing"
            out.append(
                ev.SignCard(
                    slot.reader,
                    slot.gen,
                    signing.registration_digest(msg.nonce, self.cfg.box_id, slot.card_id),
                )
            )
        elif kind == "register":
            slot = self._slot_by_key(e.key)
            if slot is None or not isinstance(msg, messages.Registered):
                return
            slot.state, slot.registration_id = "registered", msg.registration_id
            slot.holder, slot.numbers = msg.holder, tuple(msg.numbers)
            self._take_profile(slot, msg.profile, out)
            out.append(
                ev.Emit(
                    "registered",
                    {
                        "card_id": slot.card_id,
                        "holder": msg.holder,
                        "numbers": list(msg.numbers),
                        "insert_to_routable_ms": round((now - slot.inserted_at) * 1000, 2),
                    },
                )
            )
        elif kind == "ring" and isinstance(msg, wire_calls.LineRouted) and msg.attendant:
            self._attend(msg, now, out)
        elif kind == "vm":
            self._mailbox_reply(msg, now, out)
        elif kind == "ring" and isinstance(msg, wire_calls.LineRouted) and msg.filtered:
            self._filtered_ring(msg, now, out)
        elif kind == "dereg":
            out.append(ev.Emit("deregistered", {"card_id": e.key.split(":")[1]}))
        elif kind == "svc":
            self._local_resolved(e.key, msg if isinstance(msg, ServiceResolved) else "refused", now, out)
        elif kind == "location" and self._moved is not None:
            self._moved.acknowledged(e.key)
        elif kind == "refresh" and isinstance(msg, messages.Refreshed):
            for slot in self.slots.values():
                if slot.card_id in msg.missing and slot.state == "registered":
                    slot.registration_id = ""
                    self._start_register(slot, out)

    def _failed(self, e: ev.RequestFailed, now: float, out: list[ev.Action]) -> None:
        kind = e.key.partition(":")[0]
        if kind in ("nonce", "register"):
            slot = self._slot_by_key(e.key)
            if slot is None:
                return
            if e.unreachable:
                slot.state = "deferred"
                out.append(ev.Emit("registration-deferred", {"card_id": slot.card_id, "reason": e.reason}))
            else:
                slot.state = "unusable"
                out.append(ev.Emit("registration-refused", {"card_id": slot.card_id, "reason": e.reason}))
        elif kind == "vm" and self.mailbox is not None:
            self.mailbox = None
            out.append(ev.Emit("voicemail.mailbox-failed", {"reason": e.reason}))
            self._mailbox_fail(out, "cloud-unreachable" if e.unreachable else "refused")
        elif kind == "dereg":
            card_id = e.key.split(":")[1]
            if e.unreachable and self.slot_for(card_id) is None:
                self._pending_deregisters.add(card_id)  # told on the next connect; the lease lapses anyway
        elif kind == "svc":
            self._local_resolved(e.key, "unreachable" if e.unreachable else "refused", now, out)
        elif kind == "location" and self._moved is not None and not e.unreachable:
            self._moved.acknowledged(e.key)  # refused: kept would only be refused again
        elif kind == "bind" and not e.unreachable:
            # the cloud no longer knows this call (it restarted, or ended the call while we were away)
            self._media_lost(ev.MediaLost(e.key.partition(":")[2], "call-gone"), now, out)
        elif kind == "place":
            call_id = e.key.split(":")[1]
            if self.active is not None and self.active.route == "emergency" and not self.active.sip:
                return  # an emergency call on the own line asks the cloud nothing
            active = self.active
            if (active is not None and active.route == "emergency" and active.call_id == call_id
                    and e.unreachable and self.phone.state is Phone.ROUTING):
                # no line and the cloud not reached (nothing was placed): ask again while off hook —
                # every second, and at once when the link comes back
                self.timers.redial = now + SOS_RETRY_S
                out.append(ev.Emit("emergency.retry", {"call_id": call_id, "reason": e.reason}))
                return
            if self.active is not None and self.active.call_id == call_id:
                if e.unreachable and self._line_free():
                    self._dial_out_own_line(self.active, now, out, reason="cloud unreachable")
                else:
                    self._fail(out, "reorder", prompt="cloud-unreachable" if e.unreachable else "refused")

    def _push(self, msg: messages.Message, now: float, out: list[ev.Action]) -> None:
        self._push_one(msg, now, out)
        for s in self.slots.values():
            if s.state != "registered":
                s.profile = wire_profile.EMPTY
        self._tell_message_waiting(out)

    def _push_one(self, msg: messages.Message, now: float, out: list[ev.Action]) -> None:
        if isinstance(msg, messages.Superseded):
            for s in self.slots.values():
                if s.card_id == msg.card_id and s.state != "superseded":
                    s.state, s.registration_id = "superseded", ""
                    out.append(ev.Emit("superseded", {"card_id": msg.card_id}))
                    out.append(ev.WipeHolder(s.card_id))
                    out.append(ev.Emit("holder-wiped", {"card_id": s.card_id, "why": "registered elsewhere"}))
        elif isinstance(msg, messages.Revoked):
            out.append(ev.Emit("revoked", {"what": str(msg.kind), "id": msg.id}))
            if msg.kind is RevokedKind.BOX and msg.id == self.cfg.box_id:
                self.revoked = True
                for s in self.slots.values():
                    if s.card_id:
                        s.state, s.registration_id = "superseded", ""
                        out.append(ev.WipeHolder(s.card_id))
                out.append(ev.DropLink("box revoked", self.cfg.revoked_backoff_s))
                return
            for s in self.slots.values():
                if s.card_id == msg.id:
                    s.state, s.registration_id = "superseded", ""
                    out.append(ev.WipeHolder(s.card_id))
                    out.append(ev.Emit("holder-wiped", {"card_id": s.card_id, "why": "card revoked"}))
        elif isinstance(msg, messages.HolderProfile):
            for s in self.slots.values():
                if s.card_id == msg.card_id and s.state == "registered":
                    self._take_profile(s, msg.profile, out)
                    out.append(ev.Emit("profile-updated", {"card_id": s.card_id, "seq": msg.seq}))
        else:
            out.append(ev.Emit("push-ignored", {"type": msg.TYPE}))

    def _filtered_ring(self, msg: wire_calls.LineRouted, now: float, out: list[ev.Action]) -> None:
        """The registry's filters left nobody to ring for a call on our line: say so on the line (a
        spoken refusal) or, for a silent reject or voicemail (the registry asks for it), let it ring."""
        line = self.line
        out.append(ev.Emit("call.filtered", {"call_id": msg.call_id, "how": msg.filtered}))
        if line is None or line.kind != "host-in" or line.call_id != msg.call_id or line.state != "ringing":
            return
        if msg.filtered != "block":
            return  # reject: let it ring; voicemail: the registry's voicemail.take follows
        line.state = "announcing"
        line.prompt = "refused-filtered"
        out.append(ev.LineDo("answer"))

    def _line_outcome(self, line: LineUse, how: str, account: str, now: float, out: list[ev.Action]) -> None:
        """Nobody takes a call on our line (filters, or the attendant's holder did not answer): a spoken
        refusal ("block") or the holder's voicemail ("voicemail": today a spoken "noted, goodbye"), then
        the box hangs up. Answers the line first when it still rings. ``account``: the holder ("" unknown)."""
        ringing = line.state == "ringing"
        line.state = "announcing"
        line.menu_until = None
        line.prompt = "refused-filtered" if how == "block" else "voicemail-unavailable"
        if ringing:
            out.append(ev.LineDo("answer"))
            return
        out.append(ev.Connect("line", f"prompt:{line.prompt}", line.call_id))
        self.timers.announce_end = now + self.cfg.announce_s

    # ---- the attendant on a shared line (docs/protocol.md §10.6) ------------------------------------
    def _attend(self, msg: wire_calls.LineRouted, now: float, out: list[ev.Action]) -> None:
        """Several holders share our line's number: answer, say "press 1 for …", read the caller's key."""
        line = self.line
        if line is None or line.kind != "host-in" or line.call_id != msg.call_id or line.state != "ringing":
            return
        line.menu = tuple((c.key, c.label) for c in msg.attendant)
        keys = "".join(k for k, _ in line.menu)
        out.append(ev.Emit("attendant.menu", {"call_id": line.call_id, "keys": keys}))
        if not self.cfg.line_can_bridge:
            # this modem cannot hear keys and talk at once: the default at once (every holder rings)
            self._choose(line, "", now, out, answered=False)
            return
        line.state = "attending"
        out.append(ev.MakePrompt(ATTENDANT_PROMPT, attendant_text(line.menu)))
        out.append(ev.LineDo("answer"))

    def _say_menu(self, line: LineUse, now: float, out: list[ev.Action]) -> None:
        line.menu_said += 1
        line.menu_until = now + self.cfg.attendant_wait_s + 2.0 * len(line.menu)
        out.append(ev.Connect("line", f"prompt:{ATTENDANT_PROMPT}", line.call_id))

    def _menu_again_or_default(self, line: LineUse, now: float, out: list[ev.Action]) -> None:
        """No key in time, or a key not in the menu: say it once more, then take the default."""
        if line.menu_said < 2:
            self._say_menu(line, now, out)
        else:
            self._choose(line, "", now, out)

    def _attendant_key(self, line: LineUse, digit: str, now: float, out: list[ev.Action]) -> None:
        out.append(ev.Emit("attendant.key", {"call_id": line.call_id, "key": digit}))
        if any(k == digit for k, _ in line.menu):
            self._choose(line, digit, now, out)
        else:
            self._menu_again_or_default(line, now, out)

    def _choose(self, line: LineUse, key: str, now: float, out: list[ev.Action], *,
                answered: bool = True) -> None:
        line.menu_until = None
        out.append(ev.Emit("attendant.chosen", {"call_id": line.call_id, "key": key or "default"}))
        out.append(ev.CallSignal("line.choice", line.call_id, fields={"key": key}))
        if answered:
            line.state = "offering"  # the caller hears ringback while the chosen holder's boxes ring
            out.append(ev.Connect("line", "tone:ringback", line.call_id))

    def _attendant_fallback(self, e: ev.AttendantFallback, now: float, out: list[ev.Action]) -> None:
        line = self.line
        out.append(ev.Emit("attendant.fallback", {"call_id": e.call_id, "outcome": e.outcome,
                                                  "account": e.account}))
        if line is None or line.kind != "host-in" or line.call_id != e.call_id:
            return
        if line.state not in ("attending", "menu", "offering", "ringing"):
            return
        if e.outcome in ("voicemail", "block"):
            self._line_outcome(line, e.outcome, e.account, now, out)
        elif line.state != "ringing":
            self._line_hangup(line, "filtered", out)  # a silent refusal: hang up without a word

    def _take_profile(self, slot: Slot, raw: dict[str, Any], out: list[ev.Action]) -> None:
        """The holder's profile from the registry: parsed (a bad one is refused and the holder keeps an
        empty profile), cached in the store while the card is in, message waiting told to the handset."""
        try:
            slot.profile = wire_profile.parse(raw)
        except wire_profile.ProfileError as exc:
            slot.profile = wire_profile.EMPTY
            out.append(ev.Emit("profile-refused", {"card_id": slot.card_id, "reason": str(exc)}))
        out.append(ev.CacheHolder(slot.card_id, {"holder": slot.holder, "numbers": list(slot.numbers),
                                                 "profile": slot.profile.to_json()}))
        self._tell_message_waiting(out)

    def _tell_message_waiting(self, out: list[ev.Action]) -> None:
        waiting = any(s.profile.waiting > 0 for s in self.registered())
        if waiting != self.message_waiting:
            self.message_waiting = waiting
            out.append(ev.MessageWaiting(waiting))

    # ---- the handset -------------------------------------------------------------------------------
    def _handset(self, e: hs.HandsetEvent, now: float, out: list[ev.Action]) -> None:
        st = self.phone.state
        if isinstance(e, hs.OffHook):
            if st is Phone.RINGING:
                self._answer(now, out)
            elif st is Phone.IDLE:
                self._lift(now, out)
        elif isinstance(e, hs.OnHook):
            if st in OFF_HOOK:
                self._hang_up(now, out)
        elif isinstance(e, hs.Digit):
            if st in (Phone.DIAL_TONE, Phone.COLLECTING, Phone.FAILED, Phone.CHOOSING):
                self._digit_at = e.at
                self._digit(e.digit, now, out)
            elif st is Phone.CONNECTED and self.mailbox is not None and self.mailbox.state in PIN_STATES:
                self._mailbox_pin_key(e, now, out)
            elif st is Phone.CONNECTED and self.mailbox is not None:
                out += self.mailbox.pressed(e.digit, self._greeting_id())
            elif st is Phone.CONNECTED and self.active is not None:
                self.phone.fire(Trig.DIGIT)
                if self.active.route == "cloud":
                    out.append(ev.CallSignal("call.dtmf", self.active.call_id, fields={"digits": e.digit}))
        elif isinstance(e, hs.HookFlash) and st is Phone.CONNECTED:
            self._flash(now, out)
        # RingTrip / RingDone / CallerIdSent / MessageWaitingSent: nothing to decide

    def _lift(self, now: float, out: list[ev.Action]) -> None:
        regs = self.registered()
        self.collector = DigitCollector(
            self.classifier, now, interdigit_s=self.cfg.interdigit_s, first_digit_s=self.cfg.first_digit_s
        )
        if len(regs) > 1:
            self.phone.fire(Trig.LIFT_CHOOSE)
            self.holder_card = ""
            out.append(ev.PlayPrompt(f"choose-holder-{len(regs)}"))
        else:
            self.phone.fire(Trig.LIFT)
            self.holder_card = regs[0].card_id if regs else ""
            self._dial_tone(out)
        out.append(ev.Emit("off-hook", {"cards": len(regs)}))

    def _dial_tone(self, out: list[ev.Action]) -> None:
        """Dial tone for a lifted handset whose holder is known — after the moved-location prompt when
        the box's location is unconfirmed (``firmware.core.moved_prompt``)."""
        asked = self._moved.lift(self.holder_card) if self._moved is not None else []
        out.extend(asked or [ev.PlayTone("dial")])

    def _moved_key(self, key: str, now: float, out: list[ev.Action]) -> bool:
        """The moved prompt's confirm/next key (True), or not ours: the prompt ends, the key is dialled."""
        taken = self._moved.key(key) if self._moved is not None else None
        if taken is None:
            return False
        actions, snapshot = taken
        out.extend(actions)
        if snapshot is not None:
            self.location = snapshot  # 911 and 933 say the confirmed address from now on
        self.collector = DigitCollector(  # the first-digit wait starts again after the prompt
            self.classifier, now, interdigit_s=self.cfg.interdigit_s, first_digit_s=self.cfg.first_digit_s
        )
        return True

    def _choices(self) -> dict[str, Slot]:
        regs = sorted(self.registered(), key=lambda s: s.reader)
        return dict(zip(self.cfg.choice_keys, regs, strict=False))

    def _digit(self, key: str, now: float, out: list[ev.Action]) -> None:
        st = self.phone.state
        if st is Phone.CHOOSING:
            chosen = self._choices().get(key)
            if chosen is not None:
                self.phone.fire(Trig.CHOSEN)
                self.holder_card = chosen.card_id
                self._dial_tone(out)
                out.append(ev.Emit("holder-chosen", {"card_id": chosen.card_id, "holder": chosen.holder}))
                return
        if (st is Phone.DIAL_TONE and self._moved is not None and self._moved.active
                and self._moved_key(key, now, out)):
            return
        if st is Phone.FAILED or self.collector is None or self.collector.decided is not None:
            self.collector = DigitCollector(
                self.classifier, now, interdigit_s=self.cfg.interdigit_s, first_digit_s=self.cfg.first_digit_s
            )
        if st in (Phone.DIAL_TONE, Phone.FAILED, Phone.CHOOSING):
            out.append(ev.PlayTone(None))
        self.phone.fire(Trig.DIGIT)
        d = self.collector.key(key, now)
        if not isinstance(d, Collecting):
            self._decided(d, now, out)

    def _decided(self, d: Classified, now: float, out: list[ev.Action]) -> None:
        self.collector = None
        if self.phone.state is Phone.DIAL_TONE:  # the first-digit timeout
            self._fail(out, "reorder")
            return
        if d.kind is Kind.EMERGENCY_TEST:
            self._readback(d, out)
        elif d.is_emergency:
            self._emergency(d, now, out)
        elif d.kind is Kind.NUMBER:
            assert d.e164 is not None
            self._place(d.e164, d.dialled, now, out)
        elif d.kind is Kind.PERSONAL:
            self._speed_dial(d, now, out)
        elif d.kind is Kind.LOCATION:
            self._local_dial(d, now, out)
        elif d.kind is Kind.FEATURE and d.code == MAILBOX_CODE:
            self._mailbox_open(now, out)
        elif d.kind is Kind.FEATURE:
            out.append(ev.Emit("dial-reserved", {"class": d.kind.value, "code": d.code}))
            self._fail(out, "reorder", prompt="not-available")
        else:
            out.append(ev.Emit("dial-invalid", {"dialled": d.dialled, "reason": d.reason}))
            self._fail(out, "reorder")

    def _fail(self, out: list[ev.Action], tone: str, prompt: str | None = None) -> None:
        if self.phone.can(Trig.FAIL):
            self.phone.fire(Trig.FAIL)
        out.append(ev.Connect("handset", None))
        if prompt is not None:
            out.append(ev.PlayPrompt(prompt))
        out.append(ev.PlayTone(tone))

    def _speed_dial(self, d: Classified, now: float, out: list[ev.Action]) -> None:
        """``#N`` from the calling holder's profile (the one chosen when several cards are in), routed
        as any other number."""
        slot = self.slot_for(self.holder_card) if self.holder_card else None
        if slot is None or slot.state != "registered":
            out.append(ev.Emit("call-refused", {"dialled": d.dialled, "reason": "no card"}))
            self._fail(out, "reorder", prompt="insert-card")
            return
        entry = slot.profile.speed_dial(d.code or "")
        if entry is None:
            out.append(ev.Emit("speed-dial-empty", {"code": d.code, "card_id": slot.card_id}))
            self._fail(out, "reorder", prompt="no-speed-dial")
            return
        out.append(ev.Emit("speed-dial", {"code": d.code, "number": entry.number, "card_id": slot.card_id}))
        self._place(entry.number, d.dialled, now, out)

    # ---- location speed-dials (**1, 311) ----------------------------------------------------------------
    def _local_dial(self, d: Classified, now: float, out: list[ev.Action]) -> None:
        """``**N`` or an N11 code: the registry says which local service near this box it reaches
        (``service.resolve``); the call is then placed to that number like any other."""
        slot = self.slot_for(self.holder_card) if self.holder_card else None
        if slot is None or slot.state != "registered":
            out.append(ev.Emit("call-refused", {"dialled": d.dialled, "reason": "no card"}))
            self._fail(out, "reorder", prompt="insert-card")
            return
        if re.fullmatch(LOCAL_CODE_PATTERN, d.dialled) is None:
            out.append(ev.Emit("local-dial.unresolved", {"code": d.dialled, "outcome": "no-code"}))
            self._fail(out, "reorder", prompt="local-no-code")
            return
        if not self.link_up:
            out.append(ev.Emit("local-dial.unresolved", {"code": d.dialled, "outcome": "cloud-unreachable"}))
            self._fail(out, "reorder", prompt="cloud-unreachable")
            return
        self._resolving = self._key("svc")
        out.append(ev.Request(self._resolving, ServiceResolve(card_id=slot.card_id, code=d.dialled)))
        out.append(ev.Emit("local-dial", {"code": d.dialled, "card_id": slot.card_id}))

    def _local_resolved(self, key: str, msg: ServiceResolved | str, now: float, out: list[ev.Action]) -> None:
        """The registry's answer, or why there is none ("unreachable", "refused"): the call placed, or a
        spoken reason — unless the handset moved on meanwhile (hung up, dialled something else)."""
        if key != self._resolving:
            return
        self._resolving = None
        if self.phone.state is not Phone.COLLECTING or self.collector is not None:
            return
        if isinstance(msg, str):
            out.append(ev.Emit("local-dial.unresolved", {"outcome": msg}))
            self._fail(out, "reorder", prompt="cloud-unreachable" if msg == "unreachable" else "refused")
            return
        if msg.outcome is Outcome.RESOLVED and msg.number:
            out.append(ev.Emit("local-dial.resolved", {
                "code": msg.code, "number": msg.number, "name": msg.name, "category": msg.category,
                "distance_m": msg.distance_m}))
            self._place(msg.number, msg.code, now, out)
            return
        out.append(ev.Emit("local-dial.unresolved", {"code": msg.code, "outcome": str(msg.outcome),
                                                     "category": msg.category}))
        prompt = "refused-unknown-card" if msg.outcome is Outcome.NO_CARD else f"local-{msg.outcome}"
        self._fail(out, "reorder", prompt=prompt)

    # ---- emergency: the lifeline ---------------------------------------------------------------------
    def _emergency(self, d: Classified, now: float, out: list[ev.Action]) -> None:
        """Dial at once, before anything else is written anywhere (the store, the log, the cloud): the
        dial command is the first action; the outbox report and the log follow it."""
        call = Call(
            call_id=self._new_id(),
            direction="out",
            route="emergency",
            card_id=self.holder_card,
            number=d.dialled,
            started=now,
        )
        self.phone.fire(Trig.ROUTE)
        self.active = call
        self.timers.redial = None
        self.callback_until = now + self.cfg.callback_window_s
        by_line = self.cfg.has_line and self.modem_ok
        route = "own-line" if by_line else "sip"
        if by_line:
            line = self.line
            if line is not None and (line.kind != "emergency" or line.state == "hanging-up"):
                # whatever the line was doing gives way (a host call for someone else, a local call, the
                # last emergency call still going on hook): dial once it is back on hook
                line.then_dial = d.dialled
                self._line_hangup(line, "emergency", out)
                self.line = LineUse("emergency", call.call_id, "hanging-up", started=now, then_dial=d.dialled,
                                    number=d.dialled)
            else:
                self.line = LineUse("emergency", call.call_id, "dialling", started=now, number=d.dialled,
                                    attempts=1)
                out.insert(0, ev.LineDo("dial", d.dialled))
        else:
            # no own line (or its modem gone): the cloud's emergency route, SIP to the answering point
            # (DESIGN §4.6(1), §6.4); no card, right or filter is asked for (card_id is only recorded)
            call.sip = True
            out.insert(0, self._sos_signal(call))
            if self.cfg.has_line:  # the line is there but its modem is not: say so, honestly
                out.append(ev.PlayPrompt(NO_LINE_PROMPT))
        out.append(
            ev.Emit(
                "emergency.dialled",
                {"number": d.dialled, "call_id": call.call_id, "route": route,
                 "digit_at": self._digit_at, "decided_at": now},
            )
        )
        out.append(
            ev.Enqueue(
                EMERGENCY_CALL_KIND,
                {
                    "call_id": call.call_id,
                    "number": d.dialled,
                    "box_id": self.cfg.box_id,
                    "dialled_at": now,
                    "route": route,
                    "card_id": self.holder_card,
                    "line": self.cfg.line_number,
                    "location": self._location_now(),
                },
                key=report_key(call.call_id),
            )
        )

    def _emergency_line_live(self, line: LineUse) -> bool:
        """The emergency call this line carries is still wanted (the handset has not hung up)."""
        return (line.kind == "emergency" and self.active is not None and self.active.call_id == line.call_id
                and self.phone.state in (Phone.ROUTING, Phone.ALERTING, Phone.CONNECTED))

    def _location_now(self) -> dict[str, Any] | None:
        """The location an emergency call carries: the location service's snapshot as of now (a GPS fix
        only while valid and fresh, the confirmed/unconfirmed state as it is), else the last one told."""
        if self._where is not None:
            snap = self._where.snapshot()
            if snap is not None:
                return snap
        return self.location

    def _via_cloud(self, line: LineUse, why: str, now: float, out: list[ev.Action]) -> None:
        """The emergency call on the own line cannot go out because the modem is gone: the cloud's SIP
        route takes it (asked again every second while the cloud is unreachable, and at link-up), and
        the caller is told what happens (a spoken prompt, then ringback once the answering point rings)."""
        call = self.active
        assert call is not None
        self.line = None
        self.timers.redial = None
        if self.phone.state is not Phone.ROUTING:  # it was up on the line: the line's leg is gone
            self.phone.fire(Trig.REROUTE)
            out.append(ev.Connect("handset", None))
            out.append(ev.Connect("line", None))
        call.sip = True
        out.append(self._sos_signal(call))
        out.append(ev.PlayPrompt(NO_LINE_PROMPT))
        out.append(ev.Emit("emergency.rerouted", {"call_id": call.call_id, "route": "sip", "why": why,
                                                 "attempts": line.attempts}))

    def _redial(self, now: float, out: list[ev.Action]) -> None:
        call = self.active
        if call is not None and call.sip:
            if self.cfg.has_line and self.modem_ok and not self.link_up and self.line is None:
                # the modem is back and the cloud still unreachable: the own line takes the call again
                call.sip = False
                self.line = LineUse("emergency", call.call_id, "dialling", started=now, number=call.number,
                                    attempts=1)
                out.append(ev.LineDo("dial", call.number))
                out.append(ev.Emit("emergency.redial", {"call_id": call.call_id, "route": "own-line"}))
                return
            self._sos_resend(out)
            return
        if not self.cfg.has_line:
            self._sos_resend(out)
            return
        line = self.line
        if line is None or line.state not in ("redial", "dial-failed") or not self._emergency_line_live(line):
            return
        line.state, line.attempts = "dialling", line.attempts + 1
        out.append(ev.LineDo("dial", line.number))
        out.append(ev.Emit("emergency.redial", {"call_id": line.call_id, "attempt": line.attempts}))

    def _sos_signal(self, call: Call) -> ev.CallSignal:
        """The ``call.emergency`` of a box with no line: no card, right or filter is asked for."""
        return ev.CallSignal("call.emergency", call.call_id, key=f"place:{call.call_id}",
                             fields={"card_id": call.card_id, "number": call.number,
                                     "line": self.cfg.line_number, "location": self.location})

    def _sos_resend(self, out: list[ev.Action]) -> None:
        call = self.active
        if call is None or call.route != "emergency" or self.phone.state is not Phone.ROUTING:
            return
        out.append(self._sos_signal(call))
        out.append(ev.Emit("emergency.redial", {"call_id": call.call_id, "route": "sip"}))

    def _readback(self, d: Classified, out: list[ev.Action]) -> None:
        """The test number (933 in the US): the box reads its address and call-back number back, from
        its own configuration — no line, card or cloud needed; nothing is dialled or reported."""
        from roamline.firmware.location.readback import readback_text

        text = readback_text(self.location, self.cfg.line_number)
        self.phone.fire(Trig.FAIL)  # the table's "done: a sound until on-hook (or new digits)"
        out.append(ev.Connect("handset", None))
        out.append(ev.PlayPrompt(READBACK_PROMPT))
        out.append(ev.Emit("emergency.readback", {"number": d.dialled, "text": text}))

    # ---- outgoing calls --------------------------------------------------------------------------------
    def _line_free(self) -> bool:
        return self.cfg.has_line and self.line is None

    def _place(self, e164: str, dialled: str, now: float, out: list[ev.Action]) -> None:
        holder = self.holder_card if self.slot_for(self.holder_card) is not None else ""
        if not holder or self.slot_for(holder) is None or self.slot_for(holder).state != "registered":  # type: ignore[union-attr]
            out.append(ev.Emit("call-refused", {"number": e164, "reason": "no card"}))
            self._fail(out, "reorder", prompt="insert-card")
            return
        call = Call(
            call_id=self._new_id(), direction="out", route="cloud", card_id=holder, number=e164, started=now
        )
        self.phone.fire(Trig.ROUTE)
        self.active = call
        if self.link_up:
            out.append(
                ev.CallSignal(
                    "call.place",
                    call.call_id,
                    key=f"place:{call.call_id}",
                    fields={"card_id": holder, "number": e164},
                )
            )
            out.append(ev.Emit("call.placing", {"number": e164, "call_id": call.call_id}))
        elif self._line_free():
            self._dial_out_own_line(call, now, out, reason="cloud unreachable")
        else:
            self._fail(out, "reorder", prompt="cloud-unreachable")

    def _dial_out_own_line(self, call: Call, now: float, out: list[ev.Action], *, reason: str) -> None:
        call.route = "own-line"
        self.line = LineUse("local", call.call_id, "dialling", started=now)
        out.append(ev.LineDo("dial", self._dial_string(call.number)))
        out.append(
            ev.Emit(
                "call.placing",
                {"number": call.number, "call_id": call.call_id, "route": "own-line", "why": reason},
            )
        )

    def _dial_string(self, number: str) -> str:
        """What the modem dials for an E.164 number: at home the trunk prefix and the national number
        (1 + ten digits in the NANP, 0 + national elsewhere: valid from any line of the country), else
        the international prefix and the digits."""
        if not number.startswith("+"):
            return number
        import phonenumbers

        plan = self.classifier.plan
        try:
            n = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            return number.lstrip("+")
        if n.country_code != phonenumbers.country_code_for_region(plan.country):
            return plan.international_prefix + number[1:]
        return plan.trunk_prefix + str(n.national_number)

    def _progress(self, e: ev.Progress, now: float, out: list[ev.Action]) -> None:
        call = self._call(e.call_id)
        if call is None or (call.route == "emergency" and not call.sip):
            return  # an emergency call on the box's own line is the line's, whatever the cloud says
        st = self.phone.state
        if e.state == "placed":
            call.flow_id = e.flow_id
        elif e.state == "own-line":
            if self._line_free():
                call.cloud_open = True
                self._dial_out_own_line(call, now, out, reason="cloud chose own line")
            else:
                self._fail(out, "busy")
        elif e.state == "ringing" and st in (Phone.ROUTING, Phone.ALERTING):
            self.phone.fire(Trig.RINGBACK)
            out.append(ev.PlayTone("ringback"))
        elif e.state == "answered":
            if e.flow_id is not None:
                call.flow_id = e.flow_id
            if call is self.active and st in (Phone.ROUTING, Phone.ALERTING, Phone.ANSWERING):
                self.phone.fire(Trig.ANSWERED)
                call.answered = now
                out.append(ev.PlayTone(None))
                out.append(ev.Connect("handset", f"flow:{call.flow_id}", call.call_id,
                                      tty_safe=call.route == "emergency" or call.emergency_callback))
                out.append(ev.Emit("call.answered", {"call_id": call.call_id, "number": call.number}))
            elif call is self.active and st is Phone.CONNECTED:  # the waiting call taken by flash
                self.phone.fire(Trig.ANSWERED)
                call.answered = now
                out.append(ev.Connect("handset", f"flow:{call.flow_id}", call.call_id))
        elif e.state == "warning":
            # the host line's rights end this call soon: a short tone over the conversation
            out.append(ev.Emit("call.limit-warning", {"call_id": call.call_id}))
            if st is Phone.CONNECTED:
                out.append(ev.PlayTone("call_waiting"))
                self.timers.waiting_tone_off = now + 0.6
        elif e.state in ("busy", "refused", "ended", "answered-elsewhere", "gone"):
            if call is self.active and st in (
                Phone.ROUTING,
                Phone.ALERTING,
                Phone.ANSWERING,
                Phone.CONNECTED,
            ):
                tone = "busy" if e.state == "busy" else "reorder"
                prompt = f"refused-{e.reason}" if e.state == "refused" and e.reason else None
                out.append(
                    ev.Emit(
                        "call.ended",
                        {"call_id": call.call_id, "number": call.number, "reason": e.reason or e.state},
                    )
                )
                self._record(call, now, e.reason or e.state, out)
                self.active = None
                if st is Phone.CONNECTED:
                    self.phone.fire(Trig.FAR_END)
                    out.append(ev.Connect("handset", None))
                    out.append(ev.PlayTone(tone))
                else:
                    self._fail(out, tone, prompt=prompt)
            elif call is self.held:
                self.held = None

    def _call(self, call_id: str) -> Call | None:
        for c in (self.active, self.held, *self.offers.values()):
            if c is not None and c.call_id == call_id:
                return c
        return None

    # ---- incoming calls -----------------------------------------------------------------------------------
    def _offered(self, e: ev.Offered, now: float, out: list[ev.Action]) -> None:
        slot = self.slot_for(e.card_id)
        st = self.phone.state
        if (slot is None or slot.state != "registered") and not e.emergency_callback:
            out.append(
                ev.CallSignal("offer.declined", e.call_id, key=e.key, fields={"reason": "unknown-card"})
            )
            return
        call = Call(
            call_id=e.call_id,
            direction="in",
            route="cloud",
            card_id=e.card_id,
            number=e.caller.number or "",
            flow_id=e.flow_id,
            started=now,
            offer_key=e.key,
            cadence=e.cadence,
            caller=e.caller,
            emergency_callback=e.emergency_callback,
        )
        if st in (Phone.IDLE, Phone.RINGING):
            first = st is Phone.IDLE
            self.phone.fire(Trig.OFFER)
            self.offers[e.call_id] = call
            if first:
                out.append(ev.RingHandset(e.cadence, e.caller))
            out.append(ev.CallSignal("offer.ringing", e.call_id, key=e.key))
            out.append(
                ev.Emit(
                    "call.ringing",
                    {
                        "call_id": e.call_id,
                        "number": e.number,
                        "cadence": e.cadence,
                        "caller_number": e.caller.number,
                        "caller_name": e.caller.name,
                        "holder": slot.holder if slot is not None else None,
                        "emergency_callback": e.emergency_callback,
                    },
                )
            )
        elif (
            st is Phone.CONNECTED
            and self.held is None
            and not any(c is not self.active for c in self.offers.values())
        ):
            self.phone.fire(Trig.OFFER)
            self.offers[e.call_id] = call
            self.timers.waiting_tone_off = now + 0.6
            out.append(ev.PlayTone("call_waiting"))
            out.append(ev.CallSignal("offer.ringing", e.call_id, key=e.key))
            out.append(ev.Emit("call.waiting", {"call_id": e.call_id, "caller_number": e.caller.number}))
        else:
            out.append(ev.CallSignal("offer.declined", e.call_id, key=e.key, fields={"reason": "busy"}))

    def _drop_offer(self, call: Call, reason: str, out: list[ev.Action]) -> None:
        self.offers.pop(call.call_id, None)
        out.append(ev.CallSignal("call.reject", call.call_id, fields={"reason": reason}))
        self._after_offer_gone(out)

    def _after_offer_gone(self, out: list[ev.Action]) -> None:
        if self.phone.state is Phone.RINGING:
            if self.offers:
                self.phone.fire(Trig.CANCEL_ONE)
                first = next(iter(self.offers.values()))
                out.append(ev.RingHandset(first.cadence, first.caller))
            else:
                self.phone.fire(Trig.CANCEL_LAST)
                out.append(ev.StopRinging())

    def _cancelled(self, e: ev.Cancelled, now: float, out: list[ev.Action]) -> None:
        out.append(ev.CallSignal("ack", e.call_id, key=e.key))
        call = self.offers.pop(e.call_id, None)
        if call is None:
            return
        out.append(ev.Emit("call.cancelled", {"call_id": e.call_id, "reason": e.reason}))
        if self.phone.state is Phone.ANSWERING and call is self.active:
            self.active = None
            self._fail(out, "reorder")
            return
        self._after_offer_gone(out)

    def _in_callback_window(self, now: float) -> bool:
        return (self.callback_until is not None and now < self.callback_until and self.cfg.has_line
                and self.phone.state is Phone.IDLE and not self.offers)

    def _answer(self, now: float, out: list[ev.Action]) -> None:
        line = self.line
        if line is not None and line.kind == "callback" and line.state == "ringing":
            self.phone.fire(Trig.LIFT_ANSWER)
            out.append(ev.StopRinging())
            line.state = "answering"
            caller = line.caller.number if line.caller is not None else ""
            self.active = Call(call_id=line.call_id, direction="in", route="emergency-callback",
                               number=caller or "", started=now)
            out.insert(0, ev.LineDo("answer"))
            for other in list(self.offers.values()):
                self._drop_offer(other, "busy", out)
            return
        call = next(iter(self.offers.values()))
        self.phone.fire(Trig.LIFT_ANSWER)
        self.active = call
        out.append(ev.StopRinging())
        out.append(
            ev.CallSignal(
                "call.answer", call.call_id, key=f"answer:{call.call_id}", fields={"card_id": call.card_id}
            )
        )
        for other in [c for c in self.offers.values() if c is not call]:
            self._drop_offer(other, "busy", out)
        self.offers.pop(call.call_id, None)

    def _flash(self, now: float, out: list[ev.Action]) -> None:
        self.phone.fire(Trig.FLASH)
        waiting = next((c for c in self.offers.values() if c is not self.active), None)
        if waiting is not None:  # take the waiting call; the first one is held
            self.offers.pop(waiting.call_id, None)
            self.held, self.active = self.active, waiting
            self.timers.waiting_tone_off = None
            out.append(ev.PlayTone(None))
            out.append(
                ev.CallSignal(
                    "call.answer",
                    waiting.call_id,
                    key=f"answer:{waiting.call_id}",
                    fields={"card_id": waiting.card_id},
                )
            )
            out.append(ev.Emit("call.switched", {"to": waiting.call_id}))
        elif self.held is not None:
            self.held, self.active = self.active, self.held
            assert self.active is not None
            out.append(ev.Connect("handset", f"flow:{self.active.flow_id}", self.active.call_id))
            out.append(ev.Emit("call.switched", {"to": self.active.call_id}))

    def _remote_hangup(self, e: ev.RemoteHangup, now: float, out: list[ev.Action]) -> None:
        out.append(ev.CallSignal("ack", e.call_id, key=e.key))
        call = self._call(e.call_id)
        if call is None or (call.route == "emergency" and not call.sip):
            return  # the cloud cannot end an emergency call on the box's own line
        self._far_end_gone(call, e.reason, now, out)

    def _media_lost(self, e: ev.MediaLost, now: float, out: list[ev.Action]) -> None:
        """A relayed call's voice is gone (silence with the link down, or the cloud forgot the call):
        end it here — a host line is hung up, a handset hears reorder — and record it."""
        line = self.line
        if line is not None and line.call_id == e.call_id and line.kind in ("host-in", "host-out"):
            out.append(ev.Emit("call.media-lost", {"call_id": e.call_id, "reason": e.reason, "side": "host"}))
            self._line_hangup(line, e.reason, out)
            return
        call = self._call(e.call_id)
        if call is None or call.route != "cloud":
            return
        out.append(ev.Emit("call.media-lost", {"call_id": e.call_id, "reason": e.reason, "side": "terminal"}))
        if self.link_up and e.reason == "media-silence":
            out.append(ev.CallSignal("call.hangup", call.call_id, fields={"reason": "media-silence"}))
        self._far_end_gone(call, e.reason, now, out)

    def _far_end_gone(self, call: Call, reason: str, now: float, out: list[ev.Action]) -> None:
        out.append(
            ev.Emit("call.ended", {"call_id": call.call_id, "number": call.number, "reason": reason})
        )
        self._record(call, now, reason, out)
        if call is self.held:
            self.held = None
        elif call is self.active:
            self.active = None
            if self.held is not None:  # back to the held call
                self.active, self.held = self.held, None
                out.append(ev.Connect("handset", f"flow:{self.active.flow_id}", self.active.call_id))
            elif self.phone.can(Trig.FAR_END):
                self.phone.fire(Trig.FAR_END)
                out.append(ev.Connect("handset", None))
                out.append(ev.PlayTone("reorder"))
            else:
                self._fail(out, "reorder")
        else:
            self.offers.pop(call.call_id, None)
            self._after_offer_gone(out)

    def _hang_up(self, now: float, out: list[ev.Action]) -> None:
        self.phone.fire(Trig.HANG_UP)
        if self._moved is not None:
            self._moved.hang_up()  # not confirmed: asked again at the next off-hook
        self.collector = None
        if self.mailbox is not None and self.mailbox.state == "greeting":
            out.append(ev.StopGreeting(self.mailbox.greeting_id))  # hung up mid-greeting: not kept
        self.mailbox = None
        self.holder_card = ""
        out.append(ev.PlayTone(None))
        out.append(ev.Connect("handset", None))
        for call in [c for c in (self.active, self.held) if c is not None]:
            if call.route == "cloud" or (call.route == "emergency" and call.sip):
                out.append(ev.CallSignal("call.hangup", call.call_id, fields={"reason": "hangup"}))
            elif self.line is not None and self.line.call_id == call.call_id:
                self._line_hangup(self.line, "local-hangup", out)
            self._tell_own_line_end(call, "hangup", out)
            out.append(
                ev.Emit("call.ended", {"call_id": call.call_id, "number": call.number, "reason": "hangup"})
            )
            self._record(call, now, "hangup", out)
        self.active = self.held = None
        for call in list(self.offers.values()):  # a waiting call nobody took
            self._drop_offer(call, "busy", out)
        out.append(ev.Emit("on-hook", {}))

    def _tell_own_line_end(self, call: Call, reason: str, out: list[ev.Action]) -> None:
        """An own-line call the cloud placed is open at the router until the box says it ended."""
        if call.route == "own-line" and call.cloud_open and self.link_up:
            call.cloud_open = False
            out.append(ev.CallSignal("call.hangup", call.call_id, fields={"reason": reason}))

    def _record(self, call: Call, now: float, reason: str, out: list[ev.Action]) -> None:
        # Times are the core's clock; the runtime turns every ``*_at`` into Unix seconds when it enqueues.
        payload = {
            "call_id": call.call_id,
            "box_id": self.cfg.box_id,
            "side": "terminal",
            "direction": call.direction,
            "route": call.route,
            "card_id": call.card_id,
            "number": call.number,
            "started_at": call.started,
            "answered_at": call.answered,
            "ended_at": now,
            "duration_s": round(now - call.answered, 3) if call.answered is not None else 0.0,
            "answer_inferred": call.answer_inferred,
            "outcome": "answered" if call.answered is not None else "missed",
            "reason": reason,
        }
        out.append(ev.Enqueue(CALL_RECORD_KIND, payload,
                              key=f"{CALL_RECORD_KIND}:{call.call_id}:{self.cfg.box_id}:terminal"))

    # ---- the box's own line -------------------------------------------------------------------------------
    def _line_hangup(self, line: LineUse, reason: str, out: list[ev.Action]) -> None:
        if line.kind == "host-in":
            self._stop_deposit(line.call_id, "cancelled", out)
        if line.state != "hanging-up":
            line.state = "hanging-up"
            out.append(ev.LineDo("hangup"))
            out.append(ev.Connect("line", None))
            if line.kind in ("host-in", "host-out"):
                out.append(
                    ev.CallSignal(
                        "line.state",
                        line.call_id,
                        fields={
                            "state": "line-lost" if reason == "emergency" else "far-end-hangup",
                            "detail": reason,
                        },
                    )
                )

    def _line_event(self, e: line_ev.LineEvent, now: float, out: list[ev.Action]) -> None:
        line = self.line
        if isinstance(e, line_ev.DtmfDigit):
            if line is not None and line.kind == "host-in" and line.state == "menu":
                self._attendant_key(line, e.digit, now, out)
        elif isinstance(e, line_ev.CallerIdReceived):
            c = e.caller_id
            reasons = {"P": "private", "O": "unavailable"}
            absent = reasons.get(str(c.number_absent)) if c.number_absent else None
            self._line_caller = ev.CallerInfo(c.number, c.name, absent)
            if line is not None and line.kind == "host-in" and line.state == "ringing" and line.reported \
                    and line.caller is not None:
                # caller ID again while "still ringing": the first caller gave up and a new call rings
                # before the modem's ring-gap timeout could tell (the line reports a new call's caller ID)
                out.append(ev.CallSignal("line.state", line.call_id, fields={"state": "caller-gone",
                                                                              "detail": "new call"}))
                self.line = line = LineUse("host-in", self._new_id(), "ringing", started=now,
                                           caller=self._line_caller, rings=1)
                self._report_ring(line, out)
            elif line is not None and line.kind == "callback":
                line.caller = self._line_caller  # the answering point's number, for the call's record
            elif line is not None and line.kind == "host-in":
                line.caller = self._line_caller
                if line.state == "ringing" and line.rings and not line.reported:
                    self._report_ring(line, out)  # the caller ID the first ring waited for
        elif isinstance(e, line_ev.Ring):
            if line is None and self._in_callback_window(now):
                # the answering point calling back: ring this handset directly — no cloud, no card,
                # no filter, no voicemail (DESIGN §6.4)
                self.line = line = LineUse("callback", self._new_id(), "ringing", started=now,
                                           caller=self._line_caller, rings=e.count)
                self.phone.fire(Trig.OFFER)
                out.append(ev.RingHandset(self.cfg.ring_cadence, self._line_caller))
                out.append(ev.Emit("emergency.callback-ringing", {"call_id": line.call_id}))
                return
            if line is None:
                self.line = line = LineUse(
                    "host-in", self._new_id(), "ringing", started=now, caller=self._line_caller
                )
            if line.kind == "host-in" and line.state == "ringing":
                line.rings = e.count
                # Caller ID comes between the first and second ring (US) or before the first (UK): the
                # cloud offers the call once, so the first report waits for it until the second ring.
                if line.reported or line.caller is not None or e.count >= 2:
                    self._report_ring(line, out)
                else:
                    out.append(ev.Emit("line.ring-held", {"call_id": line.call_id, "why": "caller ID"}))
        elif isinstance(e, line_ev.AnswerInferred):
            if line is not None and line.state in ("alerting", "dialling"):
                line.state, line.answered, line.inferred = "connected", now, True
                self._line_connected(line, now, out)
        elif isinstance(e, (line_ev.Ringback,)):
            if line is not None and line.kind == "local" and self.phone.state is Phone.ROUTING:
                self.phone.fire(Trig.RINGBACK)
                out.append(ev.PlayTone("ringback"))
            if line is not None and line.kind == "host-out":
                out.append(ev.CallSignal("line.state", line.call_id, fields={"state": "ringback"}))
        elif isinstance(e, line_ev.CallEnded):
            self._line_ended(e.reason, now, out)
        elif isinstance(e, line_ev.ModemLost):
            self.modem_ok = False
            out.append(ev.Emit("line.modem-lost", {"reason": e.reason}))
            if line is not None and line.state == "redial" and self._emergency_line_live(line):
                self._via_cloud(line, e.reason, now, out)  # waiting to dial again: no modem to dial with
        elif isinstance(e, line_ev.ModemFound):
            self.modem_ok = self.cfg.has_line
            out.append(ev.Emit("line.modem-found", {"device": e.device}))

    def _report_ring(self, line: LineUse, out: list[ev.Action]) -> None:
        caller = line.caller or ev.CallerInfo(absent="unavailable")
        line.reported = True
        out.append(ev.Emit("line.ring", {"call_id": line.call_id, "rings": line.rings,
                                         "caller_number": caller.number, "caller_name": caller.name}))
        if self.link_up:
            out.append(ev.CallSignal("line.ring", line.call_id, key=f"ring:{line.call_id}:{line.rings}",
                                     fields={"line": self.cfg.line_number, "rings": line.rings,
                                             "caller": caller}))

    def _line_connected(self, line: LineUse, now: float, out: list[ev.Action]) -> None:
        if line.kind == "host-out":
            out.append(
                ev.CallSignal(
                    "line.state", line.call_id, fields={"state": "answered", "inferred": line.inferred}
                )
            )
        elif (
            line.kind in ("local", "emergency")
            and self.active is not None
            and self.active.call_id == line.call_id
        ):
            self.active.answered, self.active.answer_inferred = now, line.inferred
            if line.kind == "local":
                out.append(ev.Emit("call.answered", {"call_id": line.call_id, "number": self.active.number,
                                                     "route": "own-line", "inferred": line.inferred}))
            if self.active.cloud_open:  # the cloud's record of the call: answered
                out.append(ev.CallSignal("line.state", line.call_id,
                                         fields={"state": "answered", "inferred": line.inferred}))
            if self.phone.state in (Phone.ROUTING, Phone.ALERTING):
                self.phone.fire(Trig.ANSWERED)
                out.append(ev.PlayTone(None))

    def _line_ended(self, reason: str, now: float, out: list[ev.Action]) -> None:
        line = self.line
        modem_lost = reason.startswith("modem-lost")
        gone = modem_lost or not self.modem_ok
        if line is not None and self._emergency_line_live(line) and (
                (line.state in ("dialling", "dial-failed", "hanging-up") and gone)
                or (line.state in ("alerting", "connected") and modem_lost)):
            self._via_cloud(line, reason, now, out)  # the modem is gone: the call must not wait for it
            return
        if line is not None and line.state in ("dialling", "dial-failed") and self._emergency_line_live(line):
            # the emergency dial did not get through (no dial tone: the exchange still holds the line for
            # the last caller, or a dead line): the line is back on hook, try again shortly
            line.state = "redial"
            self.timers.redial = now + REDIAL_PAUSE_S
            out.append(ev.Emit("emergency.dial-failed", {"call_id": line.call_id, "reason": reason,
                                                         "attempt": line.attempts}))
            return
        self.line = None
        self._line_caller = None
        if line is None:
            return
        out.append(ev.Connect("line", None))
        out.append(ev.Emit("line.ended", {"call_id": line.call_id, "use": line.kind, "reason": reason}))
        lost = "line-lost" if reason.startswith("modem-lost") else "hangup"
        deposit = self._stop_deposit(line.call_id, lost, out)
        if line.key:
            # the cloud's line request still waits (the line bridge reports CallEnded before the
            # operation's LineOpDone, which then finds no line): answer it now, once
            result = {"hanging-up": "hung-up", "answering": "caller-gone"}.get(line.state, "error")
            out.append(ev.CallSignal("line.result", line.call_id, key=line.key,
                                     fields={"result": result, "detail": reason}))
            line.key = ""
        if line.kind in ("host-in", "host-out") and line.state != "hanging-up":
            state = (
                "caller-gone"
                if line.state == "ringing"
                else "line-lost"
                if reason.startswith("modem-lost")
                else (
                    "busy" if reason == "busy" else "no-answer" if reason == "no-answer" else "far-end-hangup"
                )
            )
            out.append(ev.CallSignal("line.state", line.call_id, fields={"state": state, "detail": reason}))
        if line.kind in ("host-in", "host-out"):
            out.append(
                ev.Enqueue(
                    CALL_RECORD_KIND,
                    {
                        "call_id": line.call_id,
                        "box_id": self.cfg.box_id,
                        "side": "host",
                        "kind": line.kind,
                        "line": self.cfg.line_number,
                        "started_at": line.started,
                        "answered_at": line.answered,
                        "ended_at": now,
                        "answer_inferred": line.inferred,
                        "outcome": "answered" if line.answered is not None else "missed",
                        "reason": reason,
                        **({"voicemail": deposit.message_id} if deposit is not None else {}),
                        # the registry never saw this call: the record it makes needs who called whom
                        **({"route": "offline-voicemail", "number": self.cfg.line_number,
                            "caller": (line.caller.number if line.caller else None) or ""}
                           if deposit is not None and deposit.offline else {}),
                    },
                    key=f"{CALL_RECORD_KIND}:{line.call_id}:{self.cfg.box_id}:host",
                )
            )
        if line.kind == "callback" and self.phone.state is Phone.RINGING:
            self.phone.fire(Trig.CANCEL_LAST)  # the caller gave up before anyone lifted
            out.append(ev.StopRinging())
            return
        if line.then_dial:
            self.line = LineUse(
                "emergency", self.active.call_id if self.active else self._new_id(), "dialling", started=now,
                number=line.then_dial, attempts=1,
            )
            out.insert(0, ev.LineDo("dial", line.then_dial))
            return
        if (
            line.kind in ("local", "emergency", "callback")
            and self.active is not None
            and self.active.call_id == line.call_id
        ):
            call, self.active = self.active, None
            out.append(
                ev.Emit("call.ended", {"call_id": call.call_id, "number": call.number, "reason": reason})
            )
            self._tell_own_line_end(call, "busy" if reason == "busy" else "far-end", out)
            self._record(call, now, reason, out)
            tone = "busy" if reason == "busy" else "reorder"
            if self.phone.state is Phone.CONNECTED:
                self.phone.fire(Trig.FAR_END)
                out.append(ev.Connect("handset", None))
                out.append(ev.PlayTone(tone))
            else:
                self._fail(out, tone)

    def _line_command(self, e: ev.LineCommand, now: float, out: list[ev.Action]) -> None:
        line = self.line
        if not self.cfg.has_line:
            out.append(
                ev.CallSignal(
                    "line.result", e.call_id, key=e.key, fields={"result": "error", "detail": "no line"}
                )
            )
            return
        if e.op in ("answer", "dial") and not self.cfg.line_can_bridge:
            out.append(
                ev.CallSignal(
                    "line.result",
                    e.call_id,
                    key=e.key,
                    fields={"result": "half-duplex", "detail": "this modem cannot bridge a conversation"},
                )
            )
            out.append(ev.Emit("line.half-duplex", {"call_id": e.call_id, "op": e.op}))
            return
        if e.op == "answer" and line is not None and line.kind == "host-in" and line.call_id == e.call_id \
                and line.state == "offering":
            # the attendant's line is off hook already: the chosen holder answered, bridge the line
            line.state, line.flow_id = "connected", e.flow_id
            out.append(ev.CallSignal("line.result", e.call_id, key=e.key, fields={"result": "answered"}))
            out.append(ev.Connect("line", f"flow:{line.flow_id}", line.call_id))
            out.append(ev.Emit("attendant.connected", {"call_id": line.call_id}))
            return
        if e.op == "answer":
            if line is None or line.kind != "host-in" or line.call_id != e.call_id or line.state != "ringing":
                out.append(
                    ev.CallSignal("line.result", e.call_id, key=e.key, fields={"result": "caller-gone"})
                )
                return
            line.state, line.key, line.flow_id = "answering", e.key, e.flow_id
            out.append(ev.LineDo("answer"))
        elif e.op == "dial":
            if line is not None:
                out.append(ev.CallSignal("line.result", e.call_id, key=e.key, fields={"result": "busy"}))
                return
            cut_at = None
            if self._check_grant is not None:
                try:
                    if e.call_id in self._grants_used:
                        raise wire_grant.GrantError("grant already used")
                    g = self._check_grant(e.grant, e.call_id, self.cfg.line_number, e.number)
                except wire_grant.GrantError as exc:
                    out.append(ev.Emit("line.dial-refused", {"call_id": e.call_id, "number": e.number,
                                                             "reason": str(exc)}))
                    out.append(ev.CallSignal("line.result", e.call_id, key=e.key,
                                             fields={"result": "error", "detail": f"refused: {exc}"}))
                    return
                self._grants_used[e.call_id] = None
                while len(self._grants_used) > 1024:
                    self._grants_used.pop(next(iter(self._grants_used)))
                if g.max_call_s is not None:
                    cut_at = now + g.max_call_s + self.cfg.cut_grace_s
            self.line = LineUse("host-out", e.call_id, "dialling", flow_id=e.flow_id, key=e.key, started=now,
                                cut_at=cut_at)
            out.append(ev.LineDo("dial", self._dial_string(e.number)))
        elif e.op == "hangup":
            if line is not None and line.call_id == e.call_id and line.kind in ("host-in", "host-out"):
                line.key = e.key
                self._line_hangup(line, "cloud", out)
            else:
                out.append(ev.CallSignal("line.result", e.call_id, key=e.key, fields={"result": "hung-up"}))
        else:
            raise UsageError(f"no line operation {e.op!r}")

    def _line_done(self, e: ev.LineOpDone, now: float, out: list[ev.Action]) -> None:
        if e.ok and e.op in ("dial", "answer"):
            # the modem did it, so it is there (a hang-up "succeeds" with no modem at all: not proof)
            self.modem_ok = self.cfg.has_line
        line = self.line
        if line is None:
            return
        if e.op == "answer" and line.state == "answering" and line.kind == "callback":
            if e.ok and self.active is not None and self.active.call_id == line.call_id:
                line.state, line.answered = "connected", now
                self.active.answered = now
                if self.phone.can(Trig.ANSWERED):
                    self.phone.fire(Trig.ANSWERED)
                out.append(ev.Connect("handset", "line"))
                out.append(ev.Emit("emergency.callback-answered", {"call_id": line.call_id}))
            elif not e.ok:
                self._fail(out, "reorder")
            return
        if e.op == "answer" and line.state == "attending":
            if e.ok:
                line.state, line.answered = "menu", now
                self._say_menu(line, now, out)
            else:
                self._line_hangup(line, "attendant", out)
        if e.op == "answer" and line.state == "vm-answering":
            self._voicemail_answered(line, e, now, out)
            return
        if e.op == "answer" and line.state == "announcing":
            if e.ok:
                line.answered = now
                out.append(ev.Connect("line", f"prompt:{line.prompt}", line.call_id))
                self.timers.announce_end = now + self.cfg.announce_s
            else:
                self._line_hangup(line, "filtered", out)
        elif e.op == "answer" and line.state == "answering":
            if e.ok:
                line.state, line.answered = "connected", now
                out.append(
                    ev.CallSignal("line.result", line.call_id, key=line.key, fields={"result": "answered"})
                )
                line.key = ""  # answered: the request is done
                out.append(ev.Connect("line", f"flow:{line.flow_id}", line.call_id))
            else:
                out.append(
                    ev.CallSignal(
                        "line.result",
                        line.call_id,
                        key=line.key,
                        fields={"result": "error", "detail": e.result},
                    )
                )
                line.key = ""
        elif e.op == "dial" and line.state == "dialling":
            if line.kind == "host-out":
                out.append(
                    ev.CallSignal(
                        "line.result",
                        line.call_id,
                        key=line.key,
                        fields={
                            "result": "dialled"
                            if e.ok
                            else ("no-dialtone" if "dialtone" in e.result else "error"),
                            "detail": e.result,
                        },
                    )
                )
                line.key = ""
                out.append(ev.Emit("line.dialled", {"call_id": line.call_id, "use": line.kind, "ok": e.ok,
                                                    "result": e.result}))
                if e.ok:
                    line.state = "alerting"
                    out.append(ev.Connect("line", f"flow:{line.flow_id}", line.call_id))
            elif not e.ok and self._emergency_line_live(line) and not self.modem_ok:
                self._via_cloud(line, e.result, now, out)  # no modem to dial with: the cloud's route
            elif not e.ok and self._emergency_line_live(line):
                line.state = "dial-failed"  # redialled when the line is back on hook (or after a while)
                self.timers.redial = now + REDIAL_FALLBACK_S
            elif e.ok:  # local or emergency: the handset talks to the line directly
                line.state = "alerting"
                out.append(ev.Emit("line.dialled", {"call_id": line.call_id, "use": line.kind,
                                                    "bridged": self.cfg.line_can_bridge}))
                if self.cfg.line_can_bridge:
                    out.append(ev.Connect("handset", "line"))
                if line.kind == "emergency" and self.phone.state is Phone.ROUTING:
                    # the exchange connects an emergency call without ringback as we know it: talk now
                    self.phone.fire(Trig.ANSWERED)
                    if self.active is not None:
                        self.active.answered = now
        elif e.op == "hangup" and line.state == "hanging-up":
            # the line bridge reports the events an operation caused before its LineOpDone, so a line
            # still hanging up here never reported CallEnded (it was idle already): finish it now
            if line.key:
                out.append(
                    ev.CallSignal("line.result", line.call_id, key=line.key, fields={"result": "hung-up"})
                )
                line.key = ""
            self._line_ended("local-hangup", now, out)

    # ---- the holder's mailbox (*98) --------------------------------------------------------------------
    def _mailbox_open(self, now: float, out: list[ev.Action]) -> None:
        slot = self.slot_for(self.holder_card) if self.holder_card else None
        if slot is None or slot.state != "registered":
            self._fail(out, "reorder", prompt="insert-card")
            return
        if not self.link_up:
            self._fail(out, "reorder", prompt="cloud-unreachable")
            return
        self.phone.fire(Trig.ROUTE)
        self.mailbox = Mailbox(slot.card_id, first_digit_s=self.cfg.first_digit_s,
                               interdigit_s=self.cfg.interdigit_s)
        out += self.mailbox.open()
        out.append(ev.Emit("voicemail.mailbox", {"card_id": slot.card_id}))

    def _mailbox_reply(self, msg: messages.Message, now: float, out: list[ev.Action]) -> None:
        from roamline.wire import voicemail as wvm

        box = self.mailbox
        if box is None:
            return
        if isinstance(msg, wvm.VoicemailListed):
            then = box.listed(msg, now)
            if self.phone.can(Trig.ANSWERED):
                self.phone.fire(Trig.ANSWERED)
                out.append(ev.PlayTone(None))
            out += then
            if box.state == "done":  # nothing to hear (a greeting may still be recorded)
                out.append(ev.PlayPrompt("vm-none"))
        elif isinstance(msg, wvm.VoicemailPinChecked):
            out += box.pin_checked(msg, now)
            self._mailbox_ended_by_itself(out)
        elif isinstance(msg, wvm.VoicemailAudio):
            out += box.piece(msg)
        elif isinstance(msg, messages.Ok):
            out += box.marked()

    def _mailbox_pin_key(self, e: hs.Digit, now: float, out: list[ev.Action]) -> None:
        """A key while the PIN is asked for: an emergency number keyed (the PIN's keys so far with it)
        dials at once, whatever the mailbox was doing; anything else is the PIN's."""
        box = self.mailbox
        assert box is not None
        c = self.classifier.classify(box.pin_keys + e.digit)
        if c.kind is Kind.EMERGENCY:
            self.mailbox = None
            self._digit_at = e.at
            self.phone.fire(Trig.FAR_END)  # the mailbox gives way: connected → failed → a fresh number
            self.phone.fire(Trig.DIGIT)
            self._emergency(c, now, out)  # its dial goes first in ``out``
            out.append(ev.PlayTone(None))
            out.append(ev.Emit("voicemail.mailbox-ended", {"reason": "emergency"}))
            return
        out += box.pin_key(e.digit, now)
        self._mailbox_ended_by_itself(out)

    def _mailbox_ended_by_itself(self, out: list[ev.Action]) -> None:
        """The session failed (wrong PIN three times, the registry's lock, no key): say why, reorder."""
        box = self.mailbox
        if box is None or box.state != "failed":
            return
        self.mailbox = None
        out.append(ev.Emit("voicemail.mailbox-failed", {"reason": box.failure}))
        self._mailbox_fail(out, box.failure)

    def _greeting_id(self) -> str:
        import hashlib

        return "g-" + hashlib.sha256(self._new_id().encode()).hexdigest()[:16]

    def _greeting_recorded(self, e: ev.GreetingRecorded, out: list[ev.Action]) -> None:
        if self.mailbox is not None:
            out += self.mailbox.greeting(e.greeting_id, e.audio)

    def _mailbox_fail(self, out: list[ev.Action], prompt: str) -> None:
        if self.phone.state is Phone.CONNECTED:
            self.phone.fire(Trig.FAR_END)
            if prompt:
                out.append(ev.PlayPrompt(prompt))
            out.append(ev.PlayTone("reorder"))
        elif self.phone.state is not Phone.IDLE:
            self._fail(out, "reorder", prompt=prompt or None)

    # ---- voicemail: the host line takes a message (docs/protocol.md §14) -----------------------------
    def _deposit_for(self, call_id: str) -> Deposit | None:
        return next((d for d in self.deposits.values() if d.call_id == call_id), None)

    def _stop_deposit(self, call_id: str, reason: str, out: list[ev.Action]) -> Deposit | None:
        """The line of a message being taken goes (hung up, taken for 911, lost): end the recording once."""
        d = self._deposit_for(call_id)
        if d is not None and not d.stopped:
            d.stopped = True
            out.append(ev.StopRecording(d.message_id, reason))
        return d

    def _offline_voicemail_at(self) -> float | None:
        """When the box takes a message itself: its own line rings (not for a call-back), the link is
        down, and nobody took the call within the line owner's voicemail timeout."""
        line = self.line
        if self.link_up or line is None or line.kind != "host-in" or line.state != "ringing" \
                or not self.cfg.has_line or not self.cfg.line_number or self._deposit_for(line.call_id):
            return None
        timeout = self.cfg.offline_voicemail_s
        for slot in self.slots.values():  # the owner's card is here: their own timeout (cached profile)
            if slot.state == "registered" and self.cfg.line_number in slot.numbers:
                timeout = slot.profile.voicemail.timeout_s
                break
        return line.started + timeout

    def _take_offline_voicemail(self, now: float, out: list[ev.Action]) -> None:
        """No cloud to ask: answer the own line, say the default greeting, record, and queue the message
        (id ``vo-…``); the registry files it for the line's owner when the outbox is delivered."""
        from roamline.wire import voicemail as wvm

        line = self.line
        assert line is not None
        greeting = "default"
        for slot in self.slots.values():
            if slot.state == "registered" and self.cfg.line_number in slot.numbers:
                greeting = slot.profile.voicemail.greeting  # fetched later if the link comes back, else
                break                                       # the runtime falls back to the default
        message_id = f"{wvm.OFFLINE_PREFIX}{self._new_id()}"[:64]
        self.deposits[message_id] = Deposit(message_id, line.call_id, self.cfg.line_number,
                                            line.caller or ev.CallerInfo(), greeting, wvm.DEFAULT_MAX_S,
                                            wvm.DEFAULT_SILENCE_S, offline=True)
        line.state = "vm-answering"
        out.append(ev.LineDo("answer"))
        out.append(ev.Emit("voicemail.answering", {"call_id": line.call_id, "message_id": message_id,
                                                   "number": self.cfg.line_number, "offline": True}))

    def _take_voicemail(self, e: ev.TakeVoicemail, now: float, out: list[ev.Action]) -> None:
        """Answer the ringing call and record a message, if that call still rings here; else say why not
        (the registry then keeps only the missed call). A half-duplex modem takes messages too: the
        runtime says the greeting in voice transmit and then records in voice receive."""
        line = self.line
        why = ""
        if not self.cfg.has_line:
            why = "no line"
        elif line is None or line.kind != "host-in" or line.call_id != e.call_id or line.state not in (
                "ringing", "attending", "menu", "offering"):  # (the attendant answered it already)
            why = "the call no longer rings here"
        elif e.message_id in self.deposits:
            why = "message already taken"
        if why:
            out.append(ev.CallSignal("refuse", e.call_id, key=e.key, fields={"detail": why}))
            out.append(ev.Emit("voicemail.refused", {"call_id": e.call_id, "message_id": e.message_id,
                                                     "why": why}))
            return
        assert line is not None
        caller = line.caller or ev.CallerInfo()
        self.deposits[e.message_id] = Deposit(e.message_id, e.call_id, e.number, caller, e.greeting, e.max_s,
                                              e.silence_s)
        out.append(ev.CallSignal("ack", e.call_id, key=e.key))
        line.menu_until = None
        if line.state in ("menu", "offering"):  # off hook already (the attendant): record at once
            line.state = "vm-answering"
            self._voicemail_answered(line, ev.LineOpDone("answer", True), now, out)
            return
        answering = line.state == "attending"  # the attendant's answer is under way: its result goes on
        line.state = "vm-answering"
        if not answering:
            out.append(ev.LineDo("answer"))
        out.append(ev.Emit("voicemail.answering", {"call_id": e.call_id, "message_id": e.message_id,
                                                   "number": e.number}))

    def _voicemail_answered(self, line: LineUse, e: ev.LineOpDone, now: float, out: list[ev.Action]) -> None:
        d = self._deposit_for(line.call_id)
        if d is None:
            return
        if not e.ok:
            out.append(ev.Emit("voicemail.answer-failed", {"call_id": line.call_id, "result": e.result}))
            self.deposits.pop(d.message_id, None)
            self._line_hangup(line, "voicemail", out)
            return
        line.state = "voicemail"  # answered by the box, not the holder: the record stays a missed call
        out.append(ev.RecordLine(d.message_id, d.number, d.greeting, d.max_s, d.silence_s))
        out.append(ev.Emit("voicemail.recording", {"call_id": line.call_id, "message_id": d.message_id}))

    def _voicemail_recorded(self, e: ev.LineRecorded, now: float, out: list[ev.Action]) -> None:
        """The recording is over: the message goes to the outbox in chunks (exactly once, whenever the
        cloud is reachable); a line still up (silence, the longest message) is hung up."""
        from roamline.wire import voicemail as wvm

        d = self.deposits.pop(e.message_id, None)
        if d is None:
            return
        line = self.line
        if line is not None and line.call_id == d.call_id and line.state == "voicemail":
            self._line_hangup(line, "voicemail-" + e.reason, out)
        duration = round(len(e.audio) / wvm.RATE, 3)
        caller = d.caller.number if d.caller.number and all(c in "0123456789*#+" for c in d.caller.number) \
            else None
        meta = wvm.Meta(call_id=d.call_id, number=d.number, caller=caller, caller_name=d.caller.name,
                        started_at=round(e.started_wall, 3),
                        ended_at=round(max(e.ended_wall, e.started_wall), 3),
                        duration_s=duration, ended=e.reason if e.reason in wvm.END_REASONS else "hangup")
        chunks = wvm.split(d.message_id, e.audio, meta)
        for c in chunks:
            out.append(ev.Enqueue(wvm.VOICEMAIL_CHUNK_KIND, c.to_json(), key=c.key))
        out.append(ev.Emit("voicemail.recorded", {"call_id": d.call_id, "message_id": d.message_id,
                                                  "bytes": len(e.audio), "duration_s": duration,
                                                  "chunks": len(chunks), "ended": meta.ended}))


@dataclass(slots=True)
class Deposit:
    """A message being taken on the host line."""

    message_id: str
    call_id: str
    number: str
    caller: ev.CallerInfo
    greeting: str
    max_s: float
    silence_s: float
    stopped: bool = False  # StopRecording was asked for
    offline: bool = False  # taken by the box itself, the link down (no registry row yet)


def replace_config(core: BoxCore, **changes: Any) -> None:
    """Change the core's configuration (e.g. the line's duplex once the modem is identified)."""
    core.cfg = dataclasses.replace(core.cfg, **changes)


__all__ = ["BoxCore", "Call", "CoreConfig", "LineUse", "Slot", "replace_config"]
