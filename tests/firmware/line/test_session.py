from __future__ import annotations

from typing import Any

import pytest

from roamline.firmware.callerid.codec import CallerId, Stamp
from roamline.firmware.line import events as ev
from roamline.firmware.line.calls import CallState
from roamline.firmware.line.errors import IllegalTransition, LineUsageError

IDENTS = {
    "usr5637": {"ATI3": "U.S. Robotics 56K FAX USB V1.2.23", "ATI0": "5601", "AT+FCLASS=?": "0,1,1.0,2,8"},
    "cx93001": {"ATI3": "CX93001-EIS_V0.2002-V92", "AT+FCLASS=?": "(0,1,1.0,8)"},
    "mt9234mu": {"ATI0": "MT9234MU", "ATI3": "MultiModem USB MT9234MU", "AT+FCLASS=?": "0,1,1.0,2,8"},
}


def _of(kind: type[ev.LineEvent], events: list[ev.LineEvent]) -> list[ev.LineEvent]:
    return [e for e in events if isinstance(e, kind)]


@pytest.mark.parametrize("name", sorted(IDENTS))
@pytest.mark.parametrize("echo", [True, False])
@pytest.mark.parametrize("numeric", [False, True])
def test_identify_and_init_every_profile(
    mk: Any, name: str, echo: bool, numeric: bool, bytewise: bool
) -> None:
    w = mk(None, bytewise, ident=IDENTS[name], echo=echo, numeric=numeric, eos="single")
    w.ready()
    assert w.s.profile is not None and w.s.profile.name == name
    assert w.s.voice_supported is True
    assert "AT+FCLASS=8" in w.m.commands and "AT+VCID=1" in w.m.commands
    assert w.s.core.eos == w.s.profile.voice.eos


def test_profile_override_and_no_voice(mk: Any) -> None:
    w = mk("mt9234mu", ident={"ATI3": "CX93001", "AT+FCLASS=?": "0,1,2"})
    w.s.identify(w.now)
    w.op("identify")
    assert w.s.profile is not None and w.s.profile.name == "mt9234mu"
    assert w.s.voice_supported is False


def test_silent_modem_fails_identify_with_timeout(mk: Any) -> None:
    w = mk(None)
    w.m.silent = True
    w.s.identify(w.now)
    done = w.op("identify")
    assert (done.ok, done.result) == (False, "TIMEOUT")


@pytest.mark.parametrize("cid_first", [True, False])
def test_incoming_call_duplex_every_byte_then_loop_loss(mk: Any, cid_first: bool, bytewise: bool) -> None:
    w = mk(None, bytewise, ident=IDENTS["cx93001"], eos="triple")
    w.ready()
    cid = b"\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = 5551234\r\nNAME = RING DATE\r\n"
    w.m.inject(cid + b"\r\nRING\r\n" if cid_first else b"\r\nRING\r\n" + cid)
    w.advance(4)
    w.m.inject(b"\r\nRING\r\n")
    w.advance(1)
    assert [e.count for e in _of(ev.Ring, w.events)] == [1, 2]  # type: ignore[attr-defined]
    assert w.s.caller_id == CallerId("5551234", "RING DATE", Stamp(3, 21, 14, 5))
    w.s.answer(w.now)
    w.op("answer")
    assert w.s.state is CallState.CONNECTED and w.m.mode == "duplex"
    payload = bytes(range(256)) * 4
    w.s.send_voice(payload)
    w.m.voice(payload)
    got = b"".join(e.data for e in _of(ev.VoiceData, w.step()))  # type: ignore[attr-defined]
    assert got == payload and bytes(w.m.received_voice) == payload
    w.m.inject(b"\x10l")
    w.step()
    w.advance(1)
    assert ev.FarEndHangup("loop-current-loss") in w.events
    assert _of(ev.CallEnded, w.events) == [ev.CallEnded("loop-current-loss")]
    assert w.s.state is CallState.IDLE and w.m.mode == "cmd" and w.s.caller_id is None


