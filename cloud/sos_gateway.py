"""The I/O of the cloud's emergency route: one UDP socket for SIP (and, with :class:`TlsSetup`, a SIP-over-TLS
listener, RFC 3261 §26 / RFC 5630), one UDP socket per call for its RTP, driving a
:class:`~roamline.cloud.sos_uac.SosCall` per emergency call and a
:class:`~roamline.cloud.sos_uas.CallbackCall` per call-back on the event loop.

Transports: an answering point whose directory URI says TLS (``sips:`` or ``;transport=tls``) is called over
a TLS connection opened for that call: its certificate is checked against the entry's CA (chain and host
name) and/or its SHA-256 fingerprint, and ours (the registry's) is presented as the client certificate.
Call-backs may arrive on the UDP socket or on the TLS listener, which asks for a client certificate and
verifies it against the directory's CAs; who it is from (address, transport, certificate) goes to the
owner with the INVITE, and the owner refuses (403) any that no directory entry allows.

Media: the box's RTP (PCMU, 20 ms) is passed to the answering point unchanged, and the answering
point's RTP back to the box unchanged — no decoding, no concealment, no comfort noise, no re-timing —
so TTY (Baudot) tones and every other sound reach the far end exactly as sent (DESIGN §6.4). Only RTP
from the address the answering point's SDP named is accepted, checked against the v1 media profile.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from roamline.cloud import psap, sos_uas
from roamline.cloud.errors import UsageError
from roamline.cloud.sos_uac import Event, Outgoing, SosCall, SosRequest
from roamline.wire import sip
from roamline.wire.errors import MalformedMedia, PeerError
from roamline.wire.media import check_rtp

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
MAX_ACCEPTED = 64
"""SIP-over-TLS connections the listener keeps at once; past that a new one is closed as it opens."""


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


class _Stream(asyncio.Protocol):
    """One SIP-over-TLS connection, either way: the stream cut into messages (wire.sip.Framer)."""

    def __init__(self, on_message: Callable[[bytes, _Stream], None],
                 on_lost: Callable[[_Stream], None] | None = None,
                 on_made: Callable[[_Stream], bool] | None = None) -> None:
        """``on_made``: told once the TLS handshake is done (False: close it); ``on_lost``: when it ends.
        (A failed handshake reaches neither: asyncio never hands such a connection to its protocol.)"""
        self.on_message = on_message
        self.on_lost = on_lost
        self.on_made = on_made
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.cert_der: bytes | None = None
        self._framer = sip.Framer()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        ssl_object = transport.get_extra_info("ssl_object")
        self.cert_der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if self.on_made is not None and not self.on_made(self):
            transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except PeerError as exc:  # a broken stream cannot be resynchronised: close it
            log.info("sos-tls-dropped", extra={"fields": {"from": "{}:{}".format(*self.peer),
                                                          "reason": str(exc)}})
            self.close()
            return
        for msg in messages:
            try:
                self.on_message(msg.encode(), self)
            except Exception:  # one bad message must not stop the connection
                log.exception("sos-message-failed")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.on_lost is not None:
            self.on_lost(self)

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def send(self, data: bytes) -> None:
        if not self.closed:
            assert self.transport is not None
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _LegTimer:
    """The one timer of a leg (an emergency call or a call-back): armed at its core's deadline; when it
    fires, ``fired(now)`` polls the core and handles what it returns (which arms it again)."""

    def __init__(self, deadline: Callable[[], float | None], fired: Callable[[float], None]) -> None:
        self._deadline = deadline
        self._fired = fired
        self._handle: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        self.cancel()
        at = self._deadline()
        if at is not None:
            self._handle = asyncio.get_running_loop().call_at(at, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._fired(asyncio.get_running_loop().time())

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


@dataclass(frozen=True, slots=True)
class TlsSetup:
    """SIP over TLS: our certificate and key (PEM files; the registry's), the listener's ``port`` (0: any
    free one), and ``client_cas`` (PEM text: the directory's CAs its call-backs' client certificates are
    verified against; empty: no client certificate is asked for, so TLS call-backs are all refused)."""

    cert_file: Path
    key_file: Path
    port: int = 0
    client_cas: str = ""


@dataclass(frozen=True, slots=True)
class PeerTrust:
    """How to know the answering point at the other end of a TLS connection we open: its directory
    entry's CA (PEM text; chain and host name checked) and/or certificate fingerprint (``AB:CD:…``)."""

    ca: str = ""
    fingerprint: str = ""


@dataclass(slots=True)
class _CallbackLeg:
    call: sos_uas.CallbackCall
    conn: _Stream | None = None  # None: UDP
    rtp: _Udp | None = None
    timer: _LegTimer | None = None


CallbackArrived = Callable[[str, str, str, sos_uas.CallbackSource], None]
"""``(sip_call_id, called_number, caller_number, source)``: a checked call-back INVITE (100 Trying
already sent) and where it came from. The owner decides (403 for a source no answering point has) and
calls :meth:`SosGateway.callback_ring` or :meth:`SosGateway.callback_refuse`."""


@dataclass(slots=True)
class _Leg:
    call: SosCall
    rtp: _Udp
    conn: _Stream | None = None  # None: UDP
    timer: _LegTimer | None = None
    media_in: int = 0
    media_out: int = 0
    media_dropped: int = 0


class SosGateway:
    """``open()`` binds the SIP socket on ``host``:``sip_port`` (0: any free port) and, with ``tls``, the
    SIP-over-TLS listener; ``dial`` starts a call, ``hangup`` ends it, ``send_media`` passes the box's
    RTP on. ``on_event(call_id, event)`` reports what the answering point did; ``on_media(call_id, rtp)``
    hands its RTP to the relay."""

    def __init__(self, *, host: str, sip_port: int = 0, on_event: Callable[[str, Event], None],
                 on_media: Callable[[str, bytes], None],
                 on_callback: CallbackArrived | None = None,
                 on_callback_event: Callable[[str, sos_uas.Event], None] | None = None,
                 tls: TlsSetup | None = None) -> None:
        self._host = host
        self._on_callback = on_callback
        self._on_callback_event = on_callback_event
        self._callbacks: dict[str, _CallbackLeg] = {}  # by SIP Call-ID
        self._port = sip_port
        self._on_event = on_event
        self._on_media = on_media
        self._tls = tls
        self._sip: _Udp | None = None
        self._listener: asyncio.Server | None = None
        self._server_ctx: ssl.SSLContext | None = None
        self._accepted: set[_Stream] = set()
        self._legs: dict[str, _Leg] = {}
        self._by_sip_id: dict[str, str] = {}

    @property
    def sip_address(self) -> tuple[str, int]:
        if self._sip is None or self._sip.transport is None:
            raise UsageError("the emergency SIP gateway is not open")
        host, port = self._sip.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def tls_address(self) -> tuple[str, int] | None:
        """The SIP-over-TLS listener's address (None: no TLS)."""
        if self._listener is None or not self._listener.sockets:
            return None
        host, port = self._listener.sockets[0].getsockname()[:2]
        return str(host), int(port)

    def legs(self) -> dict[str, dict[str, object]]:
        return {cid: {"state": str(leg.call.state), "media_in": leg.media_in, "media_out": leg.media_out,
                      "media_dropped": leg.media_dropped, "transport": leg.call.req.transport}
                for cid, leg in self._legs.items()}

    async def open(self) -> None:
        if self._sip is not None:
            return
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(lambda: _Udp(self._udp_in),
                                                       local_addr=(self._host, self._port))
        self._sip = proto
        fields = {"address": "{}:{}".format(*self.sip_address)}
        if self._tls is not None:
            self._server_ctx = self._server_context(self._tls)
            self._listener = await loop.create_server(lambda: self._accept(), self._host, self._tls.port,
                                                      ssl=self._server_ctx)
            tls_at = self.tls_address
            fields["tls"] = f"{tls_at[0]}:{tls_at[1]}" if tls_at else ""
        log.info("sos-sip-listening", extra={"fields": fields})

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
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        for conn in list(self._accepted):
            conn.close()
        self._accepted.clear()
        if listener is not None:
            await listener.wait_closed()

    # --- TLS ------------------------------------------------------------------------------------------

    @staticmethod
    def _server_context(tls: TlsSetup) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
            if tls.client_cas:
                ctx.load_verify_locations(cadata=tls.client_cas)
                ctx.verify_mode = ssl.CERT_OPTIONAL  # a call-back without a certificate is refused 403
        except OSError as exc:  # ssl.SSLError is an OSError
            raise UsageError(f"SIP over TLS: {exc}") from None
        return ctx

    def trust_client_cas(self, cas: str) -> None:
        """Add CAs (PEM text) the listener verifies call-backs' client certificates against, from the next
        handshake on (OpenSSL cannot forget one: the owner's directory check refuses what it no longer
        names)."""
        if self._server_ctx is None or not cas:
            return
        try:
            self._server_ctx.load_verify_locations(cadata=cas)
        except ssl.SSLError as exc:
            log.warning("sos-tls-cas-unusable", extra={"fields": {"reason": str(exc)}})
            return
        self._server_ctx.verify_mode = ssl.CERT_OPTIONAL
        log.info("sos-tls-cas", extra={"fields": {"certificates": cas.count("BEGIN CERTIFICATE")}})

    def _client_context(self, trust: PeerTrust) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if trust.ca:
            ctx.load_verify_locations(cadata=trust.ca)  # chain and host name (RFC 5922 in spirit)
        else:  # pinned by fingerprint alone: checked once the handshake is done
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self._tls is not None:
            ctx.load_cert_chain(str(self._tls.cert_file), str(self._tls.key_file))  # mutual TLS
        return ctx

    def _accept(self) -> _Stream:
        return _Stream(self._stream_in, self._accepted.discard, self._admit)

    def _admit(self, conn: _Stream) -> bool:
        """A TLS connection whose handshake is done: kept unless :data:`MAX_ACCEPTED` already are."""
        if len(self._accepted) >= MAX_ACCEPTED:
            log.warning("sos-tls-full", extra={"fields": {"from": "{}:{}".format(*conn.peer)}})
            return False
        self._accepted.add(conn)
        return True

    async def _connect(self, target: tuple[str, int], trust: PeerTrust) -> _Stream:
        if not (trust.ca or trust.fingerprint):
            raise UsageError("a TLS answering point needs a CA or a certificate fingerprint")
        loop = asyncio.get_running_loop()
        ctx = self._client_context(trust)
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                lambda: _Stream(self._stream_in), target[0], target[1], ssl=ctx,
                server_hostname=target[0] if trust.ca else None), CONNECT_TIMEOUT_S)
        except OSError as exc:  # ssl.SSLError and TimeoutError are OSErrors
            raise UsageError(f"TLS to {target[0]}:{target[1]}: {exc}") from None
        got = psap.fingerprint_of(conn.cert_der) if conn.cert_der is not None else None
        if trust.fingerprint and got != trust.fingerprint:
            conn.close()
            raise UsageError(f"TLS to {target[0]}:{target[1]}: the certificate is not the directory's")
        return conn

    # --- the emergency call (cloud.sos_uac) --------------------------------------------------------------

    async def dial(self, *, call_id: str, psap_uri: str, call_back: str, box_id: str,
                   pidf: bytes | None, trust: PeerTrust | None = None) -> None:
        """INVITE ``psap_uri`` (over TLS when the URI says so: ``trust`` then names its certificate)."""
        if call_id in self._legs:
            raise UsageError(f"emergency call {call_id} is already up")
        try:
            transport = psap.transport_of(psap_uri)
        except UsageError:
            transport = "udp"  # SosCall refuses what is not a SIP URI
        conn: _Stream | None = None
        local = self.sip_address
        if transport == "tls":
            tls_at = self.tls_address
            if tls_at is None:
                raise UsageError("an answering point over TLS, but the gateway has no TLS (--sos-tls-port)")
            conn = await self._connect(sip.host_port(psap_uri, 5061), trust or PeerTrust())
            local = tls_at
        loop = asyncio.get_running_loop()
        _, rtp = await loop.create_datagram_endpoint(lambda: _Udp(lambda d, a: self._rtp_in(call_id, d, a)),
                                                     local_addr=(self._host, 0))
        assert rtp.transport is not None
        rtp_port = int(rtp.transport.get_extra_info("sockname")[1])
        req = SosRequest(call_id=call_id, psap_uri=psap_uri, local=local, rtp=(self._host, rtp_port),
                         call_back=call_back, box_id=box_id, pidf=pidf, transport=transport)
        call = SosCall(req, tag=secrets.token_hex(6), branch_seed=secrets.token_hex(6))
        leg = _Leg(call, rtp, conn)
        leg.timer = _LegTimer(call.deadline, lambda now: self._step(call_id, *call.poll(now)))
        self._legs[call_id] = leg
        self._by_sip_id[f"{call_id}@{req.domain}"] = call_id
        log.info("sos-invite", extra={"fields": {"call": call_id, "psap": psap_uri, "call_back": call_back,
                                                 "pidf": pidf is not None, "transport": transport}})
        self._step(call_id, call.start(loop.time()), [])

    def hangup(self, call_id: str) -> None:
        leg = self._legs.get(call_id)
        if leg is not None:
            self._step(call_id, leg.call.hangup(asyncio.get_running_loop().time()), [])

    def send_media(self, call_id: str, rtp: bytes) -> None:
        leg = self._legs.get(call_id)
        if leg is None or leg.call.remote_rtp is None or leg.rtp.transport is None:
            return
        leg.media_out += 1
        leg.rtp.transport.sendto(rtp, leg.call.remote_rtp)

    # --- internals ---------------------------------------------------------------------------------

    def _send(self, conn: _Stream | None, out: list[Outgoing]) -> None:
        for o in out:
            if conn is not None:
                conn.send(o.data)
            elif self._sip is not None and self._sip.transport is not None:
                self._sip.transport.sendto(o.data, o.to)

    def _drive(self, legs: Mapping[str, _Leg | _CallbackLeg], key: str, out: list[Outgoing],
               report: Callable[[], None]) -> None:
        """What a leg's core returned (either kind of leg): send it on the leg's transport, ``report`` its
        events (which may end the leg), then re-arm the leg's timer if it is still there."""
        leg = legs.get(key)
        if leg is not None:
            self._send(leg.conn, out)
        report()
        leg = legs.get(key)
        if leg is not None and leg.timer is not None:
            leg.timer.arm()

    def _step(self, call_id: str, out: list[Outgoing], events: list[Event]) -> None:
        """What an emergency call's core returned."""
        self._drive(self._legs, call_id, out, lambda: self._events(call_id, events))

    def _udp_in(self, data: bytes, addr: tuple[str, int]) -> None:
        self._sip_in(data, addr, None)

    def _stream_in(self, data: bytes, conn: _Stream) -> None:
        self._sip_in(data, conn.peer, conn)

    def _sip_in(self, data: bytes, addr: tuple[str, int], conn: _Stream | None) -> None:
        call_id = self._sip_call_of(data)
        leg = self._legs.get(call_id) if call_id is not None else None
        if leg is None and self._callback_in(data, addr, conn):
            return
        if leg is None or call_id is None:
            fields = {"from": f"{addr[0]}:{addr[1]}", "bytes": len(data), "tls": conn is not None}
            log.info("sos-sip-unknown", extra={"fields": fields})
            return
        if (conn is None) != (leg.conn is None):  # a TLS call's messages come over TLS, a UDP one's over UDP
            fields = {"call": call_id, "from": f"{addr[0]}:{addr[1]}"}
            log.info("sos-sip-wrong-transport", extra={"fields": fields})
            return
        if conn is not None:
            leg.conn = conn  # answer on the connection the request came in on
        self._step(call_id, *leg.call.datagram(data, asyncio.get_running_loop().time()))

    def _sip_call_of(self, data: bytes) -> str | None:
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

    def _drop(self, call_id: str) -> None:
        leg = self._legs.pop(call_id, None)
        if leg is None:
            return
        self._by_sip_id.pop(f"{call_id}@{leg.call.req.domain}", None)
        if leg.timer is not None:
            leg.timer.cancel()
        if leg.rtp.transport is not None:
            leg.rtp.transport.close()
        if leg.conn is not None and leg.conn.on_lost is None:
            leg.conn.close()  # the connection we opened for this call (not one the peer opened)

    # --- the answering point's call-back (inbound INVITE; cloud.sos_uas) ------------------------------

    def callbacks(self) -> dict[str, str]:
        return {sip_id: str(leg.call.state) for sip_id, leg in self._callbacks.items()}

    def _cb_step(self, sip_id: str, out: list[Outgoing], events: list[sos_uas.Event]) -> None:
        """What a call-back's core returned."""
        self._drive(self._callbacks, sip_id, out, lambda: self._cb_events(sip_id, events))

    def _callback_in(self, data: bytes, addr: tuple[str, int], conn: _Stream | None) -> bool:
        """A message of a call-back (or a new call-back INVITE): True when it was one."""
        try:
            msg = sip.parse(data)
            sip_id = msg.need("Call-ID").strip()
        except PeerError:
            return False
        now = asyncio.get_running_loop().time()
        leg = self._callbacks.get(sip_id)
        if leg is not None:
            if (conn is None) != (leg.conn is None):
                return True  # not over the transport the call-back came in on: dropped
            self._cb_step(sip_id, *leg.call.datagram(data, now))
            return True
        if msg.method != "INVITE":
            return False
        transport = "udp" if conn is None else "tls"
        try:
            invite = sos_uas.check_invite(msg, transport)
        except PeerError as exc:
            log.info("sos-callback-refused", extra={"fields": {"from": f"{addr[0]}:{addr[1]}",
                                                               "reason": str(exc)}})
            return True
        local = self.sip_address if conn is None else (self.tls_address or self.sip_address)
        call = sos_uas.CallbackCall(invite, source=addr, local=local, tag=secrets.token_hex(6),
                                    branch_seed=secrets.token_hex(6), transport=transport)
        leg = _CallbackLeg(call, conn)
        leg.timer = _LegTimer(call.deadline, lambda t: self._cb_step(sip_id, *call.poll(t)))
        self._callbacks[sip_id] = leg
        self._cb_step(sip_id, call.start(now), [])
        log.info("sos-callback-invite", extra={"fields": {"sip_call": sip_id, "number": invite.number,
                                                          "from": f"{addr[0]}:{addr[1]}",
                                                          "transport": transport}})
        if invite.offer is None:
            self._cb_step(sip_id, call.refuse(488, "Not Acceptable Here", now), [])
        elif self._on_callback is None:
            self._cb_step(sip_id, call.refuse(404, "Not Found", now), [])
        else:
            cert = None if conn is None else conn.cert_der
            source = sos_uas.CallbackSource(addr[0], addr[1], transport, cert)
            self._on_callback(sip_id, invite.number, _caller_number(msg), source)
        return True

    def callback_ring(self, sip_id: str) -> None:
        leg = self._callbacks.get(sip_id)
        if leg is not None:
            self._cb_step(sip_id, leg.call.ring(asyncio.get_running_loop().time()), [])

    def callback_refuse(self, sip_id: str, status: int, reason: str) -> None:
        leg = self._callbacks.get(sip_id)
        if leg is not None:
            self._cb_step(sip_id, leg.call.refuse(status, reason, asyncio.get_running_loop().time()), [])

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
        self._cb_step(sip_id, leg.call.answer((self._host, port), loop.time()), [])

    def callback_hangup(self, sip_id: str) -> None:
        leg = self._callbacks.get(sip_id)
        if leg is not None:
            self._cb_step(sip_id, *leg.call.hangup(asyncio.get_running_loop().time()))

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
