"""Issue 8, defect 4: unauthenticated connections are not held forever (a hello deadline), and one
source address cannot hold more than a few of them at once (the rest are dropped before any TLS work)."""

from __future__ import annotations

import asyncio
import time

import pytest

from roamline.wire import identity, quic
from roamline.wire.errors import LinkClosed
from roamline.wire.link import LinkConnection
from roamline.wire.messages import NoncePurpose, NonceRequest, Ping, Pong
from roamline.wire.session import HandshakeGate, UnauthenticatedBudget

SERVER_NAME = "registry.roamline"


def test_gate_deadline() -> None:
    gate = HandshakeGate(now=100.0, hello_deadline_s=5.0)
    assert gate.deadline == 105.0 and not gate.overdue(104.9) and gate.overdue(105.0)
    gate.authenticated("box-1")
    assert gate.deadline is None and not gate.overdue(1e9)
    assert HandshakeGate().deadline is None


def test_budget_counts_per_source() -> None:
    budget = UnauthenticatedBudget(limit=2)
    assert budget.admit("10.0.0.1") and budget.admit("10.0.0.1")
    budget.opened("10.0.0.1", "a")
    budget.opened("10.0.0.1", "b")
    assert not budget.admit("10.0.0.1") and budget.admit("10.0.0.2")
    assert budget.count("10.0.0.1") == 2 and budget.peak == 2 and budget.refused == 1
    budget.done("a")  # authenticated or closed
    budget.done("a")  # idempotent
    budget.opened("10.0.0.3", "c", now=10.0)
    budget.done("c", now=12.5)
    assert budget.longest_s == 2.5
    assert budget.admit("10.0.0.1") and budget.count("10.0.0.1") == 1
    with pytest.raises(ValueError):
        UnauthenticatedBudget(limit=0)


class Server:
    def __init__(self, **kw: object) -> None:
        now = time.time()
        self.ca = identity.CertificateAuthority.create(now=now)
        self.cert, self.key = self.ca.issue_registry_tls(dns_name=SERVER_NAME, now=now)
        self.kw = kw
        self.server: quic.LinkServer | None = None
        self.handled: list[LinkConnection] = []

    async def __aenter__(self) -> Server:
        async def handler(link: LinkConnection) -> None:
            self.handled.append(link)
            async for env in link:  # (pings are answered by the link itself and never come here)
                link.mark_authenticated("box-" + str(len(self.handled)))  # stands in for a verified hello
                await link.reply(env, Pong())

        self.server = await quic.serve("127.0.0.1", 0, tls_cert_pem=self.cert, tls_key_pem=self.key,
                                       on_connection=handler, **self.kw)  # type: ignore[arg-type]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def connect(self, source: str = "127.0.0.1", timeout: float = 2.0) -> LinkConnection:  # noqa: ASYNC109
        assert self.server is not None
        return await quic.connect("127.0.0.1", self.server.port, ca_pem=self.ca.cert_pem,
                                  server_name=SERVER_NAME, keepalive_s=0.2, connect_timeout_s=timeout,
                                  local_host=source)


def test_no_hello_is_cut_off_at_the_deadline() -> None:
    async def scenario() -> None:
        async with Server(hello_deadline_s=0.5) as srv:
            started = time.monotonic()
            idle = await srv.connect()  # sends pings (keepalive 0.2 s) but never authenticates
            await asyncio.wait_for(idle.wait_closed(), 5.0)
            assert 0.4 < time.monotonic() - started < 3.0
            # an authenticated link is not cut off
            good = await srv.connect()
            await good.request(NonceRequest(purpose=NoncePurpose.HELLO))  # authenticates it (see handler)
            await asyncio.sleep(1.0)
            assert not good.closed
            good.close()

    asyncio.run(scenario())


def test_one_source_cannot_hold_many_unauthenticated() -> None:
    async def scenario() -> None:
        async with Server(hello_deadline_s=30.0, max_unauthenticated_per_source=2) as srv:
            held = [await srv.connect("127.0.0.2"), await srv.connect("127.0.0.2")]
            with pytest.raises(LinkClosed):
                await srv.connect("127.0.0.2", timeout=0.7)
            # another source still gets in, and authenticates
            box = await srv.connect("127.0.0.1")
            assert isinstance(await box.request(Ping()), Pong)
            # once one of the two is gone, the source may connect again
            held[0].close()
            await asyncio.sleep(0.3)
            again = await srv.connect("127.0.0.2")
            for link in (*held, box, again):
                link.close()

    asyncio.run(scenario())
