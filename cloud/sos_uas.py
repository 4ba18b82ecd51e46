"""The answering point's call-back to a box with no line, as a SIP user-agent server, sans-I/O (RFC 3261
over UDP or TLS): one INVITE's server transaction and the dialog after it. Datagrams and ``now`` in; datagrams
to send, call events and a deadline out. Which box the call-back number belongs to, and whether its
window is still open, is decided outside (:mod:`roamline.cloud.sos_callback`); this core only speaks SIP.

States (explicit table in :data:`TRANSITIONS`):

    proceeding ──ring()──▶ ringing ──answer()──▶ answered ──ACK──▶ confirmed ──BYE either way──▶ ended
        │                    │                      │            └─ hangup() ─▶ closing ─200/timer─▶ ended
        │                    │                      └── BYE before the ACK / timer H ──▶ ended
        └─ refuse() / CANCEL ┴──▶ refused ──ACK / timer H──▶ ended

Timers: a final response is retransmitted from T1 = 0.5 s doubling, capped at T2 = 4 s (timer G for a
failure, RFC 6026's 2xx retransmission for an answer) until the ACK, given up after 64·T1 (timer H);
our BYE is retransmitted the same way (timer E) and given up after 64·T1 (timer F). A retransmitted
INVITE gets the last response again. Over TLS (``transport="tls"``, RFC 3261 §26) a failure and our BYE
are sent once (timers G and E are for unreliable transports; H and F still run), while the 2xx is
retransmitted as on UDP (§13.3.1.4: end to end, whatever the transport).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum

from roamline.cloud.errors import UsageError
from roamline.cloud.sos_uac import T1, T2, Outgoing
from roamline.wire import sip
from roamline.wire.errors import PeerError

log = logging.getLogger(__name__)

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_CALLED = re.compile(r"(?:sips?:|tel:)(\+?[0-9]{1,16})(?:[@;].*)?")


class State(StrEnum):
    PROCEEDING = "proceeding"
    RINGING = "ringing"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    CLOSING = "closing"
    ENDED = "ended"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.PROCEEDING: frozenset({State.RINGING, State.ANSWERED, State.REFUSED}),
    State.RINGING: frozenset({State.ANSWERED, State.REFUSED}),
    State.ANSWERED: frozenset({State.CONFIRMED, State.ENDED, State.CLOSING}),
    State.CONFIRMED: frozenset({State.CLOSING, State.ENDED}),
    State.REFUSED: frozenset({State.ENDED}),
    State.CLOSING: frozenset({State.ENDED}),
    State.ENDED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Event:
    """What the calling side did: ``confirmed`` (the ACK of our answer), ``cancelled`` (a CANCEL before
    our final response) or ``ended`` (``reason``: ``remote-bye``, ``local-bye``, ``refused``, ``no-ack``,
    ``timeout``)."""

    kind: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallbackSource:
    """Where a call-back INVITE came from: the peer's ``address`` and ``port``, the ``transport``
    (``udp`` | ``tls``) and, over TLS, the client certificate the handshake verified (DER; None if the
    peer sent none). Checked against the answering-point directory (cloud.psap.callback_source)."""

    address: str
    port: int
    transport: str = "udp"
    cert_der: bytes | None = None


def media_id(sip_call_id: str) -> str:
    """The id a call-back's media is reported under (``on_media``), apart from outgoing calls' ids."""
    return "cb:" + sip_call_id


def called_number(uri: str) -> str:
    """The E.164 number a call-back INVITE is for (``sip:+1555…@host``, ``sip:+1555…@host;user=phone``
    or ``tel:+1555…``); SipSyntaxError for anything else."""
    m = _CALLED.fullmatch(uri)
    if m is None or _E164.fullmatch(m.group(1)) is None:
        raise sip.SipSyntaxError(f"the call-back Request-URI names no E.164 number: {uri[:60]!r}")
    return m.group(1)


@dataclass(frozen=True, slots=True)
class Invite:
    """A checked call-back INVITE: who it is for, its dialog identifiers and the caller's audio offer
    (None: no usable PCMU offer — answer 488)."""

    msg: sip.SipMessage
    number: str
    call_id: str
    branch: str
    offer: sip.AudioOffer | None


def check_invite(msg: sip.SipMessage, transport: str = "udp") -> Invite:
    """Strict checks of an INVITE a call-back must pass before any state exists; SipSyntaxError names the
    first failure (the gateway answers 400 when it can, or drops the datagram). ``transport``: what it
    came over (``udp`` | ``tls``): the top Via must say the same."""
    if msg.method != "INVITE":
        raise sip.SipSyntaxError(f"expected an INVITE, got {msg.method or msg.status}")
    _, method = msg.cseq()
    if method != "INVITE":
        raise sip.SipSyntaxError("CSeq method must be INVITE")
    via = msg.need("Via")
    m = re.search(r";\s*branch=(z9hG4bK[A-Za-z0-9.!%*_+`'~-]{1,64})", via)
    proto = f"SIP/2.0/{transport.upper()}"
    if not via.upper().startswith(proto) or m is None:
        raise sip.SipSyntaxError(f"the top Via must be {proto} with an RFC 3261 branch")
    if sip.tag_of(msg.need("From")) is None:
        raise sip.SipSyntaxError("From has no tag")
    if sip.tag_of(msg.need("To")) is not None:
        raise sip.SipSyntaxError("a To tag on an initial INVITE (a re-INVITE is not supported)")
    sip.uri_of(msg.need("Contact"))
    call_id = msg.need("Call-ID").strip()
    if not call_id or len(call_id) > 200 or " " in call_id:
        raise sip.SipSyntaxError("bad Call-ID")
    number = called_number(msg.uri)
    offer: sip.AudioOffer | None = None
    ctype = (msg.get("Content-Type") or "").strip().lower()
    if ctype.startswith("application/sdp"):
        try:
            offer = sip.parse_sdp(msg.body)
        except PeerError:
            offer = None
    return Invite(msg, number, call_id, m.group(1), offer)


class CallbackCall:
    """The server side of one call-back INVITE. ``CallbackCall(invite, source=…)`` then ``start(now)``
    gives the 100 Trying; the gateway decides and calls ``ring``, ``answer`` or ``refuse``; feed
    ``datagram`` with this Call-ID's datagrams and ``poll`` at ``deadline``; ``hangup`` when the box
    hangs up."""

    def __init__(self, invite: Invite, *, source: tuple[str, int], local: tuple[str, int], tag: str,
                 branch_seed: str, transport: str = "udp") -> None:
        if transport not in ("udp", "tls"):
            raise UsageError(f"a call-back transport is udp or tls, not {transport!r}")
        self.invite = invite
        self.source = source
        self.local = local
        self.transport = transport
        self.reliable = transport == "tls"
        self.state = State.PROCEEDING
        self._tag = tag
        self._seed = branch_seed
        self._branches = 0
        self._last: bytes | None = None  # the last response to the INVITE (sent again on a retransmission)
        self._pending: bytes | None = None  # what is being retransmitted (a final response or our BYE)
        self._interval = T1
        self._retransmit_at: float | None = None
        self._give_up_at: float | None = None
        self._remote_target = sip.uri_of(invite.msg.need("Contact"))

    # --- building ----------------------------------------------------------------------------------

    def _response(self, req: sip.SipMessage, status: int, reason: str, *, tag: bool = True,
                  body: bytes = b"") -> bytes:
        to = req.need("To")
        if tag and status > 100 and sip.tag_of(to) is None:
            to = f"{to};tag={self._tag}"
        headers = [("Via", v) for v in req.all("Via")]
        headers += [("From", req.need("From")), ("To", to), ("Call-ID", req.need("Call-ID")),
                    ("CSeq", req.need("CSeq"))]
        if req.method == "INVITE" and 100 < status < 300:
            scheme = "sips" if self.reliable else "sip"
            headers.append(("Contact", f"<{scheme}:callback@{self.local[0]}:{self.local[1]}>"))
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return sip.response(status, reason, headers, body).encode()

    def _bye(self) -> bytes:
        inv = self.invite.msg
        self._branches += 1
        host, port = self.local
        proto = self.transport.upper()
        headers = [("Via", f"SIP/2.0/{proto} {host}:{port};branch=z9hG4bK{self._seed}{self._branches};rport"),
                   ("Max-Forwards", "70"), ("From", f"{inv.need('To')};tag={self._tag}"),
                   ("To", inv.need("From")), ("Call-ID", self.invite.call_id), ("CSeq", "1 BYE")]
        return sip.request("BYE", self._remote_target, headers).encode()

    # --- driving -----------------------------------------------------------------------------------

    def _go(self, to: State) -> None:
        if to not in TRANSITIONS[self.state]:
            raise UsageError(f"call-back SIP call: no transition {self.state} → {to}")
        self.state = to

    def _retransmit(self, data: bytes, now: float, *, always: bool = False) -> Outgoing:
        """Send ``data`` and repeat it until stopped (over TLS only when ``always``: a 2xx)."""
        self._pending = data
        self._interval = T1
        self._retransmit_at = now + T1 if always or not self.reliable else None
        self._give_up_at = now + 64 * T1
        return Outgoing(data, self.source)

    def _stop(self) -> None:
        self._pending = None
        self._retransmit_at = self._give_up_at = None

    def start(self, now: float) -> list[Outgoing]:
        if self._last is not None:
            raise UsageError("call-back SIP call already started")
        self._last = self._response(self.invite.msg, 100, "Trying")
        return [Outgoing(self._last, self.source)]

    def ring(self, now: float) -> list[Outgoing]:
        if self.state is not State.PROCEEDING:
            return []
        self._go(State.RINGING)
        self._last = self._response(self.invite.msg, 180, "Ringing")
        return [Outgoing(self._last, self.source)]

    def answer(self, rtp: tuple[str, int], now: float) -> list[Outgoing]:
        """The box's handset answered: 200 OK with our SDP (media at ``rtp``), repeated until the ACK."""
        if self.state not in (State.PROCEEDING, State.RINGING):
            return []
        self._go(State.ANSWERED)
        sdp = sip.sdp_offer(rtp[0], rtp[1], session_id=abs(hash(self.invite.call_id)) % 10**9)
        self._last = self._response(self.invite.msg, 200, "OK", body=sdp)
        return [self._retransmit(self._last, now, always=True)]

    def refuse(self, status: int, reason: str, now: float) -> list[Outgoing]:
        """A final failure (404 unknown number, 480 window closed or box unreachable, 486, 488 …)."""
        if not 300 <= status <= 699:
            raise UsageError(f"a refusal is a 3xx–6xx status, not {status}")
        if self.state not in (State.PROCEEDING, State.RINGING):
            return []
        self._go(State.REFUSED)
        self._last = self._response(self.invite.msg, status, reason)
        return [self._retransmit(self._last, now)]

    def hangup(self, now: float) -> tuple[list[Outgoing], list[Event]]:
        """The box hung up (or its call ended): BYE once answered, 480 before."""
        if self.state in (State.PROCEEDING, State.RINGING):
            return self.refuse(480, "Temporarily Unavailable", now), []
        if self.state in (State.ANSWERED, State.CONFIRMED):
            self._go(State.CLOSING)
            return [self._retransmit(self._bye(), now)], []
        return [], []

    def deadline(self) -> float | None:
        if self.state is State.ENDED:
            return None
        times = [t for t in (self._retransmit_at, self._give_up_at) if t is not None]
        return min(times) if times else None

    def poll(self, now: float) -> tuple[list[Outgoing], list[Event]]:
        if self._give_up_at is not None and now >= self._give_up_at:
            self._stop()
            was = self.state
            if was in (State.ANSWERED, State.REFUSED, State.CLOSING):
                self.state = State.ENDED
                reason = {State.ANSWERED: "no-ack", State.REFUSED: "refused", State.CLOSING: "timeout"}[was]
                return [], [Event("ended", reason=reason)]
            return [], []
        if self._retransmit_at is not None and now >= self._retransmit_at and self._pending is not None:
            self._interval = min(self._interval * 2, T2)
            self._retransmit_at = now + self._interval
            return [Outgoing(self._pending, self.source)], []
        return [], []

    def datagram(self, data: bytes, now: float) -> tuple[list[Outgoing], list[Event]]:
        """A datagram of this call (malformed ones and other Call-IDs are dropped)."""
        try:
            msg = sip.parse(data)
            if msg.need("Call-ID").strip() != self.invite.call_id:
                return [], []
            return self._request(msg, now) if msg.is_request else self._reply(msg)
        except PeerError as exc:
            fields = {"call": self.invite.call_id, "reason": str(exc)}
            log.info("sos-callback-dropped", extra={"fields": fields})
            return [], []

    def _request(self, msg: sip.SipMessage, now: float) -> tuple[list[Outgoing], list[Event]]:
        _, method = msg.cseq()
        if method != msg.method:
            raise sip.SipSyntaxError("CSeq method differs from the request's")
        if msg.method == "INVITE":
            if sip.tag_of(msg.need("To")) is not None:  # a re-INVITE: not supported, the call goes on
                return [Outgoing(self._response(msg, 488, "Not Acceptable Here"), self.source)], []
            return ([Outgoing(self._last, self.source)] if self._last is not None else []), []
        if msg.method == "ACK":
            if self.state is State.ANSWERED:
                self._stop()
                self._go(State.CONFIRMED)
                return [], [Event("confirmed")]
            if self.state is State.REFUSED:
                self._stop()
                self._go(State.ENDED)
                return [], [Event("ended", reason="refused")]
            return [], []
        if msg.method == "CANCEL":
            ok = Outgoing(self._response(msg, 200, "OK", tag=False), self.source)
            if self.state in (State.PROCEEDING, State.RINGING):
                self._go(State.REFUSED)
                self._last = self._response(self.invite.msg, 487, "Request Terminated")
                return [ok, self._retransmit(self._last, now)], [Event("cancelled")]
            return [ok], []
        if msg.method == "BYE":
            if self.state in (State.ANSWERED, State.CONFIRMED, State.CLOSING):
                self._stop()
                self.state = State.ENDED
                ok = Outgoing(self._response(msg, 200, "OK"), self.source)
                return [ok], [Event("ended", reason="remote-bye")]
            return [Outgoing(self._response(msg, 481, "Call/Transaction Does Not Exist"), self.source)], []
        return [Outgoing(self._response(msg, 501, "Not Implemented"), self.source)], []

    def _reply(self, msg: sip.SipMessage) -> tuple[list[Outgoing], list[Event]]:
        _, method = msg.cseq()
        if method == "BYE" and msg.status >= 200 and self.state is State.CLOSING:
            self._stop()
            self._go(State.ENDED)
            return [], [Event("ended", reason="local-bye")]
        return [], []
