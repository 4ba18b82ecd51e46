from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from roamline.wire.errors import ErrorCode, LinkClosed, RemoteError, RequestTimeout, UsageError
from roamline.wire.identity import sign_digest
from roamline.wire.link import LinkConnection
from roamline.wire.messages import (
    Ack,
    Deliver,
    Deregister,
    Error,
    Hello,
    HolderProfile,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Ok,
    Ping,
    Pong,
    Refresh,
    Superseded,
    Welcome,
)
from roamline.wire.quic import ClientTicketStore, LinkServer, connect, serve
from roamline.wire.signing import hello_digest

from .quic_support import EchoRegistry, Pki

PKI = Pki.make()


def run(coro_fn: Callable[..., Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(20):
            await coro_fn()

    asyncio.run(main())


async def _server(handler: Any = None) -> tuple[LinkServer, EchoRegistry]:
    reg = EchoRegistry(PKI)
    server = await serve(
        "127.0.0.1", 0, tls_cert_pem=PKI.tls_cert, tls_key_pem=PKI.tls_key, on_connection=handler or reg
    )
    return server, reg


async def _client(server: LinkServer, **kw: Any) -> LinkConnection:
    return await connect("127.0.0.1", server.port, ca_pem=PKI.ca.cert_pem, server_name="localhost", **kw)


async def _hello(link: LinkConnection) -> Welcome:
    issued = await link.request(NonceRequest(purpose=NoncePurpose.HELLO))
    assert isinstance(issued, NonceIssued)
    sig = sign_digest(PKI.box_key, hello_digest(issued.nonce, PKI.box_id))  # type: ignore[arg-type]
    welcome = await link.request(Hello(cert_pem=PKI.box_cert.decode(), nonce=issued.nonce, signature=sig))
    assert isinstance(welcome, Welcome)
    return welcome


def test_handshake_request_reply_and_gate() -> None:
    async def body() -> None:
        server, reg = await _server()
        link = await _client(server)
        with pytest.raises(RemoteError) as info:
            await link.request(Deregister(card_id="c"))
        assert info.value.code is ErrorCode.NOT_AUTHENTICATED
        assert isinstance(await link.request(Ping()), Pong)  # ping is fine before hello
        welcome = await _hello(link)
        assert welcome.box_id == PKI.box_id
        assert isinstance(await link.request(Deregister(card_id="c")), Ok)
        assert reg.links[0].box_id == PKI.box_id
        assert reg.seen == ["nonce", "hello", "deregister"]  # refused and ping never reach the app
        link.close()
        link.close()  # idempotent
        with pytest.raises(LinkClosed):
            await link.request(Ping())
        server.close()
        await server.wait_closed()

    run(body)


def test_bad_hello_signature_is_refused() -> None:
    async def body() -> None:
        server, _ = await _server()
        link = await _client(server)
        issued = await link.request(NonceRequest(purpose=NoncePurpose.HELLO))
        assert isinstance(issued, NonceIssued)
        sig = sign_digest(PKI.box_key, hello_digest(bytes(32), PKI.box_id))  # type: ignore[arg-type]
        with pytest.raises(RemoteError) as info:
            await link.request(Hello(cert_pem=PKI.box_cert.decode(), nonce=issued.nonce, signature=sig))
        assert info.value.code is ErrorCode.BAD_SIGNATURE
        link.close()
        server.close()

    run(body)


def test_pushes_both_ways() -> None:
    async def body() -> None:
        server, _ = await _server()
        link = await _client(server)
        await _hello(link)
        ack = await link.request(Deliver(key="k1", kind="call-record", payload={"s": 1}))
        assert ack == Ack(keys=("k1",))
        env = await link.next_incoming()
        assert isinstance(env.message, Superseded) and env.id is None
        await link.send(HolderProfile(card_id="c", profile={"ring": 2}))
        env = await link.next_incoming()
        assert env.message == HolderProfile(card_id="c", profile={"ring": 2})
        with pytest.raises(UsageError):
            await link.send(Ping())
        link.close()
        server.close()

    run(body)


def test_request_timeout_and_link_survives() -> None:
    async def body() -> None:
        server, _ = await _server()
        link = await _client(server)
        await _hello(link)
        with pytest.raises(RequestTimeout):
            await link.request(Refresh(card_ids=("c",)), timeout=0.2)
        assert isinstance(await link.request(Ping()), Pong)
        link.close()
        server.close()

    run(body)


def test_short_request_times_out_while_a_longer_one_waits() -> None:
    """The timer task sleeps until the earliest deadline: a later, shorter request must still wake it."""
    async def body() -> None:
        server, _ = await _server()
        link = await _client(server)
        await _hello(link)
        slow = asyncio.ensure_future(link.request(Refresh(card_ids=("a",)), timeout=60.0))
        await asyncio.sleep(0.05)  # the timer task is now asleep until the 60 s deadline
        short = asyncio.ensure_future(link.request(Refresh(card_ids=("b",)), timeout=0.2))
        # 15x its timeout; a timer task left asleep would wait for an earlier request's 10 s deadline
        done, _ = await asyncio.wait({short}, timeout=3.0)
        assert short in done and isinstance(short.exception(), RequestTimeout)
        slow.cancel()
        link.close()
        server.close()

    run(body)


def _raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize(
    ("junk", "code"),
    [
        (struct.pack(">I", 70_000) + b"x" * 100, ErrorCode.TOO_LARGE),
        (_raw(b"{not json"), ErrorCode.BAD_FRAME),
        (_raw(b'{"v":1,"type":"ping","id":"1","extra":true}'), ErrorCode.BAD_FRAME),
    ],
)
def test_framing_errors_answer_and_close_the_stream(junk: bytes, code: ErrorCode) -> None:
    async def body() -> None:
        server, _ = await _server()
        link = await _client(server)
        link._transport.write_control(junk)  # raw bytes, as a broken peer would send
        env = await link.next_incoming()
        assert isinstance(env.message, Error) and env.message.code is code and env.re is None
        async with asyncio.timeout(5):
            await link.wait_closed()
        assert "control stream ended" in link.close_reason or "terminated" in link.close_reason
        # the server survives and serves a new connection
        again = await _client(server)
        assert isinstance(await again.request(Ping()), Pong)
        again.close()
        server.close()

    run(body)


def test_message_level_errors_keep_the_link() -> None:
    async def body() -> None:
        server, reg = await _server()
        link = await _client(server)
        for payload in (
            b'{"v":2,"type":"ping","id":"x1","body":{}}',
            b'{"v":1,"type":"call.offer","id":"x2","body":{}}',
            b'{"v":1,"type":"nonce","id":"x3","body":{"purpose":"lunch"}}',
        ):
            link._transport.write_control(_raw(payload))
        # replies to ids we never issued are dropped as stray; the link keeps working
        assert isinstance(await link.request(Ping()), Pong)
        assert not link.closed and reg.seen == []
        link.close()
        server.close()

    run(body)


def test_session_resumption_on_reconnect() -> None:
    async def body() -> None:
        server, reg = await _server()
        tickets = ClientTicketStore()
        first = await _client(server, ticket_store=tickets)
        await _hello(first)
        assert not first.session_resumed
        first.close()
        await asyncio.sleep(0.05)
        assert tickets.get("localhost") is not None
        second = await _client(server, ticket_store=tickets)
        assert second.session_resumed
        await _hello(second)  # a resumed session still proves the box in hello
        assert reg.links[-1].session_resumed
        second.close()
        server.close()

    run(body)


def test_wrong_ca_is_refused() -> None:
    async def body() -> None:
        server, _ = await _server()
        other = Pki.make()
        with pytest.raises(LinkClosed, match="cannot connect"):
            await connect("127.0.0.1", server.port, ca_pem=other.ca.cert_pem, server_name="localhost")
        with pytest.raises(LinkClosed, match="cannot connect"):
            await connect("127.0.0.1", server.port, ca_pem=PKI.ca.cert_pem, server_name="registry.example")
        server.close()

    run(body)


def test_datagram_echo_and_server_close_closes_client() -> None:
    async def body() -> None:
        server, _ = await _server()
        link = await _client(server)
        got: asyncio.Queue[bytes] = asyncio.Queue()
        link.on_datagram = got.put_nowait
        await link.request(Ping())
        link.send_datagram(b"\x80rtp")
        async with asyncio.timeout(5):
            assert await got.get() == b"\x80rtp"
        server.close()
        async with asyncio.timeout(5):
            await link.wait_closed()
        with pytest.raises(LinkClosed):
            await link.next_incoming()

    run(body)
