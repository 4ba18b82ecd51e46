"""Caller ID / message waiting audio, decoded by minimodem (an independent modem) and by our receiver."""

from __future__ import annotations

import shutil
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.audio import callerid_plan as plan
from roamline.firmware.audio import fsk
from roamline.firmware.callerid import codec as cm
from roamline.hil.dtmf_signal import keys_signal

WHEN = cm.Stamp(7, 4, 9, 5)
CALLS = [
    cm.CallerId(when=WHEN, number="2025550143", name="LINCOLN ABE"),
    cm.CallerId(when=WHEN, number_absent=cm.Absence.PRIVATE, name_absent=cm.Absence.PRIVATE),
    cm.CallerId(when=WHEN, number_absent=cm.Absence.UNAVAILABLE, name_absent=cm.Absence.UNAVAILABLE),
]
MWI = [cm.MessageWaiting(True), cm.MessageWaiting(False)]
needs_minimodem = pytest.mark.skipif(shutil.which("minimodem") is None, reason="minimodem not installed")


def _wav(path: Path, x: np.ndarray, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.round(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _minimodem(path: Path, modem: fsk.FskModem, mode: str = "") -> bytes:
    if mode:
        args = [mode]
    elif modem == fsk.BELL202:
        args = ["1200"]
    else:  # V.23: minimodem's Bell-like mode with V.23's mark and space
        args = ["-M", f"{modem.mark_hz:.0f}", "-S", f"{modem.space_hz:.0f}", "1200"]
    done = subprocess.run(["minimodem", "--rx", "-q", "-f", str(path), *args],
                          capture_output=True, timeout=60)
    return done.stdout


def _find_message(stream: bytes) -> bytes:
    """The one well-formed caller-ID message in minimodem's byte stream (after the seizure's 'U's)."""
    found = []
    for i in range(len(stream) - 2):
        raw = stream[i:i + stream[i + 1] + 3]
        try:
            cm.unframe(raw)
        except cm.CallerIdError:
            continue
        found.append(raw)
    assert len(found) == 1, f"expected one message in {stream!r}, found {found!r}"
    return found[0]


def _signal(data: plan.Data) -> np.ndarray:
    return np.concatenate([np.zeros(1600), plan.render(data), np.zeros(1600)])


@needs_minimodem
@pytest.mark.parametrize("country", ["us", "uk", "de"])
@pytest.mark.parametrize("msg", CALLS + MWI, ids=lambda m: type(m).__name__)
def test_minimodem_decodes_our_bursts(tmp_path: Path, country: str, msg: cm.Message) -> None:
    p = plan.profile(country)
    data = p.data(msg)
    path = _wav(tmp_path / "cid.wav", _signal(data))
    raw = _find_message(_minimodem(path, p.modem))
    assert raw == data.message
    assert cm.decode(raw) == msg
    assert set(_minimodem(path, p.modem).split(raw)[0].rstrip(b"\xd5\xf5\xfd\xff")) <= {0x55}  # seizure


@needs_minimodem
@pytest.mark.parametrize("msg", [cm.CallerId(when=WHEN, number="6175550199"),
                                 cm.CallerId(when=WHEN, number_absent=cm.Absence.PRIVATE), *MWI],
                         ids=lambda m: type(m).__name__)
def test_minimodem_decodes_sdmf(tmp_path: Path, msg: cm.Message) -> None:
    data = plan.profile("us").data(msg, cm.Format.SDMF)
    path = _wav(tmp_path / "sdmf.wav", _signal(data))
    raw = _find_message(_minimodem(path, fsk.BELL202))
    assert raw[0] in (cm.SDMF_CALL, cm.SDMF_MWI) and cm.decode(raw) == msg


@needs_minimodem
def test_minimodems_own_caller_id_mode_reads_mdmf(tmp_path: Path) -> None:
    data = plan.profile("us").data(CALLS[0])
    path = _wav(tmp_path / "mdmf.wav", _signal(data))
    text = _minimodem(path, fsk.BELL202, mode="callerid").decode()
    assert "07/04 09:05" in text and "202-555-0143" in text and "LINCOLN ABE" in text


@needs_minimodem
def test_minimodem_reads_a_44k1_rendering(tmp_path: Path) -> None:
    data = plan.profile("us").data(CALLS[0])
    x = np.concatenate([np.zeros(4410), fsk.burst(data.message, fsk.BELL202, rate=44100), np.zeros(4410)])
    assert _find_message(_minimodem(_wav(tmp_path / "hi.wav", x, 44100), fsk.BELL202)) == data.message


@pytest.mark.parametrize(("country", "msg"),
                         [(c, m) for c in ("us", "uk", "de") for m in (*CALLS, *MWI)]
                         + [("uk", cm.MessageWaiting(True, count=4)),
                            ("de", cm.MessageWaiting(True, count=0))])
def test_our_receiver_decodes_every_profile(country: str, msg: cm.Message) -> None:
    p = plan.profile(country)
    data = p.data(msg)
    events = fsk.receive(_signal(data), p.modem)
    assert len(events) == 1 and isinstance(events[0], fsk.FskMessage)
    assert (events[0].raw, events[0].message) == (data.message, msg)
    first_char = 1600 + (p.seizure_bits + p.mark_bits) * 8000 / 1200
    assert abs(events[0].at - first_char) <= 2


def test_our_receiver_works_in_noise_and_at_low_level() -> None:
    rng = np.random.default_rng(2)
    p = plan.profile("us")
    data = p.data(CALLS[0])
    x = np.concatenate([np.zeros(1600), fsk.burst(data.message, p.modem, level_dbm0=-30.0), np.zeros(1600)])
    signal_power = np.mean(x[1600:-1600] ** 2)
    noisy = x + rng.normal(0, np.sqrt(signal_power / 10 ** (15 / 10)), len(x))
    assert [e.message for e in fsk.receive(noisy, p.modem) if isinstance(e, fsk.FskMessage)] == [CALLS[0]]


def test_dtmf_and_speech_like_tones_decode_to_nothing() -> None:

    steady = 0.3 * np.sin(np.arange(16000) * 2 * np.pi * 1200 / 8000)  # mark alone carries no characters
    x = np.concatenate([keys_signal("0123456789*#"), steady])
    for modem in (fsk.BELL202, fsk.V23):
        assert not any(isinstance(e, fsk.FskMessage) for e in fsk.receive(x, modem))


def test_a_corrupted_checksum_is_rejected_not_delivered() -> None:
    good = plan.profile("us").data(CALLS[0]).message
    bad = good[:-1] + bytes([(good[-1] + 1) & 0xFF])
    events = fsk.receive(np.concatenate([np.zeros(800), fsk.burst(bad, fsk.BELL202), np.zeros(800)]),
                         fsk.BELL202)
    assert len(events) == 1 and isinstance(events[0], fsk.FskRejected)
    assert "checksum" in events[0].reason and events[0].raw == bad


def test_a_burst_cut_short_is_rejected() -> None:
    x = fsk.burst(plan.profile("us").data(CALLS[0]).message, fsk.BELL202)
    events = fsk.receive(x[: len(x) - 200], fsk.BELL202)
    assert len(events) == 1 and isinstance(events[0], fsk.FskRejected)


def test_two_bursts_in_a_row() -> None:
    p = plan.profile("de")
    a, b = p.data(CALLS[0]), p.data(MWI[0])
    x = np.concatenate([_signal(a), _signal(b)])
    assert [e.message for e in fsk.receive(x, p.modem) if isinstance(e, fsk.FskMessage)] == [CALLS[0], MWI[0]]


def test_sample_by_sample_feeding_matches_whole() -> None:
    p = plan.profile("uk")
    x = np.round(_signal(p.data(CALLS[1])) * 32767).astype(np.int16)
    whole = fsk.FskReceiver(p.modem)
    expected = whole.feed(x) + whole.flush()
    assert len(expected) == 1
    one = fsk.FskReceiver(p.modem)
    got = [e for s in x for e in one.feed(np.array([s], dtype=np.int16))] + one.flush()
    assert got == expected


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=20))
def test_block_splitting_does_not_change_the_result(sizes: list[int]) -> None:
    p = plan.profile("us")
    x = _signal(p.data(CALLS[0]))
    rx = fsk.FskReceiver(p.modem)
    got: list[fsk.FskEvent] = []
    i = 0
    while i < len(x):
        for n in sizes:
            got += rx.feed(x[i:i + n])
            i += n
    got += rx.flush()
    assert [e.message for e in got if isinstance(e, fsk.FskMessage)] == [CALLS[0]]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.floats(min_value=0.0, max_value=2.0))
