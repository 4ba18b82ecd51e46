"""Throwaway card issuance for tests and the demo: a test CA and card files made directly with
`cryptography` (production issuance goes through the registry's CA, see wire/identity)."""

from __future__ import annotations

import datetime as dt
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from roamline.provisioning.cardfile import CardFile, ChuidFields, PinFields, SlotKey, cert_pem, key_pem

# A syntactically plausible 25-byte FASC-N (agency 9999, system 9999, credential 999999, BCD + parity).
TEST_FASC_N = "d4e739da739ced39ce739d836858210842108421c84210c3eb"


class TestCa:
    """An EC P-256 self-signed CA that issues card certificates (CN = card id)."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "Roamline Test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, public_key: ec.EllipticCurvePublicKey, common_name: str, unit: str) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def make_cardfile(
        self,
        guid: str | None = None,
        *,
        with_9a: bool = True,
        pin: str = "123456",
        pin_retries: int = 3,
        big_cert: bool = False,
    ) -> CardFile:
        """A fresh card: random GUID unless given; ``big_cert`` pads the 9E certificate past 1 kB so its
        GET DATA answer needs several GET RESPONSEs."""
        guid = guid or os.urandom(16).hex()
        slots = {}
        for slot, unit in (("9e", "card"), ("9a", "card-piv-auth")):
            if slot == "9a" and not with_9a:
                continue
            key = ec.generate_private_key(ec.SECP256R1())
            cert = self._issue_padded(key.public_key(), guid, unit, 1500 if big_cert and slot == "9e" else 0)
            slots[slot] = SlotKey(key_pem=key_pem(key), cert_pem=cert_pem(cert))
        return CardFile(
            chuid=ChuidFields(fasc_n=TEST_FASC_N, guid=guid, expiry="20991231"),
            slot_9e=slots["9e"],
            slot_9a=slots.get("9a"),
            pin=PinFields(pin=pin, pin_retries=pin_retries),
        )

    def _issue_padded(
        self, public_key: ec.EllipticCurvePublicKey, guid: str, unit: str, pad: int
    ) -> x509.Certificate:
        if not pad:
            return self.issue(public_key, guid, unit)
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, guid)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"p{i:04d}.example") for i in range(pad // 14)]),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
