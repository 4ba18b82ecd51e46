"""Thin aioquic adapters for both ends of the link: ALPN ``roamline/1``, one control stream, datagrams.

The client opens the control stream (the first client-initiated bidirectional stream) and speaks first.
A frame that cannot be framed (too large, malformed) is answered with an ``error`` frame, the stream is
ended and the link closed; message-level problems (unknown type, bad body …) get an ``error`` reply and
the link goes on. The registry is verified against the pinned Roamline CA (never CERT_NONE); the box
proves itself in ``hello`` (see docs/protocol.md). Session tickets make reconnects resume the TLS session.

Only aioquic's public API is used here; the one internal it has no public way for is wrapped in
``roamline.wire.aioquic_private``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.buffer import Buffer  # type: ignore[attr-defined]
from aioquic.quic import events
from aioquic.quic.configuration import SMALLEST_MAX_DATAGRAM_SIZE, QuicConfiguration
from aioquic.quic.connection import NetworkAddress, QuicConnection
from aioquic.quic.packet import QuicPacketType, pull_quic_header
from aioquic.tls import SessionTicket
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from roamline.wire.aioquic_private import (
    ack_in_next_packet,
    drop_oldest_datagrams,
    send_acks_at_once,
    server_protocol,
    set_ack_delay,
)
from roamline.wire.errors import FrameError, LinkClosed, UsageError
from roamline.wire.framing import FrameDecoder, encode
from roamline.wire.link import LinkConnection
from roamline.wire.messages import ALPN, Error, to_frame
from roamline.wire.session import HandshakeGate, UnauthenticatedBudget

log = logging.getLogger(__name__)

MAX_DATAGRAM_FRAME_SIZE = 1500
"""Largest QUIC DATAGRAM frame we accept (RTP media later); advertised by both ends."""

MEDIA_ACK_DELAY_S = 0.024
"""Once a connection carries datagrams (media), ACKs may wait this long (just under the 25 ms
max_ack_delay aioquic advertises) and ride in the next packet sent on it: at 50 datagrams/s each way that
is usually the next media datagram (20 ms later), so a relayed call sends few ACK-only packets. Before
that, ACKs go at once (see ``_LinkProtocol.__init__``)."""

MAX_PENDING_DATAGRAMS = 16
"""Datagrams queued in aioquic beyond this (congestion window or pacing full: 320 ms of one call's
voice) are dropped oldest first: late voice is useless and a growing queue only adds delay."""

APP_ERROR_FRAMING = 0x1  # QUIC application error code used when a stream is ended for a framing error

UDP_BUFFER_BYTES = 4 * 1024 * 1024
"""Socket receive/send buffers asked for (the kernel caps them at net.core.rmem_max/wmem_max). The
default (~208 KiB) overflows when many boxes' packets arrive while the registry is busy for a moment:
every dropped packet then waits for a QUIC loss timer, stalling that box's request."""


def _enlarge_buffers(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, UDP_BUFFER_BYTES)
        except OSError as exc:  # a sandbox may refuse: the default still works, only with more loss
            log.debug("udp-buffer-refused", extra={"fields": {"option": int(opt), "error": str(exc)}})


class ServerTicketStore:
    """Session tickets the server issued, by ticket label (bounded, oldest dropped). In memory."""

    def __init__(self, limit: int = 10_000) -> None:
        self._tickets: OrderedDict[bytes, SessionTicket] = OrderedDict()
        self._limit = limit

    def add(self, ticket: SessionTicket) -> None:
        self._tickets[ticket.ticket] = ticket
        while len(self._tickets) > self._limit:
            self._tickets.popitem(last=False)

    def pop(self, label: bytes) -> SessionTicket | None:
        return self._tickets.pop(label, None)


class ClientTicketStore:
    """The newest session ticket per server name, for resumption on the next connect. In memory."""

    def __init__(self) -> None:
        self._tickets: dict[str, SessionTicket] = {}

    def put(self, ticket: SessionTicket) -> None:
        self._tickets[ticket.server_name] = ticket

    def get(self, server_name: str) -> SessionTicket | None:
        ticket = self._tickets.get(server_name)
        return ticket if ticket is not None and ticket.is_valid else None


