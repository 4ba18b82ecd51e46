"""One emergency call toward an answering point, as a SIP user-agent client, sans-I/O (RFC 3261 over UDP
or TLS, RFC 6442 location conveyance): messages and ``now`` in; messages to send, call events and a
deadline out. Over TLS (``SosRequest.transport``: a ``sips:`` answering point, RFC 5630) the Via says
``SIP/2.0/TLS``, the Contact is a ``sips:`` URI, and requests are not retransmitted (a reliable
transport: timers A and E off, RFC 3261 §17.1.1.2) though timers B and F still give up.

The INVITE goes to ``urn:service:sos`` (Request-URI and To), routed to the chosen answering point by a
loose ``Route`` (NENA i3 style: the router has already resolved the service for the location). It
carries ``Geolocation: <cid:…>`` naming the PIDF-LO part of a ``multipart/mixed`` body (SDP first, then
the PIDF-LO by value), ``Geolocation-Routing: no``, and the call-back number in ``From`` and
``P-Asserted-Identity``. Only PCMU is offered.

States (explicit table in :data:`TRANSITIONS`):

    calling ──1xx──▶ proceeding ──2xx──▶ confirmed ──BYE either way──▶ ended
       │  └─────────2xx─────────────────┘      │
       ├── ≥300 / timer B ──▶ failed           └── (we hang up) ──▶ closing ──200/timer F──▶ ended
       └── hangup() ──▶ cancelling ──487/2xx(then BYE)/timer──▶ ended

Timers: INVITE retransmitted from T1 = 0.5 s doubling (timer A) until a response, given up after
64·T1 (timer B); BYE and CANCEL retransmitted the same way (timer E, capped at T2 = 4 s) and given up
after 64·T1 (timer F). A retransmitted 2xx is ACKed again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from roamline.cloud.errors import UsageError
from roamline.wire import sip
from roamline.wire.errors import PeerError

log = logging.getLogger(__name__)

T1 = 0.5
T2 = 4.0
SOS_URN = "urn:service:sos"


class State(StrEnum):
    CALLING = "calling"
    PROCEEDING = "proceeding"
    CONFIRMED = "confirmed"
    CANCELLING = "cancelling"
    CLOSING = "closing"
    ENDED = "ended"
    FAILED = "failed"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.CALLING: frozenset({State.PROCEEDING, State.CONFIRMED, State.FAILED, State.CANCELLING}),
    State.PROCEEDING: frozenset({State.CONFIRMED, State.FAILED, State.CANCELLING}),
    State.CONFIRMED: frozenset({State.CLOSING, State.ENDED}),
    State.CANCELLING: frozenset({State.ENDED, State.CLOSING}),
    State.CLOSING: frozenset({State.ENDED}),
    State.ENDED: frozenset(),
    State.FAILED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Event:
    """What happened to the call: ``ringing`` (a 180/183), ``answered`` (with the answering point's RTP
    address), ``ended`` (``reason``: ``remote-bye``, ``local-bye``, ``cancelled``, ``timeout``) or
    ``failed`` (``status``: the final response code, 0 for no answer at all)."""

    kind: str
    status: int = 0
    reason: str = ""
    rtp: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    data: bytes
    to: tuple[str, int]


@dataclass(frozen=True, slots=True)
class SosRequest:
    """What the INVITE says. ``psap_uri``: the answering point (``sip:host:port``); ``call_back``: E.164
    or "" (then From names the box only); ``pidf``: the PIDF-LO, or None (no location known: the call
    still goes, without a Geolocation header)."""

    call_id: str
    psap_uri: str
    local: tuple[str, int]  # our SIP address (the UDP socket the datagrams leave from)
    rtp: tuple[str, int]  # where we receive the answering point's RTP
    call_back: str
    box_id: str
    pidf: bytes | None
    domain: str = "roamline.invalid"
    transport: str = "udp"  # or "tls" (then ``local`` is our SIP-over-TLS listener)


class SosCall:
    """The client side of one emergency call. ``start(now)`` gives the INVITE; then feed ``datagram``
    and ``poll`` at ``deadline``; ``hangup`` when the box's caller hangs up."""

    def __init__(self, req: SosRequest, *, tag: str, branch_seed: str) -> None:
        if not req.psap_uri.startswith(("sip:", "sips:")):
            raise UsageError(f"an answering point is a sip: or sips: URI, not {req.psap_uri[:40]!r}")
        if req.transport not in ("udp", "tls"):
            raise UsageError(f"an emergency SIP transport is udp or tls, not {req.transport!r}")
        self.req = req
        self.reliable = req.transport == "tls"
        self.state = State.CALLING
        self.target = sip.host_port(req.psap_uri, 5061 if self.reliable else 5060)
        self.remote_rtp: tuple[str, int] | None = None
        self._tag = tag
        self._seed = branch_seed
        self._branches = 0
        self._cseq = 1
        self._sip_call_id = f"{req.call_id}@{req.domain}"
        self._to_tag: str | None = None
        self._remote_target: str | None = None
        self._invite: bytes = b""
        self._invite_branch = ""
        self._pending: bytes | None = None  # the request being retransmitted (INVITE, BYE or CANCEL)
        self._interval = T1
        self._retransmit_at: float | None = None
        self._give_up_at: float | None = None
        self._provisional = False
        self._rang = False
        self._cancel_wanted = False
        self._ack: bytes | None = None

    # --- building ----------------------------------------------------------------------------------

    def _branch(self) -> str:
        self._branches += 1
        return f"z9hG4bK{self._seed}{self._branches}"

    def _via(self, branch: str) -> str:
        host, port = self.req.local
        return f"SIP/2.0/{self.req.transport.upper()} {host}:{port};branch={branch};rport"

    def _from(self) -> str:
        r = self.req
        user = r.call_back if r.call_back else r.box_id
        suffix = ";user=phone" if r.call_back else ""
        return f"<sip:{user}@{r.domain}{suffix}>;tag={self._tag}"

    def _to(self) -> str:
        return f"<{SOS_URN}>" + (f";tag={self._to_tag}" if self._to_tag else "")

    def invite(self) -> bytes:
        r = self.req
        cid = f"loc-{r.call_id}@{r.domain}"
        sdp = sip.sdp_offer(r.rtp[0], r.rtp[1], session_id=abs(hash(r.call_id)) % 10**9)
        headers = [
            ("Via", self._via(self._invite_branch)),
            ("Max-Forwards", "70"),
            ("Route", f"<{r.psap_uri};lr>"),
            ("From", self._from()),
            ("To", self._to()),
            ("Call-ID", self._sip_call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<{'sips' if self.reliable else 'sip'}:{r.box_id}@{r.local[0]}:{r.local[1]}>"),
        ]
        if r.call_back:
            headers.append(("P-Asserted-Identity", f"<tel:{r.call_back}>"))
        headers += [("Priority", "emergency"), ("Allow", "INVITE, ACK, BYE, CANCEL"),
                    ("User-Agent", "roamline-registry")]
        if r.pidf is not None:
            boundary = f"roamline-{r.call_id}"[:70]
            body = sip.multipart([sip.Part("application/sdp", sdp),
                                  sip.Part("application/pidf+xml", r.pidf, content_id=cid)], boundary)
            headers += [("Geolocation", f"<cid:{cid}>"), ("Geolocation-Routing", "no"),
                        ("Content-Type", f"multipart/mixed;boundary={boundary}")]
        else:
            body = sdp
            headers.append(("Content-Type", "application/sdp"))
        return sip.request("INVITE", SOS_URN, headers, body).encode()

    def _in_dialog(self, method: str, cseq: int) -> bytes:
        headers = [("Via", self._via(self._branch())), ("Max-Forwards", "70"), ("From", self._from()),
                   ("To", self._to()), ("Call-ID", self._sip_call_id), ("CSeq", f"{cseq} {method}")]
        uri = self._remote_target or self.req.psap_uri
        return sip.request(method, uri, headers).encode()

    def _cancel(self) -> bytes:
        # same branch and Request-URI as the INVITE, no To tag (RFC 3261 §9.1)
        headers = [("Via", self._via(self._invite_branch)), ("Max-Forwards", "70"),
                   ("Route", f"<{self.req.psap_uri};lr>"), ("From", self._from()), ("To", f"<{SOS_URN}>"),
                   ("Call-ID", self._sip_call_id), ("CSeq", "1 CANCEL")]
        return sip.request("CANCEL", SOS_URN, headers).encode()

    def _ack_for(self, resp: sip.SipMessage, success: bool) -> bytes:
        # a 2xx ACK is its own transaction (new branch, to the Contact); a failure's ACK reuses the INVITE's
        branch = self._branch() if success else self._invite_branch
        to = resp.need("To")
        headers = [("Via", self._via(branch)), ("Max-Forwards", "70")]
        if not success:
            headers.append(("Route", f"<{self.req.psap_uri};lr>"))
        headers += [("From", self._from()), ("To", to), ("Call-ID", self._sip_call_id), ("CSeq", "1 ACK")]
        uri = (self._remote_target or self.req.psap_uri) if success else SOS_URN
        return sip.request("ACK", uri, headers).encode()

    # --- driving -----------------------------------------------------------------------------------

    def _go(self, to: State) -> None:
        if to not in TRANSITIONS[self.state]:
            raise UsageError(f"emergency SIP call: no transition {self.state} → {to}")
        self.state = to

    def _send(self, data: bytes, now: float, *, retransmit: bool) -> Outgoing:
        if retransmit:
            self._pending = data
            self._interval = T1
            self._retransmit_at = None if self.reliable else now + T1
            self._give_up_at = now + 64 * T1
        return Outgoing(data, self.target)

    def start(self, now: float) -> list[Outgoing]:
        if self._invite:
            raise UsageError("emergency SIP call already started")
        self._invite_branch = self._branch()
        self._invite = self.invite()
        return [self._send(self._invite, now, retransmit=True)]

    def deadline(self) -> float | None:
        if self.state in (State.ENDED, State.FAILED):
            return None
        times = [t for t in (self._retransmit_at, self._give_up_at) if t is not None]
        return min(times) if times else None

    def poll(self, now: float) -> tuple[list[Outgoing], list[Event]]:
        out: list[Outgoing] = []
        events: list[Event] = []
        if self._give_up_at is not None and now >= self._give_up_at:
            self._retransmit_at = self._give_up_at = None
            self._pending = None
            if self.state in (State.CALLING, State.PROCEEDING):
                self.state = State.FAILED
                events.append(Event("failed", status=0, reason="timeout"))
            elif self.state in (State.CLOSING, State.CANCELLING):
                self.state = State.ENDED
                events.append(Event("ended", reason="timeout"))
            return out, events
        if self._retransmit_at is not None and now >= self._retransmit_at and self._pending is not None:
            out.append(Outgoing(self._pending, self.target))
            cap = T2 if self._pending is not self._invite else 64 * T1
            self._interval = min(self._interval * 2, cap)
            self._retransmit_at = now + self._interval
        return out, events

    def hangup(self, now: float) -> list[Outgoing]:
        """The caller hung up: CANCEL before an answer, BYE after one."""
        if self.state is State.CONFIRMED:
            self._go(State.CLOSING)
            self._cseq += 1
            return [self._send(self._in_dialog("BYE", self._cseq), now, retransmit=True)]
        if self.state in (State.CALLING, State.PROCEEDING):
            self._go(State.CANCELLING)
            if not self._provisional:  # a CANCEL may be sent only after a provisional response
                self._cancel_wanted = True
                return []
            return [self._send(self._cancel(), now, retransmit=True)]
        return []

    def datagram(self, data: bytes, now: float) -> tuple[list[Outgoing], list[Event]]:
        """A datagram from the answering point (malformed ones and other calls' are dropped)."""
        try:
            msg = sip.parse(data)
            if msg.need("Call-ID") != self._sip_call_id:
                return [], []
            return self._request(msg, now) if msg.is_request else self._response(msg, now)
        except PeerError as exc:
            log.info("sos-sip-dropped", extra={"fields": {"call": self.req.call_id, "reason": str(exc)}})
            return [], []

    def _request(self, msg: sip.SipMessage, now: float) -> tuple[list[Outgoing], list[Event]]:
        ok = self._reply_to(msg, 200, "OK")
        if msg.method == "BYE" and self.state in (State.CONFIRMED, State.CLOSING):
            self._retransmit_at = self._give_up_at = None
            self._pending = None
            self.state = State.ENDED
            return [ok], [Event("ended", reason="remote-bye")]
        if msg.method == "BYE":
            return [self._reply_to(msg, 481, "Call/Transaction Does Not Exist")], []
        if msg.method in ("ACK",):
            return [], []
        return [self._reply_to(msg, 501, "Not Implemented")], []

    def _reply_to(self, msg: sip.SipMessage, status: int, reason: str) -> Outgoing:
        headers = [("Via", v) for v in msg.all("Via")]
        headers += [("From", msg.need("From")), ("To", msg.need("To")), ("Call-ID", msg.need("Call-ID")),
                    ("CSeq", msg.need("CSeq"))]
        return Outgoing(sip.response(status, reason, headers).encode(), self.target)

    def _response(self, msg: sip.SipMessage, now: float) -> tuple[list[Outgoing], list[Event]]:
        _, method = msg.cseq()
        status = msg.status
        if method == "INVITE":
            return self._invite_response(msg, now)
        if method in ("BYE", "CANCEL") and status >= 200:
            if method == "BYE" and self.state is State.CLOSING:
                self._retransmit_at = self._give_up_at = None
                self._pending = None
                self.state = State.ENDED
                return [], [Event("ended", reason="local-bye")]
            if method == "CANCEL":  # the INVITE's 487 (or a 2xx) decides what comes next
                self._retransmit_at = None
                self._pending = None
                self._give_up_at = now + 64 * T1
        return [], []

    def _invite_response(self, msg: sip.SipMessage, now: float) -> tuple[list[Outgoing], list[Event]]:
        status = msg.status
        out: list[Outgoing] = []
        events: list[Event] = []
        if status < 200:
            if self._pending is self._invite:
                self._retransmit_at = None  # a provisional stops INVITE retransmissions (timer A)
                self._give_up_at = None if self.state is State.CALLING else self._give_up_at
            self._provisional = True
            if self.state is State.CALLING:
                self._go(State.PROCEEDING)
            if self.state is State.CANCELLING and self._cancel_wanted:
                self._cancel_wanted = False
                out.append(self._send(self._cancel(), now, retransmit=True))
            if not self._rang and status in (180, 183) and self.state is State.PROCEEDING:
                self._rang = True  # the first 180/183 rings, also after a 100 Trying (found by the TLS test)
                events.append(Event("ringing", status=status))
            return out, events
        if 200 <= status < 300:
            if self._ack is not None:  # a retransmitted 2xx: ACK again
                return [Outgoing(self._ack, self.target)], []
            self._to_tag = sip.tag_of(msg.need("To"))
            contact = msg.get("Contact")
            if contact is not None:
                self._remote_target = sip.uri_of(contact)
            self._ack = self._ack_for(msg, success=True)
            out.append(Outgoing(self._ack, self.target))
            self._retransmit_at = self._give_up_at = None
            self._pending = None
            if self.state is State.CANCELLING:  # answered as we cancelled: ACK, then BYE
                self._go(State.CLOSING)
                self._cseq += 1
                out.append(self._send(self._in_dialog("BYE", self._cseq), now, retransmit=True))
                return out, events
            try:
                offer = sip.parse_sdp(_sdp_of(msg))
            except PeerError as exc:
                log.warning("sos-sip-bad-answer",
                            extra={"fields": {"call": self.req.call_id, "reason": str(exc)}})
                self._go(State.CONFIRMED)
                self._go(State.CLOSING)
                self._cseq += 1
                out.append(self._send(self._in_dialog("BYE", self._cseq), now, retransmit=True))
                events.append(Event("failed", status=488, reason=f"answer unusable: {exc}"))
                return out, events
            self.remote_rtp = (offer.address, offer.port)
            self._go(State.CONFIRMED)
            events.append(Event("answered", status=status, rtp=self.remote_rtp))
            return out, events
        # a final failure: ACK it (same transaction); one after a 2xx is the peer's confusion: ignored
        if self.state not in (State.CALLING, State.PROCEEDING, State.CANCELLING, State.FAILED, State.ENDED):
            return [], []
        if self._ack is None:
            self._to_tag = sip.tag_of(msg.need("To"))
            self._ack = self._ack_for(msg, success=False)
        out.append(Outgoing(self._ack, self.target))
        self._retransmit_at = self._give_up_at = None
        self._pending = None
        if self.state is State.CANCELLING:
            self.state = State.ENDED
            events.append(Event("ended", status=status, reason="cancelled"))
        elif self.state in (State.CALLING, State.PROCEEDING):
            self.state = State.FAILED
            events.append(Event("failed", status=status, reason=msg.reason))
        return out, events


def _sdp_of(msg: sip.SipMessage) -> bytes:
    ctype = (msg.get("Content-Type") or "").strip()
    if ctype.lower().startswith("application/sdp"):
        return msg.body
    if ctype.lower().startswith("multipart/"):
        for part in sip.parse_multipart(msg.body, ctype):
            if part.content_type.lower().startswith("application/sdp"):
                return part.body
    raise sip.SipSyntaxError("the answer has no SDP")
