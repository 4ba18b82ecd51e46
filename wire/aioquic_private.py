"""The one place Roamline reaches into aioquic's internals (aioquic is pinned in requirements.lock).

Everything else in ``roamline.wire.quic`` uses aioquic's public API: ``QuicConnection`` methods,
``QuicServer`` built on our own UDP endpoint, and ``QuicConnectionProtocol``'s overridable methods
(``quic_event_received``, ``transmit``, asyncio's ``connection_made``). What has no public way is here,
and ``tests/wire/test_aioquic_private.py`` fails if an aioquic upgrade changes it.

- **ACK delay.** aioquic delays the ACK of an ack-eliciting 1-RTT packet by ``K_GRANULARITY`` (1 ms),
  held in ``QuicConnection._ack_delay``; ``QuicConfiguration`` has no setting for it. The link coalesces
  what one loop iteration produces (see ``_LinkProtocol.transmit``), so the reply to a request and the
  ACK of the request leave in one packet; that needs the ACK due at once, not 1 ms later, when it would
  go alone in a packet of its own. On connections carrying media the opposite is wanted: the ACK may
  wait (``set_ack_delay``, under the 25 ms max_ack_delay aioquic advertises) and ride in the next packet
  sent, usually the next media datagram (``ack_in_next_packet``: the 1-RTT space's ``ack_at``).
- **Datagram queue.** Datagrams wait in ``QuicConnection._datagrams_pending`` while the congestion window
  or the pacer holds them; late voice is useless, so ``drop_oldest_datagrams`` bounds that queue.
- **Server connections by id.** The per-source budget of unauthenticated connections
  (``quic._GuardedQuicServer``) must know whether a datagram starts a new connection before aioquic
  creates one, and which protocol it created: ``QuicServer._protocols`` (connection id → protocol).
"""

from __future__ import annotations

from aioquic import tls
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.quic.connection import QuicConnection

from roamline.wire.errors import UsageError


def send_acks_at_once(quic: QuicConnection) -> None:
    """Make ``quic`` due to acknowledge a packet as soon as it arrives (no 1 ms ACK delay)."""
    if not isinstance(getattr(quic, "_ack_delay", None), float):
        raise UsageError("this aioquic has no QuicConnection._ack_delay: see roamline.wire.aioquic_private")
    quic._ack_delay = 0.0


def set_ack_delay(quic: QuicConnection, seconds: float) -> None:
    """Let ``quic`` hold the ACK of an ack-eliciting packet up to ``seconds`` (media connections)."""
    if not isinstance(getattr(quic, "_ack_delay", None), float):
        raise UsageError("this aioquic has no QuicConnection._ack_delay: see roamline.wire.aioquic_private")
    quic._ack_delay = seconds


def ack_in_next_packet(quic: QuicConnection, now: float) -> None:
    """An ACK ``quic`` is holding becomes due at ``now``, so it rides in the packet about to be built."""
    space = quic._spaces.get(tls.Epoch.ONE_RTT)
    if space is not None and space.ack_at is not None and space.ack_at > now:
        space.ack_at = now


def drop_oldest_datagrams(quic: QuicConnection, keep: int) -> int:
    """Drop queued, unsent datagrams beyond the newest ``keep``; how many were dropped."""
    pending = quic._datagrams_pending
    dropped = 0
    while len(pending) > keep:
        pending.popleft()
        dropped += 1
    return dropped
def server_protocol(server: QuicServer, cid: bytes) -> QuicConnectionProtocol | None:
    """The protocol ``server`` has for connection id ``cid`` (None: a new connection)."""
    protocols = getattr(server, "_protocols", None)
    if not isinstance(protocols, dict):
        raise UsageError("this aioquic's QuicServer has no _protocols: see roamline.wire.aioquic_private")
    proto = protocols.get(cid)
    return proto if isinstance(proto, QuicConnectionProtocol) else None
