"""The call router, sans-I/O: call messages, replies to its own requests, connection events and ``now``
in; messages, requests and relay instructions out (docs/protocol.md §10).

It decides where an incoming call rings (host line → subscribed accounts → the boxes their cards are
at, each holder with a distinct cadence), which offer wins (the first ``call.answer``), which way a
placed call goes (box to box by follow-me number; the line of the caller's box when the
caller has rights on it; else a host line in the destination's area the caller has rights on; else
refused: rights are ``cloud line grant``'s), and tears every leg down when either end
hangs up, a timer fires or media goes silent. Each call's record is opened in the store when the call
is set up and closed when it ends (one row per call id, so a restart cannot lose or double it).

The router reads and writes the store synchronously: the server runs every router call on one worker
thread, off the event loop that carries the relay's datagrams. ``now`` is wall-clock seconds.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from roamline.cloud import filters, psap, sos_callback, voicemail
from roamline.cloud.errors import PeerError, UsageError
from roamline.cloud.lookup import WhereEntry, where
from roamline.cloud.records import AnsweringPoint, CallRecord, LineRight, RegistryStore
from roamline.cloud.sos_uas import CallbackSource
from roamline.wire import grant as wire_grant
from roamline.wire import identity
from roamline.wire import location as wire_location
from roamline.wire import pidf as wire_pidf
from roamline.wire import profile as wire_profile
from roamline.wire.calls import (
    AnswerResult,
    AttendantChoice,
    CallAnswer,
    CallAnswered,
    CallCancel,
    CallDeclined,
    CallDtmf,
    CallEmergency,
    CallerId,
    CallHangup,
    CallOffer,
    CallPlace,
    CallPlaced,
    CallProgress,
    CallRefused,
    CallReject,
    CallRinging,
    CancelReason,
    EndReason,
    Fallback,
    LineAnswer,
    LineChoice,
    LineDial,
    LineFallback,
    LineHangup,
    LineResult,
    LineResultReply,
    LineRing,
    LineRouted,
    LineState,
    LineStateReport,
    MediaBind,
    ProgressState,
    RefuseReason,
    Route,
)
from roamline.wire.errors import ErrorCode
from roamline.wire.errors import UsageError as WireUsageError
from roamline.wire.messages import Envelope, Error, Message, Ok

log = logging.getLogger(__name__)

CADENCES = ("us-dr1", "us-dr2", "us-dr3", "us-dr4")
"""Distinct rings for the holders at one box, in order of registration there."""


@dataclass(frozen=True, slots=True)
class RouterConfig:
    warn_before_s: float = 30.0  # a call out with a length or budget limit is warned this long before
    no_answer_s: float = 30.0  # offers unanswered this long are cancelled (timeout)
    answer_line_s: float = 10.0  # how long the host may take to answer its line
    # How long a host may take to report its dial result: a modem in voice mode may answer ATDT only
    # once the far end answers (the box itself gives a dial 60 s and starting the voice stream 5 s).
    dial_line_s: float = 75.0
    ended_memory: int = 4096  # recently ended call ids remembered (late messages, duplicate ids)
    choose_s: float = 60.0  # a shared line's attendant: the host must tell the caller's choice by then


# --- actions out -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """Base of what the router asks the server to do."""


@dataclass(frozen=True, slots=True)
class Send(Action):
    """Send ``message`` on ``conn_id``: a reply to request ``re`` when set, else a push."""

    conn_id: str
    message: Message
    re: str | None = None


@dataclass(frozen=True, slots=True)
class Request(Action):
    """Start a request on ``conn_id``; feed its reply back with ``reply_received(ref, …)`` (or
    ``request_failed(ref)`` on error, timeout or a closed link)."""

    conn_id: str
    message: Message
    ref: PendingRef
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Bridge(Action):
    """Relay: forward media between flows ``a`` and ``b`` of call ``call_id``; ``conn_a``/``conn_b`` are
    the connections that carry them now (None: not bound until ``media.bind``)."""

    call_id: str
    a: int
    conn_a: str | None
    b: int
    conn_b: str | None


@dataclass(frozen=True, slots=True)
class Bind(Action):
    """Relay: flow ``flow_id`` is now carried by ``conn_id`` (None: by no connection, until re-bound)."""

    flow_id: int
    conn_id: str | None


@dataclass(frozen=True, slots=True)
class Unbridge(Action):
    """Relay: forget the flows of call ``call_id``."""

    call_id: str
    flows: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SosDial(Action):
    """Start the SIP leg of an emergency call (cloud.sos_gateway): INVITE ``psap_uri`` for
    ``urn:service:sos`` with the PIDF-LO (None: no location known) and the call-back number. Its media
    is the relay flow ``flow_id`` on the pseudo-connection :func:`sos_conn` (call id)."""

    call_id: str
    psap_uri: str
    call_back: str
    box_id: str
    pidf: bytes | None
    flow_id: int
    tls_ca: str = ""  # for a TLS answering point (sips:): its directory entry's CA and/or fingerprint
    tls_fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class SosHangup(Action):
    """End the SIP leg of an emergency call (CANCEL before the answer, BYE after)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class SosCallbackRing(Action):
    """The answering point's call-back ``sip_id`` rings box ``box_id`` as call ``call_id`` (send 180);
    its media is the relay flow ``flow_id`` on :func:`sos_conn` (call id)."""

    sip_id: str
    call_id: str
    box_id: str
    flow_id: int


@dataclass(frozen=True, slots=True)
class SosCallbackRefuse(Action):
    """Answer the call-back INVITE ``sip_id`` with a SIP failure (404 unknown number, 480 window closed)."""

    sip_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class SosCallbackAnswer(Action):
    """The box answered call-back ``call_id``: send the 200 OK."""

    call_id: str


@dataclass(frozen=True, slots=True)
class SosCallbackHangup(Action):
    """End call-back ``call_id`` on the SIP side (480 before the answer, BYE after)."""

    call_id: str


NO_CARD = "0" * 32  # the card id of an emergency call-back's offer: rung for the box, not a holder

SOS_CONN_PREFIX = "sos:"


def sos_conn(call_id: str) -> str:
    """The relay's connection id for the SIP leg of emergency call ``call_id``."""
    return SOS_CONN_PREFIX + call_id


@dataclass(frozen=True, slots=True)
class PendingRef:
    """What a request the router started was about."""

    call_id: str
    box_id: str
    purpose: str  # "offer", "cancel", "line-answer", "line-dial", "line-hangup", "hangup"


# --- calls -------------------------------------------------------------------------------------------


class CallState(StrEnum):
    OFFERING = "offering"  # terminals ring
    CONNECTING = "connecting"  # a terminal answered an incoming PSTN call; the host answers its line
    DIALLING = "dialling"  # a host line dials out (media already bridged: the caller hears ringback)
    FORWARDING = "forwarding"  # incoming, forwarded to a PSTN number: another host line dials it
    CONNECTED = "connected"
    ENDED = "ended"


_TRANSITIONS: dict[tuple[CallState, str], CallState] = {
    (CallState.OFFERING, "answer-line"): CallState.CONNECTING,
    (CallState.OFFERING, "answer"): CallState.CONNECTED,
    (CallState.CONNECTING, "line-answered"): CallState.CONNECTED,
    (CallState.DIALLING, "answered"): CallState.CONNECTED,
    (CallState.OFFERING, "forward"): CallState.FORWARDING,
    (CallState.FORWARDING, "forward-answered"): CallState.CONNECTING,
    (CallState.FORWARDING, "end"): CallState.ENDED,
    (CallState.OFFERING, "end"): CallState.ENDED,
    (CallState.CONNECTING, "end"): CallState.ENDED,
    (CallState.DIALLING, "end"): CallState.ENDED,
    (CallState.CONNECTED, "end"): CallState.ENDED,
}


class OfferState(StrEnum):
    SENT = "sent"
    RINGING = "ringing"
    WON = "won"
    GONE = "gone"  # declined, rejected, cancelled, failed


@dataclass(slots=True)
class Offer:
    box_id: str
    card_id: str
    account_id: str
    cadence: str
    flow_id: int
    state: OfferState = OfferState.SENT
    number: str = ""  # the holder's number rung ("" : the number called; a forward's target otherwise)


@dataclass(slots=True)
class Call:
    call_id: str
    route: str  # incoming | box | own-line | host-line | sos
    caller: str
    called: str
    created: float
    origin_box: str  # the host (incoming) or the calling terminal (placed)
    origin_flow: int | None
    origin_card: str | None = None
    origin_account: str | None = None
    line: str | None = None  # host line number
    host_box: str | None = None  # the host line's box (incoming: = origin_box)
    host_flow: int | None = None  # placed via host line: the host's leg
    offers: dict[tuple[str, str], Offer] = field(default_factory=dict)
    state: CallState = CallState.OFFERING
    answered_at: float | None = None
    answer_inferred: bool = False
    deadline: float | None = None
    ringing_told: bool = False
    winner: Offer | None = None
    filtered: dict[str, filters.Decision] = field(default_factory=dict)  # account -> a non-ring decision
    limit_at: float | None = None  # host-line rights: the call is cut then (length or budget)
    warn_at: float | None = None
    rate_per_min: float = 0.0  # what a minute through the host line costs the account
    # a shared line's attendant (§10.6): the menu (key, account, label); ``choosing`` until line.choice
    attendant: tuple[tuple[str, str, str], ...] = ()
    choosing: bool = False
    sos_dial: SosDial | None = None  # an emergency call's SIP leg, as last dialled
    sos_next: list[AnsweringPoint] = field(default_factory=list)  # to try next if that one fails
    caller_id: CallerId = field(default_factory=CallerId)  # as the host line gave it (voicemail's caller)
    # a forward to a plain PSTN number: the leg another host line dials (``fwd_live`` while it is up)
    fwd_to: str | None = None
    fwd_box: str | None = None
    fwd_line: str | None = None
    fwd_flow: int | None = None
    fwd_live: bool = False

    def step(self, event: str) -> None:
        nxt = _TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise UsageError(f"call {self.call_id}: {event!r} is illegal in state {self.state}")
        self.state = nxt

    def flows(self) -> tuple[int, ...]:
        out = [f for f in (self.origin_flow, self.host_flow, self.fwd_flow) if f is not None]
        out += [o.flow_id for o in self.offers.values()]
        return tuple(out)

    def boxes(self) -> set[str]:
        found = {self.origin_box} | {o.box_id for o in self.offers.values()}
        if self.host_box is not None:
            found.add(self.host_box)
        if self.fwd_box is not None:
            found.add(self.fwd_box)
        return found


