"""Issuing a real PIV card or token through PC/SC: the :class:`~roamline.provisioning.cardissue.CardKeys`
backend whose keys are made on the card and never leave it.

``PivCardKeys`` runs over a :class:`~roamline.firmware.card.pivadmin.PivAdmin` (any ``transmit``: a PC/SC
connection from :func:`open_reader`, or a virtual card's ``process`` in a test). The issuance it drives:

1. ``prepare()`` (before the installer token is spent): SELECT, management-key mutual authentication (a
   wrong key stops here), the PIN verified when 9A is wanted, the CHUID written with the card's GUID;
2. per slot, ``new_key_csr``: GENERATE ASYMMETRIC KEY PAIR on the card (unless the slot's public key is
   already known: an earlier, interrupted run, or a key another tool such as OpenSC made), then a CSR
   whose signature the card makes (9E signs without the PIN; 9A after VERIFY);
3. ``install``: the certificate the registry issued, written with PUT DATA into the slot's object;
4. ``finish()``: new PIN and PUK (CHANGE REFERENCE DATA) and, if asked, a new management key.

The certification request is assembled here (cryptography cannot sign with a key it does not hold): the
DER of a PKCS#10 CertificationRequestInfo, its SHA-256 digest signed by the card, and the result checked
with cryptography (signature valid, public key the expected one) before it is sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from roamline.firmware.card import tlv
from roamline.firmware.card.errors import CardError
from roamline.firmware.card.piv import SLOT_CARD_AUTH, SLOT_PIV_AUTH
from roamline.firmware.card.pivadmin import DEFAULT_PIN, DEFAULT_PUK, ManagementKey, PivAdmin
from roamline.provisioning.errors import PeerError, UsageError
from roamline.wire import identity

log = logging.getLogger(__name__)

SLOT_NUMBERS = {"9e": SLOT_CARD_AUTH, "9a": SLOT_PIV_AUTH}
ECDSA_WITH_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")  # AlgorithmIdentifier, no parameters
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
DEFAULT_FASC_N = bytes.fromhex("d4e739da739ced39ce739d836858210842108421c84210c3eb")


class CardRefused(PeerError):
    """The card refused or failed a personalisation step (its reason is in the message)."""


def card_csr(public_key: ec.EllipticCurvePublicKey, common_name: str,
             sign_digest: Callable[[bytes], bytes]) -> bytes:
    """A PEM PKCS#10 request for ``public_key`` signed by ``sign_digest(sha256(info)) -> DER ECDSA``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]).public_bytes()
    spki = public_key.public_bytes(serialization.Encoding.DER, _SPKI)
    info = tlv.encode(0x30, tlv.encode(0x02, b"\x00") + name + spki + tlv.encode(0xA0, b""))
    signature = sign_digest(hashlib.sha256(info).digest())
    der = tlv.encode(0x30, info + ECDSA_WITH_SHA256 + tlv.encode(0x03, b"\x00" + signature))
    try:
        csr = x509.load_der_x509_csr(der)
    except ValueError as exc:
        raise CardRefused(f"the card's certification request does not parse: {exc}") from None
    if csr.public_key() != public_key:
        raise CardRefused("the certification request is not for the expected key")
    if not csr.is_signature_valid:
        raise CardRefused("the card's signature does not match the slot's public key "
                          "(another card in the reader, or a public key that is not this card's)")
    return csr.public_bytes(serialization.Encoding.PEM)


# --- the public key of a key already on the card, from its signatures (SEC 1 v2 §4.1.6) ---------------
# A PIV card has no command that returns a slot's public key; GENERATE returns it once, to whoever made
# it. For a key another tool made (OpenSC 0.23's ``piv-tool -G`` makes the key but fails to write it out
# with OpenSSL 3), the key is recovered from two ECDSA signatures of known digests: each signature admits
# two candidate keys, and the one both agree on is the card's (a CSR signed by the card then proves it).

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
      0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)
_Point = tuple[int, int] | None


def _add(p1: _Point, p2: _Point) -> _Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % _P == 0:
        return None
    # the slope: of the tangent when doubling, of the chord when adding
    m = (3 * x1 * x1 + _A) * pow(2 * y1, -1, _P) % _P if p1 == p2 else (y2 - y1) * pow(x2 - x1, -1, _P) % _P
    x3 = (m * m - x1 - x2) % _P
    return x3, (m * (x1 - x3) - y1) % _P


def _mul(k: int, point: _Point) -> _Point:
    out: _Point = None
    while k:
        if k & 1:
            out = _add(out, point)
        point = _add(point, point)
        k >>= 1
    return out


