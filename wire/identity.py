"""Identity crypto: the Roamline CA, certificates by role, chain checks, ECDSA P-256 over digests, tokens.

Certificate profile (docs/protocol.md §Certificates): subject ``O=Roamline, OU=<role>, CN=<id>``, where
role is ``box``, ``card``, ``registry`` or ``installer``; ids are ``box-`` + 16 hex digits for boxes
(derived from the key, :func:`box_id_for_key`), the CHUID GUID as 32 lowercase hex digits for cards, the
DNS name for the registry. Leaf certificates are issued directly by the CA (no intermediates in v1),
are not CAs, have keyUsage digitalSignature and an extendedKeyUsage (serverAuth for the registry,
clientAuth for the others). Every key is ECDSA P-256. ``now`` is wall-clock seconds since the epoch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from roamline.wire.errors import BadCertificate, BadSignature, UsageError

ORGANIZATION = "Roamline"
CLOCK_SKEW_S = 300.0
"""Certificates are issued valid from this many seconds before ``now`` (clock differences)."""

BOX_ID_RE = re.compile(r"box-[0-9a-f]{16}")
CARD_ID_RE = re.compile(r"[0-9a-f]{32}")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_INSTALLER_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


class Role(StrEnum):
    BOX = "box"
    CARD = "card"
    REGISTRY = "registry"
    INSTALLER = "installer"


def _valid_id(role: Role, subject_id: str) -> bool:
    pattern = {
        Role.BOX: BOX_ID_RE,
        Role.CARD: CARD_ID_RE,
        Role.REGISTRY: _DNS_RE,
        Role.INSTALLER: _INSTALLER_RE,
    }[role]
    return pattern.fullmatch(subject_id) is not None


def _time(now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, dt.UTC)


# --- keys ------------------------------------------------------------------------------------------


def generate_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_pem(data: bytes | str) -> PrivateKey:
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UsageError("private key is not ECDSA P-256")
    return key


def public_key_der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def box_id_for_key(key: PublicKey) -> str:
    """A box's id: ``box-`` and the first 8 bytes of SHA-256 over its SubjectPublicKeyInfo, in hex."""
    return "box-" + hashlib.sha256(public_key_der(key)).digest()[:8].hex()


# --- certificates ----------------------------------------------------------------------------------


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_certificates(pem: bytes | str) -> list[x509.Certificate]:
    """All certificates in a PEM text (leaf first); BadCertificate if none or unparseable."""
    raw = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise BadCertificate(f"certificate PEM does not parse: {exc}") from None
    if not certs:
        raise BadCertificate("no certificate in PEM")
    return certs


def load_certificate(pem: bytes | str) -> x509.Certificate:
    return load_certificates(pem)[0]


def make_csr(key: PrivateKey, common_name: str) -> bytes:
    """A PEM certificate signing request for ``key`` (the CA decides the subject; CN is a hint)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(pem: bytes | str) -> x509.CertificateSigningRequest:
    """Parse a CSR and check its self-signature and key type; BadCertificate otherwise."""
    raw = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        csr = x509.load_pem_x509_csr(raw)
    except ValueError as exc:
        raise BadCertificate(f"CSR does not parse: {exc}") from None
    if not csr.is_signature_valid:
        raise BadCertificate("CSR signature is not valid")
    _require_p256(csr.public_key(), "CSR")
    return csr


def _require_p256(key: object, what: str) -> PublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadCertificate(f"{what} key is not ECDSA P-256")
    return key


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """The Roamline CA: a self-signed ECDSA P-256 certificate and its key (kept by the registry)."""

    certificate: x509.Certificate
    key: PrivateKey

    @classmethod
    def create(cls, *, now: float, days: int = 3650, name: str = "Roamline CA") -> CertificateAuthority:
        key = generate_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_time(now - CLOCK_SKEW_S))
            .not_valid_after(_time(now + days * 86400.0))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def from_pem(cls, cert_pem: bytes | str, key_pem: bytes | str) -> CertificateAuthority:
        try:
            cert = load_certificate(cert_pem)
        except BadCertificate as exc:
            raise UsageError(f"CA certificate: {exc}") from None
        key = load_private_key_pem(key_pem)
        if public_key_der(key.public_key()) != cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise UsageError("CA key does not match the CA certificate")
        return cls(cert, key)

    @classmethod
    def load(cls, directory: str | Path) -> CertificateAuthority:
        """Read ``ca.pem`` and ``ca.key`` from ``directory``."""
        d = Path(directory)
        try:
            return cls.from_pem((d / "ca.pem").read_bytes(), (d / "ca.key").read_bytes())
        except FileNotFoundError as exc:
            raise UsageError(f"CA file missing: {exc.filename}") from None

    def save(self, directory: str | Path) -> None:
        """Write ``ca.pem`` and ``ca.key`` (mode 0600) into ``directory`` (created if needed)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "ca.pem").write_bytes(self.cert_pem)
        fd = os.open(d / "ca.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_key_pem(self.key))

    @property
    def cert_pem(self) -> bytes:
        return certificate_pem(self.certificate)

    def issue(
        self,
        *,
        role: Role,
        subject_id: str,
        public_key: PublicKey,
        now: float,
        days: int = 825,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
    ) -> x509.Certificate:
        """A leaf certificate for ``public_key`` in ``role`` named ``subject_id`` (validated per role)."""
        if not _valid_id(role, subject_id):
            raise UsageError(f"{subject_id!r} is not a valid {role} id")
        _require_p256(public_key, "subject")
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.value),
                x509.NameAttribute(NameOID.COMMON_NAME, subject_id),
            ]
        )
        eku = ExtendedKeyUsageOID.SERVER_AUTH if role is Role.REGISTRY else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(_time(now - CLOCK_SKEW_S))
            .not_valid_after(_time(now + days * 86400.0))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_for_csr(
        self, csr_pem: bytes | str, *, role: Role, subject_id: str, now: float, days: int = 825
    ) -> x509.Certificate:
        """Check the CSR (BadCertificate if bad) and certify its key; the CSR's own subject is ignored."""
        csr = load_csr(csr_pem)
        key = _require_p256(csr.public_key(), "CSR")
        return self.issue(role=role, subject_id=subject_id, public_key=key, now=now, days=days)

    def issue_registry_tls(
        self, *, dns_name: str = "localhost", now: float, ip_addresses: Sequence[str] = ("127.0.0.1", "::1")
    ) -> tuple[bytes, bytes]:
        """A fresh key and registry TLS certificate: (cert PEM, key PEM)."""
        key = generate_key()
        cert = self.issue(
            role=Role.REGISTRY,
            subject_id=dns_name,
            public_key=key.public_key(),
            now=now,
            dns_names=(dns_name,),
            ip_addresses=ip_addresses,
        )
        return certificate_pem(cert), private_key_pem(key)


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """What a verified certificate proves."""

    role: Role
    id: str
    public_key: PublicKey
    certificate: x509.Certificate
    fingerprint: str  # SHA-256 of the certificate DER, hex
    serial: int
    not_after: float


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        return None
    value = values[0].value
    return value if isinstance(value, str) else None


