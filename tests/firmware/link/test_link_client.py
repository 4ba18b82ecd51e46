"""The box's link client against a real registry over QUIC on loopback (in-process, real aioquic)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from roamline.cloud.registry import Registry, RegistryConfig
from roamline.cloud.server import RegistryServer
from roamline.cloud.store import Box, SqliteStore
from roamline.firmware.link.client import BoxIdentity, LinkClient, RegistryEndpoint
from roamline.wire import identity, messages
from roamline.wire.errors import LinkClosed
from roamline.wire.session import Backoff


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = identity.CertificateAuthority.create(now=time.time())  # aioquic checks real time
        tls = self.ca.issue_registry_tls(dns_name="registry.roamline", now=time.time())
        self.tls_cert, self.tls_key = tls
        key = identity.generate_key()
        box_id = identity.box_id_for_key(key.public_key())
        cert = self.ca.issue(role=identity.Role.BOX, subject_id=box_id, public_key=key.public_key(),
                             now=time.time())
        self.box = BoxIdentity(key=key, cert_pem=identity.certificate_pem(cert).decode())
        self.store = SqliteStore(root / "registry.db")
        self.store.open()
        self.store.put_box(Box(box_id=box_id, cert_pem=self.box.cert_pem, name="t", board="sim",
                               location=None, line_number=None, owner=None, revoked=False,
                               created=time.time()))
        self.server: RegistryServer | None = None
        self.port = 0

    async def start(self) -> None:
        registry = Registry(self.store, self.ca, RegistryConfig())
        self.server = RegistryServer(registry, host="127.0.0.1", port=self.port, tls_cert_pem=self.tls_cert,
                                     tls_key_pem=self.tls_key, wall=time.time)
        await self.server.start()
        self.port = self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None

    def client(self, ups: list[messages.Welcome], *, ca_pem: bytes | None = None) -> LinkClient:
        async def on_up(welcome: messages.Welcome) -> None:
            ups.append(welcome)

        async def on_push(envelope: messages.Envelope) -> None:
            pass

        endpoint = RegistryEndpoint("127.0.0.1", self.port, "registry.roamline", ca_pem or self.ca.cert_pem)
        return LinkClient(endpoint, self.box, on_up=on_up, on_push=on_push, keepalive_s=5.0,
                          request_timeout_s=2.0, backoff=Backoff(base_s=0.05, cap_s=0.2), rand=lambda: 0.5)


async def _until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll a condition the client's own tasks change (it exposes no event for each of them)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


async def _scenario_reconnects(world: World) -> None:
    await world.start()
    ups: list[messages.Welcome] = []
    client = world.client(ups)
    client.start()
    try:
        await client.wait_up(5)
        await _until(lambda: len(ups) == 1)
        assert ups[0].box_id == world.box.box_id
        pong = await client.request(messages.Ping())
        assert isinstance(pong, messages.Pong)
        # The link drops: the client reconnects by itself and resumes the TLS session.
        client.drop("test")
        await _until(lambda: len(ups) == 2)
        assert client.resumed >= 1
        # The registry goes away and comes back on the same port: the client retries until it is there.
        await world.stop()
        await _until(lambda: not client.is_up)
        with pytest.raises(LinkClosed):
            await client.request(messages.Ping(), timeout=0.3)
        await world.start()
        await _until(lambda: len(ups) == 3, within=10)
        assert isinstance(await client.request(messages.Ping()), messages.Pong)
    finally:
        await client.stop()
        await client.stop()  # idempotent
        await world.stop()


def test_connects_reconnects_and_resumes(world: World) -> None:
    asyncio.run(_scenario_reconnects(world))


def _connect_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.fields["reason"] for r in caplog.records  # type: ignore[attr-defined]
            if r.name == "roamline.firmware.link.client" and r.getMessage() == "link-connect-failed"]


async def _scenario_wrong_ca(world: World, caplog: pytest.LogCaptureFixture) -> None:
    await world.start()
    other = identity.CertificateAuthority.create(now=time.time(), name="Impostor CA")
    ups: list[messages.Welcome] = []
    client = world.client(ups, ca_pem=other.cert_pem)
    client.start()
    try:
        # The client keeps trying (short backoff), and each attempt fails on the registry's certificate,
        # not on reachability: the registry is up, and the same client with the right CA gets in (first test).
        await _until(lambda: len(_connect_failures(caplog)) >= 3)
        reasons = _connect_failures(caplog)
        assert all(r.startswith(f"cannot connect to 127.0.0.1:{world.port}: ") for r in reasons), reasons
        assert all("unable to get local issuer certificate" in r for r in reasons), reasons  # TLS verify
        assert not client.is_up and ups == [] and client.connects == 0  # never trusted
    finally:
        await client.stop()
        await world.stop()


def test_registry_not_certified_by_the_pinned_ca_is_refused(world: World,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="roamline.firmware.link.client")
    asyncio.run(_scenario_wrong_ca(world, caplog))


async def _scenario_outbox(world: World, tmp_path: Path) -> None:
    from roamline.firmware.link.outbox import OutboxCourier
    from roamline.firmware.store import BoxStore

    box_store = BoxStore(tmp_path / "box.db")
    box_store.open()
    box_store.enqueue("call-record", {"to": "+15550100002", "secs": 31}, now=1.0, key="call-1")
    box_store.enqueue("e911", {"at": "12 Elm Street"}, now=2.0, key="e911-1")
    await world.start()  # learn a port, then take the registry down
    await world.stop()
    ups: list[messages.Welcome] = []
    client = world.client(ups)
    courier = OutboxCourier(box_store, client)
    # The registry is down: nothing is lost, nothing is delivered.
    client.start()
    try:
        assert await courier.flush() == 0
        assert [i.key for i in box_store.pending()] == ["call-1", "e911-1"]
        await world.start()
        await client.wait_up(10)
        assert await courier.flush() == 2
        assert box_store.pending() == []
        # The ack of call-1 was lost (the box crashed before forgetting it): it goes again, is acknowledged,
        # and the registry still holds it once.
        box_store.enqueue("call-record", {"to": "+15550100002", "secs": 31}, now=3.0, key="call-1")
        assert await courier.flush() == 1
        rows = world.store.db.execute("SELECT key, kind FROM deliveries ORDER BY at").fetchall()
        assert sorted(tuple(r) for r in rows) == [("call-1", "call-record"), ("e911-1", "e911")]
    finally:
        await client.stop()
        await world.stop()
        box_store.close()


def test_outbox_is_delivered_exactly_once(world: World, tmp_path: Path) -> None:
    asyncio.run(_scenario_outbox(world, tmp_path))