@pytest.mark.parametrize(
    ("signal", "reason"),
    [(b"\x10b", "busy-tone"), (b"\x10d", "dial-tone"), (b"\x10s\x10b", "busy-tone"),
     (b"\x10l", "loop-current-loss")],
)
def test_far_end_hangup_each_signal(mk: Any, signal: bytes, reason: str) -> None:
    w = mk("mt9234mu", ident=IDENTS["mt9234mu"])
    w.ready()
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    w.op("answer")
    w.m.inject(signal)
    w.step()
    w.advance(1)
    assert _of(ev.CallEnded, w.events) == [ev.CallEnded(reason)]
    assert w.s.state is CallState.IDLE


def test_no_carrier_after_modem_ended_stream(mk: Any) -> None:
    w = mk("mt9234mu", ident=IDENTS["mt9234mu"])
    w.ready()
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    w.op("answer")
    w.m.end_stream()
    w.m.inject(b"\r\nNO CARRIER\r\n")
    w.step()
    w.advance(1)
    assert _of(ev.CallEnded, w.events) == [ev.CallEnded("no-carrier")]


def test_caller_gives_up_and_call_waiting_passes_through(mk: Any) -> None:
    w = mk("cx93001", ident=IDENTS["cx93001"])
    w.ready()
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.advance(9)
    assert _of(ev.CallEnded, w.events) == [ev.CallEnded("caller-gave-up")]
    assert w.s.state is CallState.IDLE
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    w.op("answer")
    w.m.inject(b"\x10w")
    assert ev.CallWaiting() in w.step()
    assert w.s.state is CallState.CONNECTED


@pytest.mark.parametrize(("result", "reason"), [("BUSY", "busy"), ("NO DIALTONE", "no-dialtone"),
                                                 ("NO ANSWER", "no-answer"), ("ERROR", "error")])
def test_dial_failures_end_with_clear_reason(mk: Any, result: str, reason: str) -> None:
    w = mk("usr5637", ident=IDENTS["usr5637"], dial_result=result)
    w.ready()
    w.s.dial("9,5551234", w.now)
    done = w.op("dial")
    assert (done.ok, done.result) == (False, result)
    w.advance(1)
    assert _of(ev.CallEnded, w.events) == [ev.CallEnded(reason)]
    assert w.s.state is CallState.IDLE


def test_outgoing_answer_inferred_after_ringback_stops(mk: Any) -> None:
    w = mk("cx93001", ident=IDENTS["cx93001"])
    w.ready()
    w.s.dial("5551234", w.now)
    assert w.op("dial").ok and w.s.state is CallState.ALERTING
    loud = bytes([0x80, 0x00]) * 400  # µ-law full scale: ringback tone energy
    for _ in range(2):
        w.m.inject(b"\x10r")
        w.m.voice(loud)
        w.step()
        w.advance(1.0)
        w.m.voice(b"\xff" * 800)  # silence between ringbacks
        w.advance(5.0)
    assert w.s.state is CallState.ALERTING
    w.m.voice(loud * 8)  # 0.8 s of voice after ringback stopped
    w.advance(0.1)
    assert len(_of(ev.AnswerInferred, w.events)) == 1
    assert w.s.state is CallState.CONNECTED and w.s.answer_inferred_at is not None