class _LinkProtocol(QuicConnectionProtocol):
    """aioquic protocol carrying one control stream for a LinkConnection (the ``Transport`` it needs)."""

    def __init__(self, quic: QuicConnection, *, is_client: bool, **kwargs: Any) -> None:
        super().__init__(quic, **kwargs)
        self.quic = quic  # our own references: aioquic keeps its _quic and _loop private
        self.loop = asyncio.get_running_loop()
        self.udp_transport: asyncio.DatagramTransport | None = None
        self._is_client = is_client
        self._stream_id: int | None = quic.get_next_available_stream_id() if is_client else None
        self._decoder = FrameDecoder()
        self._dead_streams: set[int] = set()
        self.terminated_reason = ""
        self.link: LinkConnection | None = None
        self.on_handshake: Callable[[_LinkProtocol], None] | None = None
        self._handshake_done = False
        self._terminated = False
        self._handshake_waiter: asyncio.Future[None] | None = None
        self._flush_handle: asyncio.Handle | None = None
        self._media = False
        self.datagrams_dropped = 0
        # Coalescing: what arrives and what we write are sent at the end of the loop iteration
        # (``transmit``), so the reply to a request and the ACK of it leave in one packet and a batch
        # of received datagrams shares one transmit. That needs the ACK due at once (aioquic would hold
        # it 1 ms, past the reply, and send it alone later): no ACK is delayed more than one iteration.
        send_acks_at_once(quic)
        self._peer_addr: NetworkAddress | None = None

    # aioquic calls transmit() after every received datagram and timer, and after its own commands
    # (connect, close, ping); we send at the end of the loop iteration instead of at once.
    def transmit(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.transmit_now)

    def transmit_now(self) -> None:
        """Send what is pending now (aioquic's transmit: datagrams out, timer re-armed)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        super().transmit()

    def close(self, error_code: int = 0, reason_phrase: str = "") -> None:
        super().close(error_code=error_code, reason_phrase=reason_phrase)
        self.transmit_now()  # CONNECTION_CLOSE leaves before the caller can close the socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.udp_transport = cast(asyncio.DatagramTransport, transport)  # asyncio's is not a subclass

    async def handshake_completed(self) -> None:
        """Wait for the TLS handshake; ConnectionError if the connection ended first.

        Our own waiter rather than aioquic's ``wait_connected``, whose shielded future outlives a
        timeout and fails later with nobody to read it ("Future exception was never retrieved")."""
        if self._handshake_done:
            return
        if self._terminated:
            raise ConnectionError(self.terminated_reason)
        self._handshake_waiter = self.loop.create_future()
        try:
            await self._handshake_waiter
        finally:
            self._handshake_waiter = None

    # Transport (for LinkConnection)
    def write_control(self, data: bytes, end_stream: bool = False) -> None:
        if self._stream_id is None:
            raise LinkClosed("no control stream yet (the client speaks first)")
        self.quic.send_stream_data(self._stream_id, data, end_stream=end_stream)
        self._ack_now()
        self.transmit()

    def send_datagram(self, data: bytes) -> None:
        self._media_mode()
        self.datagrams_dropped += drop_oldest_datagrams(self.quic, MAX_PENDING_DATAGRAMS - 1)
        self.quic.send_datagram_frame(data)
        self._ack_now()
        self.transmit()

    def _media_mode(self) -> None:
        if not self._media:
            self._media = True
            set_ack_delay(self.quic, MEDIA_ACK_DELAY_S)

    def _ack_now(self) -> None:
        """Something is about to be sent: let a delayed ACK ride in it (media connections only; on the
        others ACKs are never delayed)."""
        if self._media:
            ack_in_next_packet(self.quic, self.loop.time())

    def close_transport(self, code: int, reason: str) -> None:
        self.close(error_code=code, reason_phrase=reason)

    @property
    def session_resumed(self) -> bool:
        return bool(self.quic.tls.session_resumed)

    # aioquic events
    @property
    def peer_address(self) -> str:
        """Where the peer's latest datagram came from, as ``host:port`` (``[v6]:port``); "" before any."""
        addr = self._peer_addr
        if not addr:
            return ""
        host = str(addr[0])
        if host.startswith("::ffff:") and "." in host:  # an IPv4 peer on a dual-stack socket
            host = host[7:]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"

    def datagram_received(self, data: bytes | str, addr: NetworkAddress) -> None:
        self._peer_addr = addr  # the newest path (NAT rebinding moves it); welcome reports it
        super().datagram_received(data, addr)

    def quic_event_received(self, event: events.QuicEvent) -> None:
        if isinstance(event, events.StreamDataReceived):
            self._stream_data(event)
        elif isinstance(event, events.DatagramFrameReceived):
            self._media_mode()
            if self.link is not None:
                self.link.datagram_received(event.data)
        elif isinstance(event, events.HandshakeCompleted):
            self._handshake_done = True
            if self._handshake_waiter is not None and not self._handshake_waiter.done():
                self._handshake_waiter.set_result(None)
            if event.alpn_protocol != ALPN:
                self.close(error_code=0x0, reason_phrase="wrong ALPN")
            elif self.on_handshake is not None:
                self.on_handshake(self)
        elif isinstance(event, events.ConnectionTerminated):
            self.terminated_reason = event.reason_phrase or f"error {event.error_code}"
            self._terminated = True
            if self._handshake_waiter is not None and not self._handshake_waiter.done():
                self._handshake_waiter.set_exception(ConnectionError(self.terminated_reason))
            if self.link is not None:
                self.link.transport_closed(f"connection terminated: {self.terminated_reason}")
        elif isinstance(event, events.StreamReset) and event.stream_id == self._stream_id:
            self._control_lost("control stream reset by peer")

    def _stream_data(self, event: events.StreamDataReceived) -> None:
        sid = event.stream_id
        if sid in self._dead_streams:
            return
        if self._stream_id is None and not self._is_client and sid % 4 == 0:
            self._stream_id = sid  # the client's first bidirectional stream is the control stream
        if sid != self._stream_id or self.link is None or self.link.closed:
            # Only one control stream per link: refuse any other stream.
            self._dead_streams.add(sid)
            self.quic.stop_stream(sid, APP_ERROR_FRAMING)
            if sid % 4 == 0 or (sid % 4 == 1 and self._is_client):
                self.quic.reset_stream(sid, APP_ERROR_FRAMING)
            self.transmit_now()
            return
        self.link.bytes_received()
        frames, error = self._decoder.feed_until_error(event.data)
        for frame in frames:
            self.link.frame_received(frame)
        if error is not None:
            self._framing_error(error)
        elif event.end_stream:
            self._control_lost("control stream ended by peer")

    def _framing_error(self, error: FrameError) -> None:
        log.info("link-framing-error", extra={"fields": {"code": str(error.code), "reason": str(error)}})
        assert self._stream_id is not None
        sid = self._stream_id
        self._dead_streams.add(sid)
        # Answer, end our side of the stream, and stop reading theirs.
        self.quic.send_stream_data(
            sid, encode(to_frame(Error(code=error.code, message=str(error)))), end_stream=True
        )
        self.quic.stop_stream(sid, APP_ERROR_FRAMING)
        self.transmit_now()
        self._control_lost(f"framing error: {error}", close_soon=True)

    def _control_lost(self, reason: str, close_soon: bool = False) -> None:
        link = self.link
        self._stream_id = None
        if link is None:
            return
        link.transport_closed(reason)
        if close_soon:
            # Give the error frame a moment to be sent and acknowledged before CONNECTION_CLOSE.
            self.loop.call_later(0.2, self.close, 0, reason[:100])
        else:
            self.close(0, reason[:100])


