"""Shared fixtures for the cloud tests: a registry on a temp store, a CA, boxes and cards enrolled by it."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from roamline.cloud.registry import Outgoing, Registry, RegistryConfig
from roamline.cloud.store import SqliteStore, Token
from roamline.wire import identity, signing
from roamline.wire.clock import ManualClock
from roamline.wire.messages import (
    Enroll,
    Enrolled,
    EnrollKind,
    Envelope,
    Hello,
    Message,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Register,
)


def snapshot_for(box_id: str) -> dict[str, object]:
    """A box's location snapshot (wire.location) whose road names the box, so tests can tell boxes apart."""
    return {"civic": {"country": "US", "A1": "IL", "A3": "Springfield", "RD": f"Road {box_id}", "HNO": "1"},
            "method": "installer", "state": "confirmed",
            "geo": {"lat": 39.78, "lon": -89.65, "error_m": 5.0, "mode": 3, "satellites": 8, "at": 1.8e9},
            "network": {"public": "192.0.2.7", "gateway": "192.168.1.1"}}


@dataclass
class BoxKit:
    key: identity.PrivateKey
    box_id: str
    cert_pem: str


@dataclass
class CardKit:
    key: identity.PrivateKey
    card_id: str
    cert_pem: str


class Harness:
    """Drives a Registry by hand on a virtual clock, with the crypto a real box and card would do."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = ManualClock()
        self.ca = identity.CertificateAuthority.create(now=self.now)
        self.config = RegistryConfig(lease_s=60.0, nonce_ttl_s=30.0)
        self.store = SqliteStore(root / "registry.db")
        self.store.open()
        self.registry = Registry(self.store, self.ca, self.config)
        self._ids = itertools.count(1)
        self._open: set[str] = set()

    @property
    def now(self) -> float:
        return self.clock.wall()

    def reopen(self) -> None:
        """A registry restart: new store handle and core on the same file; connections are gone."""
        self.store.close()
        self.store = SqliteStore(self.root / "registry.db")
        self.store.open()
        self.registry = Registry(self.store, self.ca, self.config)
        self._open.clear()

    def connect(self, conn: str) -> None:
        self.registry.connection_opened(conn, self.now)
        self._open.add(conn)

    def send(self, conn: str, msg: Message) -> tuple[Message, list[Outgoing]]:
        """Send a request; (its reply, every other outgoing item)."""
        if conn not in self._open:
            self.connect(conn)
        rid = str(next(self._ids))
        out = self.registry.handle(conn, Envelope(message=msg, id=rid), self.now)
        replies = [o for o in out if o.re == rid]
        assert len(replies) == 1, out
        assert replies[0].conn_id == conn
        return replies[0].message, [o for o in out if o.re != rid]

    def reply(self, conn: str, msg: Message) -> Message:
        return self.send(conn, msg)[0]

    def nonce(self, conn: str, purpose: NoncePurpose) -> bytes:
        r = self.reply(conn, NonceRequest(purpose=purpose))
        assert isinstance(r, NonceIssued), r
        return r.nonce

    def token(self, kind: str = "any", ttl: float = 3600.0) -> str:
        tok = identity.new_installer_token()
        self.store.add_token(Token(identity.token_hash(tok), kind, self.now + ttl, False))
        return tok

    def account(self, name: str, *numbers: str) -> str:
        account_id = f"acct-{name.lower()}"
        self.store.create_account(account_id, name, self.now)
        for n in numbers:
            self.store.add_number(account_id, n)
        return account_id

    def enroll_box(self, name: str = "box") -> BoxKit:
        key = identity.generate_key()
        csr = identity.make_csr(key, name).decode()
        r = self.reply(f"enroll-{name}", Enroll(token=self.token("box"), csr_pem=csr, kind=EnrollKind.BOX,
                                                box={"name": name, "board": "sim"}))
        assert isinstance(r, Enrolled), r
        return BoxKit(key, r.id, r.cert_pem)

    def enroll_card(self, account_id: str) -> CardKit:
        key = identity.generate_key()
        card_id = secrets.token_hex(16)
        csr = identity.make_csr(key, card_id).decode()
        r = self.reply("enroll-card", Enroll(token=self.token("card"), csr_pem=csr, kind=EnrollKind.CARD,
                                             account=account_id, card_id=card_id))
        assert isinstance(r, Enrolled), r
        return CardKit(key, card_id, r.cert_pem)

    def hello_msg(self, conn: str, box: BoxKit, key: identity.PrivateKey | None = None) -> Hello:
        nonce = self.nonce(conn, NoncePurpose.HELLO)
        sig = identity.sign_digest(key or box.key, signing.hello_digest(nonce, box.box_id))
        return Hello(cert_pem=box.cert_pem, nonce=nonce, signature=sig)

    def hello(self, conn: str, box: BoxKit) -> Message:
        return self.reply(conn, self.hello_msg(conn, box))

    def register_msg(self, conn: str, box: BoxKit, card: CardKit, nonce: bytes | None = None,
                     key: identity.PrivateKey | None = None) -> Register:
        nonce = nonce if nonce is not None else self.nonce(conn, NoncePurpose.REGISTER)
        digest = signing.registration_digest(nonce, box.box_id, card.card_id)
        sig = identity.sign_digest(key or card.key, digest)
        return Register(card_cert_pem=card.cert_pem, card_id=card.card_id, nonce=nonce, signature=sig,
                        location=snapshot_for(box.box_id))


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.store.close()