def test_random_noise_never_crashes(seed: int, scale: float) -> None:
    x = np.random.default_rng(seed).normal(0, scale, 4000)
    for modem in (fsk.BELL202, fsk.V23):
        assert all(isinstance(e, fsk.FskEvent) for e in fsk.receive(x, modem))


@needs_minimodem
@pytest.mark.parametrize("modem", [fsk.BELL202, fsk.V23], ids=lambda m: m.name)
def test_our_receiver_decodes_minimodems_transmitter(tmp_path: Path, modem: fsk.FskModem) -> None:
    """minimodem as the independent *sender*: seizure-like 'U's, idle mark carrier, then the message.

    At 48 kHz minimodem's bit timing is exact (at 8 kHz it rounds to 7 samples a bit, 4.5 % slow,
    outside Bell 202's ±1 %), so it transmits at 48 kHz and we resample.
    """
    from roamline.firmware.audio import dtmf

    message = cm.encode(CALLS[0], cm.Format.MDMF)
    path = tmp_path / "tx.wav"
    args = ["1200"] if modem == fsk.BELL202 else ["-M", "1300", "-S", "2100", "1200"]
    with subprocess.Popen(["minimodem", "--tx", "--tx-carrier", "-q", "-R", "48000", "-f", str(path), *args],
                          stdin=subprocess.PIPE) as tx:
        assert tx.stdin is not None
        tx.stdin.write(b"U" * 30)
        tx.stdin.flush()
        time.sleep(0.3)  # --tx-carrier: mark carrier fills the wait
        tx.stdin.write(message)
        tx.stdin.close()
        assert tx.wait(timeout=30) == 0
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
        rate = w.getframerate()
    events = fsk.receive(0.3 * dtmf.to_8k(x, rate), modem)
    assert [(e.raw, e.message) for e in events if isinstance(e, fsk.FskMessage)] == [(message, CALLS[0])]


@pytest.mark.parametrize("skew", [0.99, 1.01])
def test_bit_rate_tolerance_of_one_percent(skew: float) -> None:
    p = plan.profile("us")
    off = fsk.FskModem("skewed", p.modem.mark_hz, p.modem.space_hz, p.modem.baud * skew)
    x = np.concatenate([np.zeros(800), fsk.burst(p.data(CALLS[0]).message, off), np.zeros(800)])
    assert [e.message for e in fsk.receive(x, p.modem) if isinstance(e, fsk.FskMessage)] == [CALLS[0]]


@pytest.mark.parametrize("shift", [0.99, 1.01])
def test_tone_frequency_tolerance_of_one_percent(shift: float) -> None:
    p = plan.profile("de")
    off = fsk.FskModem("shifted", p.modem.mark_hz * shift, p.modem.space_hz * shift, p.modem.baud)
    x = np.concatenate([np.zeros(800), fsk.burst(p.data(MWI[0]).message, off), np.zeros(800)])
    assert [e.message for e in fsk.receive(x, p.modem) if isinstance(e, fsk.FskMessage)] == [MWI[0]]
