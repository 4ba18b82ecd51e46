from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from roamline.wire.errors import BadCertificate, BadSignature, UsageError
from roamline.wire.identity import (
    CertificateAuthority,
    Role,
    box_id_for_key,
    certificate_pem,
    generate_key,
    load_csr,
    make_csr,
    new_installer_token,
    private_key_pem,
    sign_digest,
    token_hash,
    verify_certificate,
    verify_digest,
)

from .conftest import NOW

CARD_ID = "00112233445566778899aabbccddeeff"


def _box(
    ca: CertificateAuthority, now: float = NOW, days: int = 825
) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = generate_key()
    box_id = box_id_for_key(key.public_key())
    cert = ca.issue_for_csr(make_csr(key, "anything"), role=Role.BOX, subject_id=box_id, now=now, days=days)
    return key, certificate_pem(cert)


def test_box_certificate_verifies(ca: CertificateAuthority) -> None:
    key, pem = _box(ca)
    ident = verify_certificate(pem, ca.certificate, now=NOW + 10, role=Role.BOX)
    assert ident.role is Role.BOX
    assert ident.id == box_id_for_key(key.public_key())
    assert ident.id.startswith("box-") and len(ident.id) == 20
    assert ident.public_key.public_numbers() == key.public_key().public_numbers()
    assert len(ident.fingerprint) == 64


def test_card_certificate_and_role_mismatch(ca: CertificateAuthority) -> None:
    key = generate_key()
    pem = certificate_pem(ca.issue(role=Role.CARD, subject_id=CARD_ID, public_key=key.public_key(), now=NOW))
    assert verify_certificate(pem, ca.certificate, now=NOW, role=Role.CARD).id == CARD_ID
    with pytest.raises(BadCertificate, match="role is 'card'"):
        verify_certificate(pem, ca.certificate, now=NOW, role=Role.BOX)


def test_chain_may_carry_the_ca_but_nothing_else(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    _, pem = _box(ca)
    verify_certificate(pem + ca.cert_pem, ca.certificate, now=NOW, role=Role.BOX)
    with pytest.raises(BadCertificate, match="other than"):
        verify_certificate(pem + other_ca.cert_pem, ca.certificate, now=NOW, role=Role.BOX)


def test_foreign_ca_is_refused(ca: CertificateAuthority, other_ca: CertificateAuthority) -> None:
    _, pem = _box(other_ca)
    with pytest.raises(BadCertificate):
        verify_certificate(pem, ca.certificate, now=NOW, role=Role.BOX)


def test_same_name_different_key_ca_is_refused(ca: CertificateAuthority) -> None:
    impostor = CertificateAuthority.create(now=NOW)  # same subject "Roamline CA", another key
    _, pem = _box(impostor)
    with pytest.raises(BadCertificate, match="signature"):
        verify_certificate(pem, ca.certificate, now=NOW, role=Role.BOX)


def test_validity_period(ca: CertificateAuthority) -> None:
    _, pem = _box(ca, days=1)
    with pytest.raises(BadCertificate, match="not valid"):
        verify_certificate(pem, ca.certificate, now=NOW + 2 * 86400, role=Role.BOX)
    with pytest.raises(BadCertificate, match="not valid"):
        verify_certificate(pem, ca.certificate, now=NOW - 3600, role=Role.BOX)


def test_box_id_must_match_key(ca: CertificateAuthority) -> None:
    key = generate_key()
    other = box_id_for_key(generate_key().public_key())
    pem = certificate_pem(ca.issue(role=Role.BOX, subject_id=other, public_key=key.public_key(), now=NOW))
    with pytest.raises(BadCertificate, match="box id"):
        verify_certificate(pem, ca.certificate, now=NOW, role=Role.BOX)


@pytest.mark.parametrize(
    "junk", [b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_garbage_pem_is_bad_certificate(ca: CertificateAuthority, junk: bytes) -> None:
    with pytest.raises(BadCertificate):
        verify_certificate(junk, ca.certificate, now=NOW, role=Role.BOX)


def test_ca_itself_is_not_a_leaf(ca: CertificateAuthority) -> None:
    with pytest.raises(BadCertificate):
        verify_certificate(ca.cert_pem, ca.certificate, now=NOW, role=Role.BOX)


def test_issue_validates_ids(ca: CertificateAuthority) -> None:
    pub = generate_key().public_key()
    for role, bad in [
        (Role.BOX, "box-XYZ"),
        (Role.CARD, "0011"),
        (Role.REGISTRY, "-bad-"),
        (Role.CARD, CARD_ID.upper()),
    ]:
        with pytest.raises(UsageError):
            ca.issue(role=role, subject_id=bad, public_key=pub, now=NOW)


def test_registry_tls_certificate(ca: CertificateAuthority) -> None:
    cert_pem, key_pem = ca.issue_registry_tls(dns_name="localhost", now=NOW)
    ident = verify_certificate(cert_pem, ca.certificate, now=NOW, role=Role.REGISTRY)
    san = ident.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert b"PRIVATE KEY" in key_pem


def test_ca_save_load(ca: CertificateAuthority, tmp_path: Path) -> None:
    ca.save(tmp_path / "ca")
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    loaded = CertificateAuthority.load(tmp_path / "ca")
    assert loaded.certificate == ca.certificate
    _, pem = _box(loaded)
    verify_certificate(pem, ca.certificate, now=NOW, role=Role.BOX)
    with pytest.raises(UsageError, match="missing"):
        CertificateAuthority.load(tmp_path / "nope")
    with pytest.raises(UsageError, match="does not match"):
        CertificateAuthority.from_pem(ca.cert_pem, private_key_pem(generate_key()))


def test_csr_checks() -> None:
    key = generate_key()
    csr = make_csr(key, "x")
    assert load_csr(csr).is_signature_valid
    with pytest.raises(BadCertificate):
        load_csr(b"not a csr")


def test_sign_and_verify_digest() -> None:
    key = generate_key()
    digest = bytes(range(32))
    sig = sign_digest(key, digest)
    assert sig[0] == 0x30  # DER SEQUENCE, as a PIV card returns it
    verify_digest(key.public_key(), sig, digest)
    with pytest.raises(BadSignature):
        verify_digest(key.public_key(), sig, bytes(32))
    with pytest.raises(BadSignature):
        verify_digest(key.public_key(), b"\x30\x02garbage", digest)
    with pytest.raises(BadSignature):
        verify_digest(key.public_key(), sig[:-1] + bytes([sig[-1] ^ 1]), digest)
    with pytest.raises(UsageError):
        sign_digest(key, b"short")


def test_installer_tokens() -> None:
    a, b = new_installer_token(), new_installer_token()
    assert a != b and len(a) > 40
    h = token_hash(a)
    assert a not in h and len(h) == 64
    assert token_hash(a) == h and token_hash(b) != h
