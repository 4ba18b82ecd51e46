"""APDU encoding, command chaining, response chaining (61xx / GET RESPONSE), 6Cxx, status words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.card import apdu, errors
from roamline.firmware.errors import UsageError


def test_encode_cases() -> None:
    assert apdu.Command(0, 0xA4, 4, 0).encode() == bytes.fromhex("00a40400")
    assert apdu.Command(0, 0xC0, 0, 0, le=256).encode() == bytes.fromhex("00c0000000")
    assert apdu.Command(0, 0x20, 0, 0x80, b"\x31" * 8).encode() == bytes.fromhex("0020008008" + "31" * 8)
    assert apdu.Command(0, 0xCB, 0x3F, 0xFF, b"\x5c\x01\x7e", le=256).encode() == bytes.fromhex(
        "00cb3fff035c017e00"
    )
    with pytest.raises(UsageError):
        apdu.Command(0, 0x87, 0, 0, bytes(256)).encode()
    with pytest.raises(UsageError):
        apdu.Command(0x100, 0, 0, 0)
    with pytest.raises(UsageError):
        apdu.Command(0, 0, 0, 0, le=0)


def test_chunks_set_chaining_bit() -> None:
    cmd = apdu.Command(0x00, 0x87, 0x11, 0x9E, bytes(range(256)) * 2, le=256)
    parts = cmd.chunks(200)
    assert [p.cla for p in parts] == [0x10, 0x10, 0x00]
    assert [p.le for p in parts] == [None, None, 256]
    assert b"".join(p.data for p in parts) == cmd.data


class Scripted:
    """A transmit function answering from a script and recording frames."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []

    def __call__(self, frame: bytes) -> bytes:
        self.sent.append(frame)
        return self.answers.pop(0)


def test_response_chaining() -> None:
    t = Scripted([b"A" * 256 + b"\x61\x00", b"B" * 256 + b"\x61\x10", b"C" * 16 + b"\x90\x00"])
    resp = apdu.transceive(t, apdu.Command(0, 0xCB, 0x3F, 0xFF, b"\x5c\x01\x7e", le=256))
    assert resp == apdu.Response(b"A" * 256 + b"B" * 256 + b"C" * 16, 0x9000)
    assert t.sent[1:] == [bytes.fromhex("00c0000000"), bytes.fromhex("00c0000010")]


def test_wrong_le_resend() -> None:
    t = Scripted([b"\x6c\x05", b"hello\x90\x00"])
    resp = apdu.transceive(t, apdu.Command(0, 0xCA, 0, 0, le=256))
    assert resp.data == b"hello"
    assert t.sent[1] == bytes.fromhex("00ca000005")


def test_command_chain_refused_midway_reports_status() -> None:
    t = Scripted([b"\x68\x84"])
    resp = apdu.transceive(t, apdu.Command(0, 0x87, 0x11, 0x9E, bytes(300)), max_data=255)
    assert resp.sw == 0x6884 and len(t.sent) == 1


def test_endless_61xx_is_bounded() -> None:
    t = Scripted([b"x" * 255 + b"\x61\xff"] * 400)
    with pytest.raises(errors.MalformedResponse):
        apdu.transceive(t, apdu.Command(0, 0xCB, 0x3F, 0xFF, b"\x5c\x01\x7e"))


def test_short_response_is_malformed() -> None:
    with pytest.raises(errors.MalformedResponse, match="no status word"):
        apdu.transceive(Scripted([b"\x90"]), apdu.Command(0, 0xA4, 4, 0))


def test_receive_without_frame_is_misuse() -> None:
    ex = apdu.Exchange(apdu.Command(0, 0xA4, 4, 0))
    ex.receive(b"\x90\x00")
    assert ex.done and ex.next_frame() is None
    with pytest.raises(UsageError):
        ex.receive(b"\x90\x00")


@pytest.mark.parametrize(
    ("sw", "cls"),
    [
        (0x6700, errors.WrongLength),
        (0x6982, errors.SecurityNotSatisfied),
        (0x6983, errors.PinBlocked),
        (0x6985, errors.ConditionsNotSatisfied),
        (0x6A80, errors.WrongData),
        (0x6A82, errors.NotFound),
        (0x6A88, errors.NotFound),
        (0x6A86, errors.WrongP1P2),
        (0x6D00, errors.InsNotSupported),
        (0x6E00, errors.ClaNotSupported),
        (0x63C2, errors.WrongPin),
        (0x6F00, errors.CardStatusError),
    ],
)
def test_status_words(sw: int, cls: type[errors.CardStatusError]) -> None:
    with pytest.raises(cls) as info:
        apdu.check(apdu.Response(b"", sw))
    assert info.value.sw == sw
    assert isinstance(info.value, errors.CardError)
    if cls is errors.WrongPin:
        assert info.value.tries_left == 2  # type: ignore[attr-defined]


@given(
    st.binary(max_size=2000),
    st.integers(min_value=1, max_value=256),
    st.integers(min_value=1, max_value=255),
    st.binary(max_size=700),
)
def test_chaining_both_directions_property(
    payload: bytes, chunk: int, max_data: int, command_data: bytes
) -> None:
    """A card that accepts chained commands and returns ``payload`` in ``chunk``-byte pieces."""
    received = bytearray()
    pending = bytearray()

    def card(frame: bytes) -> bytes:
        nonlocal pending
        cla, ins = frame[0], frame[1]
        if ins == 0xC0:
            out, pending = bytes(pending[:chunk]), pending[chunk:]
        else:
            received.extend(frame[5 : 5 + frame[4]] if len(frame) > 5 else b"")
            if cla & 0x10:
                return b"\x90\x00"
            out, pending = payload[:chunk], bytearray(payload[chunk:])
        if pending:
            return out + bytes([0x61, min(len(pending), 256) & 0xFF])
        return out + b"\x90\x00"

    resp = apdu.transceive(card, apdu.Command(0, 0xCB, 0x3F, 0xFF, command_data, le=256), max_data=max_data)
    assert resp == apdu.Response(payload, 0x9000)
    assert bytes(received) == command_data
