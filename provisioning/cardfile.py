"""The virtual card file: everything a (virtual) PIV card holds, as TOML.

Layout::

    [chuid]
    fasc_n = "d4e739da739ced39ce739d836858210842108421c84210c3eb"   # hex, 25 bytes (SP 800-73 FASC-N)
    guid = "0123456789abcdef0123456789abcdef"                       # 16 bytes hex: the card id
    expiry = "20301231"                                             # YYYYMMDD

    [slot_9e]            # Card Authentication key (no PIN), EC P-256
    key_pem = "-----BEGIN PRIVATE KEY-----..."
    cert_pem = "-----BEGIN CERTIFICATE-----..."

    [slot_9a]            # optional PIV Authentication key (PIN once per insertion)
    ...

    [pin]
    pin = "123456"       # 6–8 digits
    puk = "12345678"     # 8 digits
    pin_retries = 3      # tries left (and the reset value after a PUK unblock)
    puk_retries = 3

    [admin]              # optional: the card management key (9B); the factory 3DES key by default
    alg = "3des"         # 3des, aes128, aes192 or aes256 (SP 800-78-4)
    key = "010203040506070801020304050607080102030405060708"

The card id used everywhere in Roamline is the GUID as 32 lowercase hex digits (``CardFile.card_id``).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AfterValidator, Field, model_validator

from roamline.provisioning.errors import UsageError
from roamline.wire.config import ConfigError, load_toml
from roamline.wire.pydantic_config import Frozen

# SP 800-73-4 FASC-N is 25 bytes; we also accept any 1..32 bytes so test cards may use short ones.
_HEX = re.compile(r"^(?:[0-9a-f]{2})+$")


def _hex_bytes(lo: int, hi: int) -> AfterValidator:
    def check(v: str) -> str:
        if not _HEX.match(v) or not lo <= len(v) // 2 <= hi:
            raise ValueError(f"must be {lo}..{hi} bytes as lowercase hex")
        return v

    return AfterValidator(check)


def _date(v: str) -> str:
    try:
        dt.datetime.strptime(v, "%Y%m%d")
    except ValueError:
        raise ValueError("must be a date YYYYMMDD") from None
    return v


def _load_p256_key(pem: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("key must be EC P-256")
    return key


def _load_cert(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise ValueError("not a PEM X.509 certificate") from None


class ChuidFields(Frozen):
    fasc_n: Annotated[str, _hex_bytes(1, 32)]
    guid: Annotated[str, _hex_bytes(16, 16)]
    expiry: Annotated[str, AfterValidator(_date)] = "20991231"


class SlotKey(Frozen):
    """An EC P-256 private key and the X.509 certificate of its public key."""

    key_pem: str
    cert_pem: str

    @model_validator(mode="after")
    def _matches(self) -> SlotKey:
        key = _load_p256_key(self.key_pem)
        cert = _load_cert(self.cert_pem)
        if cert.public_key() != key.public_key():
            raise ValueError("certificate does not belong to the key")
        return self

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return _load_p256_key(self.key_pem)

    def certificate(self) -> x509.Certificate:
        return _load_cert(self.cert_pem)

    def cert_der(self) -> bytes:
        return self.certificate().public_bytes(serialization.Encoding.DER)


class PinFields(Frozen):
    pin: Annotated[str, Field(pattern=r"^[0-9]{6,8}$")] = "123456"
    puk: Annotated[str, Field(pattern=r"^[0-9]{8}$")] = "12345678"
    pin_retries: Annotated[int, Field(ge=0, le=15)] = 3
    puk_retries: Annotated[int, Field(ge=0, le=15)] = 3


ADMIN_KEY_BYTES = {"3des": 24, "aes128": 16, "aes192": 24, "aes256": 32}
FACTORY_ADMIN_KEY = "010203040506070801020304050607080102030405060708"


class AdminFields(Frozen):
    """The card management key (key reference 9B) and its algorithm."""

    alg: Literal["3des", "aes128", "aes192", "aes256"] = "3des"
    key: Annotated[str, _hex_bytes(16, 32)] = FACTORY_ADMIN_KEY

    @model_validator(mode="after")
    def _length(self) -> AdminFields:
        if len(self.key) // 2 != ADMIN_KEY_BYTES[self.alg]:
            raise ValueError(f"a {self.alg} management key is {ADMIN_KEY_BYTES[self.alg]} bytes")
        return self


class CardFile(Frozen):
    chuid: ChuidFields
    slot_9e: SlotKey
    slot_9a: SlotKey | None = None
    pin: PinFields = PinFields()
    admin: AdminFields = AdminFields()

    @property
    def card_id(self) -> str:
        """The GUID as 32 lowercase hex digits: the card's id everywhere in Roamline."""
        return self.chuid.guid


def load_cardfile(path: str | Path) -> CardFile:
    """Read and validate a card file; any problem is a ConfigError naming the file."""
    return load_toml(CardFile, path)


def dumps_cardfile(card: CardFile) -> str:
    return tomli_w.dumps(card.model_dump(exclude_none=True), multiline_strings=True)


def save_cardfile(card: CardFile, path: str | Path) -> None:
    """Write ``card`` as TOML (mode 0600: it holds private keys), atomically."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    try:
        tmp.write_text(dumps_cardfile(card), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(p)
    except OSError as exc:
        raise UsageError(f"{p}: cannot write card file: {exc}") from None


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    """PEM (PKCS#8, unencrypted) text of a private key, as card files store it."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


__all__ = [
    "AdminFields",
    "CardFile",
    "ChuidFields",
    "ConfigError",
    "PinFields",
    "SlotKey",
    "cert_pem",
    "dumps_cardfile",
    "key_pem",
    "load_cardfile",
    "save_cardfile",
]