def _candidates(digest: bytes, signature: bytes) -> list[ec.EllipticCurvePublicKey]:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(signature)
    e = int.from_bytes(digest, "big") % _N
    out = []
    for x in (r, r + _N):
        if x >= _P:
            continue
        alpha = (x * x * x + _A * x + _B) % _P
        beta = pow(alpha, (_P + 1) // 4, _P)
        if beta * beta % _P != alpha:
            continue
        for y in (beta, _P - beta):
            q = _mul(pow(r, -1, _N), _add(_mul(s, (x, y)), _mul((_N - e) % _N, _G)))
            if q is not None:
                out.append(ec.EllipticCurvePublicNumbers(q[0], q[1], ec.SECP256R1()).public_key())
    return out


def recover_public_key(sign_digest: Callable[[bytes], bytes]) -> ec.EllipticCurvePublicKey:
    """The P-256 public key behind ``sign_digest`` (two signatures of random digests)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    d1, d2 = hashlib.sha256(os.urandom(32)).digest(), hashlib.sha256(os.urandom(32)).digest()
    first, second = sign_digest(d1), sign_digest(d2)
    for key in _candidates(d1, first):
        try:
            key.verify(second, d2, ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            continue
        return key
    raise CardRefused("the card's signatures do not come from one P-256 key")


@dataclass(frozen=True, slots=True)
class Personalisation:
    """What the issuance sets on the card besides its keys."""

    guid: str  # 32 lowercase hex digits: the CHUID GUID and the Roamline card id
    admin_key: ManagementKey
    current_pin: str = DEFAULT_PIN
    new_pin: str | None = None
    current_puk: str = DEFAULT_PUK
    new_puk: str | None = None
    new_admin_key: ManagementKey | None = None
    fasc_n: bytes = DEFAULT_FASC_N
    expiry: dt.date = dt.date(2099, 12, 31)
    with_9a: bool = True


@dataclass
class PivCardKeys:
    """A real PIV card being issued (see the module docstring). ``known`` holds slots' public keys that are
    already on the card (resumed issuance, or a key made by another tool); the rest are generated."""

    piv: PivAdmin
    plan: Personalisation
    known: dict[str, ec.EllipticCurvePublicKey] = field(default_factory=dict)
    certs: dict[str, str] = field(default_factory=dict)  # slot -> the certificate PEM written
    on_key: Callable[[str, ec.EllipticCurvePublicKey], None] | None = None  # told of each new key
    on_step: Callable[[str], None] | None = None  # told of each final step done (pin, puk, management-key)
    _authenticated: bool = False
    _pin_verified: bool = False

    def __post_init__(self) -> None:
        if identity.CARD_ID_RE.fullmatch(self.plan.guid) is None:
            raise UsageError(f"card GUID {self.plan.guid!r} is not 32 lowercase hex digits")

    @property
    def card_id(self) -> str:
        return self.plan.guid

    def _step(self, what: str, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except CardError as exc:
            raise CardRefused(f"{what}: {exc}") from None

    def _admin(self) -> None:
        if not self._authenticated:
            self._step("management-key authentication", lambda: self.piv.authenticate(self.plan.admin_key))
            self._authenticated = True

    def _verify_pin(self) -> None:
        if not self._pin_verified:
            self._step("PIN verification (the current PIN: --current-pin)",
                       lambda: self.piv.verify_pin(self.plan.current_pin))
            self._pin_verified = True

    def prepare(self) -> None:
        """Everything checked on the card before a token is spent; the CHUID written."""
        self._step("SELECT of the PIV application", self.piv.select)
        self._admin()
        if self.plan.with_9a:
            self._verify_pin()
        guid = bytes.fromhex(self.plan.guid)
        plan = self.plan
        self._step("PUT DATA of the CHUID", lambda: self.piv.put_chuid(plan.fasc_n, guid, plan.expiry))
        log.info("piv-card-prepared", extra={"fields": {"card": self.card_id}})

    def recover(self, slot: str) -> ec.EllipticCurvePublicKey:
        """The public key of the key already in ``slot`` (made by another tool), from its signatures."""
        number = SLOT_NUMBERS[slot]
        self._step("SELECT of the PIV application", self.piv.select)
        if number == SLOT_PIV_AUTH:
            self._verify_pin()

        def sign(digest: bytes) -> bytes:
            out = self._step(f"signature with key {slot.upper()} (is there a key in it?)",
                             lambda: self.piv.sign(number, digest))
            assert isinstance(out, bytes)
            return out

        key = self.known[slot] = recover_public_key(sign)
        log.info("piv-key-recovered", extra={"fields": {"card": self.card_id, "slot": slot}})
        return key

    def new_key_csr(self, slot: str) -> tuple[str, identity.PublicKey]:
        number = SLOT_NUMBERS.get(slot)
        if number is None:
            raise UsageError(f"no slot {slot!r} (slots: 9e, 9a)")
        public = self.known.get(slot)
        if public is None:
            self._admin()
            made = self._step(f"GENERATE ASYMMETRIC KEY PAIR in {slot.upper()}",
                              lambda: self.piv.generate_key(number))
            assert isinstance(made, ec.EllipticCurvePublicKey)
            public = self.known[slot] = made
            if self.on_key is not None:
                self.on_key(slot, public)
            log.info("piv-key-generated", extra={"fields": {"card": self.card_id, "slot": slot}})
        if number == SLOT_PIV_AUTH:
            self._verify_pin()

        def sign(digest: bytes) -> bytes:
            out = self._step(f"signature with key {slot.upper()}", lambda: self.piv.sign(number, digest))
            assert isinstance(out, bytes)
            return out

        return card_csr(public, self.card_id, sign).decode("ascii"), public

    def install(self, slot: str, cert_pem: str) -> None:
        der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
        self._admin()
        self._step(f"PUT DATA of the {slot.upper()} certificate",
                   lambda: self.piv.put_certificate(SLOT_NUMBERS[slot], der))
        self.certs[slot] = cert_pem

    def finish(self) -> list[str]:
        """PIN, PUK and management key as the plan says; returns what was changed."""
        changed: list[str] = []
        p = self.plan

        def done(step: str) -> None:
            changed.append(step)
            if self.on_step is not None:
                self.on_step(step)

        if p.new_pin is not None and p.new_pin != p.current_pin:
            pin = p.new_pin
            self._step("CHANGE REFERENCE DATA (PIN)", lambda: self.piv.change_pin(p.current_pin, pin))
            done("pin")
        if p.new_puk is not None and p.new_puk != p.current_puk:
            puk = p.new_puk
            self._step("CHANGE REFERENCE DATA (PUK)", lambda: self.piv.change_puk(p.current_puk, puk))
            done("puk")
        if p.new_admin_key is not None and p.new_admin_key != p.admin_key:
            self._admin()
            new = p.new_admin_key
            self._step("SET MANAGEMENT KEY", lambda: self.piv.set_management_key(new))
            done("management-key")
        log.info("piv-card-personalised", extra={"fields": {"card": self.card_id, "changed": changed}})
        return changed


def public_key_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, _SPKI).decode()


def load_public_key(data: bytes, where: str) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from PEM or DER (SubjectPublicKeyInfo), as OpenSC's ``piv-tool -G -o`` writes."""
    try:
        key = (serialization.load_pem_public_key(data) if data.lstrip().startswith(b"-----")
               else serialization.load_der_public_key(data))
    except ValueError as exc:
        raise UsageError(f"{where}: not a public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UsageError(f"{where}: not an EC P-256 public key")
    return key


@contextlib.contextmanager
def open_reader(reader: str) -> Iterator[PivAdmin]:
    """A PIV admin session on the card in PC/SC reader ``reader`` (closed on exit)."""
    from roamline.firmware.card.errors import CardError as _CardError
    from roamline.firmware.card.pcsc import PyscardBackend
    from roamline.firmware.card.session import CardSession

    class ExclusiveBackend(PyscardBackend):
        """Connections for issuance are exclusive: no other PC/SC client can interleave commands."""

        def connect(self, ctx: Any, reader: str) -> tuple[Any, int]:
            s = self._s
            hr, handle, protocol = s.SCardConnect(ctx, reader, s.SCARD_SHARE_EXCLUSIVE,
                                                  s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1)
            if hr != s.SCARD_S_SUCCESS:
                self._raise(hr, f"connect (exclusive) to {reader}")
            return handle, int(protocol)

    backend = ExclusiveBackend()
    ctx = None
    try:
        ctx = backend.establish()
        readers = backend.list_readers(ctx)
    except _CardError as exc:
        raise PeerError(f"PC/SC: {exc} (is pcscd running?)") from None
    finally:
        if ctx is not None:
            backend.release(ctx)
    if reader not in readers:
        shown = ", ".join(repr(r) for r in readers) or "none"
        raise UsageError(f"no PC/SC reader {reader!r} (readers: {shown})")
    session = CardSession(backend, reader)
    try:
        session.open()
    except _CardError as exc:
        raise PeerError(f"{reader}: {exc}") from None
    try:
        yield PivAdmin(session.transmit)
    finally:
        session.close()


def random_guid() -> str:
    return os.urandom(16).hex()
