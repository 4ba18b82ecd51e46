"""The virtual PIV card's answers, every status word case, both chaining directions — run on the
sans-I/O processor directly and, the same script, through the real pcscd + vpcd with raw pyscard."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from smartcard import scard

from roamline.hil.card.issue import TestCa
from roamline.hil.card.piv import VirtualCard
from roamline.hil.pytest_pcsc import CardRig

SELECT = "00a4040009a00000030800001000"
GET_CHUID = "00cb3fff055c035fc10200"
GET_CERT9E = "00cb3fff055c035fc10100"
PIN_OK = "0020008008313233343536ffff"
PIN_BAD = "0020008008393939393939ffff"
GA = "7c2482008120" + "11" * 32
GA_9E = "0087119e26" + GA + "00"
GA_9A = "0087119a26" + GA + "00"

# (command APDU hex, expected SW hex) in order on a fresh card with PIN 123456 and 3 tries.
SCRIPT: list[tuple[str, str]] = [
    (GET_CHUID, "6985"),  # nothing selected yet
    ("00a4040005a000000308", "6a82"),  # shorter than the truncated AID
    ("00a4040007a0000003970000", "6a82"),  # another application
    ("00a404000ba000000308000010000100", "9000"),  # the full AID (no Le)
    ("00a4040100", "6a86"),  # wrong P1P2 (and no data)
    ("00a40400", "6700"),  # SELECT without AID
    (SELECT, "9000"),  # the truncated AID
    ("80a4040009a00000030800001000", "6e00"),  # proprietary class
    ("0050000000", "6d00"),  # unknown INS
    ("00cb3fff", "6700"),  # GET DATA without data
    ("00cb3ffe055c035fc10200", "6a86"),
    ("00cb3fff035c035f", "6a80"),  # truncated tag list
    ("00cb3fff055c035fc10a00", "6a82"),  # object not on the card
    ("00cb3fff035c017e00", "9000"),  # discovery
    (GET_CHUID, "9000"),
    ("00cb3fff055c03", "6700"),  # Lc says 5, 2 bytes follow
    ("00c0000000", "6985"),  # GET RESPONSE with nothing pending
    (GA_9A, "6982"),  # 9A needs the PIN
    ("0087119b26" + GA + "00", "6a86"),  # unknown key reference
    ("0087079e26" + GA + "00", "6a86"),  # unsupported algorithm
    ("0087119e067c04820081" + "0000", "6a80"),  # empty digest
    ("00200080", "63c3"),  # PIN status: 3 tries
    ("0020008004313233", "6700"),  # PIN not padded to 8
    ("0020008108313233343536ffff", "6a88"),  # not the PIV PIN
    ("0020010008313233343536ffff", "6a86"),
    (PIN_BAD, "63c2"),
    (PIN_OK, "9000"),
    ("00200080", "9000"),  # verified
    (GA_9A, "9000"),
    ("0020ff80", "9000"),  # reset PIN status
    (GA_9A, "6982"),
    (PIN_BAD, "63c2"),
    (PIN_BAD, "63c1"),
    (PIN_BAD, "63c0"),
    (PIN_OK, "6983"),  # blocked
    ("00200080", "6983"),
    (GA_9E, "9000"),  # 9E needs no PIN, even when blocked
    ("10cb3fff035c035f", "9000"),  # command chaining: first part
    ("00cb3fff02c10200", "9000"),  # last part: the CHUID
    ("10cb3fff035c035f", "9000"),
    ("00a4040009a00000030800001000", "6883"),  # a different command in the middle of a chain
    (GET_CERT9E, "6100"),  # long answer: 256 bytes and more to come
    ("00c0000000", "61"),  # more (the SW2 depends on the certificate's size)
]


def run_script(transmit: Callable[[bytes], bytes]) -> None:
    for i, (cmd, sw) in enumerate(SCRIPT):
        resp = transmit(bytes.fromhex(cmd))
        assert resp[-2:].hex().startswith(sw), f"step {i}: {cmd} answered {resp[-2:].hex()}, want {sw}"


def test_script_sans_io(card_ca: TestCa) -> None:
    run_script(VirtualCard(card_ca.make_cardfile(big_cert=True)).process)


@pytest.fixture
def raw(card_rig: CardRig, card_ca: TestCa) -> Iterator[tuple[Callable[[bytes], bytes], VirtualCard]]:
    card = VirtualCard(card_ca.make_cardfile(big_cert=True))
    card_rig.insert(card, 0)
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == 0
    hr, handle, proto = scard.SCardConnect(
        ctx, card_rig.readers[0], scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
    )
    assert hr == 0, scard.SCardGetErrorMessage(hr)

    def transmit(apdu: bytes) -> bytes:
        hr, out = scard.SCardTransmit(handle, proto, list(apdu))
        assert hr == 0, scard.SCardGetErrorMessage(hr)
        return bytes(out)

    yield transmit, card
    scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
    scard.SCardReleaseContext(ctx)


@pytest.mark.pcscd
def test_script_through_pcscd(raw: tuple[Callable[[bytes], bytes], VirtualCard]) -> None:
    transmit, _ = raw
    run_script(transmit)


@pytest.mark.pcscd
def test_response_chaining_through_pcscd(raw: tuple[Callable[[bytes], bytes], VirtualCard]) -> None:
    transmit, card = raw
    assert transmit(bytes.fromhex(SELECT))[-2:] == b"\x90\x00"
    resp = transmit(bytes.fromhex(GET_CERT9E))
    data = resp[:-2]
    while resp[-2] == 0x61:
        resp = transmit(bytes([0, 0xC0, 0, 0, resp[-1]]))
        data += resp[:-2]
    assert resp[-2:] == b"\x90\x00"
    der = card.card.slot_9e.cert_der()
    assert der in data and len(data) > 1500
    # A short Le gets short pieces.
    resp = transmit(bytes.fromhex("00cb3fff055c035fc10210"))
    assert len(resp) == 16 + 2 and resp[-2] == 0x61
