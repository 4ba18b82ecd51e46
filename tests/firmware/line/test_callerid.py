from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.line import events as ev
from roamline.firmware.line.at import ModemCore
from roamline.firmware.line.callerid import (
    CallerIdAssembler,
    decode_unformatted,
    encode_mdmf,
    encode_sdmf,
)


def _feed(core: ModemCore, data: bytes, bytewise: bool, now: float = 0.0) -> list[ev.LineEvent]:
    out: list[ev.LineEvent] = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for c in chunks:
        out += core.feed(c, now)
    return out


def _cids(events: list[ev.LineEvent]) -> list[ev.CallerId]:
    return [e for e in events if isinstance(e, ev.CallerId)]


RECORDS = {
    "DATE": b"DATE = 0321", "TIME": b"TIME = 1405", "NMBR": b"NMBR = 5551234567", "NAME": b"NAME = RING DATE",
}


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize("order", list(itertools.permutations(RECORDS))[::5])
def test_formatted_any_order_before_first_ring(order: tuple[str, ...], bytewise: bool) -> None:
    core = ModemCore()
    data = b"".join(b"\r\n" + RECORDS[k] + b"\r\n" for k in order) + b"\r\nRING\r\n"
    out = _feed(core, data, bytewise)
    assert _cids(out) == [ev.CallerId("5551234567", "RING DATE", "0321", "1405", "ok", "ok")]
    assert sum(isinstance(e, ev.Ring) for e in out) == 1
    assert out.index(_cids(out)[0]) < next(i for i, e in enumerate(out) if isinstance(e, ev.Ring))


@pytest.mark.parametrize("bytewise", [False, True])
def test_formatted_between_rings_no_spaces_name_absent(bytewise: bool) -> None:
    core = ModemCore()
    data = b"\r\nRING\r\n\r\nTIME=0101\r\nNMBR=O\r\nDATE=1231\r\n\r\nRING\r\n"
    out = _feed(core, data, bytewise)
    assert [type(e).__name__ for e in out] == ["Ring", "CallerId", "Ring"]
    assert _cids(out) == [ev.CallerId(None, None, "1231", "0101", "unavailable", "absent")]


def test_completes_on_timeout_and_private_markers() -> None:
    a = CallerIdAssembler(quiet_s=1.0)
    assert a.feed_line("NMBR = P", 10.0) == []
    assert a.feed_line("NAME = P", 10.2) == []
    assert a.deadline() == pytest.approx(11.2)
    assert a.poll(11.0) == []
    assert a.poll(11.3) == [ev.CallerId(None, None, None, None, "private", "private")]
    assert a.ring(12.0) == []  # nothing pending: a ring completes nothing


def test_never_any_caller_id() -> None:
    core = ModemCore()
    out = _feed(core, b"\r\nRING\r\n" * 3, False)
    assert _cids(out) == [] and len(out) == 3


def test_repeated_field_starts_a_new_message() -> None:
    a = CallerIdAssembler()
    a.feed_line("NMBR = 111", 0)
    out = a.feed_line("NMBR = 222", 0)
    assert out == [ev.CallerId("111", number_status="ok")]


@pytest.mark.parametrize("bytewise", [False, True])
def test_mdmf_and_sdmf_hex(bytewise: bool) -> None:
    core = ModemCore()
    mdmf = encode_mdmf("5551234", "RING DATE NMBR", "03211405").hex().upper().encode()
    sdmf = b"MESG = " + encode_sdmf("P", "12312359").hex().encode()
    out = _feed(core, b"\r\nRING\r\n" + mdmf + b"\r\n\r\nRING\r\n" + sdmf + b"\r\n", bytewise)
    assert _cids(out) == [
        ev.CallerId("5551234", "RING DATE NMBR", "0321", "1405", "ok", "ok", "mdmf"),
        ev.CallerId(None, None, "1231", "2359", "private", "absent", "sdmf"),
    ]


def test_mdmf_absent_reasons() -> None:
    got = decode_unformatted(encode_mdmf(None, None, number_marker="P", name_marker="O"))
    assert got == ev.CallerId(None, None, "0101", "0000", "private", "unavailable", "mdmf")


@pytest.mark.parametrize("bytewise", [False, True])
def test_bad_checksum_is_reported_not_raised(bytewise: bool) -> None:
    raw = bytearray(encode_mdmf("5551234", "X"))
    raw[-1] ^= 0x55
    out = _feed(ModemCore(), b"\r\n" + raw.hex().encode() + b"\r\nRING\r\n", bytewise)
    assert isinstance(out[0], ev.BadCallerId) and "checksum" in out[0].reason
    assert isinstance(out[1], ev.Ring)


def test_truncated_mdmf_parameter() -> None:
    msg = bytes((0x80, 4, 0x02, 9, 0x31, 0x32))
    msg += bytes(((-sum(msg)) & 0xFF,))
    assert isinstance(decode_unformatted(msg), ev.BadCallerId)


names = st.text(alphabet=st.sampled_from(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ =0123456789")), min_size=2,
                max_size=15).map(str.strip).filter(lambda s: len(s) > 1)
numbers = st.text(alphabet="0123456789", min_size=3, max_size=15)


@given(numbers, names, st.booleans(), st.booleans())
def test_property_mdmf_round_trip(number: str, name: str, formatted: bool, bytewise: bool) -> None:
    core = ModemCore()
    if formatted:
        data = f"\r\nNAME = {name}\r\nNMBR = {number}\r\n\r\nRING\r\n".encode()
    else:
        data = b"\r\n" + encode_mdmf(number, name).hex().encode() + b"\r\nRING\r\n"
    cids = _cids(_feed(core, data, bytewise))
    assert len(cids) == 1
    assert (cids[0].number, cids[0].name) == (number, name)
