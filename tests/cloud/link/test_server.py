"""The registry over real QUIC on loopback: scripted boxes enrolled with the provisioning tool."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main as cli_main
from roamline.cloud.cmd.common import DataDir
from roamline.cloud.registry import Registry, RegistryConfig
from roamline.cloud.server import RegistryServer
from roamline.cloud.store import SqliteStore, Token
from roamline.firmware.config import load_box_config
from roamline.provisioning.cardissue import VirtualCardKeys, issue_card
from roamline.provisioning.enroll import RegistryAddress, enroll_box
from roamline.wire import identity, quic, signing
from roamline.wire.errors import ErrorCode, RemoteError
from roamline.wire.link import LinkConnection
from roamline.wire.messages import (
    Deregister,
    Error,
    Hello,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Ping,
    Pong,
    Refresh,
    Refreshed,
    Register,
    Registered,
    Revoked,
    RevokedKind,
    Superseded,
    Welcome,
)

NUM = "+15551230001"
SERVER_NAME = "registry.roamline"


class Wall:
    """Real wall time (TLS checks certificates against it) plus an offset tests move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Cloud:
    def __init__(self, root: Path) -> None:
        self.data = DataDir(root / "registry")
        self.data.root.mkdir(parents=True)
        now = time.time()
        self.ca = identity.CertificateAuthority.create(now=now)
        self.ca.save(self.data.root)
        self.tls_cert, self.tls_key = self.ca.issue_registry_tls(dns_name=SERVER_NAME, now=now)
        self.wall = Wall()
        self.config = RegistryConfig(lease_s=30.0, sweep_s=0.05)
        self.store: SqliteStore | None = None
        self.server: RegistryServer | None = None
        self.root = root

    async def start(self) -> None:
        self.store = SqliteStore(self.data.db)
        self.store.open()
        self.server = RegistryServer(Registry(self.store, self.ca, self.config), host="127.0.0.1", port=0,
                                     tls_cert_pem=self.tls_cert, tls_key_pem=self.tls_key, wall=self.wall)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
        if self.store is not None:
            self.store.close()

    @property
    def address(self) -> RegistryAddress:
        assert self.server is not None
        return RegistryAddress("127.0.0.1", self.server.port, SERVER_NAME)

    def token(self, kind: str = "any") -> str:
        assert self.store is not None
        tok = identity.new_installer_token()
        self.store.add_token(Token(identity.token_hash(tok), kind, time.time() + 600, False))
        return tok

    async def box(self, name: str) -> Box:
        out = self.root / name
        box_id, config_path = await enroll_box(self.address, self.ca.cert_pem, self.token("box"), out,
                                               box_name=name)
        cfg = load_box_config(config_path)
        key = identity.load_private_key_pem(cfg.identity.key.read_bytes())
        return Box(self, box_id, key, cfg.identity.cert.read_text())

    async def card(self, account: str) -> VirtualCardKeys:
        card = VirtualCardKeys()
        await issue_card(self.address, self.ca.cert_pem, self.token("card"), account, card)
        return card


class Box:
    """A scripted box: connect, nonce → hello, register cards, hear pushes."""

    def __init__(self, cloud: Cloud, box_id: str, key: identity.PrivateKey, cert_pem: str) -> None:
        self.cloud, self.box_id, self.key, self.cert_pem = cloud, box_id, key, cert_pem
        self.link: LinkConnection | None = None

    async def connect(self) -> LinkConnection:
        self.link = await quic.connect("127.0.0.1", self.cloud.address.port, ca_pem=self.cloud.ca.cert_pem,
                                       server_name=SERVER_NAME, keepalive_s=None)
        return self.link

    async def nonce(self, purpose: NoncePurpose) -> bytes:
        assert self.link is not None
        r = await self.link.request(NonceRequest(purpose=purpose))
        assert isinstance(r, NonceIssued)
        return r.nonce

    async def hello(self) -> Welcome:
        await self.connect()
        assert self.link is not None
        nonce = await self.nonce(NoncePurpose.HELLO)
        sig = identity.sign_digest(self.key, signing.hello_digest(nonce, self.box_id))
        w = await self.link.request(Hello(cert_pem=self.cert_pem, nonce=nonce, signature=sig))
        assert isinstance(w, Welcome) and w.box_id == self.box_id
        return w

    async def register(self, card: VirtualCardKeys) -> Registered:
        assert self.link is not None
        nonce = await self.nonce(NoncePurpose.REGISTER)
        digest = signing.registration_digest(nonce, self.box_id, card.card_id)
        sig = identity.sign_digest(card.private_key("9e"), digest)
        cert = card.cardfile().slot_9e.cert_pem
        msg = Register(card_cert_pem=cert, card_id=card.card_id, nonce=nonce, signature=sig,
                       location={"civic": {"country": "US", "A1": "IL", "A3": "Springfield",
                                           "RD": f"Road {self.box_id}", "HNO": "1"}})
        r = await self.link.request(msg)
        assert isinstance(r, Registered)
        return r


