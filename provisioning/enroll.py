"""Box enrollment: make the box's key and CSR, have the registry certify it, write the box's files.

The installer's tool talks to the registry over the link protocol with a one-time installer token as its
only credential (``enroll`` is accepted before hello). The registry is verified by TLS against the CA
file the installer brought (pinned), and the certificate that comes back is checked too: issued by that
CA, role box, for our key. Output directory::

    box.key    the box's private key (0600)
    box.pem    its certificate from the Roamline CA
    ca.pem     the Roamline CA (the box pins it for the registry)
    box.toml   the box configuration (roamline.firmware.config.BoxConfig), paths relative to it
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from roamline.firmware.config import BoxConfig, IdentityConfig, RegistryConfig, load_box_config
from roamline.provisioning.errors import PeerError, UsageError
from roamline.wire import identity, quic
from roamline.wire.config import dump
from roamline.wire.errors import BadCertificate, LinkClosed, RemoteError, RequestTimeout
from roamline.wire.messages import Enroll, Enrolled, EnrollKind

log = logging.getLogger(__name__)

DEFAULT_SERVER_NAME = "registry.roamline"
ENROLLMENT_RECORD = "enrollment.json"


class EnrollmentFailed(PeerError):
    """The registry refused the enrollment, could not be reached, or answered something unusable."""


@dataclass(frozen=True, slots=True)
class RegistryAddress:
    host: str
    port: int
    server_name: str = DEFAULT_SERVER_NAME


def parse_registry(text: str, server_name: str | None = None) -> RegistryAddress:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6 literals) into a RegistryAddress."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"registry {text!r} is not HOST:PORT")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return RegistryAddress(host, int(port_text), server_name or DEFAULT_SERVER_NAME)


def read_ca(path: Path) -> bytes:
    try:
        pem = path.read_bytes()
        identity.load_certificate(pem)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the CA certificate: {exc.strerror}") from None
    except BadCertificate as exc:
        raise UsageError(f"{path}: not a certificate: {exc}") from None
    return pem


async def enroll_over_link(address: RegistryAddress, ca_pem: bytes, request: Enroll,
                           timeout: float = 10.0) -> Enrolled:  # noqa: ASYNC109
    """Send one ``enroll`` request and return the registry's ``enrolled`` reply."""
    try:
        link = await quic.connect(address.host, address.port, ca_pem=ca_pem, server_name=address.server_name,
                                  connect_timeout_s=timeout, keepalive_s=None)
    except LinkClosed as exc:
        raise EnrollmentFailed(f"registry {address.host}:{address.port}: {exc}") from None
    try:
        reply = await link.request(request, timeout=timeout)
    except RemoteError as exc:
        raise EnrollmentFailed(f"registry: {exc}") from None
    except (RequestTimeout, LinkClosed) as exc:
        raise EnrollmentFailed(f"enrollment: {exc}") from None
    finally:
        link.close(reason="enrollment done")
    if not isinstance(reply, Enrolled):
        raise EnrollmentFailed(f"registry answered {reply.TYPE}, not enrolled")
    return reply


def check_issued(enrolled: Enrolled, ca_pem: bytes, role: identity.Role, public_key: identity.PublicKey,
                 now: float) -> identity.VerifiedIdentity:
    """The returned certificate is from our pinned CA, in ``role``, and for ``key``."""
    ca_cert = identity.load_certificate(ca_pem)
    if identity.load_certificate(enrolled.ca_cert_pem) != ca_cert:
        raise EnrollmentFailed("registry's CA is not the CA file given (--ca)")
    try:
        ident = identity.verify_certificate(enrolled.cert_pem, ca_cert, now=now, role=role)
    except BadCertificate as exc:
        raise EnrollmentFailed(f"issued certificate: {exc}") from None
    if identity.public_key_der(ident.public_key) != identity.public_key_der(public_key):
        raise EnrollmentFailed("issued certificate is not for our key")
    if ident.id != enrolled.id:
        raise EnrollmentFailed(f"issued certificate names {ident.id}, registry said {enrolled.id}")
    return ident


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_box_bundle(out: Path, *, key: identity.PrivateKey, enrolled: Enrolled, ca_pem: bytes,
                     address: RegistryAddress, box_name: str, board: str,
                     details: dict[str, Any] | None = None) -> Path:
    """Write key, certificate, CA and box.toml into ``out``; returns the config path (validated).
    ``enrollment.json`` records what the registry was told (box id, name, board, line number, address,
    emergency contacts) for the box's label (``provision box label``); it does not go on the card.

    The files are written into a fresh folder inside ``out`` and checked there, then renamed into place
    (box.toml last): a failure part-way leaves no half bundle, and ``out`` is removed if it was made here.
    """
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".enroll-", dir=out))
    try:
        _write_private(stage / "box.key", identity.private_key_pem(key))
        (stage / "box.pem").write_text(enrolled.cert_pem, encoding="ascii")
        (stage / "ca.pem").write_bytes(ca_pem)
        config = BoxConfig(
            name=box_name, board=board, data_dir=Path("data"),
            registry=RegistryConfig(host=address.host, port=address.port, server_name=address.server_name,
                                    ca=Path("ca.pem")),
            identity=IdentityConfig(cert=Path("box.pem"), key=Path("box.key")),
        )
        data: dict[str, Any] = dump(config, exclude_none=True)  # TOML has no null
        # what 911 and 933 need with no cloud: the recorded address, the line's own number and who is told
        recorded = details or {}
        if recorded.get("location"):
            data["location"] = {**data.get("location", {}), "addresses": [recorded["location"]]}
        if recorded.get("emergency_contacts"):
            data["location"] = {**data.get("location", {}),
                                "emergency_contacts": list(recorded["emergency_contacts"])}
        if recorded.get("line_number"):
            data["line"] = {**data.get("line", {}), "number": str(recorded["line_number"])}
        (stage / "box.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
        load_box_config(stage / "box.toml")  # what we wrote must load
        record = {"box_id": enrolled.id, "name": box_name, "board": board, **(details or {})}
        (stage / ENROLLMENT_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n",
                                               encoding="utf-8")
        for name in (ENROLLMENT_RECORD, "box.key", "box.pem", "ca.pem", "box.toml"):
            (stage / name).replace(out / name)
    except BaseException:
        shutil.rmtree(out if made else stage, ignore_errors=True)
        raise
    stage.rmdir()
    return out / "box.toml"


async def enroll_box(address: RegistryAddress, ca_pem: bytes, token: str, out: Path, *,
                     box_name: str, board: str = "sim", details: dict[str, Any] | None = None,
                     timeout: float = 10.0) -> tuple[str, Path]:  # noqa: ASYNC109
    """The whole box enrollment: (box id, box.toml path)."""
    if (out / "box.key").exists():
        raise UsageError(f"{out}: already holds a box key (refusing to overwrite an identity)")
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    csr = identity.make_csr(key, box_id).decode("ascii")
    body = {"name": box_name, "board": board, **(details or {})}
    enrolled = await enroll_over_link(address, ca_pem, Enroll(token=token, csr_pem=csr, kind=EnrollKind.BOX,
                                                               box=body), timeout)
    ident = check_issued(enrolled, ca_pem, identity.Role.BOX, key.public_key(), time.time())
    path = write_box_bundle(out, key=key, enrolled=enrolled, ca_pem=ca_pem, address=address,
                            box_name=box_name, board=board, details=body)
    log.info("box-enrolled", extra={"fields": {"box": ident.id, "out": str(out)}})
    return ident.id, path
