"""Caller-ID / message-waiting message bytes: layouts, checksums, strict parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.audio import callerid_msg as cm
from roamline.firmware.audio.errors import AudioUsageError

WHEN = cm.Stamp(12, 31, 23, 59)


def test_mdmf_call_bytes_exactly() -> None:
    raw = cm.encode(cm.CallerId(WHEN, number="2125551234", name="SMITH J"), cm.Format.MDMF)
    body = (b"\x01\x0812312359" + b"\x02\x0a2125551234" + b"\x07\x07SMITH J")
    assert raw[:2] == bytes([0x80, len(body)]) and raw[2:-1] == body
    assert sum(raw) % 256 == 0


def test_sdmf_call_and_private() -> None:
    raw = cm.encode(cm.CallerId(WHEN, number="5551212"), cm.Format.SDMF)
    assert raw[:2] == b"\x04\x0f" and raw[2:-1] == b"123123595551212" and sum(raw) % 256 == 0
    private = cm.encode(cm.CallerId(WHEN, number_absent=cm.Absence.PRIVATE), cm.Format.SDMF)
    assert private[2:-1] == b"12312359P"
    assert cm.decode(private) == cm.CallerId(WHEN, number_absent=cm.Absence.PRIVATE)


def test_message_waiting_layouts() -> None:
    assert cm.encode(cm.MessageWaiting(True), cm.Format.SDMF)[:-1] == b"\x06\x03BBB"
    assert cm.encode(cm.MessageWaiting(False), cm.Format.SDMF)[:-1] == b"\x06\x03ooo"
    assert cm.encode(cm.MessageWaiting(True), cm.Format.MDMF)[:-1] == b"\x82\x03\x0b\x01\xff"
    assert cm.encode(cm.MessageWaiting(False), cm.Format.MDMF)[:-1] == b"\x82\x03\x0b\x01\x00"
    etsi = cm.encode(cm.MessageWaiting(True, count=3), cm.Format.ETSI)
    assert etsi[:-1] == b"\x82\x06\x0b\x01\xff\x13\x01\x03"


@pytest.mark.parametrize("msg", [
    cm.CallerId(WHEN, number="+441632960123", name="A. N. Other"),
    cm.CallerId(WHEN, number_absent=cm.Absence.PRIVATE, name_absent=cm.Absence.PRIVATE),
    cm.CallerId(WHEN, number_absent=cm.Absence.UNAVAILABLE, name_absent=cm.Absence.UNAVAILABLE),
    cm.CallerId(number="030123456", call_type=0x01),
    cm.MessageWaiting(True, count=12),
    cm.MessageWaiting(False),
])
def test_etsi_round_trip(msg: cm.Message) -> None:
    assert cm.decode(cm.encode(msg, cm.Format.ETSI)) == msg


@pytest.mark.parametrize("fmt", list(cm.Format))
def test_round_trip_every_format(fmt: cm.Format) -> None:
    msg = cm.CallerId(WHEN, number="8005550100")
    assert cm.decode(cm.encode(msg, fmt)) == msg
    for on in (True, False):
        assert cm.decode(cm.encode(cm.MessageWaiting(on), fmt)) == cm.MessageWaiting(on)


def test_what_a_format_cannot_carry_is_a_usage_error() -> None:
    with pytest.raises(AudioUsageError):
        cm.encode(cm.CallerId(WHEN, number="1", name="X"), cm.Format.SDMF)
    with pytest.raises(AudioUsageError):
        cm.encode(cm.CallerId(number="1", call_type=1), cm.Format.MDMF)
    with pytest.raises(AudioUsageError):
        cm.encode(cm.MessageWaiting(True, count=2), cm.Format.MDMF)
    with pytest.raises(AudioUsageError):
        cm.encode(cm.CallerId(WHEN, number="555-1212"), cm.Format.MDMF)
    with pytest.raises(AudioUsageError):
        cm.CallerId(number="1", number_absent=cm.Absence.PRIVATE)
    with pytest.raises(AudioUsageError):
        cm.Stamp(13, 1, 0, 0)


@pytest.mark.parametrize(("raw", "why"), [
    (b"\x80", "too short"),
    (b"\x99\x01\x00\x66", "unknown"),
    (b"\x80\x05\x02\x01\x31\x00", "length byte"),
    (b"\x82\x03\x0b\x01\xff\x00", "checksum"),
    (cm.frame(0x82, b"\x0b\x01\x07"), "visual indicator"),
    (cm.frame(0x80, b"\x02\x05\x31"), "runs past"),
    (cm.frame(0x80, b"\x02\x01\x31\x02\x01\x32"), "twice"),
    (cm.frame(0x80, b"\x01\x0813312359"), "date"),
    (cm.frame(0x80, b"\x04\x01X"), "P or O"),
    (cm.frame(0x80, b"\x02\x01\x07"), "printable"),
    (cm.frame(0x06, b"BBo"), "0x42"),
    (cm.frame(0x04, b"1231"), "shorter"),
    (cm.frame(0x80, b"\x02\x011\x04\x01P"), "exclusive"),
])
def test_malformed_messages_are_rejected_with_a_reason(raw: bytes, why: str) -> None:
    with pytest.raises(cm.CallerIdError, match=why):
        cm.decode(raw)


def test_unknown_mdmf_parameters_are_skipped() -> None:
    raw = cm.frame(0x80, b"\x02\x03555" + b"\x99\x02ab")
    assert cm.decode(raw) == cm.CallerId(number="555")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_raise_callerid_error(raw: bytes) -> None:
    try:
        cm.decode(raw)
    except cm.CallerIdError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(cm.MESSAGE_TYPES)), st.binary(max_size=60))
def test_framed_random_bodies_parse_or_raise_callerid_error(msg_type: int, body: bytes) -> None:
    try:
        cm.decode(cm.frame(msg_type, body))
    except cm.CallerIdError:
        pass
