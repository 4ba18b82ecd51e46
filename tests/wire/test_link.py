from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from roamline.wire.errors import ErrorCode, LinkClosed, RemoteError, UsageError
from roamline.wire.framing import Frame, FrameDecoder
from roamline.wire.link import INCOMING_LIMIT, LinkConnection
from roamline.wire.messages import (
    Deregister,
    Envelope,
    Error,
    Ok,
    Ping,
    Pong,
    Revoked,
    RevokedKind,
    from_frame,
)
from roamline.wire.session import HandshakeGate


class FakeTransport:
    def __init__(self) -> None:
        self.decoder = FrameDecoder()
        self.sent: list[Frame] = []
        self.closed: tuple[int, str] | None = None
        self.datagrams: list[bytes] = []

    def write_control(self, data: bytes) -> None:
        self.sent += self.decoder.feed(data)

    def send_datagram(self, data: bytes) -> None:
        self.datagrams.append(data)

    def close_transport(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    @property
    def session_resumed(self) -> bool:
        return False


def run(fn: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(10):
            await fn()

    asyncio.run(main())


def _frame(**kw: Any) -> Frame:
    return Frame(v=kw.pop("v", 1), type=kw.pop("type"), body=kw.pop("body", {}), **kw)


def test_message_level_errors_are_answered_with_re() -> None:
    async def body() -> None:
        t = FakeTransport()
        link = LinkConnection(t, id_prefix="s", gate=HandshakeGate())
        link.frame_received(_frame(type="ping", id="p1", v=2))
        link.frame_received(_frame(type="frob.nicate", id="p2"))
        link.frame_received(_frame(type="nonce", id="p3", body={"purpose": 1}))
        link.frame_received(_frame(type="deregister", id="p4", body={"card_id": "c"}))  # before hello
        link.frame_received(_frame(type="ping"))  # request without id
        codes = [(f.re, from_frame(f).message.code) for f in t.sent]  # type: ignore[attr-defined]
        assert codes == [
            ("p1", ErrorCode.UNSUPPORTED_VERSION),
            ("p2", ErrorCode.UNKNOWN_TYPE),
            ("p3", ErrorCode.BAD_BODY),
            ("p4", ErrorCode.NOT_AUTHENTICATED),
            (None, ErrorCode.BAD_FRAME),
        ]
        link.mark_authenticated("box-0123456789abcdef")
        link.frame_received(_frame(type="deregister", id="p5", body={"card_id": "c"}))
        env = await link.next_incoming()
        assert env == Envelope(Deregister(card_id="c"), id="p5")
        await link.reply(env, Ok())
        assert t.sent[-1].re == "p5" and t.sent[-1].type == "ok"
        link.close()

    run(body)


def test_ping_is_answered_by_the_link() -> None:
    async def body() -> None:
        t = FakeTransport()
        link = LinkConnection(t, id_prefix="c")
        link.frame_received(_frame(type="ping", id="s1"))
        assert t.sent == [Frame(v=1, type="pong", re="s1")]
        link.close()

    run(body)


def test_request_reply_error_and_close() -> None:
    async def body() -> None:
        t = FakeTransport()
        link = LinkConnection(t, id_prefix="c")
        task = asyncio.create_task(link.request(Ping(), timeout=5))
        await asyncio.sleep(0)
        (req,) = t.sent
        assert req.type == "ping" and req.id == "c1"
        link.frame_received(_frame(type="pong", re="c1"))
        assert await task == Pong()
        task = asyncio.create_task(link.request(Deregister(card_id="x")))
        await asyncio.sleep(0)
        link.frame_received(_frame(type="error", re="c2", body={"code": "unknown-card", "message": "no"}))
        with pytest.raises(RemoteError) as info:
            await task
        assert info.value.code is ErrorCode.UNKNOWN_CARD
        pending = asyncio.create_task(link.request(Ping()))
        await asyncio.sleep(0)
        link.close(reason="bye")
        with pytest.raises(LinkClosed):
            await pending
        assert t.closed == (0, "bye")
        with pytest.raises(LinkClosed):
            await link.send(Revoked(kind=RevokedKind.CARD, id="c"))
        with pytest.raises(UsageError):
            link.mark_authenticated("box-0123456789abcdef")  # client side has no gate

    run(body)


def test_keepalive_pings_when_idle() -> None:
    async def body() -> None:
        t = FakeTransport()
        link = LinkConnection(t, id_prefix="c", keepalive_s=0.05)
        await asyncio.sleep(0.2)
        assert any(f.type == "ping" for f in t.sent)
        link.close()

    run(body)


def test_silent_peer_closes_the_link() -> None:
    async def body() -> None:
        t = FakeTransport()
        link = LinkConnection(t, id_prefix="c", dead_after_s=0.05)
        await link.wait_closed()
        assert link.close_reason == "peer silent" and t.closed is not None

    run(body)


def test_unread_incoming_is_bounded() -> None:
    async def body() -> None:
        t = FakeTransport()
        link = LinkConnection(t, id_prefix="c")
        for _ in range(INCOMING_LIMIT + 1):
            link.frame_received(_frame(type="revoked", body={"kind": "card", "id": "c"}))
        assert link.closed
        assert json.loads(json.dumps(t.sent[-1].body))["code"] == "internal"
        assert isinstance(from_frame(t.sent[-1]).message, Error)

    run(body)
