"""The I/O of the cloud's emergency route: one UDP socket for SIP, one UDP socket per call for its RTP,
driving a :class:`~roamline.cloud.sos_uac.SosCall` per call on the event loop.

Media: the box's RTP (PCMU, 20 ms) is passed to the answering point unchanged, and the answering
point's RTP back to the box unchanged — no decoding, no concealment, no comfort noise, no re-timing —
so TTY (Baudot) tones and every other sound reach the far end exactly as sent (DESIGN §6.4). Only RTP
from the address the answering point's SDP named is accepted, checked against the v1 media profile.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from roamline.cloud import sos_uas
from roamline.cloud.errors import UsageError
from roamline.cloud.sos_uac import Event, Outgoing, SosCall, SosRequest
from roamline.wire.errors import MalformedMedia
from roamline.wire.media import check_rtp

log = logging.getLogger(__name__)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self.on_datagram(data, (str(addr[0]), int(addr[1])))
        except Exception:  # one bad datagram must not stop the socket
            log.exception("sos-datagram-failed")


@dataclass(slots=True)
class _CallbackLeg:
    call: sos_uas.CallbackCall
    rtp: _Udp | None = None
    timer: asyncio.TimerHandle | None = None


CallbackArrived = Callable[[str, str, str], None]
"""``(sip_call_id, called_number, caller_number)``: a checked call-back INVITE (100 Trying already sent).
The owner decides and calls :meth:`SosGateway.callback_ring` or :meth:`SosGateway.callback_refuse`."""


@dataclass(slots=True)
class _Leg:
    call: SosCall
    rtp: _Udp
    timer: asyncio.TimerHandle | None = None
    media_in: int = 0
    media_out: int = 0
    media_dropped: int = 0


class SosGateway:
    """``open()`` binds the SIP socket on ``host``:``sip_port`` (0: any free port); ``dial`` starts a call,
    ``hangup`` ends it, ``send_media`` passes the box's RTP on. ``on_event(call_id, event)`` reports what
    the answering point did; ``on_media(call_id, rtp)`` hands its RTP to the relay."""

    def __init__(self, *, host: str, sip_port: int = 0, on_event: Callable[[str, Event], None],
                 on_media: Callable[[str, bytes], None],
                 on_callback: CallbackArrived | None = None,
                 on_callback_event: Callable[[str, sos_uas.Event], None] | None = None) -> None:
        self._host = host
        self._on_callback = on_callback
        self._on_callback_event = on_callback_event
        self._callbacks: dict[str, _CallbackLeg] = {}  # by SIP Call-ID
        self._port = sip_port
        self._on_event = on_event
        self._on_media = on_media
        self._sip: _Udp | None = None
        self._legs: dict[str, _Leg] = {}
        self._by_sip_id: dict[str, str] = {}

    @property
    def sip_address(self) -> tuple[str, int]:
        if self._sip is None or self._sip.transport is None:
            raise UsageError("the emergency SIP gateway is not open")
        host, port = self._sip.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def legs(self) -> dict[str, dict[str, object]]:
        return {cid: {"state": str(leg.call.state), "media_in": leg.media_in, "media_out": leg.media_out,
                      "media_dropped": leg.media_dropped} for cid, leg in self._legs.items()}

    async def open(self) -> None:
        if self._sip is not None:
            return
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(lambda: _Udp(self._sip_in),
                                                       local_addr=(self._host, self._port))
        self._sip = proto
        log.info("sos-sip-listening", extra={"fields": {"address": "{}:{}".format(*self.sip_address)}})

    async def close(self) -> None:
        for sip_id in list(self._callbacks):
            self.callback_hangup(sip_id)
            self._cb_drop(sip_id)
        for call_id in list(self._legs):
            self.hangup(call_id)
            self._drop(call_id)
        if self._sip is not None and self._sip.transport is not None:
            self._sip.transport.close()
        self._sip = None

    async def dial(self, *, call_id: str, psap_uri: str, call_back: str, box_id: str,
                   pidf: bytes | None) -> None:
        if call_id in self._legs:
            raise UsageError(f"emergency call {call_id} is already up")
        loop = asyncio.get_running_loop()
        _, rtp = await loop.create_datagram_endpoint(lambda: _Udp(lambda d, a: self._rtp_in(call_id, d, a)),
                                                     local_addr=(self._host, 0))
        assert rtp.transport is not None
        rtp_port = int(rtp.transport.get_extra_info("sockname")[1])
        req = SosRequest(call_id=call_id, psap_uri=psap_uri, local=self.sip_address,
                         rtp=(self._host, rtp_port),
                         call_back=call_back, box_id=box_id, pidf=pidf)
        call = SosCall(req, tag=secrets.token_hex(6), branch_seed=secrets.token_hex(6))
        leg = _Leg(call, rtp)
        self._legs[call_id] = leg
        self._by_sip_id[f"{call_id}@{req.domain}"] = call_id
        log.info("sos-invite", extra={"fields": {"call": call_id, "psap": psap_uri, "call_back": call_back,
                                                 "pidf": pidf is not None}})
        self._send(call.start(loop.time()))
        self._arm(call_id)

    def hangup(self, call_id: str) -> None:
        leg = self._legs.get(call_id)
        if leg is None:
            return
        self._send(leg.call.hangup(asyncio.get_running_loop().time()))
        self._arm(call_id)

    def send_media(self, call_id: str, rtp: bytes) -> None:
        leg = self._legs.get(call_id)
        if leg is None or leg.call.remote_rtp is None or leg.rtp.transport is None:
            return
        leg.media_out += 1
        leg.rtp.transport.sendto(rtp, leg.call.remote_rtp)

    # --- internals ---------------------------------------------------------------------------------

    def _send(self, out: list[Outgoing]) -> None:
        if self._sip is None or self._sip.transport is None:
            return
        for o in out:
            self._sip.transport.sendto(o.data, o.to)

    def _sip_in(self, data: bytes, addr: tuple[str, int]) -> None:
        call_id = self._sip_call_of(data)
        leg = self._legs.get(call_id) if call_id is not None else None
        if leg is None and self._callback_in(data, addr):
            return
        if leg is None:
            fields = {"from": f"{addr[0]}:{addr[1]}", "bytes": len(data)}
            log.info("sos-sip-unknown", extra={"fields": fields})
            return
        out, events = leg.call.datagram(data, asyncio.get_running_loop().time())
        self._send(out)
        self._events(call_id or "", events)
        self._arm(call_id or "")

    def _sip_call_of(self, data: bytes) -> str | None:
        from roamline.wire import sip
        from roamline.wire.errors import PeerError

        try:
            return self._by_sip_id.get(sip.parse(data).need("Call-ID"))
        except PeerError:
            return None

    def _events(self, call_id: str, events: list[Event]) -> None:
        for e in events:
            fields = {"call": call_id, "status": e.status, "reason": e.reason}
            log.info("sos-" + e.kind, extra={"fields": fields})
            if e.kind in ("ended", "failed"):
                self._drop(call_id)
            self._on_event(call_id, e)

    def _arm(self, call_id: str) -> None:
        leg = self._legs.get(call_id)
        if leg is None:
            return
        if leg.timer is not None:
            leg.timer.cancel()
            leg.timer = None
        at = leg.call.deadline()
        if at is not None:
            leg.timer = asyncio.get_running_loop().call_at(at, self._fire, call_id)

    def _fire(self, call_id: str) -> None:
        leg = self._legs.get(call_id)
        if leg is None:
            return
        leg.timer = None
        out, events = leg.call.poll(asyncio.get_running_loop().time())
        self._send(out)
        self._events(call_id, events)
        self._arm(call_id)

    def _drop(self, call_id: str) -> None:
        leg = self._legs.pop(call_id, None)
        if leg is None:
            return
        self._by_sip_id.pop(f"{call_id}@{leg.call.req.domain}", None)
        if leg.timer is not None:
            leg.timer.cancel()
        if leg.rtp.transport is not None:
            leg.rtp.transport.close()

    # --- the answering point's call-back (inbound INVITE; cloud.sos_uas) ------------------------------

    def callbacks(self) -> dict[str, str]:
        return {sip_id: str(leg.call.state) for sip_id, leg in self._callbacks.items()}

    def _callback_in(self, data: bytes, addr: tuple[str, int]) -> bool:
        """A datagram of a call-back (or a new call-back INVITE): True when it was one."""
        from roamline.wire import sip
        from roamline.wire.errors import PeerError

        try:
            msg = sip.parse(data)
            sip_id = msg.need("Call-ID").strip()
        except PeerError:
            return False
        now = asyncio.get_running_loop().time()
        leg = self._callbacks.get(sip_id)
        if leg is not None:
            out, events = leg.call.datagram(data, now)
            self._send(out)
            self._cb_events(sip_id, events)
            self._cb_arm(sip_id)
            return True
        if msg.method != "INVITE":
            return False
        try:
            invite = sos_uas.check_invite(msg)
        except PeerError as exc:
            log.info("sos-callback-refused", extra={"fields": {"from": f"{addr[0]}:{addr[1]}",
                                                               "reason": str(exc)}})
            return True
        call = sos_uas.CallbackCall(invite, source=addr, local=self.sip_address, tag=secrets.token_hex(6),
                                    branch_seed=secrets.token_hex(6))
        self._callbacks[sip_id] = _CallbackLeg(call)
        self._send(call.start(now))
        log.info("sos-callback-invite", extra={"fields": {"sip_call": sip_id, "number": invite.number}})
        if invite.offer is None:
            self._send(call.refuse(488, "Not Acceptable Here", now))
        elif self._on_callback is None:
            self._send(call.refuse(404, "Not Found", now))
        else:
            self._on_callback(sip_id, invite.number, _caller_number(msg))
        self._cb_arm(sip_id)
        return True

    def callback_ring(self, sip_id: str) -> None:
        leg = self._callbacks.get(sip_id)
        if leg is not None:
            self._send(leg.call.ring(asyncio.get_running_loop().time()))
            self._cb_arm(sip_id)

    def callback_refuse(self, sip_id: str, status: int, reason: str) -> None:
        leg = self._callbacks.get(sip_id)
        if leg is not None:
            self._send(leg.call.refuse(status, reason, asyncio.get_running_loop().time()))
            self._cb_arm(sip_id)

    async def callback_answer(self, sip_id: str) -> None:
        """The box answered the call-back: open its RTP socket and send the 200 OK."""
        leg = self._callbacks.get(sip_id)
        if leg is None or leg.rtp is not None:
            return
        loop = asyncio.get_running_loop()
        _, rtp = await loop.create_datagram_endpoint(lambda: _Udp(lambda d, a: self._cb_rtp_in(sip_id, d, a)),
                                                     local_addr=(self._host, 0))
        assert rtp.transport is not None
        leg.rtp = rtp
        port = int(rtp.transport.get_extra_info("sockname")[1])
        self._send(leg.call.answer((self._host, port), loop.time()))
        self._cb_arm(sip_id)

    def callback_hangup(self, sip_id: str) -> None:
        leg = self._callbacks.get(sip_id)
        if leg is None:
            return
        out, events = leg.call.hangup(asyncio.get_running_loop().time())
        self._send(out)
        self._cb_events(sip_id, events)
        self._cb_arm(sip_id)

    def callback_media(self, sip_id: str, rtp: bytes) -> None:
        """The box's RTP toward the answering point (unchanged)."""
        leg = self._callbacks.get(sip_id)
        offer = leg.call.invite.offer if leg is not None else None
        if leg is None or offer is None or leg.rtp is None or leg.rtp.transport is None:
            return
        leg.rtp.transport.sendto(rtp, (offer.address, offer.port))

    def _cb_rtp_in(self, sip_id: str, data: bytes, addr: tuple[str, int]) -> None:
        leg = self._callbacks.get(sip_id)
        offer = leg.call.invite.offer if leg is not None else None
        if leg is None or offer is None or addr[0] != offer.address:
            return
        try:
            check_rtp(data, 0)
        except MalformedMedia:
            return
        self._on_media(sos_uas.media_id(sip_id), data)

    def _cb_events(self, sip_id: str, events: list[sos_uas.Event]) -> None:
        for e in events:
            log.info("sos-callback-" + e.kind, extra={"fields": {"sip_call": sip_id, "reason": e.reason}})
            if e.kind == "ended":
                self._cb_drop(sip_id)
            if self._on_callback_event is not None:
                self._on_callback_event(sip_id, e)

    def _cb_arm(self, sip_id: str) -> None:
        leg = self._callbacks.get(sip_id)
        if leg is None:
            return
        if leg.timer is not None:
            leg.timer.cancel()
            leg.timer = None
        at = leg.call.deadline()
        if at is not None:
            leg.timer = asyncio.get_running_loop().call_at(at, self._cb_fire, sip_id)

    def _cb_fire(self, sip_id: str) -> None:
        leg = self._callbacks.get(sip_id)
        if leg is None:
            return
        leg.timer = None
        out, events = leg.call.poll(asyncio.get_running_loop().time())
        self._send(out)
        self._cb_events(sip_id, events)
        self._cb_arm(sip_id)

    def _cb_drop(self, sip_id: str) -> None:
        leg = self._callbacks.pop(sip_id, None)
        if leg is None:
            return
        if leg.timer is not None:
            leg.timer.cancel()
        if leg.rtp is not None and leg.rtp.transport is not None:
            leg.rtp.transport.close()

    def _rtp_in(self, call_id: str, data: bytes, addr: tuple[str, int]) -> None:
        leg = self._legs.get(call_id)
        if leg is None or leg.call.remote_rtp is None or addr[0] != leg.call.remote_rtp[0]:
            if leg is not None:
                leg.media_dropped += 1
            return
        try:
            check_rtp(data, 0)
        except MalformedMedia:
            leg.media_dropped += 1
            return
        leg.media_in += 1
        self._on_media(call_id, data)


def _caller_number(msg: object) -> str:
    """The answering point's number from P-Asserted-Identity or From, when it is E.164 ("" otherwise)."""
    from roamline.wire import sip
    from roamline.wire.errors import PeerError

    assert isinstance(msg, sip.SipMessage)
    for name in ("P-Asserted-Identity", "From"):
        value = msg.get(name)
        if value is None:
            continue
        try:
            return sos_uas.called_number(sip.uri_of(value))
        except PeerError:
            continue
    return ""