def run(body: Callable[[Cloud], Awaitable[None]], tmp_path: Path) -> None:
    async def wrapper() -> None:
        cloud = Cloud(tmp_path)
        await cloud.start()
        try:
            async with asyncio.timeout(30):
                await body(cloud)
        finally:
            await cloud.stop()

    asyncio.run(wrapper())


def make_account(cloud: Cloud) -> str:
    assert cloud.store is not None
    cloud.store.create_account("acct-ann", "Ann", time.time())
    cloud.store.add_number("acct-ann", NUM)
    return "acct-ann"


def where_cli(cloud: Cloud, capsys: Any) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert cli_main(["cloud", "where", NUM, "--data", str(cloud.data.root), "--json"]) == 0
    result: list[dict[str, Any]] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result


def test_register_where_supersede_deregister(tmp_path: Path, capsys: Any) -> None:
    async def body(cloud: Cloud) -> None:
        account = make_account(cloud)
        a, b = await cloud.box("a"), await cloud.box("b")
        card = await cloud.card(account)
        welcome = await a.hello()
        # the registry tells the box where it sees it coming from: loopback, the box's own UDP port
        assert a.link is not None and welcome.peer_address.startswith("127.0.0.1:")
        assert int(welcome.peer_address.rsplit(":", 1)[1]) > 0
        ra = await a.register(card)
        assert ra.holder == "Ann" and ra.numbers == (NUM,)
        [entry] = where_cli(cloud, capsys)
        assert (entry["box_id"], entry["card_id"], entry["holder"]) == (a.box_id, card.card_id, "Ann")
        await b.hello()
        rb = await b.register(card)
        assert rb.seq == ra.seq + 1
        assert a.link is not None and b.link is not None
        push = await a.link.next_incoming()
        assert push.message == Superseded(card_id=card.card_id, registration_id=ra.registration_id,
                                          at=push.message.at)  # type: ignore[union-attr]
        assert [e["box_id"] for e in where_cli(cloud, capsys)] == [b.box_id]
        r = await a.link.request(Refresh(card_ids=(card.card_id,)))
        assert isinstance(r, Refreshed) and r.missing == (card.card_id,)
        await b.link.request(Deregister(card_id=card.card_id))
        assert where_cli(cloud, capsys) == []
        a.link.close()
        b.link.close()

    run(body, tmp_path)


