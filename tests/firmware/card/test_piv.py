"""PIV client against the virtual card's APDU processor directly (no pcscd), and against bad answers."""

from __future__ import annotations

import gzip
import hashlib
import itertools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.card import errors, tlv
from roamline.firmware.card.piv import PivClient
from roamline.firmware.errors import UsageError
from roamline.hil.card.issue import TestCa
from roamline.hil.card.piv import VirtualCard

CARD = TestCa().make_cardfile()


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


def test_change_and_unblock_pin(card_ca: TestCa) -> None:
    card = VirtualCard(card_ca.make_cardfile(pin="123456", pin_retries=2))
    piv = PivClient(card.process)
    piv.select()
    with pytest.raises(errors.WrongPin):
        piv.change_pin("000000", "654321")
    piv.change_pin("123456", "65432100")
    with pytest.raises(errors.WrongPin):
        piv.verify_pin("123456")
    piv.verify_pin("65432100")
    for _ in range(2):
        with pytest.raises(errors.WrongPin):
            piv.verify_pin("111111")
    with pytest.raises(errors.PinBlocked):
        piv.change_pin("65432100", "222222")
    with pytest.raises(errors.WrongPin) as info:
        piv.unblock_pin("00000000", "222222")
    assert info.value.tries_left == 2  # PUK tries
    with pytest.raises(UsageError):
        piv.unblock_pin("1234", "222222")
    piv.unblock_pin("12345678", "222222")
    assert piv.pin_status() == 2
    piv.verify_pin("222222")
    piv.sign(0x9A, bytes(32))


@given(st.binary(min_size=0, max_size=300))
def test_virtual_card_never_crashes(apdu: bytes) -> None:
    card = VirtualCard(CARD)
    card.process(bytes.fromhex("00a4040009a00000030800001000"))
    out = card.process(apdu)
    assert len(out) >= 2 and out[-2] in (0x90, 0x61, 0x63, 0x67, 0x68, 0x69, 0x6A, 0x6D, 0x6E)


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=6))
def test_client_on_garbage_only_typed_errors(answers: list[bytes]) -> None:
    it = itertools.cycle(answers)
    piv = PivClient(lambda _: next(it))
    ops = (piv.select, piv.read_chuid, lambda: piv.read_certificate(0x9E), lambda: piv.sign(0x9E, bytes(32)))
    for op in ops:
        try:
            op()
        except errors.CardError:
            pass
