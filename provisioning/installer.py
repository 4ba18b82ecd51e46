"""The installer's credential (a key and an installer-role certificate from the Roamline CA) and what it
lets the installer's tool ask the registry: the enrolled boxes.

``roamline cloud installer issue --out DIR`` writes the credential directory: ``installer.key`` (0600),
``installer.pem``, ``ca.pem``. The tool proves it the way a box proves its own identity: a hello nonce,
a signature of ``hello_digest(nonce, installer id)`` with the key, the certificate (role installer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamline.provisioning.enroll import EnrollmentFailed, RegistryAddress
from roamline.provisioning.errors import UsageError
from roamline.wire import identity, messages, quic, signing
from roamline.wire.errors import BadBody, BadCertificate, LinkClosed, RemoteError, RequestTimeout


@dataclass(frozen=True, slots=True)
class InstallerCredential:
    installer_id: str
    key: identity.PrivateKey
    cert_pem: str
    ca_pem: bytes


def load_credential(directory: Path, now: float | None = None) -> InstallerCredential:
    """Read and check a credential directory (UsageError with the first thing wrong)."""
    try:
        key_pem = (directory / "installer.key").read_bytes()
        cert_pem = (directory / "installer.pem").read_text(encoding="ascii")
        ca_pem = (directory / "ca.pem").read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{directory}: not an installer credential ({exc})") from None
    try:
        key = identity.load_private_key_pem(key_pem)
        ca = identity.load_certificate(ca_pem)
        ident = identity.verify_certificate(cert_pem, ca, now=time.time() if now is None else now,
                                            role=identity.Role.INSTALLER)
    except (BadCertificate, ValueError) as exc:
        raise UsageError(f"{directory}: installer credential: {exc}") from None
    if identity.public_key_der(ident.public_key) != identity.public_key_der(key.public_key()):
        raise UsageError(f"{directory}: installer.pem is not the certificate of installer.key")
    return InstallerCredential(ident.id, key, cert_pem, ca_pem)


async def list_boxes(address: RegistryAddress, cred: InstallerCredential, *, limit: int = 500,
                     timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
    """Prove the credential to the registry and return its enrolled boxes (newest first)."""
    try:
        link = await quic.connect(address.host, address.port, ca_pem=cred.ca_pem,
                                  server_name=address.server_name, connect_timeout_s=timeout,
                                  keepalive_s=None)
    except LinkClosed as exc:
        raise EnrollmentFailed(f"registry {address.host}:{address.port}: {exc}") from None
    try:
        ask = messages.NonceRequest(purpose=messages.NoncePurpose.HELLO)
        issued = messages.expect(await link.request(ask, timeout=timeout), messages.NonceIssued)
        signature = identity.sign_digest(cred.key, signing.hello_digest(issued.nonce, cred.installer_id))
        hello = messages.Hello(cert_pem=cred.cert_pem, nonce=issued.nonce, signature=signature,
                               software="roamline-provision")
        messages.expect(await link.request(hello, timeout=timeout), messages.Welcome)
        listed = messages.expect(await link.request(messages.BoxList(limit=limit), timeout=timeout),
                                 messages.BoxListed)
    except RemoteError as exc:
        raise EnrollmentFailed(f"registry: {exc}") from None
    except (RequestTimeout, LinkClosed, BadBody) as exc:
        raise EnrollmentFailed(f"box list: {exc}") from None
    finally:
        link.close(reason="box list done")
    return list(listed.boxes)
