"""The PIV administration layer (firmware/card/pivadmin.py) against the virtual card's APDU processor, and
its parsers against arbitrary answers."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.card import errors, tlv
from roamline.firmware.card.apdu import Command, transceive
from roamline.firmware.card.pivadmin import (
    ALG_3DES,
    ALG_AES128,
    ALG_AES192,
    ALG_AES256,
    DEFAULT_MANAGEMENT_KEY,
    CardAuthenticationFailed,
    ManagementKey,
    MutualAuthentication,
    PivAdmin,
    generate_key_command,
    parse_generated_key,
    put_certificate_command,
)
from roamline.firmware.errors import UsageError
from roamline.hil.card.issue import TestCa
from roamline.hil.card.piv import OBJ_CERT_9E, VirtualCard

FACTORY = ManagementKey(ALG_3DES, DEFAULT_MANAGEMENT_KEY)


def admin_on(card: VirtualCard) -> PivAdmin:
    piv = PivAdmin(card.process)
    piv.select()
    return piv


def point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def test_generate_needs_the_management_key_and_makes_the_key_on_the_card() -> None:
    card = VirtualCard.blank()
    piv = admin_on(card)
    with pytest.raises(errors.SecurityNotSatisfied):
        piv.generate_key(0x9E)
    piv.authenticate(FACTORY)
    public = piv.generate_key(0x9E)
    assert public == card.public_key(0x9E)
    digest = hashlib.sha256(b"n").digest()
    public.verify(piv.sign(0x9E, digest), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    card.reset()  # a power cycle forgets the authentication
    piv.select()
    with pytest.raises(errors.SecurityNotSatisfied):
        piv.generate_key(0x9A)


def test_generate_refuses_other_algorithms() -> None:
    card = VirtualCard.blank()
    piv = admin_on(card)
    piv.authenticate(FACTORY)
    rsa = Command(0x00, 0x47, 0x00, 0x9E, tlv.encode(0xAC, tlv.encode(0x80, b"\x07")), le=256)
    assert transceive(card.process, rsa).sw == 0x6A80
    with pytest.raises(UsageError):
        generate_key_command(0x9B)


def test_wrong_management_key_is_refused_by_the_card() -> None:
    piv = admin_on(VirtualCard.blank())
    with pytest.raises(errors.SecurityNotSatisfied):
        piv.authenticate(ManagementKey(ALG_3DES, bytes(range(24))))


@pytest.mark.parametrize(("alg", "size"),
                         [(ALG_3DES, 24), (ALG_AES128, 16), (ALG_AES192, 24), (ALG_AES256, 32)])
def test_management_key_change_for_each_algorithm(alg: int, size: int) -> None:
    card = VirtualCard.blank()
    piv = admin_on(card)
    piv.authenticate(FACTORY)
    new = ManagementKey(alg, bytes(range(1, size + 1)))
    piv.set_management_key(new)
    card.reset()
    piv.select()
    if alg != ALG_3DES:
        with pytest.raises(errors.WrongP1P2):  # the key is of another algorithm now
            piv.authenticate(FACTORY)
    else:
        with pytest.raises(errors.SecurityNotSatisfied):
            piv.authenticate(FACTORY)
    piv.authenticate(new)
    piv.generate_key(0x9A)


def test_external_authentication_as_opensc_does_it() -> None:
    """piv-tool -A A:9B:03: 7C{81 00} → challenge; 7C{82 E(challenge)} → 9000."""
    card = VirtualCard.blank()
    admin_on(card)
    ask = Command(0x00, 0x87, ALG_3DES, 0x9B, tlv.encode(0x7C, tlv.encode(0x81, b"")), le=256)
    got = transceive(card.process, ask)
    challenge = tlv.require(tlv.parse_all(got.data)[0].children(), 0x81, "t")
    bad = Command(0x00, 0x87, ALG_3DES, 0x9B, tlv.encode(0x7C, tlv.encode(0x82, challenge)))
    assert transceive(card.process, bad).sw == 0x6982 and not card.admin_verified
    got = transceive(card.process, ask)
    challenge = tlv.require(tlv.parse_all(got.data)[0].children(), 0x81, "t")
    good = Command(0x00, 0x87, ALG_3DES, 0x9B, tlv.encode(0x7C, tlv.encode(0x82, FACTORY.encrypt(challenge))))
    assert transceive(card.process, good).sw == 0x9000 and card.admin_verified


def test_a_card_without_our_key_is_caught() -> None:
    """A card that answers the client's challenge wrongly (it does not hold the key) is refused."""
    auth = MutualAuthentication(FACTORY, random=lambda n: b"\x11" * n)
    auth.respond(tlv.encode(0x7C, tlv.encode(0x80, FACTORY.encrypt(b"w" * 8))))
    with pytest.raises(CardAuthenticationFailed):
        auth.verify(tlv.encode(0x7C, tlv.encode(0x82, FACTORY.encrypt(b"\x22" * 8))))
    auth.verify(tlv.encode(0x7C, tlv.encode(0x82, FACTORY.encrypt(b"\x11" * 8))))
    assert auth.done


