"""A tiny registry-like link handler for the QUIC tests (nonce → hello → welcome, echo-ish replies)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from roamline.wire.errors import ErrorCode, LinkError
from roamline.wire.identity import CertificateAuthority, Role, box_id_for_key, certificate_pem, generate_key
from roamline.wire.identity import verify_certificate as verify_cert
from roamline.wire.link import LinkConnection
from roamline.wire.messages import (
    Ack,
    Deliver,
    Deregister,
    Hello,
    HolderProfile,
    NonceIssued,
    NonceRequest,
    Ok,
    Refresh,
    Superseded,
    Welcome,
)
from roamline.wire.signing import verify_hello


@dataclass
class Pki:
    ca: CertificateAuthority
    tls_cert: bytes
    tls_key: bytes
    box_key: object
    box_cert: bytes
    box_id: str

    @classmethod
    def make(cls) -> Pki:
        now = time.time()  # aioquic checks TLS validity against the real clock
        ca = CertificateAuthority.create(now=now)
        cert, key = ca.issue_registry_tls(dns_name="localhost", now=now)
        box_key = generate_key()
        box_id = box_id_for_key(box_key.public_key())
        box_cert = certificate_pem(
            ca.issue(role=Role.BOX, subject_id=box_id, public_key=box_key.public_key(), now=now)
        )
        return cls(ca, cert, key, box_key, box_cert, box_id)


@dataclass
class EchoRegistry:
    pki: Pki
    seen: list[str] = field(default_factory=list)
    links: list[LinkConnection] = field(default_factory=list)

    async def __call__(self, link: LinkConnection) -> None:
        self.links.append(link)
        link.on_datagram = link.send_datagram  # datagram echo
        nonce: bytes | None = None
        async for env in link:
            msg = env.message
            self.seen.append(msg.TYPE)
            try:
                if isinstance(msg, NonceRequest):
                    nonce = os.urandom(32)
                    await link.reply(env, NonceIssued(nonce=nonce, expires_in=30.0, purpose=msg.purpose))
                elif isinstance(msg, Hello):
                    ident = verify_cert(msg.cert_pem, self.pki.ca.certificate, now=time.time(), role=Role.BOX)
                    if nonce is None or msg.nonce != nonce:
                        raise LinkError("nonce was not issued on this connection", ErrorCode.STALE_NONCE)
                    verify_hello(ident.public_key, msg.signature, nonce=nonce, box_id=ident.id)
                    nonce = None
                    link.mark_authenticated(ident.id)
                    welcome = Welcome(box_id=ident.id, server_time=time.time(), lease_s=120, keepalive_s=15)
                    await link.reply(env, welcome)
                elif isinstance(msg, Deregister):
                    await link.reply(env, Ok())
                elif isinstance(msg, Deliver):
                    await link.reply(env, Ack(keys=(msg.key,)))
                    await link.send(Superseded(card_id="c" * 32, registration_id="r9", at=time.time()))
                elif isinstance(msg, HolderProfile):
                    await link.send(msg)  # push it back
                elif isinstance(msg, Refresh):
                    pass  # never answered: lets the client time out
            except LinkError as exc:
                await link.reply_error(env, exc)
