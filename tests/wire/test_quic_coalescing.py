"""Transmit coalescing: a request's reply carries the ACK of the request (one packet per message each way)."""

from __future__ import annotations

import asyncio
from typing import Any

from roamline.wire.messages import Deregister, Ok
from roamline.wire.quic import connect, serve

from .quic_support import EchoRegistry
from .test_quic import PKI, _hello

ROUNDS = 30


def _count_sendto(transport: Any) -> list[int]:
    sent = [0]
    real = transport.sendto

    def counting(data: bytes, addr: Any = None) -> None:
        sent[0] += 1
        real(data, addr)

    transport.sendto = counting
    return sent


def test_one_packet_per_message_each_way() -> None:
    async def body() -> None:
        server = await serve("127.0.0.1", 0, tls_cert_pem=PKI.tls_cert, tls_key_pem=PKI.tls_key,
                             on_connection=EchoRegistry(PKI))
        link = await connect("127.0.0.1", server.port, ca_pem=PKI.ca.cert_pem, server_name="localhost")
        await _hello(link)
        await asyncio.sleep(0.05)  # let the handshake's stragglers (tickets, their ACKs) go by
        server_sent = _count_sendto(server.udp_transport)
        client_sent = _count_sendto(link._transport.udp_transport)  # type: ignore[attr-defined]
        for _ in range(ROUNDS):
            assert isinstance(await link.request(Deregister(card_id="c")), Ok)
        # Without coalescing each side also sends an ACK-only packet per message (about 2 x ROUNDS).
        assert ROUNDS <= server_sent[0] <= ROUNDS + 3
        assert ROUNDS <= client_sent[0] <= ROUNDS + 3
        link.close()
        server.close()
        await server.wait_closed()

    async def main() -> None:
        async with asyncio.timeout(20):
            await body()

    asyncio.run(main())
