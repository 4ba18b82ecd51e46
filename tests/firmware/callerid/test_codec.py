"""Caller-ID / message-waiting message bytes: layouts, checksums, strict parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.callerid import codec as cm

WHEN = cm.Stamp(12, 31, 23, 59)


def test_mdmf_call_bytes_exactly() -> None:
    raw = cm.encode(cm.CallerId(when=WHEN, number="2125551234", name="SMITH J"), cm.Format.MDMF)
    body = (b"\x01\x0812312359" + b"\x02\x0a2125551234" + b"\x07\x07SMITH J")
    assert raw[:2] == bytes([0x80, len(body)]) and raw[2:-1] == body
    assert sum(raw) % 256 == 0


def test_sdmf_call_and_private() -> None:
    raw = cm.encode(cm.CallerId(when=WHEN, number="5551212"), cm.Format.SDMF)
    assert raw[:2] == b"\x04\x0f" and raw[2:-1] == b"123123595551212" and sum(raw) % 256 == 0
    private = cm.encode(cm.CallerId(when=WHEN, number_absent=cm.Absence.PRIVATE), cm.Format.SDMF)
    assert private[2:-1] == b"12312359P"
    assert cm.decode(private) == cm.CallerId(when=WHEN, number_absent=cm.Absence.PRIVATE)


def test_message_waiting_layouts() -> None:
    assert cm.encode(cm.MessageWaiting(True), cm.Format.SDMF)[:-1] == b"\x06\x03BBB"
    assert cm.encode(cm.MessageWaiting(False), cm.Format.SDMF)[:-1] == b"\x06\x03ooo"
    assert cm.encode(cm.MessageWaiting(True), cm.Format.MDMF)[:-1] == b"\x82\x03\x0b\x01\xff"
    assert cm.encode(cm.MessageWaiting(False), cm.Format.MDMF)[:-1] == b"\x82\x03\x0b\x01\x00"
    etsi = cm.encode(cm.MessageWaiting(True, count=3), cm.Format.ETSI)
    assert etsi[:-1] == b"\x82\x06\x0b\x01\xff\x13\x01\x03"


@pytest.mark.parametrize("msg", [
    cm.CallerId(when=WHEN, number="+441632960123", name="A. N. Other"),
    cm.CallerId(when=WHEN, number_absent=cm.Absence.PRIVATE, name_absent=cm.Absence.PRIVATE),
    cm.CallerId(when=WHEN, number_absent=cm.Absence.UNAVAILABLE, name_absent=cm.Absence.UNAVAILABLE),
    cm.CallerId(number="030123456", call_type=0x01),
    cm.MessageWaiting(True, count=12),
    cm.MessageWaiting(False),
])
def test_etsi_round_trip(msg: cm.Message) -> None:
    assert cm.decode(cm.encode(msg, cm.Format.ETSI)) == msg


@pytest.mark.parametrize("fmt", list(cm.Format))
def test_round_trip_every_format(fmt: cm.Format) -> None:
    msg = cm.CallerId(when=WHEN, number="8005550100")
    assert cm.decode(cm.encode(msg, fmt)) == msg
    for on in (True, False):
        assert cm.decode(cm.encode(cm.MessageWaiting(on), fmt)) == cm.MessageWaiting(on)


def test_what_a_format_cannot_carry_is_a_usage_error() -> None:
    with pytest.raises(cm.CallerIdUsageError):
        cm.encode(cm.CallerId(when=WHEN, number="1", name="X"), cm.Format.SDMF)
    with pytest.raises(cm.CallerIdUsageError):
        cm.encode(cm.CallerId(number="1", call_type=1), cm.Format.MDMF)
    with pytest.raises(cm.CallerIdUsageError):
        cm.encode(cm.MessageWaiting(True, count=2), cm.Format.MDMF)
    with pytest.raises(cm.CallerIdUsageError):
        cm.encode(cm.CallerId(when=WHEN, number="555-1212"), cm.Format.MDMF)
    with pytest.raises(cm.CallerIdUsageError):
        cm.CallerId(number="1", number_absent=cm.Absence.PRIVATE)
    with pytest.raises(cm.CallerIdUsageError):
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


# --- properties: every message a format can carry survives encode → decode, whole or fed byte by byte ---

_stamps = st.builds(cm.Stamp, st.integers(1, 12), st.integers(1, 31), st.integers(0, 23), st.integers(0, 59))
_digits = st.text(alphabet="0123456789*#+", min_size=1, max_size=cm.MAX_NUMBER)
_names = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                 max_size=cm.MAX_NAME)
_absence = st.sampled_from(list(cm.Absence))


@st.composite
def _carried(draw: st.DrawFn, fmt: cm.Format) -> cm.Message:
    """A message ``fmt`` can carry."""
    if draw(st.booleans()):
        count = draw(st.none() | st.integers(0, 255)) if fmt is cm.Format.ETSI else None
        return cm.MessageWaiting(draw(st.booleans()), count)
    if fmt is cm.Format.SDMF:
        when = draw(_stamps)
        if draw(st.booleans()):
            return cm.CallerId(draw(st.text(alphabet="0123456789", min_size=1, max_size=10)), when=when)
        return cm.CallerId(when=when, number_absent=draw(_absence))
    number = draw(st.none() | _digits)
    name = draw(st.none() | _names)
    msg = cm.CallerId(
        number, name, draw(st.none() | _stamps),
        number_absent=None if number is not None else draw(st.none() | _absence),
        name_absent=None if name is not None else draw(st.none() | _absence),
        call_type=draw(st.none() | st.integers(0, 255)) if fmt is cm.Format.ETSI else None)
    if msg == cm.CallerId():
        return cm.CallerId(number="0")
    return msg


@st.composite
def _format_and_messages(draw: st.DrawFn) -> tuple[cm.Format, list[cm.Message]]:
    fmt = draw(st.sampled_from(list(cm.Format)))
    return fmt, draw(st.lists(_carried(fmt), min_size=1, max_size=4))


@settings(max_examples=300, deadline=None)
@given(_format_and_messages())
def test_property_round_trip(case: tuple[cm.Format, list[cm.Message]]) -> None:
    fmt, messages = case
    for msg in messages:
        raw = cm.encode(msg, fmt)
        assert sum(raw) % 256 == 0 and raw[1] == len(raw) - 3
        assert cm.decode(raw) == msg


@settings(max_examples=200, deadline=None)
@given(_format_and_messages(), st.data())
def test_property_framer_fed_in_any_pieces(case: tuple[cm.Format, list[cm.Message]], data: st.DataObject
                                           ) -> None:
    fmt, messages = case
    stream = b"".join(cm.encode(m, fmt) for m in messages)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)))))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    framer = cm.Framer()
    bytewise = [raw for b in stream if (raw := framer.push(b)) is not None]
    assert framer.pending == b""
    chunked = [raw for piece in pieces for raw in framer.feed(piece)]
    assert [cm.decode(r) for r in bytewise] == [cm.decode(r) for r in chunked] == messages


def test_framer_holds_a_partial_message_and_refuses_a_bad_start() -> None:
    raw = cm.encode(cm.CallerId(number="5551234"), cm.Format.MDMF)
    framer = cm.Framer()
    assert framer.feed(raw[:-1]) == [] and framer.pending == raw[:-1]
    assert framer.feed(raw[-1:]) == [raw] and framer.pending == b""
    with pytest.raises(cm.CallerIdError, match="unknown message type 0x99"):
        framer.push(0x99)


def test_status_of_a_field_says_why_it_is_missing() -> None:
    cid = cm.CallerId(number="1", name_absent=cm.Absence.UNAVAILABLE)
    assert (cid.number_status, cid.name_status) == ("ok", "unavailable")
    assert cm.CallerId(number_absent=cm.Absence.PRIVATE).number_status == "private"
    assert cm.CallerId().name_status == "absent"


def test_stamps_from_a_modems_text_and_a_datetime() -> None:
    from datetime import datetime

    assert cm.Stamp.from_text("0321", "1405") == cm.Stamp(3, 21, 14, 5)
    assert cm.Stamp.from_text("1332", "1405") is None and cm.Stamp.from_text("0321", None) is None
    assert cm.Stamp.from_datetime(datetime(2025, 6, 7, 8, 9)) == cm.Stamp(6, 7, 8, 9)
    assert (cm.Stamp(6, 7, 8, 9).date, cm.Stamp(6, 7, 8, 9).time) == ("0607", "0809")


def test_ddn_number_is_read_when_no_number_parameter() -> None:
    assert cm.decode(cm.frame(0x80, b"\x03\x045551")) == cm.CallerId(number="5551")