@pytest.mark.parametrize(("gap_s", "inferred"), [(0.1, True), (0.2, True), (0.5, False)])
def test_an_answer_is_inferred_from_a_spoken_greeting_through_its_short_pauses(
    mk: Any, gap_s: float, inferred: bool
) -> None:
    """A called party's "hello, Dave's pizza" has pauses between words: 0.4 s of voice, a pause, 0.4 s
    more is an answer when the pause is short (≤ voice_gap_s, 0.25 s), not when it is long (two
    unrelated bursts of noise)."""
    w = mk("cx93001", ident=IDENTS["cx93001"])
    w.ready()
    w.s.dial("5551234", w.now)
    assert w.op("dial").ok and w.s.state is CallState.ALERTING
    w.advance(3.0)  # well after any ringback
    loud, quiet = bytes([0x80, 0x00]) * 400, b"\xff" * 800  # 0.1 s each of µ-law voice / silence
    w.m.voice(loud * 4)
    w.advance(0.05)
    w.m.voice(quiet * round(gap_s * 10))
    w.advance(0.05)
    w.m.voice(loud * 4)
    w.advance(0.1)
    assert len(_of(ev.AnswerInferred, w.events)) == (1 if inferred else 0)
    assert (w.s.state is CallState.CONNECTED) is inferred


def test_busy_tone_while_alerting_and_no_answer_timeout(mk: Any) -> None:
    w = mk("cx93001", ident=IDENTS["cx93001"])
    w.ready()
    w.s.dial("5551234", w.now)
    w.op("dial")
    w.m.inject(b"\x10b")
    w.step()
    w.advance(1)
    assert _of(ev.CallEnded, w.events) == [ev.CallEnded("busy")]
    w.s.dial("5551234", w.now)
    w.op("dial")
    w.advance(31)
    w.advance(1)
    assert _of(ev.CallEnded, w.events)[-1] == ev.CallEnded("no-answer")


def test_half_duplex_modem_cannot_bridge(mk: Any) -> None:
    w = mk("usr5637", ident=IDENTS["usr5637"], vtr=False)
    w.ready()
    assert not w.s.can_bridge
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    assert w.op("answer").ok and w.m.mode == "rx"
    with pytest.raises(LineUsageError):
        w.s.send_voice(b"x")


def test_half_duplex_turns_to_transmit_for_a_greeting_then_back_to_receive(mk: Any, bytewise: bool) -> None:
    w = mk("usr5637", bytewise, ident=IDENTS["usr5637"], vtr=False)
    w.ready()
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    assert w.op("answer").ok and w.m.mode == "rx"
    w.s.transmit(w.now)
    assert w.op("transmit").ok and w.m.mode == "tx"
    greeting = bytes(range(256)) * 2  # DLE (0x10) included: shielded on the way out
    w.s.send_voice(greeting)
    w.step()
    assert bytes(w.m.received_voice) == greeting
    w.s.receive(w.now)
    assert w.op("receive").ok and w.m.mode == "rx"
    w.m.voice(b"\x55" * 160)
    assert b"".join(e.data for e in _of(ev.VoiceData, w.step())) == b"\x55" * 160  # type: ignore[attr-defined]
    with pytest.raises(LineUsageError):
        w.s.send_voice(b"x")
    assert w.s.state is CallState.CONNECTED


def test_transmit_while_already_transmitting_keeps_the_stream(mk: Any) -> None:
    """A second prompt on a half-duplex line (the refusal after a greeting, or said twice): no second
    +VTX, and nothing said so far is cut off by ending the stream."""
    w = mk("usr5637", ident=IDENTS["usr5637"], vtr=False)
    w.ready()
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    assert w.op("answer").ok
    w.s.transmit(w.now)
    assert w.op("transmit").ok and w.m.mode == "tx"
    w.s.send_voice(b"\x01" * 160)
    sent = len(w.m.commands)
    w.s.transmit(w.now)
    assert w.op("transmit").ok and w.m.mode == "tx" and w.m.commands[sent:] == []
    w.s.send_voice(b"\x02" * 160)
    w.step()
    assert bytes(w.m.received_voice) == b"\x01" * 160 + b"\x02" * 160
    w.s.receive(w.now)
    assert w.op("receive").ok and w.m.mode == "rx" and w.m.commands[-1] == "AT+VRX"
    sent = len(w.m.commands)
    w.s.receive(w.now)  # already receiving
    assert w.op("receive").ok and w.m.mode == "rx" and w.m.commands[sent:] == []


