from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.line import dle
from roamline.firmware.line import events as ev
from roamline.firmware.line.at import ModemCore
from roamline.firmware.line.errors import LineUsageError


def _feed(core: ModemCore, data: bytes, bytewise: bool, now: float = 0.0) -> list[ev.LineEvent]:
    out: list[ev.LineEvent] = []
    for c in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
        out += core.feed(c, now)
    return out


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize(
    ("reply", "result", "lines"),
    [
        (b"ATI3\r\r\nU.S. Robotics 56K FAX USB V1.2.23\r\n\r\nOK\r\n", "OK",
         ("U.S. Robotics 56K FAX USB V1.2.23",)),
        (b"\r\nCX93001-EIS_V0.2013-V92\r\n\r\nOK\r\n", "OK", ("CX93001-EIS_V0.2013-V92",)),
        (b"CX93001\r0\r", "OK", ("CX93001",)),  # numeric results, no LF
        (b"\x00\xff\x13garbage\r\n\r\nERROR\r\n", "ERROR", ("\xffgarbage",)),
        (b"\r\nNO DIAL TONE\r\n", "NO DIALTONE", ()),
        (b"\r\n4\r\n", "ERROR", ()),
    ],
)
def test_results(reply: bytes, result: str, lines: tuple[str, ...], bytewise: bool) -> None:
    core = ModemCore()
    core.command("ATI3", now=0)
    assert core.outgoing() == b"ATI3\r"
    out = _feed(core, reply, bytewise)
    assert out == [ev.CommandDone("ATI3", result, lines)]
    assert not core.busy


def test_queue_sends_one_at_a_time_and_times_out() -> None:
    core = ModemCore()
    core.command("ATE0", 0, timeout=1)
    core.command("ATV1", 0, timeout=1)
    assert core.outgoing() == b"ATE0\r"
    assert core.deadline() == 1
    assert core.poll(0.5) == []
    assert core.poll(1.0) == [ev.CommandTimedOut("ATE0")]
    assert core.outgoing() == b"ATV1\r"
    assert core.feed(b"\r\nOK\r\n", 1.2) == [ev.CommandDone("ATV1", "OK")]


@pytest.mark.parametrize("bytewise", [False, True])
def test_unsolicited_between_commands_and_noise(bytewise: bool) -> None:
    core = ModemCore()
    core.command("AT+VCID=1", 0)
    data = b"AT+VCID=1\r\r\nRING\r\n~~x\x01\r\n\r\nOK\r\n\x10b\r\nNO CARRIER\r\nRING DATE\r\n"
    out = _feed(core, data, bytewise)
    assert out == [
        ev.Ring(0), ev.CommandDone("AT+VCID=1", "OK", ("~~x",)), ev.Busy(), ev.ResultCode("NO CARRIER"),
        ev.Noise("RING DATE"),
    ]


def test_overlong_line_is_dropped_bounded() -> None:
    core = ModemCore()
    out = core.feed(b"A" * 5000 + b"\r\nRING\r\n", 0)
    assert isinstance(out[0], ev.Noise) and out[-1] == ev.Ring(0)
    assert len(out) == 2


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize("style", ["single", "triple"])
def test_voice_receive_round_trip(bytewise: bool, style: str) -> None:
    core = ModemCore(eos=style)  # type: ignore[arg-type]
    core.command("AT+VRX", 0)
    assert core.outgoing() == b"AT+VRX\r"
    payload = bytes(range(256)) * 2
    stream = b"\r\nCONNECT\r\n" + dle.shield(payload[:300]) + b"\x10" + b"5" + dle.shield(payload[300:])
    out = _feed(core, stream, bytewise)
    assert core.voice == "rx"
    core.stop_voice(1.0)
    assert core.outgoing() == dle.ABORT_RX
    out += _feed(core, dle.end_of_stream(style) + b"\r\nOK\r\nRING\r\n", bytewise)  # type: ignore[arg-type]
    voice = b"".join(e.data for e in out if isinstance(e, ev.VoiceData))
    assert voice == payload
    kinds = [e for e in out if not isinstance(e, ev.VoiceData)]
    assert kinds == [ev.CommandDone("AT+VRX", "CONNECT"), ev.DtmfDigit("5"), ev.EndOfStream(),
                     ev.CommandDone("<end-voice>", "OK"), ev.Ring(0)]
    assert core.voice is None


def test_voice_transmit_shields_every_byte_and_ends() -> None:
    core = ModemCore()
    core.command("AT+VTX", 0)
    core.outgoing()
    core.feed(b"\r\nCONNECT\r\n", 0)
    with pytest.raises(LineUsageError):
        core.command("ATH", 0)
    payload = bytes(range(256))
    core.send_voice(payload)
    core.stop_voice(0)
    sent = core.outgoing()
    d = dle.DleDecoder()
    got = d.feed(sent)
    assert b"".join(e.data for e in got if isinstance(e, ev.VoiceData)) == payload
    assert got[-1] == ev.EndOfStream()
    assert core.feed(b"\r\nOK\r\n", 0) == [ev.CommandDone("<end-voice>", "OK")]


@given(st.binary(max_size=200), st.data())
def test_property_garbage_never_breaks_the_next_command(garbage: bytes, data: st.DataObject) -> None:
    core = ModemCore()
    core.feed(garbage.replace(b"\x10", b""), 0)  # any junk, unsolicited
    core.feed(b"\r\n", 0)
    core.command("ATI0", 0)
    stream = b"ATI0\r\r\n5601\r\n\r\nOK\r\n"
    cut = data.draw(st.integers(0, len(stream)))
    out = core.feed(stream[:cut], 0) + core.feed(stream[cut:], 0)
    assert [e for e in out if isinstance(e, ev.CommandDone)] == [ev.CommandDone("ATI0", "OK", ("5601",))]
