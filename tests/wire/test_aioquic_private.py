"""What roamline.wire.aioquic_private relies on in aioquic still holds (fails on an aioquic upgrade that
changes it): a QuicConnection holds the ACK of an ack-eliciting packet for ``_ack_delay`` seconds, and
``send_acks_at_once`` makes it due the moment the packet arrives.

Two sans-I/O QuicConnections talk in memory on a virtual clock; no sockets, no event loop.
"""

from __future__ import annotations

import time

import pytest
from aioquic.buffer import Buffer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import HandshakeCompleted
from aioquic.quic.packet import pull_quic_header
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from roamline.wire.aioquic_private import send_acks_at_once
from roamline.wire.errors import UsageError
from roamline.wire.messages import ALPN

from .quic_support import Pki

PKI = Pki.make()
CLIENT_ADDR, SERVER_ADDR = ("127.0.0.1", 1111), ("127.0.0.1", 2222)


def _pair(now: float) -> tuple[QuicConnection, QuicConnection]:
    client_config = QuicConfiguration(is_client=True, alpn_protocols=[ALPN], server_name="localhost",
                                      cadata=PKI.ca.cert_pem)
    client = QuicConnection(configuration=client_config)
    client.connect(SERVER_ADDR, now=now)
    first = client.datagrams_to_send(now=now)
    server_config = QuicConfiguration(is_client=False, alpn_protocols=[ALPN])
    server_config.certificate = x509.load_pem_x509_certificates(PKI.tls_cert)[0]
    server_config.private_key = serialization.load_pem_private_key(PKI.tls_key, password=None)
    header = pull_quic_header(Buffer(data=first[0][0]), host_cid_length=client_config.connection_id_length)
    server = QuicConnection(configuration=server_config,
                            original_destination_connection_id=header.destination_cid)
    for data, _addr in first:
        server.receive_datagram(data, CLIENT_ADDR, now=now)
    return client, server


def _exchange(client: QuicConnection, server: QuicConnection, now: float) -> int:
    moved = 0
    for data, _addr in client.datagrams_to_send(now=now):
        server.receive_datagram(data, CLIENT_ADDR, now=now)
        moved += 1
    for data, _addr in server.datagrams_to_send(now=now):
        client.receive_datagram(data, SERVER_ADDR, now=now)
        moved += 1
    return moved


def _connected_and_quiet(now: float) -> tuple[QuicConnection, QuicConnection, float]:
    client, server = _pair(now)
    for _ in range(50):  # handshake, tickets, HANDSHAKE_DONE and their ACKs, until nothing moves
        now += 0.01
        if not _exchange(client, server, now):
            break
    events = []
    while (e := client.next_event()) is not None:
        events.append(e)
    assert any(isinstance(e, HandshakeCompleted) for e in events)
    while server.next_event() is not None:
        pass
    return client, server, now


@pytest.mark.parametrize("at_once", [False, True])
def test_the_ack_delay_is_what_send_acks_at_once_removes(at_once: bool) -> None:
    client, server, now = _connected_and_quiet(time.time())
    if at_once:
        send_acks_at_once(server)
    client.send_stream_data(client.get_next_available_stream_id(), b"request")
    for data, _addr in client.datagrams_to_send(now=now):
        server.receive_datagram(data, CLIENT_ADDR, now=now)
    due_now = server.datagrams_to_send(now=now)
    if at_once:
        assert len(due_now) == 1  # the ACK, due the moment the packet arrived
    else:
        assert due_now == []  # held for aioquic's ACK delay (1 ms) ...
        assert server.get_timer() == pytest.approx(now + 0.001)
        assert len(server.datagrams_to_send(now=now + 0.001)) == 1  # ... then sent alone


def test_a_connection_without_the_attribute_is_refused() -> None:
    class NotQuic:
        pass

    with pytest.raises(UsageError, match="_ack_delay"):
        send_acks_at_once(NotQuic())  # type: ignore[arg-type]
