"""Issue 8, defects 2 and 5, at the link layer against a real registry over QUIC on loopback:
a push handler that raises never takes the link down; a revoked box says so, stops, and backs off long."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from roamline.cloud.registry import Registry, RegistryConfig
from roamline.cloud.server import RegistryServer
from roamline.cloud.store import Card, SqliteStore
from roamline.firmware.link.client import BoxIdentity, LinkClient, RegistryEndpoint
from roamline.wire import identity, messages, signing
from roamline.wire.errors import BoxRevoked
from roamline.wire.session import Backoff


class World:
    def __init__(self, root: Path) -> None:
        now = time.time()
        self.ca = identity.CertificateAuthority.create(now=now)
        self.tls = self.ca.issue_registry_tls(dns_name="registry.roamline", now=now)
        key = identity.generate_key()
        box_id = identity.box_id_for_key(key.public_key())
        cert = self.ca.issue(role=identity.Role.BOX, subject_id=box_id, public_key=key.public_key(), now=now)
        self.box = BoxIdentity(key=key, cert_pem=identity.certificate_pem(cert).decode())
        self.store = SqliteStore(root / "registry.db")
        self.store.open()
        self.store.put_box(messages_box(box_id, self.box.cert_pem))
        self.store.create_account("acct-ann", "Ann", now)
        self.server: RegistryServer | None = None
        self.pushes: list[messages.Envelope] = []

    async def start(self) -> None:
        registry = Registry(self.store, self.ca, RegistryConfig(sweep_s=0.05))
        self.server = RegistryServer(registry, host="127.0.0.1", port=0, tls_cert_pem=self.tls[0],
                                     tls_key_pem=self.tls[1], wall=time.time)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
        self.store.close()

    def client(self, on_push: Any = None, **kw: Any) -> LinkClient:
        async def on_up(welcome: messages.Welcome) -> None:
            pass

        async def record(envelope: messages.Envelope) -> None:
            self.pushes.append(envelope)

        assert self.server is not None
        endpoint = RegistryEndpoint("127.0.0.1", self.server.port, "registry.roamline", self.ca.cert_pem)
        return LinkClient(endpoint, self.box, on_up=on_up, on_push=on_push or record, keepalive_s=5.0,
                          request_timeout_s=2.0, backoff=Backoff(base_s=0.05, cap_s=0.1), rand=lambda: 0.5,
                          **kw)

    def card(self) -> tuple[str, identity.PrivateKey, str]:
        key, card_id = identity.generate_key(), secrets.token_hex(16)
        cert = self.ca.issue(role=identity.Role.CARD, subject_id=card_id, public_key=key.public_key(),
                             now=time.time())
        pem = identity.certificate_pem(cert).decode()
        self.store.put_card(Card(card_id, "acct-ann", pem, False, time.time()))
        return card_id, key, pem

    async def register(self, client: LinkClient, card: tuple[str, identity.PrivateKey, str]) -> None:
        card_id, key, pem = card
        ask = messages.NonceRequest(purpose=messages.NoncePurpose.REGISTER)
        issued = messages.expect(await client.request(ask), messages.NonceIssued)
        sig = identity.sign_digest(key, signing.registration_digest(issued.nonce, self.box.box_id, card_id))
        reply = await client.request(messages.Register(card_cert_pem=pem, card_id=card_id, nonce=issued.nonce,
                                                       signature=sig))
        assert isinstance(reply, messages.Registered)


def messages_box(box_id: str, cert_pem: str) -> Any:
    from roamline.cloud.store import Box

    return Box(box_id=box_id, cert_pem=cert_pem, name="t", board="sim", location=None, line_number=None,
               owner=None, revoked=False, created=time.time())


async def _until(predicate: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def test_a_failing_push_handler_keeps_the_link(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        world = World(tmp_path)
        await world.start()
        calls: list[str] = []

        async def broken(envelope: messages.Envelope) -> None:
            calls.append(envelope.message.TYPE)
            raise TypeError("log_event() got multiple values for argument 'kind'")  # what BoxApp did

        client = world.client(broken)
        client.start()
        try:
            await client.wait_up(5)
            one, two = world.card(), world.card()
            await world.register(client, one)
            await world.register(client, two)
            world.store.revoke_card(one[0], time.time())  # the sweeper pushes `revoked` to the box
            await _until(lambda: calls == ["revoked"])
            await _until(lambda: any(r.message == "box-push-failed" for r in caplog.records))
            # the link is the same one, and it still carries requests
            assert client.is_up and client.connects == 1
            assert isinstance(await client.request(messages.Ping()), messages.Pong)
            refreshed = await client.request(messages.Refresh(card_ids=(two[0],)))
            assert isinstance(refreshed, messages.Refreshed) and refreshed.missing == ()
        finally:
            await client.stop()
            await world.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    failed = [r for r in caplog.records if r.message == "link-push-handler-failed"]
    assert failed and failed[0].levelno == logging.ERROR and failed[0].exc_info is not None
    told = [r for r in caplog.records if r.message == "box-push-failed"]  # the registry heard about it
    assert told and "revoked" in str(getattr(told[0], "fields", {}))


def test_a_revoked_box_says_so_and_stops(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        world = World(tmp_path)
        world.store.revoke_box(world.box.box_id, time.time())
        await world.start()
        client = world.client(revoked_retry_s=30.0)
        client.start()
        try:
            await _until(lambda: client.revoked)
            await asyncio.sleep(1.0)  # the normal backoff (≤ 0.1 s) would have retried ~10 times by now
            assert client.attempts == 1 and not client.is_up
            with pytest.raises(BoxRevoked) as err:
                await client.request(messages.Ping(), timeout=0.2)
            assert "revoked" in str(err.value)
        finally:
            await client.stop()
            await world.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    said = [r for r in caplog.records if r.message == "box-revoked"]
    assert said and said[0].levelno == logging.ERROR
    assert not any(r.message == "link-connect-failed" for r in caplog.records)


def test_a_box_revoked_while_connected_stops_too(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path)
        await world.start()
        client = world.client(revoked_retry_s=30.0)
        client.start()
        try:
            await client.wait_up(5)
            world.store.revoke_box(world.box.box_id, time.time())  # `roamline cloud box revoke`
            await _until(lambda: client.revoked and not client.is_up)
            await asyncio.sleep(1.0)
            assert client.attempts == 1  # no new hello after being told
            with pytest.raises(BoxRevoked):
                await client.request(messages.Ping(), timeout=0.2)
        finally:
            await client.stop()
            await world.stop()

    asyncio.run(scenario())