def test_transmit_on_a_full_duplex_modem_changes_nothing(mk: Any) -> None:
    w = mk("cx93001", ident=IDENTS["cx93001"])
    w.ready()
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    w.op("answer")
    w.s.transmit(w.now)
    assert w.op("transmit").ok and w.m.mode == "duplex"
    w.s.receive(w.now)
    assert w.op("receive").ok and w.m.mode == "duplex"


def test_transmit_needs_a_connected_call(mk: Any) -> None:
    w = mk("usr5637", ident=IDENTS["usr5637"], vtr=False)
    w.ready()
    with pytest.raises(LineUsageError):
        w.s.transmit(w.now)


def test_modem_lost_mid_call_ends_call_with_reason(mk: Any) -> None:
    w = mk("cx93001", ident=IDENTS["cx93001"])
    w.ready()
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    w.op("answer")
    out = w.s.modem_lost("unplugged", w.now)
    assert ev.CallEnded("modem-lost: unplugged") in out
    assert w.s.state is CallState.OUT_OF_SERVICE
    w.s.recovered(w.now)
    assert w.s.state is CallState.IDLE


def test_illegal_transitions_raise(mk: Any) -> None:
    w = mk("cx93001", ident=IDENTS["cx93001"])
    w.ready()
    with pytest.raises(IllegalTransition):
        w.s.answer(w.now)
    with pytest.raises(LineUsageError):
        w.s.dial("555-1234; ATZ", w.now)


def test_hook_flash_restarts_the_stream_and_keeps_the_call(mk: Any, bytewise: bool) -> None:
    w = mk("cx93001", bytewise, ident=IDENTS["cx93001"], eos="triple")
    w.ready()
    with pytest.raises(LineUsageError):
        w.s.flash(w.now)  # no call to flash in
    w.m.inject(b"\r\nRING\r\n")
    w.step()
    w.s.answer(w.now)
    w.op("answer")
    w.s.flash(w.now)
    done = w.op("flash")
    assert done.ok and w.m.commands[-2:] == ["ATD!", "AT+VTR"]
    assert w.s.state is CallState.CONNECTED and w.m.mode == "duplex" and w.s.core.voice == "duplex"
    w.m.dial_result = "ERROR"  # a modem that refuses the flash: the call and its stream carry on
    w.s.flash(w.now)
    done = w.op("flash")
    assert (done.ok, done.result) == (False, "ERROR")
    w.advance(1)
    assert [e.ok for e in _of(ev.OpDone, w.events) if e.op == "stream"] == [True]  # type: ignore[attr-defined]
    assert w.m.mode == "duplex" and w.s.state is CallState.CONNECTED


def test_dial_string_pause_and_flash_reach_the_modem(mk: Any) -> None:
    w = mk("usr5637", ident=IDENTS["usr5637"])
    w.ready()
    w.s.dial("9,,5551234!", w.now)
    assert w.op("dial").ok
    assert "ATDT9,,5551234!" in w.m.commands
    for bad in ("555 1234", "5551234;", "ATZ", ""):
        with pytest.raises(LineUsageError):
            w.s.dial(bad, w.now)


@pytest.mark.parametrize("signal", [b"\x10d", b"\x10l", b"\x10b"])
def test_a_hangup_signal_while_dialling_never_breaks_the_session(mk: Any, signal: bytes) -> None:
    """While ATD runs the modem hears the exchange's dial tone (and may see loop current drop or busy):
    once an IllegalTransition (far-end-hangup while dialing) that killed the box's host-line dials."""
    w = mk("cx93001", ident=IDENTS["cx93001"])
    w.ready()
    w.s.dial("5551234", w.now)
    w.s.outgoing()  # the ATD… is on its way; the modem has not answered it yet
    w.s.feed(signal, w.now)  # raised IllegalTransition before
    if signal == b"\x10d":
        assert w.s.state is CallState.DIALING  # dial tone before dialling is expected, not an end
    else:
        w.advance(1)
        assert w.s.state in (CallState.HANGING_UP, CallState.IDLE)
