"""PIV client against the virtual card's APDU processor directly (no pcscd), and against bad answers."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from roamline.firmware.card import errors, tlv
from roamline.firmware.card.piv import PivClient
from roamline.firmware.errors import UsageError
from roamline.hil.card.issue import TestCa
from roamline.hil.card.piv import VirtualCard


def verify(cert_der: bytes, sig: bytes, digest: bytes) -> None:
    pub = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(sig, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_full_flow_with_chaining(card_ca: TestCa) -> None:
    cf = card_ca.make_cardfile(big_cert=True)
    card = VirtualCard(cf)
    frames: list[bytes] = []

    def transmit(apdu: bytes) -> bytes:
        frames.append(apdu)
        return card.process(apdu)

    piv = PivClient(transmit, max_data=16)  # force command chaining of GENERAL AUTHENTICATE
    app = piv.select()
    assert app.aid.startswith(bytes.fromhex("0000100001")) and 0x11 in app.algorithms
    chuid = piv.read_chuid()
    assert chuid.card_id == cf.card_id and chuid.expiry == "20991231" and len(chuid.fasc_n) == 25
    der = piv.read_certificate("9E")
    assert der == cf.slot_9e.cert_der() and len(der) > 1000
    assert any(f[1] == 0xC0 for f in frames)  # response chaining happened
    digest = hashlib.sha256(b"registry nonce").digest()
    before = len(frames)
    sig = piv.sign(0x9E, digest)
    assert any(f[0] == 0x10 for f in frames[before:])  # command chaining happened
    verify(der, sig, digest)


def test_pin_flow(card_ca: TestCa) -> None:
    cf = card_ca.make_cardfile(pin="24681357", pin_retries=3)
    card = VirtualCard(cf)
    piv = PivClient(card.process)
    piv.select()
    assert piv.pin_status() == 3
    with pytest.raises(errors.SecurityNotSatisfied):
        piv.sign(0x9A, bytes(32))
    with pytest.raises(errors.WrongPin) as info:
        piv.verify_pin("000000")
    assert info.value.tries_left == 2
    piv.verify_pin("24681357")
    assert piv.pin_status() is None
    verify(piv.read_certificate(0x9A), piv.sign(0x9A, bytes(32)), bytes(32))
    card.reset()  # power cycle forgets the PIN
    piv.select()
    assert piv.pin_status() == 3
    for left in (2, 1, 0):
        with pytest.raises(errors.WrongPin) as info:
            piv.verify_pin("11111111")
        assert info.value.tries_left == left
    with pytest.raises(errors.PinBlocked):
        piv.verify_pin("24681357")
    assert piv.pin_status() == 0


def test_missing_9a(card_ca: TestCa) -> None:
    piv = PivClient(VirtualCard(card_ca.make_cardfile(with_9a=False)).process)
    piv.select()
    with pytest.raises(errors.NotFound):
        piv.read_certificate(0x9A)
    with pytest.raises(errors.NotFound):
        piv.sign(0x9A, bytes(32))


def test_usage_errors() -> None:
    piv = PivClient(lambda _: b"\x90\x00")
    with pytest.raises(UsageError):
        piv.sign(0x9E, bytes(31))
    with pytest.raises(UsageError):
        piv.read_certificate(0x9C)
    with pytest.raises(UsageError):
        piv.verify_pin("12ab56")


def answering(data: bytes) -> PivClient:
    return PivClient(lambda _: data + b"\x90\x00")


@pytest.mark.parametrize(
    "body",
    [
        b"\x53\x03\x30\x01\x00",  # no GUID
        tlv.encode(0x53, tlv.encode(0x30, b"x") + tlv.encode(0x34, b"short")),
        tlv.encode(0x53, tlv.encode(0x30, b"x") + tlv.encode(0x34, bytes(16)) + tlv.encode(0x35, b"2099")),
        tlv.encode(0x70, b"wrong container"),
        b"\x53\x05\x30",  # truncated
        tlv.encode(0x53, b"") + tlv.encode(0x53, b""),
    ],
)
def test_bad_chuid(body: bytes) -> None:
    with pytest.raises(errors.MalformedResponse):
        answering(body).read_chuid()


def test_compressed_certificate(card_ca: TestCa) -> None:
    der = card_ca.make_cardfile().slot_9e.cert_der()
    body = tlv.encode(0x53, tlv.encode(0x70, gzip.compress(der)) + tlv.encode(0x71, b"\x01"))
    assert answering(body).read_certificate(0x9E) == der
    big = gzip.compress(b"\x30" + bytes(100_000))
    bomb = tlv.encode(0x53, tlv.encode(0x70, big) + tlv.encode(0x71, b"\x01"))
    with pytest.raises(errors.MalformedResponse, match="too large"):
        answering(bomb).read_certificate(0x9E)
    junk = tlv.encode(0x53, tlv.encode(0x70, b"not gzip") + tlv.encode(0x71, b"\x01"))
    with pytest.raises(errors.MalformedResponse, match="inflate"):
        answering(junk).read_certificate(0x9E)


def test_bad_signature_answers() -> None:
    with pytest.raises(errors.MalformedResponse, match="7C"):
        answering(tlv.encode(0x53, b"")).sign(0x9E, bytes(32))
    with pytest.raises(errors.MalformedResponse, match="DER"):
        answering(tlv.encode(0x7C, tlv.encode(0x82, b"\x30\x01"))).sign(0x9E, bytes(32))
    with pytest.raises(errors.MalformedResponse):
        answering(tlv.encode(0x7C, tlv.encode(0x81, b"x"))).sign(0x9E, bytes(32))


def test_select_without_template() -> None:
    assert answering(b"").select().label is None
    with pytest.raises(errors.MalformedResponse):
        answering(tlv.encode(0x62, b"")).select()
