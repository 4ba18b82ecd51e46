"""Sans-I/O pieces: caller-ID encoding, V.250 parsing, G.711, and the modem core fed bytes directly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.hil.errors import UsageError
from roamline.hil.exchange import audio, callerid
from roamline.hil.exchange.atparse import AtSyntaxError, Cmd, parse, split_args
from roamline.hil.exchange.dialects import DIALECTS, dialect
from roamline.hil.exchange.modem import Dial, ModemSim, OffHook, OnHook

printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40)


@given(number=printable, name=st.one_of(st.none(), printable), fmt=st.sampled_from(["mdmf", "sdmf"]))
def test_caller_id_messages_sum_to_zero(number: str, name: str | None, fmt: str) -> None:
    msg = callerid.encode(callerid.Presentation(number, name, format=fmt))
    assert sum(msg) % 256 == 0
    assert msg[0] == (0x80 if fmt == "mdmf" else 0x04)
    assert msg[1] == len(msg) - 3
    bad = callerid.encode(callerid.Presentation(number, name, format=fmt, corrupt=True))
    assert sum(bad) % 256 != 0 and bad[:-1] == msg[:-1]


def test_mdmf_layout_and_absence_markers() -> None:
    p = callerid.Presentation("5551234", "JOHN DOE", date="0321", time="1405")
    msg = callerid.encode(p)
    assert msg[2:12] == b"\x01\x0803211405"
    assert b"\x02\x075551234" in msg and b"\x07\x08JOHN DOE" in msg
    private = callerid.encode(callerid.Presentation("P", "P"))
    assert b"\x04\x01P" in private and b"\x08\x01P" in private and b"\x02" not in private[2:3]
    assert callerid.formatted_lines(callerid.Presentation("O", "O"), "=")[2:] == ["NMBR=O", "NAME=O"]
    sdmf = callerid.encode(callerid.Presentation("5551234", "IGNORED", format="sdmf"))
    assert b"IGNORED" not in sdmf


def test_presentation_is_validated() -> None:
    with pytest.raises(UsageError):
        callerid.Presentation("555", date="3")
    with pytest.raises(UsageError):
        callerid.Presentation("", None)


def test_parse_basic_and_extended() -> None:
    assert parse("E0V1&FS0=2+FCLASS=8;+VCID?") == [
        Cmd("E", "", "0"), Cmd("V", "", "1"), Cmd("&F", "", ""), Cmd("S0", "=", "2"),
        Cmd("+FCLASS", "=", "8"), Cmd("+VCID", "?", ""),
    ]
    assert parse("+vsm=?") == [Cmd("+VSM", "=?", "")]
    assert parse("DT555,1234;") == [Cmd("D", "", "T555,1234;")]
    assert split_args("[440,480,100],1,{5,20}") == ["[440,480,100]", "1", "{5,20}"]


@given(st.text(max_size=60))
def test_parse_never_crashes(body: str) -> None:
    try:
        parse(body)
    except AtSyntaxError:
        pass


@pytest.mark.parametrize("enc", ["ulaw", "alaw", "u8", "s8", "s16le"])
def test_codecs_round_trip_close(enc: str) -> None:
    x = (np.sin(np.arange(800) / 7) * 12000).astype(np.int16)
    y = audio.decode(audio.encode(x, enc), enc)
    assert len(y) == len(x)
    assert np.max(np.abs(y.astype(int) - x.astype(int))) <= 512


def test_g711_codes_are_stable() -> None:
    for enc in ("ulaw", "alaw"):
        codes = bytes(range(256))
        again = audio.encode(audio.decode(codes, enc), enc)
        assert sum(a != b for a, b in zip(codes, again, strict=True)) <= 1  # only µ-law's two zeros


def test_dialect_lookup() -> None:
    assert dialect("Zoom3095").name == "cx93001"
    with pytest.raises(UsageError):
        dialect("hayes")


def run(m: ModemSim, data: bytes, bytewise: bool, now: float = 0.0) -> bytes:
    if bytewise:
        for b in data:
            m.feed(bytes([b]), now)
    else:
        m.feed(data, now)
    m.tick(now)
    return m.take_output()


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_core_identification_whole_and_bytewise(name: str, bytewise: bool) -> None:
    m = ModemSim(DIALECTS[name])
    out = run(m, b"ATE0\rATI3\rAT+GMM\rAT+FMI?\r", bytewise)
    d = DIALECTS[name]
    assert out.count(b"OK") == 4
    assert d.ati[3].encode() in out and d.model.encode() in out and d.manufacturer.encode() in out


def test_core_echo_numeric_quiet_and_errors() -> None:
    m = ModemSim(dialect("cx93001"))
    assert run(m, b"AT\r", False) == b"AT\r\r\nOK\r\n"
    assert run(m, b"ATE0V0\r", False) == b"ATE0V0\r0\r"  # echo stops after this line
    assert run(m, b"ATBOGUS?\r", False) == b"4\r"
    assert run(m, b"noise\x01\x02AT\r", False) == b"0\r"
    assert run(m, b"ATQ1\r", False) == b""
    assert run(m, b"ATX\x08Q0\r", False) == b"0\r"  # backspace edits the line
    assert run(m, b"ATV1\rA/", False) == b"\r\nOK\r\n\r\nOK\r\n"


def test_core_voice_requires_fclass8_and_vtr_per_dialect() -> None:
    usr, cx = ModemSim(dialect("usr5637")), ModemSim(dialect("cx93001"))
    assert b"ERROR" in run(usr, b"ATE0\rAT+VLS=1\r", False)
    assert b"OK" in run(usr, b"AT+FCLASS=8;+VLS=1\r", False)
    assert b"ERROR" in run(usr, b"AT+VTR\r", False)
    run(cx, b"ATE0\rAT+FCLASS=8\rAT+VLS=1\r", False)
    assert run(cx, b"AT+VTR\r", False) == b"\r\nCONNECT\r\n"
    assert isinstance(usr.take_requests()[0], OffHook) and isinstance(cx.take_requests()[0], OffHook)


@pytest.mark.parametrize("bytewise", [False, True])
def test_core_tx_unshields_every_byte_value(bytewise: bool) -> None:
    m = ModemSim(dialect("mt9234mu"))
    run(m, b"ATE0\rAT+FCLASS=8\rAT+VSM=1\rAT+VLS=1\rAT+VTX\r", False)
    payload = bytes(range(256)) * 4
    run(m, payload.replace(b"\x10", b"\x10\x10") + b"\x10\x03", bytewise)
    got = np.concatenate([m.speak(0.0) for _ in range(len(payload) // audio.FRAME + 1)])
    assert audio.encode(got[: len(payload)], "u8") == payload
    m.tick(1.0)
    assert m.take_output().endswith(b"\r\nOK\r\n")


def test_core_dial_and_hangup_requests() -> None:
    m = ModemSim(dialect("cx93001"))
    run(m, b"ATE0\rAT+FCLASS=8\rATDT5551234\r", False)
    assert isinstance(m.take_requests()[0], OffHook)
    m.progress("dial", 0.0)
    m.tick(5.0)
    assert m.take_requests() == [Dial("5551234")]
    m.feed(b"x", 5.0)  # any key aborts the dial
    assert m.take_requests() == [OnHook()]
    assert b"NO CARRIER" in m.take_output()


@settings(max_examples=50)
@given(st.binary(max_size=300))
def test_core_survives_garbage(data: bytes) -> None:
    m = ModemSim(dialect("usr5637"))
    m.feed(data.replace(b"A", b"").replace(b"a", b""), 0.0)  # line noise, but no AT prefix in it
    m.tick(1.0)
    m.feed(b"\rATE0\r", 1.0)
    m.take_output()
    m.feed(b"AT\r", 1.0)
    assert m.take_output().endswith(b"OK\r\n")


def test_voice_timers_set_and_read_back() -> None:
    m = ModemSim(dialect("cx93001"))
    run(m, b"ATE0\rAT+FCLASS=8\r", False)
    for cmd, value in (("+VSD", "128,20"), ("+VIT", "7"), ("+VRA", "30"), ("+VRN", "5"), ("+VGT", "140")):
        assert run(m, f"AT{cmd}={value}\r".encode(), False) == b"\r\nOK\r\n"
        assert run(m, f"AT{cmd}?\r".encode(), False) == f"\r\n{value}\r\n\r\nOK\r\n".encode()
    assert m.vsd == (128, 20) and m.vit == 7 and m.vra == 30


commands = st.sampled_from(
    ["+VSM", "+VLS", "+VSD", "+VIT", "+VRA", "+VTS", "+VCID", "+FCLASS", "S7", "I", "+VGR"]
)
ops = st.sampled_from(["", "?", "=?", "="])
args = st.text(st.sampled_from(list("0123456789,[]{}\"-ABC#* ")), max_size=12)


@settings(max_examples=200)
@given(st.lists(st.tuples(commands, ops, args), min_size=1, max_size=4))
def test_any_command_line_gets_a_final_result(cmds: list[tuple[str, str, str]]) -> None:
    m = ModemSim(dialect("cx93001"))
    run(m, b"ATE0\rAT+FCLASS=8\r", False)
    line = "AT" + ";".join(f"{c}{o}{a}" for c, o, a in cmds)
    m.feed(line.encode() + b"\r", 0.0)
    for t in range(40):
        m.tick(float(t))
    out = m.take_output()
    assert out.endswith((b"OK\r\n", b"ERROR\r\n", b"CONNECT\r\n", b"VCON\r\n")) or m.mode != "command", out