# --- server ----------------------------------------------------------------------------------------

LinkPeer = LinkConnection
"""Server-side name for a connection's link (the same class as the client's)."""
LinkClientConnection = LinkConnection

ConnectionHandler = Callable[[LinkConnection], Awaitable[None]]


class _GuardedQuicServer(QuicServer):
    """aioquic's server, asking ``admit(address)`` before a new connection gets any state (no TLS work
    for a source over its budget: its Initial packets are dropped), and telling ``opened`` after."""

    def __init__(self, *, admit: Callable[[NetworkAddress], bool],
                 opened: Callable[[QuicConnectionProtocol, NetworkAddress], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cid_length = kwargs["configuration"].connection_id_length
        self._admit = admit
        self._opened = opened

    def datagram_received(self, data: bytes | str, addr: NetworkAddress) -> None:
        raw = data if isinstance(data, bytes) else data.encode()
        new_cid: bytes | None = None
        if len(raw) >= SMALLEST_MAX_DATAGRAM_SIZE:
            try:
                header = pull_quic_header(Buffer(data=raw), host_cid_length=self._cid_length)
            except ValueError:
                return
            cid = header.destination_cid
            if header.packet_type == QuicPacketType.INITIAL and server_protocol(self, cid) is None:
                if not self._admit(addr):
                    return
                new_cid = cid
        super().datagram_received(raw, addr)
        if new_cid is not None and (proto := server_protocol(self, new_cid)) is not None:
            self._opened(proto, addr)


class LinkServer:
    """A running link server. ``port`` is the bound UDP port; ``close()`` is idempotent.

    A connection must authenticate (``mark_authenticated``, after a verified hello) within
    ``hello_deadline_s`` of its first packet or it is closed; one source address may hold at most
    ``max_unauthenticated_per_source`` unauthenticated connections (new ones beyond are dropped
    unanswered). ``budget`` has the counts.
    """

    def __init__(
        self, on_connection: ConnectionHandler, keepalive_s: float | None, dead_after_s: float | None,
        hello_deadline_s: float | None = None, max_unauthenticated_per_source: int | None = None,
    ):
        self._on_connection = on_connection
        self._keepalive = keepalive_s
        self._dead_after = dead_after_s
        self._hello_deadline = hello_deadline_s
        self.budget = UnauthenticatedBudget(max_unauthenticated_per_source or 2**31)
        self._quic_server: QuicServer | None = None
        self.udp_transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._links: set[LinkConnection] = set()
        self.port = 0

    def _create_protocol(self, quic: QuicConnection, **kwargs: Any) -> _LinkProtocol:
        proto = _LinkProtocol(quic, is_client=False, **kwargs)
        loop = asyncio.get_running_loop()
        proto.link = LinkConnection(
            proto,
            id_prefix="s",
            keepalive_s=self._keepalive,
            dead_after_s=self._dead_after,
            gate=HandshakeGate(now=loop.time(), hello_deadline_s=self._hello_deadline),
        )
        proto.on_handshake = self._handshake_done
        self._links.add(proto.link)
        proto.link.closed_callback = self._link_closed
        proto.link.authenticated_callback = self._link_done
        return proto

    def _link_done(self, link: LinkConnection) -> None:
        self.budget.done(link, asyncio.get_running_loop().time())

    def _link_closed(self, link: LinkConnection) -> None:
        self._links.discard(link)
        self._link_done(link)

    def _admit(self, addr: NetworkAddress) -> bool:
        if self.budget.admit(str(addr[0])):
            return True
        log.debug("link-unauthenticated-over-budget", extra={"fields": {"source": str(addr[0])}})
        return False

    def _opened(self, proto: QuicConnectionProtocol, addr: NetworkAddress) -> None:
        link = proto.link if isinstance(proto, _LinkProtocol) else None
        if link is not None and not link.closed and link.box_id is None:
            self.budget.opened(str(addr[0]), link, asyncio.get_running_loop().time())

    def _handshake_done(self, proto: _LinkProtocol) -> None:
        link = proto.link
        assert link is not None
        task = asyncio.get_running_loop().create_task(self._run_handler(link))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_handler(self, link: LinkConnection) -> None:
        try:
            await self._on_connection(link)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("link-handler-failed")
        finally:
            link.close(reason="handler finished")

    def close(self) -> None:
        for link in list(self._links):
            link.close(reason="server closing")
        for task in list(self._tasks):
            task.cancel()
        if self._quic_server is not None:
            self._quic_server.close()
            self._quic_server = None

    async def wait_closed(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def serve(
    host: str,
    port: int,
    *,
    tls_cert_pem: bytes,
    tls_key_pem: bytes,
    on_connection: ConnectionHandler,
    ticket_store: ServerTicketStore | None = None,
    keepalive_s: float | None = None,
    dead_after_s: float | None = 120.0,
    idle_timeout_s: float = 120.0,
    hello_deadline_s: float | None = 5.0,
    max_unauthenticated_per_source: int | None = 32,
) -> LinkServer:
    """Serve the link on ``host:port`` (0 = any free port; see ``LinkServer.port``).

    ``hello_deadline_s``: an unauthenticated connection is closed this long after its first packet;
    ``max_unauthenticated_per_source``: new connections from an address holding that many
    unauthenticated ones are dropped (None: no limit).

    ``on_connection(link)`` runs once per connection after the TLS handshake; when it returns, the
    connection is closed. ``tls_cert_pem`` may hold the registry certificate followed by its chain.
    """
    certs = x509.load_pem_x509_certificates(tls_cert_pem)
    config = QuicConfiguration(
        is_client=False,
        alpn_protocols=[ALPN],
        max_datagram_frame_size=MAX_DATAGRAM_FRAME_SIZE,
        idle_timeout=idle_timeout_s,
    )
    config.certificate = certs[0]
    config.certificate_chain = certs[1:]
    config.private_key = serialization.load_pem_private_key(tls_key_pem, password=None)
    tickets = ticket_store if ticket_store is not None else ServerTicketStore()
    server = LinkServer(on_connection, keepalive_s, dead_after_s, hello_deadline_s,
                        max_unauthenticated_per_source)

    def make() -> _GuardedQuicServer:
        return _GuardedQuicServer(configuration=config, create_protocol=server._create_protocol,
                                  session_ticket_fetcher=tickets.pop, session_ticket_handler=tickets.add,
                                  admit=server._admit, opened=server._opened)

    # What aioquic's serve() does, with the guarded server, keeping the UDP transport it would keep
    # private: the bound port is needed when port 0 was asked for, and the socket's buffers are enlarged.
    loop = asyncio.get_running_loop()
    transport, guarded = await loop.create_datagram_endpoint(make, local_addr=(host, port))
    server._quic_server, server.udp_transport = guarded, transport
    _enlarge_buffers(transport)
    server.port = int(transport.get_extra_info("sockname")[1])
    return server


# --- client ----------------------------------------------------------------------------------------


async def connect(
    host: str,
    port: int,
    *,
    ca_pem: bytes,
    server_name: str,
    ticket_store: ClientTicketStore | None = None,
    connect_timeout_s: float = 5.0,
    keepalive_s: float | None = 15.0,
    dead_after_s: float | None = 45.0,
    idle_timeout_s: float = 60.0,
    local_host: str | None = None,
) -> LinkConnection:
    """Connect to the registry, verifying its certificate against ``ca_pem`` for ``server_name``.

    Raises LinkClosed with a one-line reason if the connection or TLS verification fails.
    """
    if not ca_pem:
        raise UsageError("the Roamline CA certificate is required (the registry is always verified)")
    config = QuicConfiguration(
        is_client=True,
        alpn_protocols=[ALPN],
        server_name=server_name,
        max_datagram_frame_size=MAX_DATAGRAM_FRAME_SIZE,
        idle_timeout=idle_timeout_s,
        verify_mode=ssl.CERT_REQUIRED,
        cadata=ca_pem,
    )
    if ticket_store is not None:
        config.session_ticket = ticket_store.get(server_name)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise LinkClosed(f"cannot resolve {host}: {exc}") from None
    family, _, _, _, addr = infos[0]
    quic = QuicConnection(
        configuration=config, session_ticket_handler=ticket_store.put if ticket_store is not None else None
    )
    transport, proto = await loop.create_datagram_endpoint(
        lambda: _LinkProtocol(quic, is_client=True),
        local_addr=(local_host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0),
        family=family,
    )
    _enlarge_buffers(transport)
    try:
        proto.connect(addr)
        async with asyncio.timeout(connect_timeout_s):
            await proto.handshake_completed()
    except (ConnectionError, TimeoutError) as exc:
        reason = proto.terminated_reason or ("timed out" if isinstance(exc, TimeoutError) else "refused")
        proto.close()
        transport.close()
        raise LinkClosed(f"cannot connect to {host}:{port}: {reason}") from None
    link = LinkConnection(proto, id_prefix="c", keepalive_s=keepalive_s, dead_after_s=dead_after_s)
    proto.link = link

    async def _close_socket_when_done() -> None:
        await link.wait_closed()
        try:
            async with asyncio.timeout(1.0):
                await proto.wait_closed()
        except TimeoutError:
            pass
        transport.close()

    task = loop.create_task(_close_socket_when_done())
    _background.add(task)
    task.add_done_callback(_background.discard)
    return link


_background: set[asyncio.Task[None]] = set()  # keeps socket-closing tasks referenced until they finish
