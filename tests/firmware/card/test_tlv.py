"""BER-TLV decoder: whole and byte-by-byte feeding, strictness, bounds, property tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.card import tlv
from roamline.firmware.card.errors import MalformedResponse

tags = st.sampled_from([0x30, 0x34, 0x53, 0x70, 0x7C, 0x82, 0xFE, 0x5FC102, 0x5F2F, 0x7F61])
items = st.lists(st.tuples(tags, st.binary(max_size=600)), max_size=5)


def feed_bytewise(data: bytes, max_value: int = tlv.MAX_VALUE) -> list[tlv.Tlv]:
    dec = tlv.TlvDecoder(max_value)
    out: list[tlv.Tlv] = []
    for b in data:
        out += dec.feed(bytes([b]))
    dec.finish()
    return out


@given(items)
def test_round_trip_whole_and_bytewise(pairs: list[tuple[int, bytes]]) -> None:
    data = b"".join(tlv.encode(t, v) for t, v in pairs)
    expect = [tlv.Tlv(t, v) for t, v in pairs]
    assert tlv.parse_all(data) == expect
    assert feed_bytewise(data) == expect


@given(items, st.lists(st.integers(min_value=1, max_value=50), max_size=40))
def test_arbitrary_splits(pairs: list[tuple[int, bytes]], cuts: list[int]) -> None:
    data = b"".join(tlv.encode(t, v) for t, v in pairs)
    dec = tlv.TlvDecoder()
    out: list[tlv.Tlv] = []
    i = 0
    for c in cuts:
        out += dec.feed(data[i : i + c])
        i += c
    out += dec.feed(data[i:])
    dec.finish()
    assert out == [tlv.Tlv(t, v) for t, v in pairs]


@given(st.binary(max_size=300))
def test_garbage_only_typed_errors(data: bytes) -> None:
    try:
        whole = tlv.parse_all(data)
    except MalformedResponse:
        whole = None
    try:
        byte = feed_bytewise(data)
    except MalformedResponse:
        byte = None
    assert whole == byte


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x53\x80", "indefinite"),
        (b"\x53\x84\x00\x00\x00\x01\x00", "longer than 3"),
        (b"\x00\x00", "invalid tag"),
        (b"\xff\x01\x00", "invalid tag"),
        (b"\x5f\xc1\x82\x01\x00\x00", "tag longer"),
        (b"\x53\x82\x01\x00" + b"x" * 4, "truncated"),
        (b"\x53", "truncated"),
        (b"\x53\x83\x01\x00\x00", "exceeds"),
    ],
)
def test_rejects(data: bytes, fragment: str) -> None:
    with pytest.raises(tlv.TlvError, match=fragment):
        tlv.parse_all(data)
    with pytest.raises(tlv.TlvError, match=fragment):
        feed_bytewise(data)


def test_failed_decoder_stays_failed() -> None:
    dec = tlv.TlvDecoder()
    with pytest.raises(tlv.TlvError):
        dec.feed(b"\x53\x80")
    with pytest.raises(tlv.TlvError):
        dec.feed(b"\x53\x00")


def test_bound_is_checked_before_buffering() -> None:
    dec = tlv.TlvDecoder(max_value=100)
    with pytest.raises(tlv.TlvError, match="exceeds"):
        dec.feed(b"\x70\x82\x10\x00")  # announced 4096 bytes: refused at the header
    assert dec.pending == 0


def test_non_minimal_long_length_accepted_and_nested() -> None:
    items = tlv.parse_all(b"\x53\x81\x05\x30\x03abc")
    assert items == [tlv.Tlv(0x53, b"\x30\x03abc")]
    assert items[0].children() == [tlv.Tlv(0x30, b"abc")]
    assert not items[0].constructed and tlv.Tlv(0x7C, b"").constructed  # PIV uses 53 as a primitive wrapper
    assert tlv.require(items[0].children(), 0x30, "x") == b"abc"
    with pytest.raises(tlv.TlvError, match="tag 34 missing"):
        tlv.require(items[0].children(), 0x34, "x")