class _Refuse(PeerError):
    """A placed call cannot be made (answered ``call.refused`` with ``reason``)."""

    def __init__(self, reason: RefuseReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def area_of(e164: str) -> str:
    """The part of an E.164 number that names its calling area: for NANP (+1) the area code, elsewhere
    the country code and the next two digits (an approximation until issue 10's calling areas)."""
    return e164[:5]  # "+1" + NPA; elsewhere "+" and four digits


class Router:
    def __init__(
        self,
        store: RegistryStore,
        config: RouterConfig | None = None,
        flow_ids: Iterable[int] | None = None,
        grant_key: identity.PrivateKey | None = None,
    ) -> None:
        self._store = store
        self._grant_key = grant_key  # the CA key: host lines' dials carry the rights signed with it
        # account -> (stored version, parsed profile)
        self._profiles: dict[str, tuple[int, wire_profile.Profile | None]] = {}
        self._config = config or RouterConfig()
        self._flows = iter(flow_ids) if flow_ids is not None else itertools.count(1)
        self._calls: dict[str, Call] = {}
        self._by_flow: dict[int, str] = {}  # flow id -> call id
        self._flow_box: dict[int, str] = {}  # flow id -> the box whose leg it is
        self._box_conn: dict[str, str] = {}  # box id -> its current connection
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._on_record: Callable[[str], None] | None = None

    @property
    def config(self) -> RouterConfig:
        return self._config

    def calls(self) -> dict[str, Call]:
        return dict(self._calls)

    def set_record_listener(self, fn: Callable[[str], None] | None) -> None:
        """Called with the call id each time a record is closed (tests, the demo's events)."""
        self._on_record = fn

    # --- restart ---------------------------------------------------------------------------------

    def recover(self, now: float) -> list[str]:
        """At start: every record still open belongs to a call the previous process had; close them
        (``cloud-restart``). Returns their call ids."""
        closed: list[str] = []
        with self._store.transaction():
            for rec in self._store.open_calls():
                self._store.close_call(
                    rec.call_id,
                    ended_at=now,
                    outcome="answered" if rec.answered_at is not None else "missed",
                    end_reason=EndReason.CLOUD_RESTART.value,
                    answered_at=None,
                    answer_inferred=False,
                    account_id=None,
                    card_id=None,
                    terminal_box=None,
                    host_box=None,
                    line=None,
                    offered=rec.offered,
                )
                closed.append(rec.call_id)
                self._remember(rec.call_id)
        return closed

    # --- connections -------------------------------------------------------------------------------

    def box_connected(self, box_id: str, conn_id: str, now: float) -> list[Action]:
        """A box's hello was accepted on ``conn_id``. Its live legs wait for ``media.bind``."""
        old = self._box_conn.get(box_id)
        self._box_conn[box_id] = conn_id
        if old is None or old == conn_id:
            return []
        return [Bind(flow, None) for flow, box in self._flow_box.items() if box == box_id]

    def box_disconnected(self, box_id: str, conn_id: str, now: float) -> list[Action]:
        """The box's connection closed. Pending offers to it are gone; connected calls live on until
        media silence (the box may come back and re-bind)."""
        if self._box_conn.get(box_id) != conn_id:
            return []
        del self._box_conn[box_id]
        out: list[Action] = [Bind(flow, None) for flow, box in self._flow_box.items() if box == box_id]
        for call in list(self._calls.values()):
            if call.route == "own-line" and call.origin_box == box_id:
                # the box carries on locally; its outbox report later fills in the real end
                out += self._end(call, EndReason.LINK_LOST, now, tell_origin=False)
            elif call.state is CallState.OFFERING:
                for offer in call.offers.values():
                    if offer.box_id == box_id and offer.state in (OfferState.SENT, OfferState.RINGING):
                        offer.state = OfferState.GONE
                if call.origin_box == box_id:
                    out += self._end(call, EndReason.LINK_LOST, now, tell_origin=False)
                else:
                    out += self._maybe_all_gone(call, now)
        return out

    # --- messages from boxes -----------------------------------------------------------------------

    def handle(self, conn_id: str, box_id: str, env: Envelope, now: float) -> list[Action]:
        msg = env.message
        try:
            if isinstance(msg, LineRing):
                return self._line_ring(conn_id, box_id, env, msg, now)
            if isinstance(msg, LineChoice):
                return self._line_choice(box_id, msg, now)
            if isinstance(msg, LineStateReport):
                out = self._line_state(box_id, msg, now)
                return [*out, Send(conn_id, Ok(), env.id)] if env.id is not None else out
            if isinstance(msg, CallAnswer):
                return self._answer(conn_id, box_id, env, msg, now)
            if isinstance(msg, CallReject):
                return [*self._reject(box_id, msg, now), Send(conn_id, Ok(), env.id)]
            if isinstance(msg, CallHangup):
                return [*self._hangup(box_id, msg, now), Send(conn_id, Ok(), env.id)]
            if isinstance(msg, CallDtmf):
                out = self._dtmf(box_id, msg)
                return [*out, Send(conn_id, Ok(), env.id)] if env.id is not None else out
            if isinstance(msg, CallPlace):
                return self._place(conn_id, box_id, env, msg, now)
            if isinstance(msg, CallEmergency):
                return self._emergency(conn_id, box_id, env, msg, now)
            if isinstance(msg, MediaBind):
                return self._bind(conn_id, box_id, env, msg)
        except _Forbidden as exc:
            if env.id is None:
                log.info("call-message-refused", extra={"fields": {"box": box_id, "reason": str(exc)}})
                return []
            return [Send(conn_id, Error(code=ErrorCode.FORBIDDEN, message=str(exc)), env.id)]
        raise UsageError(f"{msg.TYPE} is not a call message")

    # --- incoming PSTN call --------------------------------------------------------------------------

    def _line_ring(self, conn_id: str, box_id: str, env: Envelope, msg: LineRing, now: float) -> list[Action]:
        call = self._calls.get(msg.call_id)
        if call is not None:
            if call.origin_box != box_id:
                raise _Forbidden(f"call {msg.call_id} is not this box's")
            offered = sum(
                o.state in (OfferState.SENT, OfferState.RINGING, OfferState.WON) for o in call.offers.values()
            )
            return [Send(conn_id, LineRouted(call_id=msg.call_id, offered=offered), env.id)]
        if msg.call_id in self._ended or self._store.get_call(msg.call_id) is not None:
            return [Send(conn_id, LineRouted(call_id=msg.call_id, offered=0), env.id)]
        box = self._store.get_box(box_id)
        if box is None or box.line_number != msg.line:
            raise _Forbidden(f"{msg.line} is not the line of box {box_id}")
        call = Call(
            call_id=msg.call_id,
            route="incoming",
            caller=msg.caller.number or "",
            called=msg.line,
            created=now,
            origin_box=box_id,
            origin_flow=self._flow(box_id, msg.call_id),
            line=msg.line,
            host_box=box_id,
            caller_id=msg.caller,
        )
        callback = self._is_callback(box_id, now)
        menu = () if callback else self._attendant_menu(msg.line)
        if menu:
            return self._start_attendant(conn_id, env, call, msg.caller, menu, now)
        offers = self._offer_targets(call, msg.line, exclude_box=None, now=now, caller=msg.caller,
                                     callback=callback)
        if not offers:
            self._open_record(call)
            self._calls[call.call_id] = call
            forward = None if callback else self._pstn_forward(call, now)
            if forward is not None:  # the forward's leg counts as the one offered: the line rings on
                return [Send(conn_id, LineRouted(call_id=msg.call_id, offered=1), env.id), *forward]
            how = self._filtered_outcome(call)
            routed = LineRouted(call_id=msg.call_id, offered=0, filtered=how)
            out: list[Action] = [Send(conn_id, routed, env.id)]
            if how in ("voicemail", "") and not callback:
                out += self._voicemail(call, msg.caller, now)
            out += self._end(call, EndReason.NO_ANSWER, now, tell_origin=False,
                             outcome="filtered" if how in ("block", "reject") else None,
                             end_reason=f"filtered-{how}" if how else None)
            return out
        out = [Send(conn_id, LineRouted(call_id=msg.call_id, offered=len(offers)), env.id)]
        self._calls[call.call_id] = call
        self._open_record(call)
        out += self._send_offers(call, offers, msg.caller, now)
        return out

    # --- the attendant on a shared line (docs/protocol.md §10.6) ----------------------------------------

    def _attendant_menu(self, line: str) -> tuple[tuple[str, str, str], ...]:
        """The menu for a call to ``line`` when more than one holder is subscribed to its number and may
        receive its calls: (key, account, label) in order of the holders' names (then account ids), keys
        1…9; () for one holder or none (the call is offered as always)."""
        refused = self._no_receive(line)
        accounts = [a for a in self._store.accounts_for_number(line) if a not in refused]
        if len(accounts) < 2:
            return ()
        named = []
        for account_id in accounts:
            account = self._store.get_account(account_id)
            named.append(((account.name if account is not None else "") or account_id, account_id))
        named.sort()
        return tuple((str(i + 1), account_id, label[:64]) for i, (label, account_id) in enumerate(named[:9]))

    def _start_attendant(self, conn_id: str, env: Envelope, call: Call, caller: CallerId,
                         menu: tuple[tuple[str, str, str], ...], now: float) -> list[Action]:
        call.attendant, call.choosing, call.caller_id = menu, True, caller
        call.deadline = now + self._config.choose_s
        self._calls[call.call_id] = call
        self._open_record(call)
        log.info("attendant-menu", extra={"fields": {"call": call.call_id, "line": call.line,
                                                     "holders": len(menu)}})
        choices = tuple(AttendantChoice(key=k, label=label) for k, _, label in menu)
        return [Send(conn_id, LineRouted(call_id=call.call_id, offered=0, attendant=choices), env.id)]

    def _line_choice(self, box_id: str, msg: LineChoice, now: float) -> list[Action]:
        """The caller chose (or the host's default, ``""``): ring only the chosen holder's boxes, after
        that holder's filters; nobody to ring → the holder's fallback on the line."""
        call = self._calls.get(msg.call_id)
        if call is None:
            return []
        if call.origin_box != box_id or call.route != "incoming":
            raise _Forbidden(f"call {msg.call_id} is not this box's")
        if not call.choosing or call.state is not CallState.OFFERING:
            return []  # told twice: the first choice stands
        call.choosing = False
        chosen = [(k, a) for k, a, _ in call.attendant if k == msg.key]
        accounts = frozenset(a for _, a in chosen) or frozenset(a for _, a, _ in call.attendant)
        if chosen:
            call.origin_account = chosen[0][1]  # the record is this holder's missed call or answer
        self._store.add_event(now, "attendant-choice", {"call": call.call_id, "key": msg.key,
                                                        "accounts": sorted(accounts)})
        offers = self._offer_targets(call, call.called, exclude_box=None, now=now, caller=call.caller_id,
                                     accounts=accounts)
        if not offers:
            forward = self._pstn_forward(call, now)
            if forward is not None:  # the caller hears the attendant's ringback while it is dialled
                return forward
            how = self._filtered_outcome(call)
            outcome = Fallback(how) if how else Fallback.VOICEMAIL  # no card anywhere: voicemail
            reason = f"filtered-{how}" if how else "not-reachable"
            return self._attendant_fallback(call, outcome, now, end_reason=reason,
                                            filtered=how in ("block", "reject"))
        out = self._send_offers(call, offers, call.caller_id or CallerId(), now)
        timeouts = [p.voicemail.timeout_s for a in accounts if (p := self._profile(a)) is not None]
        if chosen and timeouts:
            call.deadline = now + timeouts[0]  # the chosen holder's no-answer time
        return out

    def _attendant_fallback(self, call: Call, outcome: Fallback, now: float, *, end_reason: str,
                            filtered: bool = False) -> list[Action]:
        """Nobody takes the attendant's call: the host does ``outcome`` on its line (it answered it
        already) and the call ends here (the record: the chosen holder's missed call, or filtered)."""
        out: list[Action] = []
        if outcome is Fallback.VOICEMAIL:
            # the holder's voicemail takes it on the line the attendant already answered (voicemail.take)
            out += self._voicemail(call, call.caller_id, now)
        conn = self._box_conn.get(call.origin_box)
        if conn is not None and not out:
            account = call.origin_account or ""
            out.append(Send(conn, LineFallback(call_id=call.call_id, outcome=outcome, account=account)))
        log.info("attendant-fallback", extra={"fields": {"call": call.call_id, "outcome": outcome.value,
                                                         "why": end_reason}})
        return out + self._end(call, EndReason.NO_ANSWER, now, tell_origin=False,
                               outcome="filtered" if filtered else None, end_reason=end_reason)

    def _offer_targets(
        self,
        call: Call,
        number: str,
        exclude_box: str | None,
        now: float,
        caller: CallerId | None = None,
        callback: bool = False,
        accounts: frozenset[str] | None = None,
    ) -> list[Offer]:
        """The boxes to ring for ``number``: every registered card of a subscribed account, after that
        holder's filters (evaluated once per account, before any box rings) and the line's receive
        rights. A forward rings the forward number's holders instead (their filters are not applied
        again: no forwarding loops). ``accounts``: only these holders (the attendant's choice)."""
        offers: list[Offer] = []
        entries = [e for e in where(self._store, number, now) if accounts is None or e.account_id in accounts]
        decided: dict[str, filters.Decision] = {}
        forwards: list[str] = []
        refused = self._no_receive(call.line) if call.route == "incoming" else set()

        def decide(account_id: str, box_id: str | None) -> None:
            assert caller is not None
            decided[account_id] = d = self._decide(account_id, box_id, caller, now, callback)
            if d.rings:
                return
            call.filtered[account_id] = d
            self._store.add_event(now, "call-filtered", {
                "call": call.call_id, "account": account_id, "action": d.action.value,
                "rule": d.rule, "refusal": d.refusal.value, "forward_to": d.forward_to})
            log.info("call-filtered", extra={"fields": {
                "call": call.call_id, "account": account_id, "action": d.action.value, "rule": d.rule}})
            if d.action is wire_profile.Action.FORWARD and d.forward_to is not None:
                forwards.append(d.forward_to)

        for entry in entries:
            if entry.account_id in refused:
                call.filtered.setdefault(entry.account_id, filters.Decision(
                    wire_profile.Action.BLOCK, "no-receive-right", wire_profile.Refusal.SILENT))
                continue
            if caller is not None and entry.account_id not in decided:
                decide(entry.account_id, entry.box_id)
            if caller is not None and not decided[entry.account_id].rings:
                continue
            if entry.box_id == exclude_box or entry.box_id not in self._box_conn:
                continue
            offers.append(self._offer(call, entry, number))
        if caller is not None:
            # a holder whose card is in no box: their filters still decide (a block is refused, a forward
            # rings the other number or goes out to the PSTN), in the zone of the line that rang
            for account_id in self._store.accounts_for_number(number):
                if account_id in decided or account_id in refused or (
                        accounts is not None and account_id not in accounts):
                    continue
                decide(account_id, call.host_box if call.route == "incoming" else None)
        for target in dict.fromkeys(forwards):
            for entry in where(self._store, target, now):
                if entry.box_id == exclude_box or entry.box_id not in self._box_conn:
                    continue
                if any(o.box_id == entry.box_id and o.card_id == entry.card_id for o in offers):
                    continue
                offers.append(self._offer(call, entry, target))
        return offers

    def _profile(self, account_id: str) -> wire_profile.Profile | None:
        """The account's profile, parsed once per stored version (None: none, or one that does not parse,
        which filters nothing)."""
        stored = self._store.get_profile(account_id)
        if stored is None:
            return None
        cached = self._profiles.get(account_id)
        if cached is not None and cached[0] == stored[1]:
            return cached[1]
        try:
            profile: wire_profile.Profile | None = wire_profile.parse(stored[0])
        except wire_profile.ProfileError:
            log.warning("profile-unusable", extra={"fields": {"account": account_id}})
            profile = None
        if len(self._profiles) >= 10_000:
            self._profiles.clear()
        self._profiles[account_id] = (stored[1], profile)
        return profile

    def _offer(self, call: Call, entry: WhereEntry, number: str) -> Offer:
        profile = self._profile(entry.account_id)
        cadence = profile.cadence_for(number) if profile is not None else None
        return Offer(
            entry.box_id,
            entry.card_id,
            entry.account_id,
            cadence or self._cadence(entry.box_id, entry.card_id),
            self._flow(entry.box_id, call.call_id),
            number="" if number == call.called else number,
        )

    def _decide(self, account_id: str, box_id: str | None, caller: CallerId, now: float,
                callback: bool) -> filters.Decision:
        """The holder's filters for this caller now (a profile that does not parse filters nothing); the
        zone of ``box_id``'s line unless the profile names one (none: UTC)."""
        profile = self._profile(account_id)
        if profile is None:
            return filters.RING
        box = self._store.get_box(box_id) if box_id is not None else None
        tz = filters.number_zone(box.line_number if box is not None else None) or filters.UTC
        return filters.evaluate(profile, filters.Caller(caller.number, caller.name), now, tz,
                                callback=callback)

    def _is_callback(self, host_box: str, now: float) -> bool:
        """A call to a line whose box placed an emergency call within the hour (DESIGN §6.4)."""
        last = self._store.last_emergency_at(host_box)
        return last is not None and now - last <= filters.CALLBACK_WINDOW_S

    def _no_receive(self, line: str | None) -> set[str]:
        if line is None:
            return set()
        return {r.account_id for r in self._store.line_rights_on(line) if not r.receive}

    @staticmethod
    def _filtered_outcome(call: Call) -> str:
        """What the host is told when filters left nobody to ring: block (spoken refusal), reject
        (silent), voicemail, or "" (nobody was filtered: simply nobody to ring)."""
        kinds = list(call.filtered.values())
        if not kinds:
            return ""
        if any(d.action is wire_profile.Action.VOICEMAIL for d in kinds):
            return "voicemail"
        if any(d.action is wire_profile.Action.BLOCK and d.refusal is wire_profile.Refusal.SPOKEN
               for d in kinds):
            return "block"
        if any(d.action is wire_profile.Action.FORWARD for d in kinds):
            return "voicemail"  # forwarded to nobody reachable: a missed call
        return "reject"

    def _cadence(self, box_id: str, card_id: str) -> str:
        regs = sorted(self._store.active_registrations_at(box_id), key=lambda r: (r.since, r.card_id))
        for i, reg in enumerate(regs):
            if reg.card_id == card_id:
                return CADENCES[i % len(CADENCES)]
        return CADENCES[0]

    def _send_offers(self, call: Call, offers: list[Offer], caller: CallerId, now: float) -> list[Action]:
        out: list[Action] = []
        for offer in offers:
            call.offers[offer.box_id, offer.card_id] = offer
            msg = CallOffer(
                call_id=call.call_id,
                card_id=offer.card_id,
                number=offer.number or call.called,
                caller=caller,
                cadence=offer.cadence,
                flow_id=offer.flow_id,
            )
            out.append(
                Request(self._box_conn[offer.box_id], msg, PendingRef(call.call_id, offer.box_id, "offer"))
            )
        call.deadline = now + self._no_answer_s(call, offers)
        return out

    # --- voicemail (cloud.voicemail) ------------------------------------------------------------------

    def _no_answer_s(self, call: Call, offers: list[Offer]) -> float:
        """How long an incoming call rings before voicemail: the shortest voicemail timeout of the
        offered holders who set a profile; else the router's no-answer time."""
        if call.route != "incoming":
            return self._config.no_answer_s
        times = [p.voicemail.timeout_s for o in offers
                 if (p := self._profile(o.account_id)) is not None]
        return min(times) if times else self._config.no_answer_s

    def _voicemail_account(self, call: Call) -> str | None:
        """Whose voicemail takes an unanswered incoming call: a holder whose filter said voicemail (or
        forward), else a holder offered the called number, else the first account on the number. On a
        shared line the attendant's chosen holder (§10.6); with no choice made, the line's owner when
        they are one of the number's holders, else the menu's first holder ("press 1")."""
        if call.attendant:
            return call.origin_account or self._shared_default(call)
        for account_id, d in call.filtered.items():
            if d.action in (wire_profile.Action.VOICEMAIL, wire_profile.Action.FORWARD):
                return account_id
        for o in call.offers.values():
            if not o.number:
                return o.account_id
        accounts = self._store.accounts_for_number(call.called)
        return accounts[0] if accounts else None

    def _shared_default(self, call: Call) -> str | None:
        """Whose mailbox takes a shared line's message when the caller chose nobody: the line owner's if
        they are in the menu, else the holder on key 1 (``voicemail.shared_mailbox``, docs/protocol.md
        §10.6)."""
        menu = [account_id for _, account_id, _ in call.attendant]
        return voicemail.shared_mailbox(self._store, self._store.get_box(call.origin_box), menu)

    def _voicemail(self, call: Call, caller: CallerId, now: float) -> list[Action]:
        """Ask the host line to take a message for the called holder (nobody answered, nobody to ring,
        or their filters said voicemail)."""
        conn = self._box_conn.get(call.origin_box)
        account_id = self._voicemail_account(call)
        if conn is None or account_id is None:
            return []
        take = voicemail.take(self._store, call_id=call.call_id, account_id=account_id, number=call.called,
                              host_box=call.origin_box, caller=caller.number, caller_name=caller.name,
                              now=now)
        ref = PendingRef(call.call_id, call.origin_box, f"voicemail-take:{take.message_id}")
        return [Request(conn, take, ref, timeout_s=self._config.answer_line_s)]

    # --- a forward to a plain PSTN number (docs/protocol.md §10.7) ----------------------------------------

    def _pstn_forward(self, call: Call, now: float) -> list[Action] | None:
        """Nobody rings and a holder's filter forwards the call to a number no account holds: dial it
        out through a line the holder may call out on and bridge the ringing line to it. None: no such
        forward, or it cannot be placed (the caller falls to the holder's voicemail)."""
        for account_id, d in call.filtered.items():
            target = d.forward_to
            if d.action is not wire_profile.Action.FORWARD or target is None:
                continue
            if self._store.accounts_for_number(target):
                continue  # a Roamline number: its holders were offered the call (nobody is reachable)
            try:
                return self._place_forward(call, account_id, target, now)
            except _Refuse as exc:
                self._store.add_event(now, "call-forward-refused", {
                    "call": call.call_id, "account": account_id, "to": target, "reason": exc.reason.value,
                    "why": str(exc)})
                log.info("forward-refused", extra={"fields": {"call": call.call_id, "to": target,
                                                              "why": str(exc)}})
                return None
        return None

    def _forward_line(self, account_id: str, number: str, near: list[str]) -> tuple[str, str, LineRight]:
        """The line a forward to ``number`` goes out on, with the same rules as a placed call: the line
        of a box the holder's card is in, else a host line in the destination's area; the holder's
        call-out right on it (prefixes, blocked numbers, budget) must allow ``number``."""
        candidates: list[tuple[str, str]] = []
        for box_id in near:
            box = self._store.get_box(box_id)
            if box is not None and box.line_number and not box.revoked:
                candidates.append((box.line_number, box_id))
        area = area_of(number)
        candidates += [(line, b) for line, b in self._store.host_lines() if area_of(line) == area]
        if not candidates:
            raise _Refuse(RefuseReason.NO_ROUTE, f"no host line serves {area}")
        busy = self._busy_lines()
        reason, why = RefuseReason.NO_RIGHTS, f"no right to call out through a line in {area}"
        for line, box_id in dict.fromkeys(candidates):
            right = self._store.line_right(account_id, line)
            if right is None or not right.call_out:
                continue
            refused = _right_refuses(right, number)
            if refused is not None:
                reason, why = RefuseReason.NO_RIGHTS, refused
                continue
            if box_id not in self._box_conn or line in busy:
                reason = RefuseReason.LINE_BUSY if line in busy else RefuseReason.NO_ROUTE
                why = f"{line} is in use" if line in busy else f"{line} is not reachable now"
                continue
            return line, box_id, right
        raise _Refuse(reason, why)

    def _busy_lines(self) -> set[str]:
        lines = {c.line for c in self._calls.values() if c.line is not None}
        return lines | {c.fwd_line for c in self._calls.values() if c.fwd_line is not None}

    def _place_forward(self, call: Call, account_id: str, target: str, now: float) -> list[Action]:
        near = [e.box_id for e in where(self._store, call.called, now) if e.account_id == account_id]
        line, box_id, right = self._forward_line(account_id, target, near)
        call.step("forward")
        call.origin_account = account_id  # the record is the forwarding holder's (and billed to them)
        call.fwd_to, call.fwd_line, call.fwd_box = target, line, box_id
        call.fwd_flow = self._flow(box_id, call.call_id)
        call.fwd_live = True
        call.rate_per_min = right.rate_per_min
        max_call_s = _longest_call(right)
        if max_call_s is not None:
            call.limit_at = now + max_call_s  # counted from the dial, like a placed host-line call
        profile = self._profile(account_id)
        ring_s = profile.voicemail.timeout_s if profile is not None else self._config.no_answer_s
        call.deadline = now + ring_s  # the forward unanswered by then: the holder's voicemail
        self._store.merge_call_report(call.call_id, "registry", {
            "side": "forward", "number": target, "line": line, "box_id": box_id, "account": account_id,
            "at": now}, now)
        self._store.add_event(now, "call-forwarded", {"call": call.call_id, "account": account_id,
                                                      "to": target, "line": line, "box": box_id})
        log.info("call-forwarded", extra={"fields": {"call": call.call_id, "to": target, "line": line}})
        token = ""
        if self._grant_key is not None:
            token = wire_grant.issue(self._grant_key, call_id=call.call_id, line=line, number=target,
                                     account=account_id, now=now, max_call_s=max_call_s)
        conn = self._box_conn[box_id]
        assert call.origin_flow is not None
        return [
            Bridge(call.call_id, call.origin_flow, self._origin_conn(call), call.fwd_flow, conn),
            Request(conn, LineDial(call_id=call.call_id, number=target, flow_id=call.fwd_flow, grant=token),
                    PendingRef(call.call_id, box_id, "fwd-dial"), timeout_s=self._config.dial_line_s),
        ]

    def _forward_state(self, call: Call, state: LineState, inferred: bool, now: float) -> list[Action]:
        """A report about the forward's leg: answered → the ringing line is answered and bridged; it
        failing before that → the holder's voicemail; ending after → the call ends."""
        if state is LineState.ANSWERED and call.state is CallState.FORWARDING:
            call.step("forward-answered")
            call.answered_at, call.answer_inferred = now, inferred
            self._store.answer_call(call.call_id, answered_at=now, answer_inferred=inferred,
                                    terminal_box=call.fwd_box, account_id=call.origin_account, card_id=None)
            call.deadline = now + self._config.answer_line_s
            host_conn = self._box_conn.get(call.origin_box)
            if host_conn is None:
                return self._end(call, EndReason.LINK_LOST, now, tell_origin=False)
            assert call.origin_flow is not None
            return [Request(host_conn, LineAnswer(call_id=call.call_id, flow_id=call.origin_flow),
                            PendingRef(call.call_id, call.origin_box, "line-answer"),
                            timeout_s=self._config.answer_line_s)]
        if state in (LineState.BUSY, LineState.NO_ANSWER, LineState.FAR_END_HANGUP, LineState.LINE_LOST):
            call.fwd_live = False  # the forward's line is on hook again
            if call.state is CallState.FORWARDING:
                return self._forward_failed(call, state.value, now)
            return self._end(call, _END_FOR_LINE[state], now)
        return []

    def _forward_failed(self, call: Call, why: str, now: float) -> list[Action]:
        """The forward was not answered (or could not be dialled): its leg is hung up and the caller,
        whose line still rings (or waits in the attendant's ringback), gets the holder's voicemail."""
        out: list[Action] = []
        if call.fwd_live and call.fwd_box is not None:
            out += self._line_hangup(call, call.fwd_box, EndReason.NO_ANSWER)
            call.fwd_live = False
        log.info("forward-failed", extra={"fields": {"call": call.call_id, "to": call.fwd_to, "why": why}})
        if call.attendant:
            return out + self._attendant_fallback(call, Fallback.VOICEMAIL, now, end_reason=f"forward-{why}")
        out += self._voicemail(call, call.caller_id, now)
        return out + self._end(call, EndReason.NO_ANSWER, now, tell_origin=False, end_reason=f"forward-{why}")

    def _answer(self, conn_id: str, box_id: str, env: Envelope, msg: CallAnswer, now: float) -> list[Action]:
        call = self._calls.get(msg.call_id)
        if call is None:
            return [Send(conn_id, CallAnswered(call_id=msg.call_id, result=AnswerResult.GONE), env.id)]
        offer = call.offers.get((box_id, msg.card_id)) or next(
            (o for o in call.offers.values() if o.box_id == box_id), None
        )
        if offer is None:
            raise _Forbidden(f"call {msg.call_id} was not offered to this box")
        if call.state is not CallState.OFFERING or offer.state is OfferState.GONE:
            result = AnswerResult.ANSWERED_ELSEWHERE if call.winner is not None else AnswerResult.GONE
            return [Send(conn_id, CallAnswered(call_id=msg.call_id, result=result), env.id)]
        offer.state = OfferState.WON
        call.winner = offer
        call.answered_at = now
        call.deadline = None
        incoming = call.route == "incoming"  # a placed (box) call stays billed to its caller's holder
        self._store.answer_call(
            call.call_id,
            answered_at=now,
            answer_inferred=False,
            terminal_box=box_id,
            account_id=offer.account_id if incoming else None,
            card_id=offer.card_id if incoming else None,
        )
        out: list[Action] = [
            Send(
                conn_id,
                CallAnswered(call_id=call.call_id, result=AnswerResult.CONNECTED, flow_id=offer.flow_id),
                env.id,
            )
        ]
        out += self._cancel_others(call, CancelReason.ANSWERED_ELSEWHERE)
        assert call.origin_flow is not None
        out.append(
            Bridge(
                call.call_id, call.origin_flow, self._origin_conn(call), offer.flow_id, conn_id
            )
        )
        if call.route == "sos-callback":
            call.step("answer")
            return [*out, SosCallbackAnswer(call.call_id)]
        if call.route == "incoming":
            call.step("answer-line")
            call.deadline = now + self._config.answer_line_s
            host_conn = self._box_conn.get(call.origin_box)
            if host_conn is None:
                return out + self._end(call, EndReason.LINK_LOST, now, tell_origin=False)
            out.append(
                Request(
                    host_conn,
                    LineAnswer(call_id=call.call_id, flow_id=call.origin_flow),
                    PendingRef(call.call_id, call.origin_box, "line-answer"),
                    timeout_s=self._config.answer_line_s,
                )
            )
        else:  # box to box
            call.step("answer")
            out += self._progress(call, ProgressState.ANSWERED)
        return out

    def _cancel_others(self, call: Call, reason: CancelReason) -> list[Action]:
        out: list[Action] = []
        for offer in call.offers.values():
            if offer.state in (OfferState.SENT, OfferState.RINGING):
                offer.state = OfferState.GONE
                conn = self._box_conn.get(offer.box_id)
                if conn is not None:
                    out.append(
                        Request(
                            conn,
                            CallCancel(call_id=call.call_id, reason=reason),
                            PendingRef(call.call_id, offer.box_id, "cancel"),
                        )
                    )
        return out

    def _reject(self, box_id: str, msg: CallReject, now: float) -> list[Action]:
        call = self._calls.get(msg.call_id)
        if call is None or call.state is not CallState.OFFERING:
            return []
        found = [o for o in call.offers.values() if o.box_id == box_id]
        if not found:
            raise _Forbidden(f"call {msg.call_id} was not offered to this box")
        for offer in found:
            offer.state = OfferState.GONE
        return self._maybe_all_gone(call, now)

    def _maybe_all_gone(self, call: Call, now: float) -> list[Action]:
        if call.choosing:
            return []  # the attendant is still asking the caller: nobody was offered the call yet
        if call.state is CallState.OFFERING and all(o.state is OfferState.GONE for o in call.offers.values()):
            if call.attendant:
                return self._attendant_fallback(call, Fallback.VOICEMAIL, now, end_reason="no-answer")
            if call.route == "box":  # every callee's box declined: the caller hears busy, not reorder
                return self._progress(call, ProgressState.BUSY) + self._end(
                    call, EndReason.BUSY, now, tell_origin=False)
            # every holder declined, was busy or went away while it rang: their voicemail takes it
            taken = self._voicemail(call, call.caller_id, now) if call.route == "incoming" else []
            return taken + self._end(call, EndReason.NO_ANSWER, now)
        return []

    # --- replies to the router's own requests --------------------------------------------------------

    def reply_received(self, ref: PendingRef, message: Message, now: float) -> list[Action]:
        if ref.purpose.startswith("voicemail-take:"):
            if isinstance(message, Error):  # the host could not take it: only the missed call remains
                message_id = ref.purpose.partition(":")[2]
                self._store.delete_voicemail(message_id)
                log.info("voicemail-not-taken", extra={"fields": {"call": ref.call_id, "box": ref.box_id,
                                                                  "why": message.message}})
            return []
        call = self._calls.get(ref.call_id)
        if call is None:
            return []
        if ref.purpose == "offer":
            offers = [o for o in call.offers.values() if o.box_id == ref.box_id]
            if isinstance(message, CallRinging):
                for o in offers:
                    if o.state is OfferState.SENT:
                        o.state = OfferState.RINGING
                if call.route == "box" and not call.ringing_told and call.state is CallState.OFFERING:
                    call.ringing_told = True
                    return self._progress(call, ProgressState.RINGING)
                return []
            if isinstance(message, CallDeclined | Error):
                for o in offers:
                    if o.state in (OfferState.SENT, OfferState.RINGING):
                        o.state = OfferState.GONE
                return self._maybe_all_gone(call, now)
            return []
        if ref.purpose == "line-answer":
            if not isinstance(message, LineResultReply) or message.result is not LineResult.ANSWERED:
                return self._end(call, EndReason.ERROR, now, tell_origin=False)
            if call.state is CallState.CONNECTING:
                call.step("line-answered")
                call.deadline = None
                return self._rearm(call)
            return []
        if ref.purpose == "fwd-dial":
            if isinstance(message, LineResultReply) and message.result is LineResult.DIALLED:
                return []
            if call.state is not CallState.FORWARDING:
                return []
            if isinstance(message, LineResultReply):
                call.fwd_live = False  # the host answered: its line is on hook (busy, no dial tone, refused)
                return self._forward_failed(call, f"{message.result.value}", now)
            return self._forward_failed(call, "error", now)
        if ref.purpose == "line-dial":
            if isinstance(message, LineResultReply) and message.result is LineResult.DIALLED:
                return []
            refused = {
                LineResult.BUSY: RefuseReason.LINE_BUSY,
                LineResult.NO_DIALTONE: RefuseReason.NO_DIALTONE,
            }
            reason = RefuseReason.LINE_ERROR
            if isinstance(message, LineResultReply):
                reason = refused.get(message.result, RefuseReason.LINE_ERROR)
            out = self._progress(call, ProgressState.REFUSED, refused=reason)
            # A host that answered has its line on hook again; one that did not answer (timeout, a lost
            # link, an error reply) may still be dialling: tell it to hang up.
            answered = isinstance(message, LineResultReply)
            return out + self._end(
                call, EndReason.ERROR, now, tell_origin=False, tell_host=not answered, outcome="refused"
            )
        return []

    def request_failed(self, ref: PendingRef, now: float) -> list[Action]:
        """A request the router started got no reply (timeout, closed link, an error)."""
        return self.reply_received(ref, Error(code=ErrorCode.INTERNAL, message="no reply"), now)

    # --- host line reports ---------------------------------------------------------------------------

    def _line_state(self, box_id: str, msg: LineStateReport, now: float) -> list[Action]:
        call = self._calls.get(msg.call_id)
        if call is None:
            return []
        if call.fwd_box is not None and box_id == call.fwd_box:
            return self._forward_state(call, msg.state, msg.inferred, now)
        if box_id != call.host_box:
            raise _Forbidden(f"call {msg.call_id} is not on this box's line")
        state = msg.state
        if call.route == "own-line":
            if state is LineState.ANSWERED and call.answered_at is None:
                call.answered_at = now
                call.answer_inferred = msg.inferred
                self._store.answer_call(
                    call.call_id,
                    answered_at=now,
                    answer_inferred=msg.inferred,
                    terminal_box=None,
                    account_id=None,
                    card_id=None,
                )
            elif state in (
                LineState.BUSY,
                LineState.NO_ANSWER,
                LineState.FAR_END_HANGUP,
                LineState.LINE_LOST,
            ):
                return self._end(call, _END_FOR_LINE[state], now, tell_origin=False)
            return []
        if call.route == "incoming":
            if state is LineState.CALLER_GONE and call.state is CallState.OFFERING:
                out = self._cancel_others(call, CancelReason.CALLER_GONE)
                return out + self._end(call, EndReason.NO_ANSWER, now, tell_origin=False)
            if state in (LineState.FAR_END_HANGUP, LineState.LINE_LOST, LineState.CALLER_GONE):
                return self._end(call, _END_FOR_LINE.get(state, EndReason.FAR_END), now, tell_origin=False)
            return []
        # placed through a host line
        if state is LineState.RINGBACK:
            if not call.ringing_told:
                call.ringing_told = True
                return self._progress(call, ProgressState.RINGING)
            return []
        if state is LineState.ANSWERED and call.state is CallState.DIALLING:
            call.step("answered")
            call.answered_at = now
            call.answer_inferred = msg.inferred
            self._store.answer_call(
                call.call_id,
                answered_at=now,
                answer_inferred=msg.inferred,
                terminal_box=None,
                account_id=None,
                card_id=None,
            )
            return self._progress(call, ProgressState.ANSWERED, inferred=msg.inferred) + self._rearm(call)
        if state is LineState.BUSY and call.state is CallState.DIALLING:
            return self._progress(call, ProgressState.BUSY) + self._end(
                call, EndReason.BUSY, now, tell_origin=False
            )
        if state in (LineState.NO_ANSWER, LineState.FAR_END_HANGUP, LineState.LINE_LOST, LineState.BUSY):
            reason = _END_FOR_LINE[state]
            if call.state is CallState.DIALLING:
                return self._progress(call, ProgressState.ENDED, reason=reason) + self._end(
                    call, reason, now, tell_origin=False
                )
            return self._end(call, reason, now)
        return []

    # --- hang-up, DTMF, media binding -----------------------------------------------------------------

    def _hangup(self, box_id: str, msg: CallHangup, now: float) -> list[Action]:
        call = self._calls.get(msg.call_id)
        if call is None:
            return []
        if box_id not in call.boxes():
            raise _Forbidden(f"box is not a party to call {msg.call_id}")
        if box_id == call.origin_box and call.route != "incoming":
            # the caller hangs up (or abandons before answer)
            if call.state is CallState.OFFERING:
                out = self._cancel_others(call, CancelReason.CALLER_GONE)
                return out + self._end(call, EndReason.NO_ANSWER, now, tell_origin=False)
            reason = EndReason.HANGUP if msg.reason is EndReason.HANGUP else msg.reason
            return self._end(call, reason, now, tell_origin=False)
        if call.winner is not None and call.winner.box_id == box_id:
            return self._end(call, msg.reason, now, tell_winner=False)
        if call.route == "incoming" and box_id == call.origin_box:
            return self._end(call, EndReason.FAR_END, now, tell_origin=False)
        return []  # a box whose offer is gone anyway

    def _dtmf(self, box_id: str, msg: CallDtmf) -> list[Action]:
        call = self._calls.get(msg.call_id)
        if call is None or call.state is CallState.ENDED:
            return []
        parties = {call.origin_box} | ({call.winner.box_id} if call.winner else set())
        if call.host_box is not None:
            parties.add(call.host_box)
        if box_id not in parties:
            raise _Forbidden(f"box is not a party to call {msg.call_id}")
        return [Send(self._box_conn[b], msg) for b in parties if b != box_id and b in self._box_conn]

    def _bind(self, conn_id: str, box_id: str, env: Envelope, msg: MediaBind) -> list[Action]:
        call = self._calls.get(msg.call_id)
        if (
            call is None
            or self._by_flow.get(msg.flow_id) != msg.call_id
            or self._flow_box.get(msg.flow_id) != box_id
        ):
            raise _Forbidden(f"flow {msg.flow_id} of call {msg.call_id} is not this box's live leg")
        return [Bind(msg.flow_id, conn_id), Send(conn_id, Ok(), env.id)]

    def media_silent(self, flows: Iterable[int], now: float) -> list[Action]:
        """The relay saw no datagram on these bridged flows for its silence timeout. A call whose host
        line is still dialling or answering is not ended for it: a modem sends voice only once its line
        is up, and ``line.dial``/``line.answer`` have their own timeouts (the flows are re-armed when
        the call connects)."""
        out: list[Action] = []
        for flow in flows:
            call_id = self._by_flow.get(flow)
            call = self._calls.get(call_id) if call_id is not None else None
            if call is None or call.state in (CallState.ENDED, CallState.DIALLING, CallState.CONNECTING,
                                              CallState.FORWARDING):
                continue
            if (call.route == "sos" and flow == call.host_flow) or (
                    call.route == "sos-callback" and flow == call.origin_flow):
                continue  # an answering point may listen in silence (TTY, a caller who cannot speak)
            out += self._end(call, EndReason.MEDIA_SILENCE, now)
        return out

    def _rearm(self, call: Call) -> list[Action]:
        """The call is connected: every bound leg gets a full silence period from now (a ``Bind`` to
        the connection it already has), so a leg that was allowed to be silent must speak now."""
        out: list[Action] = []
        bridged = (call.origin_flow, call.host_flow, call.fwd_flow,
                   call.winner.flow_id if call.winner else None)
        for flow in (f for f in bridged if f is not None):
            if call.route == "sos" and flow == call.host_flow:
                out.append(Bind(flow, sos_conn(call.call_id)))
                continue
            conn = self._box_conn.get(self._flow_box.get(flow, ""))
            if conn is not None:
                out.append(Bind(flow, conn))
        return out

    # --- placed calls ----------------------------------------------------------------------------------

    def _place(self, conn_id: str, box_id: str, env: Envelope, msg: CallPlace, now: float) -> list[Action]:
        if msg.call_id in self._calls or msg.call_id in self._ended or self._store.get_call(msg.call_id):
            refused = CallRefused(
                call_id=msg.call_id, reason=RefuseReason.DUPLICATE_CALL, message="call id already in use"
            )
            return [Send(conn_id, refused, env.id)]
        reg = self._store.active_registration(msg.card_id)
        card = self._store.get_card(msg.card_id)
        call = Call(
            call_id=msg.call_id,
            route="box",
            caller="",
            called=msg.number,
            created=now,
            origin_box=box_id,
            origin_flow=None,
            origin_card=msg.card_id,
            origin_account=card.account_id if card is not None else None,
        )
        try:
            if reg is None or reg.box_id != box_id or reg.lease_expiry <= now:
                raise _Refuse(RefuseReason.UNKNOWN_CARD, "the card is not registered at this box")
            numbers = self._store.numbers_of(reg.account_id)
            call.caller = numbers[0] if numbers else ""
            if self._store.accounts_for_number(msg.number):
                return self._place_box(conn_id, env, call, now)
            return self._place_pstn(conn_id, env, call, reg.account_id, now)
        except _Refuse as exc:
            call.route = "box" if self._store.accounts_for_number(msg.number) else "pstn"
            self._store.open_call(
                CallRecord(
                    call_id=call.call_id,
                    route=call.route,
                    caller=call.caller,
                    called=call.called,
                    created=now,
                    state="closed",
                    account_id=call.origin_account,
                    card_id=msg.card_id,
                    terminal_box=box_id,
                    ended_at=now,
                    duration_s=0.0,
                    outcome="refused",
                    end_reason=exc.reason.value,
                )
            )
            self._remember(call.call_id)
            self._notify(call.call_id)
            return [
                Send(conn_id, CallRefused(call_id=msg.call_id, reason=exc.reason, message=str(exc)), env.id)
            ]

    # --- emergency calls through the cloud (DESIGN §6.4) ------------------------------------------------

    def _emergency(self, conn_id: str, box_id: str, env: Envelope, msg: CallEmergency,
                   now: float) -> list[Action]:
        """A box with no line calls 911: never refused for a card, rights, budget or filters; only a
        directory with no answering point at all (or a duplicate call id) refuses it."""
        if msg.call_id in self._calls or msg.call_id in self._ended or self._store.get_call(msg.call_id):
            refused = CallRefused(call_id=msg.call_id, reason=RefuseReason.DUPLICATE_CALL,
                                  message="call id already in use")
            return [Send(conn_id, refused, env.id)]
        box = self._store.get_box(box_id)
        location: dict[str, object] | None = None
        if msg.location is not None:
            try:
                location = wire_location.check_snapshot(msg.location)
            except WireUsageError as exc:
                log.warning("sos-location-malformed", extra={"fields": {"box": box_id, "reason": str(exc)}})
        if location is None and box is not None and isinstance(box.location, dict):
            try:
                location = wire_location.check_snapshot(box.location)
            except WireUsageError:
                location = None
        card_id = msg.card_id or None
        account_id: str | None = None
        if card_id is not None:
            card = self._store.get_card(card_id)
            account_id = card.account_id if card is not None else None
        call_back = msg.line or (box.line_number if box is not None and box.line_number else "")
        if not call_back and account_id is not None:
            numbers = self._store.numbers_of(account_id)
            call_back = numbers[0] if numbers else ""
        found = psap.candidates(self._store.answering_points(), location)
        chosen = found[0] if found else None
        call = Call(call_id=msg.call_id, route="sos", caller=call_back, called=msg.number, created=now,
                    origin_box=box_id, origin_flow=None, origin_card=card_id, origin_account=account_id,
                    state=CallState.DIALLING)
        if chosen is None:
            log.error("sos-no-answering-point", extra={"fields": {"box": box_id, "call": msg.call_id}})
            self._store.open_call(CallRecord(
                call_id=call.call_id, route="sos", caller=call_back, called=msg.number, created=now,
                state="closed", account_id=account_id, card_id=card_id, terminal_box=box_id, ended_at=now,
                duration_s=0.0, outcome="refused", end_reason=RefuseReason.NO_ROUTE.value))
            self._remember(call.call_id)
            self._notify(call.call_id)
            refused = CallRefused(call_id=msg.call_id, reason=RefuseReason.NO_ROUTE,
                                  message="no answering point is known for this location")
            return [Send(conn_id, refused, env.id)]
        point, why = chosen
        call.sos_next = [p for p, _ in found[1:]]
        pidf: bytes | None = None
        if location is not None:
            try:
                pidf = wire_pidf.from_snapshot(location, entity=f"pres:{box_id}@roamline.invalid", now=now)
            except WireUsageError as exc:  # e.g. a recorded address no longer dispatchable: call anyway
                log.warning("sos-pidf-unbuildable", extra={"fields": {"box": box_id, "reason": str(exc)}})
        call.line = point.uri  # recorded as the call's "line": where it went
        call.origin_flow = self._flow(box_id, call.call_id)
        call.host_flow = self._flow(sos_conn(call.call_id), call.call_id)
        self._calls[call.call_id] = call
        self._open_record(call)
        log.info("sos-route", extra={"fields": {"call": call.call_id, "box": box_id, "psap": point.name,
                                                "uri": point.uri, "by": why, "call_back": call_back,
                                                "pidf": pidf is not None}})
        placed = CallPlaced(call_id=call.call_id, route=Route.SOS, flow_id=call.origin_flow)
        call.sos_dial = SosDial(call.call_id, point.uri, call_back, box_id, pidf, call.host_flow,
                                point.tls_ca, point.tls_fingerprint)
        return [
            Send(conn_id, placed, env.id),
            Bridge(call.call_id, call.origin_flow, conn_id, call.host_flow, sos_conn(call.call_id)),
            call.sos_dial,
        ]

    def sos_event(self, call_id: str, kind: str, status: int, now: float) -> list[Action]:
        """What the SIP leg of emergency call ``call_id`` reported (cloud.sos_uac.Event kinds)."""
        call = self._calls.get(call_id)
        if call is None or call.route != "sos" or call.state is CallState.ENDED:
            return []
        if kind == "ringing" and not call.ringing_told:
            call.ringing_told = True
            return self._progress(call, ProgressState.RINGING)
        if kind == "answered" and call.state is CallState.DIALLING:
            call.step("answered")
            call.answered_at = now
            self._store.answer_call(call.call_id, answered_at=now, answer_inferred=False,
                                    terminal_box=call.origin_box, account_id=call.origin_account,
                                    card_id=call.origin_card)
            return [*self._progress(call, ProgressState.ANSWERED), *self._rearm(call)]
        if kind == "ended":
            return self._end(call, EndReason.FAR_END, now, tell_host=False)
        if kind == "failed" and call.state is CallState.DIALLING and call.sos_next and call.sos_dial:
            # that answering point did not take the call: the next one that covers the location does
            nxt = call.sos_next.pop(0)
            log.warning("sos-failover", extra={"fields": {"call": call_id, "failed": call.sos_dial.psap_uri,
                                                          "status": status, "next": nxt.uri}})
            call.sos_dial = SosDial(call_id, nxt.uri, call.sos_dial.call_back, call.sos_dial.box_id,
                                    call.sos_dial.pidf, call.sos_dial.flow_id, nxt.tls_ca,
                                    nxt.tls_fingerprint)
            call.line = nxt.uri
            return [call.sos_dial]
        if kind == "failed":
            reason = EndReason.BUSY if status in (486, 600) else (
                EndReason.NO_ANSWER if status in (0, 408, 480) else EndReason.ERROR)
            return self._end(call, reason, now, tell_host=False, outcome="failed", end_reason=f"sip-{status}")
        return []

    # --- the answering point's call-back to a box with no line (DESIGN §6.4; cloud.sos_callback) -------

    def _origin_conn(self, call: Call) -> str | None:
        return sos_conn(call.call_id) if call.route == "sos-callback" else self._box_conn.get(call.origin_box)

    def sos_callback(self, sip_id: str, number: str, caller: str, now: float, *,
                     source: CallbackSource) -> list[Action]:
        """An answering point's INVITE for ``number`` from ``source``: refused 403 unless ``source`` is an
        answering point of the directory (its networks, transport and certificate); then, within the
        window of the emergency call that presented it, ring that box with no card, filter, right or
        voicemail in the way; else refuse (404, 480)."""
        point = psap.callback_source(self._store.answering_points(), source.address, source.transport,
                                     source.cert_der)
        origin = f"{source.address}:{source.port}"
        if point is None:
            log.warning("sos-callback-forbidden", extra={"fields": {
                "sip_call": sip_id, "number": number, "from": origin, "transport": source.transport,
                "certificate": None if source.cert_der is None else psap.fingerprint_of(source.cert_der)}})
            return [SosCallbackRefuse(sip_id, 403, "Forbidden")]
        verdict = sos_callback.decide(self._store, number, now, connected=set(self._box_conn))
        fields = {"sip_call": sip_id, "number": number, "box": verdict.box_id, "status": verdict.status,
                  "psap": point.name, "from": origin, "transport": source.transport}
        last = self._store.last_sos_call(number)
        if last is not None:  # the emergency record names who called back (and what became of it)
            self._store.add_emergency_callback(last[0], {
                "at": now, "psap": point.name, "uri": point.uri, "from": origin,
                "transport": source.transport,
                "status": verdict.status or 180})
        if verdict.box_id is None:
            log.info("sos-callback-refused", extra={"fields": fields})
            return [SosCallbackRefuse(sip_id, verdict.status, verdict.reason)]
        call_id = "cb-" + hashlib.sha256(sip_id.encode()).hexdigest()[:24]
        if call_id in self._calls:
            return []
        call = Call(call_id=call_id, route="sos-callback", caller=caller, called=number, created=now,
                    origin_box=sos_conn(call_id), origin_flow=None, line=number)
        call.origin_flow = self._flow(sos_conn(call_id), call_id)
        flow = self._flow(verdict.box_id, call_id)
        offer = Offer(verdict.box_id, NO_CARD, "", CADENCES[0], flow)
        call.offers[verdict.box_id, NO_CARD] = offer
        self._calls[call_id] = call
        self._open_record(call)
        log.info("sos-callback-ringing", extra={"fields": {**fields, "call": call_id}})
        msg = CallOffer(call_id=call_id, card_id=NO_CARD, number=number,
                        caller=CallerId(number=caller or None), cadence=CADENCES[0], flow_id=flow,
                        emergency_callback=True)
        call.deadline = now + self._config.no_answer_s
        return [SosCallbackRing(sip_id, call_id, verdict.box_id, call.origin_flow),
                Request(self._box_conn[verdict.box_id], msg, PendingRef(call_id, verdict.box_id, "offer"))]

    def sos_callback_event(self, call_id: str, kind: str, now: float) -> list[Action]:
        """What the answering point did on call-back ``call_id`` (cloud.sos_uas.Event kinds)."""
        call = self._calls.get(call_id)
        if call is None or call.route != "sos-callback" or kind not in ("ended", "cancelled"):
            return []
        return self._end(call, EndReason.FAR_END, now, tell_origin=False)

    def _place_box(self, conn_id: str, env: Envelope, call: Call, now: float) -> list[Action]:
        caller = CallerId(number=call.caller or None)
        offers = self._offer_targets(call, call.called, exclude_box=call.origin_box, now=now, caller=caller)
        if not offers:
            if call.filtered:
                raise _Refuse(RefuseReason.FILTERED, f"{call.called} does not take this call now")
            raise _Refuse(RefuseReason.NOT_REACHABLE, f"{call.called} has no card registered anywhere")
        call.origin_flow = self._flow(call.origin_box, call.call_id)
        self._calls[call.call_id] = call
        self._open_record(call)
        placed = CallPlaced(call_id=call.call_id, route=Route.BOX, flow_id=call.origin_flow)
        return [Send(conn_id, placed, env.id), *self._send_offers(call, offers, caller, now)]

    def _place_pstn(
        self, conn_id: str, env: Envelope, call: Call, account_id: str, now: float
    ) -> list[Action]:
        box = self._store.get_box(call.origin_box)
        own = box.line_number if box is not None else None
        own_right = self._store.line_right(account_id, own) if own else None
        if (own and own_right is not None and own_right.call_out
                and _right_refuses(own_right, call.called) is None):
            # the caller may use the line of the box the card is in (else a host line they may use)
            call.route = "own-line"
            call.line = own
            call.host_box = call.origin_box
            call.state = CallState.DIALLING
            self._calls[call.call_id] = call
            self._open_record(call)
            return [Send(conn_id, CallPlaced(call_id=call.call_id, route=Route.OWN_LINE), env.id)]
        area = area_of(call.called)
        in_area = [(line, b) for line, b in self._store.host_lines() if area_of(line) == area]
        if not in_area:
            if own:  # the line is right here, but not this caller's to use
                raise _Refuse(RefuseReason.NO_RIGHTS, f"no right to call out through this box's line, "
                                                      f"and no host line serves {area}")
            raise _Refuse(RefuseReason.NO_ROUTE, f"no host line serves {area}")
        granted = {line: r for line, _ in in_area
                   if (r := self._store.line_right(account_id, line)) is not None}
        allowed: list[tuple[str, str]] = []
        why = f"no right to call out through a line in {area}"
        for line, b in in_area:
            right = granted.get(line)
            if right is None or not right.call_out:
                continue
            reason = _right_refuses(right, call.called)
            if reason is not None:
                why = reason
                continue
            allowed.append((line, b))
        if not allowed:
            raise _Refuse(RefuseReason.NO_RIGHTS, why)
        busy = self._busy_lines()
        usable = [(line, b) for line, b in allowed if b in self._box_conn and line not in busy]
        if not usable:
            connected = [x for x in allowed if x[1] in self._box_conn]
            if connected:
                raise _Refuse(RefuseReason.LINE_BUSY, f"the host lines in {area} are in use")
            raise _Refuse(RefuseReason.NO_ROUTE, f"no host line in {area} is reachable now")
        line, host = usable[0]
        right = granted[line]
        max_call_s = _longest_call(right)
        call.route = "host-line"
        call.line = line
        call.host_box = host
        call.rate_per_min = right.rate_per_min
        if max_call_s is not None:
            call.limit_at = now + max_call_s
            call.warn_at = max(now, call.limit_at - self._config.warn_before_s)
        call.origin_flow = self._flow(call.origin_box, call.call_id)
        call.host_flow = self._flow(host, call.call_id)
        call.state = CallState.DIALLING
        self._calls[call.call_id] = call
        self._open_record(call)
        placed = CallPlaced(call_id=call.call_id, route=Route.HOST_LINE, flow_id=call.origin_flow, via=line)
        host_conn = self._box_conn[host]
        token = ""
        if self._grant_key is not None:
            token = wire_grant.issue(self._grant_key, call_id=call.call_id, line=line, number=call.called,
                                     account=account_id, now=now, max_call_s=max_call_s)
        return [
            Send(conn_id, placed, env.id),
            Bridge(call.call_id, call.origin_flow, conn_id, call.host_flow, host_conn),
            Request(
                host_conn,
                LineDial(call_id=call.call_id, number=call.called, flow_id=call.host_flow, grant=token),
                PendingRef(call.call_id, host, "line-dial"),
                timeout_s=self._config.dial_line_s,
            ),
        ]

    def _progress(
        self,
        call: Call,
        state: ProgressState,
        *,
        reason: EndReason | None = None,
        refused: RefuseReason | None = None,
        inferred: bool = False,
    ) -> list[Action]:
        conn = self._box_conn.get(call.origin_box)
        if conn is None or call.route == "incoming":
            return []
        return [
            Send(
                conn,
                CallProgress(
                    call_id=call.call_id,
                    state=state,
                    reason=reason,
                    refused=refused,
                    answer_inferred=inferred,
                ),
            )
        ]

    # --- timers ------------------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = [t for c in self._calls.values() for t in (c.deadline, c.warn_at, c.limit_at)
                 if t is not None]
        return min(times) if times else None

    def poll(self, now: float) -> list[Action]:
        out: list[Action] = []
        for call in list(self._calls.values()):
            if call.warn_at is not None and now >= call.warn_at:
                call.warn_at = None
                out += self._progress(call, ProgressState.WARNING)
            if call.limit_at is not None and now >= call.limit_at:
                call.limit_at = None
                log.info("call-limit", extra={"fields": {"call": call.call_id, "line": call.line}})
                out += self._end(call, EndReason.LIMIT, now)
                continue
            if call.deadline is None or now < call.deadline:
                continue
            call.deadline = None
            if call.state is CallState.OFFERING and call.choosing:
                log.info("attendant-no-choice", extra={"fields": {"call": call.call_id}})
                out += self._line_hangup(call, call.origin_box, EndReason.NO_ANSWER)
                out += self._end(call, EndReason.NO_ANSWER, now, tell_origin=False)
            elif call.state is CallState.OFFERING and call.attendant:
                out += self._cancel_others(call, CancelReason.TIMEOUT)
                out += self._attendant_fallback(call, Fallback.VOICEMAIL, now, end_reason="no-answer")
            elif call.state is CallState.OFFERING:
                out += self._cancel_others(call, CancelReason.TIMEOUT)
                if call.route == "box":
                    out += self._progress(call, ProgressState.ENDED, reason=EndReason.NO_ANSWER)
                if call.route == "incoming":
                    out += self._voicemail(call, call.caller_id, now)
                out += self._end(call, EndReason.NO_ANSWER, now, tell_origin=False)
            elif call.state is CallState.FORWARDING:
                out += self._forward_failed(call, "no-answer", now)
            elif call.state is CallState.CONNECTING:
                out += self._end(call, EndReason.ERROR, now, tell_origin=False)
        return out

    # --- ending ------------------------------------------------------------------------------------------

    def _end(
        self,
        call: Call,
        reason: EndReason,
        now: float,
        *,
        tell_origin: bool = True,
        tell_winner: bool = True,
        tell_host: bool = True,
        outcome: str | None = None,
        end_reason: str | None = None,
    ) -> list[Action]:
        """End ``call`` for every leg still up, close its record, release its flows."""
        if call.state is CallState.ENDED:
            return []
        was = call.state
        call.step("end")
        out: list[Action] = []
        out += self._cancel_others(
            call, CancelReason.CALLER_GONE if reason is not EndReason.NO_ANSWER else CancelReason.TIMEOUT
        )
        if call.winner is not None and tell_winner:
            conn = self._box_conn.get(call.winner.box_id)
            if conn is not None:
                out.append(
                    Request(
                        conn,
                        CallHangup(call_id=call.call_id, reason=_for_other(reason)),
                        PendingRef(call.call_id, call.winner.box_id, "hangup"),
                    )
                )
        if call.route == "incoming":
            if tell_origin and was in (CallState.CONNECTING, CallState.CONNECTED):
                out += self._line_hangup(call, call.origin_box, reason)
            if call.fwd_live and call.fwd_box is not None:
                out += self._line_hangup(call, call.fwd_box, reason)
                call.fwd_live = False
        else:
            if tell_origin and call.route != "own-line":
                conn = self._box_conn.get(call.origin_box)
                if conn is not None:
                    if was is CallState.CONNECTED or (call.route == "host-line"):
                        out.append(
                            Request(
                                conn,
                                CallHangup(call_id=call.call_id, reason=_for_other(reason)),
                                PendingRef(call.call_id, call.origin_box, "hangup"),
                            )
                        )
                    else:
                        out += self._progress(call, ProgressState.ENDED, reason=reason)
            if call.route == "host-line" and call.host_box is not None and tell_host:
                out += self._line_hangup(call, call.host_box, reason)
            if call.route == "sos" and tell_host:
                out.append(SosHangup(call.call_id))
            if call.route == "sos-callback":
                out.append(SosCallbackHangup(call.call_id))
        flows = call.flows()
        out.append(Unbridge(call.call_id, flows))
        for flow in flows:
            self._by_flow.pop(flow, None)
            self._flow_box.pop(flow, None)
        del self._calls[call.call_id]
        self._remember(call.call_id)
        answered = call.answered_at is not None
        winner = call.winner
        # an incoming call is the answering holder's; a placed one stays billed to its caller (DESIGN §4)
        holder = winner if winner is not None and call.route == "incoming" else None
        account = holder.account_id if holder else call.origin_account
        if call.route == "host-line" and call.answered_at is not None and call.rate_per_min > 0 \
                and call.origin_account and call.line:
            cost = max(0.0, now - call.answered_at) / 60.0 * call.rate_per_min
            self._store.add_spent(call.origin_account, call.line, cost)
        if call.fwd_line and call.answered_at is not None and call.rate_per_min > 0 and call.origin_account:
            cost = max(0.0, now - call.answered_at) / 60.0 * call.rate_per_min
            self._store.add_spent(call.origin_account, call.fwd_line, cost)
        if account is None and call.offers:
            account = next(iter(call.offers.values())).account_id
        self._store.close_call(
            call.call_id,
            ended_at=now,
            outcome=outcome or ("answered" if answered else "missed"),
            end_reason=end_reason or reason.value,
            answered_at=call.answered_at,
            answer_inferred=call.answer_inferred,
            account_id=account,
            card_id=holder.card_id if holder else call.origin_card,
            terminal_box=winner.box_id if winner else (
                (call.fwd_box if answered else None) if call.route == "incoming" else call.origin_box),
            host_box=call.host_box,
            line=call.line,
            offered=tuple(sorted({o.box_id for o in call.offers.values()})),
        )
        self._notify(call.call_id)
        log.info(
            "call-ended",
            extra={"fields": {"call": call.call_id, "reason": reason.value, "answered": answered}},
        )
        return out

    def _line_hangup(self, call: Call, box_id: str, reason: EndReason) -> list[Action]:
        conn = self._box_conn.get(box_id)
        if conn is None:
            return []
        return [
            Request(
                conn,
                LineHangup(call_id=call.call_id, reason=_for_other(reason)),
                PendingRef(call.call_id, box_id, "line-hangup"),
            )
        ]

    # --- helpers -----------------------------------------------------------------------------------------

    def _flow(self, box_id: str, call_id: str) -> int:
        flow = next(self._flows)
        self._by_flow[flow] = call_id
        self._flow_box[flow] = box_id
        return flow

    def _open_record(self, call: Call) -> None:
        account = call.origin_account
        self._store.open_call(
            CallRecord(
                call_id=call.call_id,
                route=call.route,
                caller=call.caller,
                called=call.called,
                created=call.created,
                line=call.line,
                account_id=account,
                card_id=call.origin_card,
                host_box=call.host_box,
                terminal_box=None if call.route == "incoming" else call.origin_box,
                offered=tuple(sorted({o.box_id for o in call.offers.values()})),
            )
        )

    def _remember(self, call_id: str) -> None:
        self._ended[call_id] = None
        while len(self._ended) > self._config.ended_memory:
            self._ended.popitem(last=False)

    def _notify(self, call_id: str) -> None:
        if self._on_record is not None:
            self._on_record(call_id)