def test_put_data_chains_a_long_certificate_and_reads_back(card_ca: TestCa) -> None:
    cf = card_ca.make_cardfile(big_cert=True)
    der = cf.slot_9e.cert_der()
    assert len(der) > 1000
    card = VirtualCard.blank()
    frames: list[bytes] = []

    def transmit(apdu: bytes) -> bytes:
        frames.append(apdu)
        return card.process(apdu)

    piv = PivAdmin(transmit)
    piv.select()
    piv.authenticate(FACTORY)
    piv.put_certificate(0x9E, der)
    assert sum(1 for f in frames if f[0] == 0x10 and f[1] == 0xDB) >= 4  # command chaining
    assert piv.read_certificate(0x9E) == der
    guid = bytes(range(16))
    piv.put_chuid(bytes(25), guid, dt.date(2031, 5, 6))
    chuid = piv.read_chuid()
    assert (chuid.guid, chuid.expiry) == (guid, "20310506")
    assert card.object(OBJ_CERT_9E) is not None


def test_pin_and_puk_changes() -> None:
    card = VirtualCard.blank()
    piv = admin_on(card)
    piv.change_pin("123456", "24681357")
    piv.change_puk("12345678", "87654321")
    with pytest.raises(errors.WrongPin):
        piv.change_puk("12345678", "11111111")
    assert card.puk_tries_left == 2
    piv.unblock_pin("87654321", "13579246")
    piv.verify_pin("13579246")


class Trickle:
    """A card proxy that hands every answer over one byte per GET RESPONSE (61 01 ... ): the response
    chaining of the Exchange is fed byte by byte."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card
        self.rest = b""
        self.rounds = 0

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xC0:
            data = self.rest
        else:
            out = self.card.process(apdu)
            data, sw = out[:-2], out[-2:]
            while sw[0] == 0x61:  # collect everything the card has
                more = self.card.process(bytes([0, 0xC0, 0, 0, sw[1]]))
                data, sw = data + more[:-2], more[-2:]
            if sw != b"\x90\x00" or not data:
                return data + sw
        self.rounds += 1
        head, self.rest = data[:1], data[1:]
        return head + (bytes([0x61, min(len(self.rest), 255)]) if self.rest else b"\x90\x00")


def test_generate_answer_fed_byte_by_byte() -> None:
    card = VirtualCard.blank()
    trickle = Trickle(card)
    piv = PivAdmin(trickle.transmit)
    piv.select()
    piv.authenticate(FACTORY)
    before = trickle.rounds
    public = piv.generate_key(0x9E)
    assert public == card.public_key(0x9E) and trickle.rounds - before == 70  # 7F49 41 86 41 04 X Y


# --- parsers: any answer either parses or raises the card's MalformedResponse --------------------------


def test_parse_generated_key_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert parse_generated_key(tlv.encode(0x7F49, tlv.encode(0x86, point(key)))) == key
    for bad in (b"", tlv.encode(0x7F49, b""), tlv.encode(0x7F49, tlv.encode(0x86, b"\x04" + bytes(64))),
                tlv.encode(0x7F49, tlv.encode(0x86, point(key)[:-1])), tlv.encode(0x53, point(key))):
        with pytest.raises(errors.MalformedResponse):
            parse_generated_key(bad)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_parse_generated_key_any_bytes(data: bytes) -> None:
    try:
        key = parse_generated_key(data)
    except errors.MalformedResponse:
        return
    assert isinstance(key, ec.EllipticCurvePublicKey)


@settings(max_examples=300)
@given(st.binary(max_size=80), st.binary(max_size=80))
def test_mutual_authentication_any_answers(witness: bytes, answer: bytes) -> None:
    auth = MutualAuthentication(FACTORY)
    try:
        auth.respond(witness)
        auth.verify(answer)
    except errors.CardError:  # MalformedResponse or CardAuthenticationFailed
        assert not auth.done


@settings(max_examples=100)
@given(st.binary(min_size=1, max_size=2000))
def test_put_certificate_command_any_der(der: bytes) -> None:
    try:
        cmd = put_certificate_command(0x9E, der)
    except UsageError:
        assert der[0] != 0x30
        return
    items = tlv.parse_all(cmd.data)
    assert [i.tag for i in items] == [0x5C, 0x53]
    assert tlv.require(items[1].children(), 0x70, "cert") == der


def test_management_key_validation() -> None:
    with pytest.raises(UsageError):
        ManagementKey(ALG_AES128, bytes(24))
    with pytest.raises(UsageError):
        ManagementKey(0x07, bytes(24))
    with pytest.raises(UsageError):
        ManagementKey.parse("zz", "3des")
    assert ManagementKey.parse("01:02:03:04:05:06:07:08:" * 3, "aes192").alg == ALG_AES192