def test_nothing_before_hello(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        account = make_account(cloud)
        a = await cloud.box("a")
        card = await cloud.card(account)
        link = await a.connect()
        assert isinstance(await link.request(Ping()), Pong)
        with pytest.raises(RemoteError) as err:
            await link.request(Register(card_cert_pem=card.cardfile().slot_9e.cert_pem, card_id=card.card_id,
                                        nonce=b"\0" * 32, signature=b"\0"))
        assert err.value.code == ErrorCode.NOT_AUTHENTICATED
        with pytest.raises(RemoteError) as err:
            await link.request(NonceRequest(purpose=NoncePurpose.REGISTER))
        assert err.value.code == ErrorCode.NOT_AUTHENTICATED
        # a hello signed by another key
        nonce = await a.nonce(NoncePurpose.HELLO)
        sig = identity.sign_digest(identity.generate_key(), signing.hello_digest(nonce, a.box_id))
        with pytest.raises(RemoteError) as err:
            await link.request(Hello(cert_pem=a.cert_pem, nonce=nonce, signature=sig))
        assert err.value.code == ErrorCode.BAD_SIGNATURE
        link.close()

    run(body, tmp_path)


def _raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize(("junk", "code"), [
    (struct.pack(">I", 70_000) + b"x" * 200, ErrorCode.TOO_LARGE),
    (_raw(b"\xff\xfe not utf-8"), ErrorCode.BAD_FRAME),
    (_raw(b"[1, 2]"), ErrorCode.BAD_FRAME),
])
def test_malformed_and_oversized_frames(tmp_path: Path, junk: bytes, code: ErrorCode) -> None:
    async def body(cloud: Cloud) -> None:
        a = await cloud.box("a")
        link = await a.connect()
        link._transport.write_control(junk)  # raw bytes, as a broken box would send
        env = await link.next_incoming()
        assert isinstance(env.message, Error) and env.message.code == code
        await link.wait_closed()
        # the registry lives on and serves the box's next connection
        await a.hello()
        assert a.link is not None
        a.link.close()

    run(body, tmp_path)


def test_bad_body_keeps_the_link(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        a = await cloud.box("a")
        link = await a.connect()
        link._transport.write_control(_raw(b'{"v":1,"type":"nonce","id":"z1","body":{"purpose":"lunch"}}'))
        assert isinstance(await link.request(Ping()), Pong)
        assert not link.closed
        link.close()

    run(body, tmp_path)


def test_revoked_box_is_told_and_cut_off(tmp_path: Path) -> None:
    async def body(cloud: Cloud) -> None:
        account = make_account(cloud)
        a = await cloud.box("a")
        card = await cloud.card(account)
        await a.hello()
        await a.register(card)
        assert cloud.store is not None and a.link is not None
        cloud.store.revoke_box(a.box_id, time.time())  # what `roamline cloud box revoke` does
        push = await a.link.next_incoming()  # the sweeper tells it within one sweep interval
        assert push.message == Revoked(kind=RevokedKind.BOX, id=a.box_id)
        await a.link.wait_closed()
        assert cloud.store.active_registration(card.card_id) is None
        # and it cannot come back
        with pytest.raises(RemoteError) as err:
            await a.hello()
        assert err.value.code == ErrorCode.REVOKED

    run(body, tmp_path)


def test_dead_box_lease_lapses(tmp_path: Path, capsys: Any) -> None:
    async def body(cloud: Cloud) -> None:
        account = make_account(cloud)
        a = await cloud.box("a")
        card = await cloud.card(account)
        await a.hello()
        await a.register(card)
        assert a.link is not None and cloud.store is not None
        a.link.close()  # the box vanishes without deregistering
        assert len(where_cli(cloud, capsys)) == 1  # the CLI reads real time: lease still running
        cloud.wall.offset = cloud.config.lease_s + 1
        for _ in range(200):
            if cloud.store.active_registration(card.card_id) is None:
                break
            await asyncio.sleep(0.02)
        assert cloud.store.active_registration(card.card_id) is None  # ended by the sweeper
        assert where_cli(cloud, capsys) == []

    run(body, tmp_path)


def test_restart_keeps_registrations(tmp_path: Path, capsys: Any) -> None:
    async def body(cloud: Cloud) -> None:
        account = make_account(cloud)
        a = await cloud.box("a")
        card = await cloud.card(account)
        await a.hello()
        r = await a.register(card)
        assert a.link is not None
        await cloud.stop()  # registry process goes away
        await a.link.wait_closed()
        await cloud.start()  # and comes back on the same store (new port)
        [entry] = where_cli(cloud, capsys)
        assert entry["registration_id"] == r.registration_id
        await a.hello()  # the box reconnects, proves itself again and keeps its registration alive
        rr = await a.link.request(Refresh(card_ids=(card.card_id,)))
        assert isinstance(rr, Refreshed) and rr.missing == ()
        a.link.close()

    run(body, tmp_path)


def test_internal_failure_is_answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def body(cloud: Cloud) -> None:
        a = await cloud.box("a")
        link = await a.connect()
        assert cloud.server is not None

        def broken(*_: object) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(cloud.server.registry, "handle", broken)
        with pytest.raises(RemoteError) as err:
            await link.request(NonceRequest(purpose=NoncePurpose.HELLO))
        assert err.value.code == ErrorCode.INTERNAL and "disk" not in str(err.value)
        monkeypatch.undo()
        assert isinstance(await link.request(NonceRequest(purpose=NoncePurpose.HELLO)), NonceIssued)
        link.close()

    run(body, tmp_path)