class _Forbidden(PeerError):
    """A box sent a call message about a call it is not a party to."""


def _right_refuses(right: LineRight, number: str) -> str | None:
    """Why ``right`` does not cover calling ``number`` (None: it does)."""
    if any(number.startswith(p) for p in right.blocked):
        return f"{number} is blocked on this line"
    if right.prefixes and not any(number.startswith(p) for p in right.prefixes):
        return f"{number} is not among the numbers allowed on this line"
    if right.spend_limit is not None and right.spent >= right.spend_limit:
        return "the budget on this line is spent"
    return None


def _longest_call(right: LineRight) -> float | None:
    """The longest this call may last: the right's length limit and what the budget left buys."""
    limits = [right.max_call_s] if right.max_call_s is not None else []
    if right.spend_limit is not None and right.rate_per_min > 0:
        limits.append(max(0.0, right.spend_limit - right.spent) / right.rate_per_min * 60.0)
    return min(limits) if limits else None


_END_FOR_LINE: dict[LineState, EndReason] = {
    LineState.BUSY: EndReason.BUSY,
    LineState.NO_ANSWER: EndReason.NO_ANSWER,
    LineState.FAR_END_HANGUP: EndReason.FAR_END,
    LineState.LINE_LOST: EndReason.LINE_LOST,
    LineState.CALLER_GONE: EndReason.FAR_END,
}


def _for_other(reason: EndReason) -> EndReason:
    """The reason told to the other parties: a hang-up by one end is ``far-end`` for the others."""
    return EndReason.FAR_END if reason is EndReason.HANGUP else reason