def verify_certificate(
    chain_pem: bytes | str, ca_certificate: x509.Certificate, *, now: float, role: Role
) -> VerifiedIdentity:
    """Check a leaf certificate (PEM, leaf first) against the pinned CA at ``now`` for ``role``.

    Further certificates after the leaf are allowed only if they are the CA certificate itself.
    Raises BadCertificate with a one-line reason on any failure.
    """
    certs = load_certificates(chain_pem)
    leaf = certs[0]
    for extra in certs[1:]:
        if extra != ca_certificate:
            raise BadCertificate("chain holds a certificate other than the leaf and the Roamline CA")
    try:  # compares issuer and CA subject (in Rust: no Python Name objects), then the signature
        leaf.verify_directly_issued_by(ca_certificate)
    except ValueError as exc:
        if "subject does not match" in str(exc):  # the wording may change: then only the reason does
            raise BadCertificate("certificate is not issued by the Roamline CA") from None
        raise BadCertificate("certificate signature does not verify against the Roamline CA") from None
    except (TypeError, InvalidSignature):
        raise BadCertificate("certificate signature does not verify against the Roamline CA") from None
    t = _time(now)
    for what, cert in (("CA certificate", ca_certificate), ("certificate", leaf)):
        if not cert.not_valid_before_utc <= t <= cert.not_valid_after_utc:
            raise BadCertificate(f"{what} is not valid at {t.isoformat()}")
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is not None and bc.ca:
        raise BadCertificate("a CA certificate cannot be a leaf")
    if _attr(leaf.subject, NameOID.ORGANIZATION_NAME) != ORGANIZATION:
        raise BadCertificate("certificate subject is not a Roamline identity")
    ou = _attr(leaf.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    if ou != role.value:
        raise BadCertificate(f"certificate role is {ou!r}, expected {role.value!r}")
    cn = _attr(leaf.subject, NameOID.COMMON_NAME)
    if cn is None or not _valid_id(role, cn):
        raise BadCertificate(f"certificate CN {cn!r} is not a valid {role.value} id")
    key = _require_p256(leaf.public_key(), "certificate")
    if role is Role.BOX and box_id_for_key(key) != cn:
        raise BadCertificate("box id does not match the certificate key")
    return VerifiedIdentity(
        role=role,
        id=cn,
        public_key=key,
        certificate=leaf,
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        serial=leaf.serial_number,
        not_after=leaf.not_valid_after_utc.timestamp(),
    )


# --- signatures over 32-byte digests ---------------------------------------------------------------


def _check_digest(digest: bytes) -> None:
    if len(digest) != 32:
        raise UsageError(f"digest must be 32 bytes (SHA-256), got {len(digest)}")


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """ECDSA P-256 over a SHA-256 digest, DER-encoded, as a PIV card's GENERAL AUTHENTICATE returns it."""
    _check_digest(digest)
    return key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def verify_digest(public_key: PublicKey, signature: bytes, digest: bytes) -> None:
    """Raise BadSignature unless ``signature`` (DER) is ``public_key``'s signature of ``digest``."""
    _check_digest(digest)
    try:
        public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        raise BadSignature("signature does not verify") from None


# --- one-time installer tokens ---------------------------------------------------------------------

TOKEN_PREFIX = "rlt_"


def new_installer_token() -> str:
    """A fresh random installer token to hand to a person once; store only token_hash() of it."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the registry stores for a token: SHA-256 hex of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

