from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.callerid import codec
from roamline.firmware.callerid.codec import Absence, CallerId, Stamp
from roamline.firmware.line import events as ev
from roamline.firmware.line.at import ModemCore
from roamline.firmware.line.callerid import CallerIdAssembler, decode_unformatted

P, U = Absence.PRIVATE, Absence.UNAVAILABLE
NEW_YEAR = Stamp(1, 1, 0, 0)


def _mdmf(number: str | None, name: str | None, when: Stamp = NEW_YEAR, *,
          number_absent: Absence = U, name_absent: Absence = U) -> bytes:
    cid = CallerId(number, name, when, number_absent=None if number else number_absent,
                   name_absent=None if name else name_absent)
    return codec.encode(cid, codec.Format.MDMF)


def _feed(core: ModemCore, data: bytes, bytewise: bool, now: float = 0.0) -> list[ev.LineEvent]:
    out: list[ev.LineEvent] = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for c in chunks:
        out += core.feed(c, now)
    return out


def _cids(events: list[ev.LineEvent]) -> list[ev.CallerIdReceived]:
    return [e for e in events if isinstance(e, ev.CallerIdReceived)]


def _formatted(cid: CallerId) -> ev.CallerIdReceived:
    return ev.CallerIdReceived(cid, "formatted")


RECORDS = {
    "DATE": b"DATE = 0321", "TIME": b"TIME = 1405", "NMBR": b"NMBR = 5551234567", "NAME": b"NAME = RING DATE",
}


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize("order", list(itertools.permutations(RECORDS))[::5])
def test_formatted_any_order_before_first_ring(order: tuple[str, ...], bytewise: bool) -> None:
    core = ModemCore()
    data = b"".join(b"\r\n" + RECORDS[k] + b"\r\n" for k in order) + b"\r\nRING\r\n"
    out = _feed(core, data, bytewise)
    assert _cids(out) == [_formatted(CallerId("5551234567", "RING DATE", Stamp(3, 21, 14, 5)))]
    assert sum(isinstance(e, ev.Ring) for e in out) == 1
    assert out.index(_cids(out)[0]) < next(i for i, e in enumerate(out) if isinstance(e, ev.Ring))


@pytest.mark.parametrize("bytewise", [False, True])
def test_formatted_between_rings_no_spaces_name_absent(bytewise: bool) -> None:
    core = ModemCore()
    data = b"\r\nRING\r\n\r\nTIME=0101\r\nNMBR=O\r\nDATE=1231\r\n\r\nRING\r\n"
    out = _feed(core, data, bytewise)
    assert [type(e).__name__ for e in out] == ["Ring", "CallerIdReceived", "Ring"]
    assert _cids(out) == [_formatted(CallerId(when=Stamp(12, 31, 1, 1), number_absent=U))]


def test_completes_on_timeout_and_private_markers() -> None:
    a = CallerIdAssembler(quiet_s=1.0)
    assert a.feed_line("NMBR = P", 10.0) == []
    assert a.feed_line("NAME = P", 10.2) == []
    assert a.deadline() == pytest.approx(11.2)
    assert a.poll(11.0) == []
    assert a.poll(11.3) == [_formatted(CallerId(number_absent=P, name_absent=P))]
    assert a.ring(12.0) == []  # nothing pending: a ring completes nothing


def test_never_any_caller_id() -> None:
    core = ModemCore()
    out = _feed(core, b"\r\nRING\r\n" * 3, False)
    assert _cids(out) == [] and len(out) == 3


def test_repeated_field_starts_a_new_message() -> None:
    a = CallerIdAssembler()
    a.feed_line("NMBR = 111", 0)
    out = a.feed_line("NMBR = 222", 0)
    assert out == [_formatted(CallerId("111"))]


@pytest.mark.parametrize("bytewise", [False, True])
def test_mdmf_and_sdmf_hex(bytewise: bool) -> None:
    core = ModemCore()
    mdmf = _mdmf("5551234", "RING DATE NMBR", Stamp(3, 21, 14, 5)).hex().upper().encode()
    sdmf = b"MESG = " + codec.encode(CallerId(when=Stamp(12, 31, 23, 59), number_absent=P),
                                     codec.Format.SDMF).hex().encode()
    out = _feed(core, b"\r\nRING\r\n" + mdmf + b"\r\n\r\nRING\r\n" + sdmf + b"\r\n", bytewise)
    assert _cids(out) == [
        ev.CallerIdReceived(CallerId("5551234", "RING DATE NMBR", Stamp(3, 21, 14, 5)), "mdmf"),
        ev.CallerIdReceived(CallerId(when=Stamp(12, 31, 23, 59), number_absent=P), "sdmf"),
    ]


def test_mdmf_absent_reasons() -> None:
    got = decode_unformatted(_mdmf(None, None, number_absent=P, name_absent=U))
    assert got == ev.CallerIdReceived(CallerId(when=NEW_YEAR, number_absent=P, name_absent=U), "mdmf")
    assert isinstance(got, ev.CallerIdReceived)
    assert (got.caller_id.number_status, got.caller_id.name_status) == ("private", "unavailable")


@pytest.mark.parametrize("bytewise", [False, True])
def test_bad_checksum_is_reported_not_raised(bytewise: bool) -> None:
    raw = bytearray(_mdmf("5551234", "X"))
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
        data = b"\r\n" + _mdmf(number, name).hex().encode() + b"\r\nRING\r\n"
    cids = _cids(_feed(core, data, bytewise))
    assert len(cids) == 1
    assert (cids[0].caller_id.number, cids[0].caller_id.name) == (number, name)
