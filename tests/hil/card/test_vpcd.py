"""vpcd framing (sans-I/O) and the card's answers to vpcd controls."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.hil.card.issue import TestCa
from roamline.hil.card.piv import ATR, VirtualCard
from roamline.hil.card.vpcd import VpcdDecoder, VpcdFramingError, answer, encode
from roamline.hil.errors import UsageError

messages = st.lists(st.binary(min_size=1, max_size=600), max_size=6)


@given(messages)
def test_whole_and_bytewise(msgs: list[bytes]) -> None:
    wire = b"".join(encode(m) for m in msgs)
    assert VpcdDecoder().feed(wire) == msgs
    dec = VpcdDecoder()
    out: list[bytes] = []
    for b in wire:
        out += dec.feed(bytes([b]))
    assert out == msgs


@given(st.binary(max_size=400))
def test_garbage_only_typed_errors(data: bytes) -> None:
    try:
        VpcdDecoder().feed(data)
    except VpcdFramingError:
        pass


def test_empty_message_and_bounds() -> None:
    with pytest.raises(VpcdFramingError):
        VpcdDecoder().feed(b"\x00\x00")
    with pytest.raises(UsageError):
        encode(b"")
    with pytest.raises(VpcdFramingError):
        dec = VpcdDecoder()
        for _ in range(4):
            dec.feed(b"\xff\xff" + bytes(0x8000))


def test_controls(card_ca: TestCa) -> None:
    card = VirtualCard(card_ca.make_cardfile())
    assert answer(card, b"\x04") == ATR
    card.process(bytes.fromhex("00a4040009a00000030800001000"))
    assert card.selected
    assert answer(card, b"\x02") is None and not card.selected  # reset
    assert answer(card, b"\x00") is None and answer(card, b"\x01") is None
    with pytest.raises(VpcdFramingError):
        answer(card, b"\x09")
    assert answer(card, bytes.fromhex("00a4040009a00000030800001000"))[-2:] == b"\x90\x00"
