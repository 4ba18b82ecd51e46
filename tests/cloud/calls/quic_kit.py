"""Real QUIC on loopback: the registry server with router and relay, and scripted boxes (host and
terminal) built on the wire adapters, speaking the call messages and media datagrams."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

from roamline.cloud.records import Box as BoxRow
from roamline.cloud.records import Card
from roamline.cloud.registry import Registry, RegistryConfig
from roamline.cloud.relay import RelayConfig
from roamline.cloud.router import RouterConfig
from roamline.cloud.server import CallSetup, RegistryServer
from roamline.cloud.store import SqliteStore
from roamline.wire import identity, quic, signing
from roamline.wire.link import LinkConnection
from roamline.wire.media import RtpPacket, decode_datagram, encode_datagram
from roamline.wire.messages import (
    Envelope,
    Hello,
    Message,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Register,
    Registered,
    Welcome,
)

SERVER_NAME = "registry.roamline"


class Cloud:
    def __init__(self, root: Path, *, silence_s: float = 10.0, no_answer_s: float = 30.0) -> None:
        self.root = root
        self.db = root / "registry.db"
        now = time.time()
        self.ca = identity.CertificateAuthority.create(now=now)
        self.tls_cert, self.tls_key = self.ca.issue_registry_tls(dns_name=SERVER_NAME, now=now)
        self.silence_s = silence_s
        self.no_answer_s = no_answer_s
        self.store: SqliteStore | None = None
        self.server: RegistryServer | None = None
        self.port = 0

    async def start(self) -> None:
        self.store = SqliteStore(self.db)
        self.store.open()
        calls = CallSetup(
            store=SqliteStore(self.db),
            router=RouterConfig(no_answer_s=self.no_answer_s),
            relay=RelayConfig(silence_s=self.silence_s),
            tick_s=0.1,
            grant_key=self.ca.key,
        )
        self.server = RegistryServer(
            Registry(self.store, self.ca, RegistryConfig(lease_s=60.0, sweep_s=0.2)),
            host="127.0.0.1",
            port=self.port,
            tls_cert_pem=self.tls_cert,
            tls_key_pem=self.tls_key,
            wall=time.time,
            calls=calls,
        )
        await self.server.start()
        self.port = self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def box(self, name: str, line: str | None = None) -> ScriptedBox:
        assert self.store is not None
        key = identity.generate_key()
        box_id = identity.box_id_for_key(key.public_key())
        cert = identity.certificate_pem(
            self.ca.issue(
                role=identity.Role.BOX, subject_id=box_id, public_key=key.public_key(), now=time.time()
            )
        ).decode()
        self.store.put_box(BoxRow(box_id, cert, name, "sim", None, line, None, False, time.time()))
        return ScriptedBox(self, name, box_id, key, cert)

    def account(self, name: str, number: str) -> str:
        assert self.store is not None
        account_id = f"acct-{name}"
        self.store.create_account(account_id, name, time.time())
        self.store.add_number(account_id, number)
        return account_id

    def card(self, account_id: str) -> tuple[str, identity.PrivateKey, str]:
        assert self.store is not None
        key = identity.generate_key()
        card_id = secrets.token_hex(16)
        cert = identity.certificate_pem(
            self.ca.issue(
                role=identity.Role.CARD, subject_id=card_id, public_key=key.public_key(), now=time.time()
            )
        ).decode()
        self.store.put_card(Card(card_id, account_id, cert, False, time.time()))
        return card_id, key, cert

    def records(self) -> list:  # type: ignore[type-arg]
        check = SqliteStore(self.db)
        check.open()
        try:
            return check.calls()
        finally:
            check.close()


class ScriptedBox:
    """A box on a real link: hello, register cards, answer the cloud's requests from scripts, media."""

    def __init__(self, cloud: Cloud, name: str, box_id: str, key: identity.PrivateKey, cert: str) -> None:
        self.cloud, self.name, self.box_id, self.key, self.cert = cloud, name, box_id, key, cert
        self.link: LinkConnection | None = None
        self.incoming: dict[str, asyncio.Queue[Envelope]] = defaultdict(asyncio.Queue)
        self.media: dict[int, asyncio.Queue[RtpPacket]] = defaultdict(asyncio.Queue)
        self.auto: dict[str, Callable[[Message], Message | None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> Welcome:
        link = await quic.connect(
            "127.0.0.1",
            self.cloud.port,
            ca_pem=self.cloud.ca.cert_pem,
            server_name=SERVER_NAME,
            keepalive_s=None,
            dead_after_s=None,
        )
        self.link = link
        link.on_datagram = self._datagram
        issued = await link.request(NonceRequest(purpose=NoncePurpose.HELLO))
        assert isinstance(issued, NonceIssued)
        sig = identity.sign_digest(self.key, signing.hello_digest(issued.nonce, self.box_id))
        welcome = await link.request(Hello(cert_pem=self.cert, nonce=issued.nonce, signature=sig))
        assert isinstance(welcome, Welcome)
        self._task = asyncio.get_running_loop().create_task(self._pump(link))
        await asyncio.sleep(0.05)  # the router hears of the connection after the welcome
        return welcome

    async def register(self, card: tuple[str, identity.PrivateKey, str]) -> Registered:
        assert self.link is not None
        card_id, key, cert = card
        issued = await self.link.request(NonceRequest(purpose=NoncePurpose.REGISTER))
        assert isinstance(issued, NonceIssued)
        sig = identity.sign_digest(key, signing.registration_digest(issued.nonce, self.box_id, card_id))
        r = await self.link.request(
            Register(card_cert_pem=cert, card_id=card_id, nonce=issued.nonce, signature=sig)
        )
        assert isinstance(r, Registered)
        return r

    async def _pump(self, link: LinkConnection) -> None:
        async for env in link:
            handler = self.auto.get(env.message.TYPE)
            if handler is not None and env.id is not None:
                reply = handler(env.message)
                if reply is not None:
                    await link.reply(env, reply)
                    continue
            self.incoming[env.message.TYPE].put_nowait(env)

    def _datagram(self, data: bytes) -> None:
        d = decode_datagram(data)
        self.media[d.flow_id].put_nowait(d.packet)

    async def next(self, mtype: str, timeout: float = 5.0) -> Envelope:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            return await self.incoming[mtype].get()

    async def request(self, msg: Message) -> Message:
        assert self.link is not None
        return await self.link.request(msg)

    async def reply(self, env: Envelope, msg: Message) -> None:
        assert self.link is not None
        await self.link.reply(env, msg)

    def send_media(self, flow_id: int, seq: int, payload: bytes, ssrc: int = 0x1234) -> None:
        assert self.link is not None
        self.link.send_datagram(encode_datagram(flow_id, RtpPacket(seq & 0xFFFF, seq * 160, ssrc, payload)))

    async def recv_media(self, flow_id: int, n: int, timeout: float = 5.0) -> list[RtpPacket]:  # noqa: ASYNC109
        out: list[RtpPacket] = []
        async with asyncio.timeout(timeout):
            while len(out) < n:
                out.append(await self.media[flow_id].get())
        return out

    def close(self) -> None:
        if self.link is not None:
            self.link.close()

    def vanish(self) -> None:
        """Lose the link without a word: the box's socket stops (no CONNECTION_CLOSE)."""
        assert self.link is not None
        proto = self.link._transport
        transport = getattr(proto, "udp_transport", None)
        assert transport is not None
        self.link.on_datagram = None
        transport.close()


def tone(seq: int) -> bytes:
    """A recognisable 160-byte frame for packet ``seq`` (content checks, not counts)."""
    return bytes((seq * 7 + i) % 256 for i in range(160))


def run(body: Callable[[Cloud], Awaitable[None]], tmp_path: Path, **kw: float) -> None:
    async def main() -> None:
        cloud = Cloud(tmp_path, **kw)
        await cloud.start()
        try:
            async with asyncio.timeout(60):
                await body(cloud)
        finally:
            await cloud.stop()

    asyncio.run(main())
