"""Per-country caller-ID schedules; timings and tones measured from the rendered audio."""

from __future__ import annotations

import numpy as np
import pytest

from roamline.firmware.audio import callerid_plan as plan
from roamline.firmware.audio import fsk
from roamline.firmware.audio.errors import AudioUsageError
from roamline.firmware.callerid import codec as cm

RATE = 8000
CID = cm.CallerId(when=cm.Stamp(1, 2, 3, 4), number="01632960123", name="BLOGGS FRED")


def _active(x: np.ndarray, block: int = 40) -> list[tuple[float, float]]:
    """(start_s, end_s) of the non-silent stretches, to a 5 ms resolution."""
    on = np.abs(x[: len(x) // block * block]).reshape(-1, block).max(axis=1) > 1e-4
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
    return [(a * block / RATE, b * block / RATE) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _peaks(x: np.ndarray, n: int) -> list[float]:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    freqs = np.fft.rfftfreq(8 * len(x), 1 / RATE)
    found: list[float] = []
    for i in np.argsort(spec)[::-1]:
        if all(abs(freqs[i] - f) > 100 for f in found):
            found.append(float(freqs[i]))
        if len(found) == n:
            break
    return sorted(found)


def _seizure_and_mark_bits(burst: np.ndarray, modem: fsk.FskModem) -> tuple[int, int]:
    """Count seizure bits (where space energy is present) and mark bits (mark only) before the data."""
    events = fsk.receive(np.concatenate([burst, np.zeros(800)]), modem)
    assert isinstance(events[0], fsk.FskMessage)
    first_char = events[0].at
    win = 40
    t = np.arange(win) / RATE
    space = np.exp(-2j * np.pi * modem.space_hz * t)
    hop = 4
    level = [abs(np.dot(burst[i:i + win], space)) for i in range(0, first_char - win, hop)]
    last_space = max(i for i, v in enumerate(level) if v > 0.5 * max(level)) * hop + win // 2
    bit = RATE / modem.baud
    return round(last_space / bit), round((first_char - last_space) / bit)


def _close(got: tuple[int, int], want: tuple[int, int]) -> bool:
    """Bit counts measured from audio agree to within 4 bits (the measurement's resolution)."""
    return abs(got[0] - want[0]) <= 4 and abs(got[1] - want[1]) <= 4


def _tone_of(bit: int, modem: fsk.FskModem) -> float:
    return _peaks(fsk.modulate([bit] * 600, modem), 1)[0]


def test_us_call_goes_between_first_and_second_ring() -> None:
    steps = plan.plan_call(plan.profile("us"), CID)
    kinds = [type(s) for s in steps]
    assert kinds == [plan.RingBurst, plan.Wait, plan.Data, plan.Wait, plan.RingBurst]
    assert steps[1].min_s >= 0.5 and steps[3].min_s >= 0.2  # type: ignore[attr-defined]
    assert plan.fits_in_ring_gap(steps, 4.0)  # US cadence: 2 s on, 4 s off
    data = steps[2]
    assert isinstance(data, plan.Data) and data.modem == fsk.BELL202
    audio = plan.render_all(steps)
    (start, end), = _active(audio)
    assert start == pytest.approx(0.5, abs=0.006)
    assert len(audio) / RATE - end >= 0.2 - 0.005  # silence before the second ring
    assert _close(_seizure_and_mark_bits(plan.render(data), fsk.BELL202), (300, 180))
    assert _tone_of(1, data.modem) == pytest.approx(1200, abs=2)
    assert _tone_of(0, data.modem) == pytest.approx(2200, abs=2)


def test_uk_call_comes_before_ringing_after_reversal_and_tone_alert() -> None:
    steps = plan.plan_call(plan.profile("uk"), CID)
    assert isinstance(steps[0], plan.LineReversal) and isinstance(steps[-1], plan.RingBurst)
    audio = plan.render_all(steps)
    (tas_start, tas_end), (data_start, data_end) = _active(audio)
    assert tas_start >= 0.100  # ≥ 100 ms of silence after the reversal
    assert 0.088 - 0.005 <= tas_end - tas_start <= 0.110
    assert data_start - tas_end >= 0.045
    assert len(audio) / RATE - data_end >= 0.2 - 0.005  # guard before the first ring
    tas = audio[round(tas_start * RATE) + 40:round(tas_end * RATE) - 40]
    assert _peaks(tas, 2) == pytest.approx([2130, 2750], abs=2130 * 0.011)
    data = next(s for s in steps if isinstance(s, plan.Data))
    seizure, mark = _seizure_and_mark_bits(plan.render(data), fsk.V23)
    assert 96 + 4 <= seizure <= 315 - 4 and 55 + 4 <= mark <= 90 - 4
    assert _tone_of(1, data.modem) == pytest.approx(1300, abs=2)
    assert _tone_of(0, data.modem) == pytest.approx(2100, abs=2)


def test_de_call_between_rings_fits_the_german_cadence() -> None:
    steps = plan.plan_call(plan.profile("de"), CID)
    assert [type(s) for s in steps] == [plan.RingBurst, plan.Wait, plan.Data, plan.Wait, plan.RingBurst]
    assert plan.fits_in_ring_gap(steps, 4.0)  # 1 s on, 4 s off
    data = steps[2]
    assert isinstance(data, plan.Data)
    assert _close(_seizure_and_mark_bits(plan.render(data), fsk.V23), (300, 180))


@pytest.mark.parametrize("country", ["us", "uk", "de"])
def test_message_waiting_needs_no_ring(country: str) -> None:
    for on in (True, False):
        steps = plan.plan_message_waiting(plan.profile(country), cm.MessageWaiting(on))
        assert not any(isinstance(s, plan.RingBurst) for s in steps)
        events = fsk.receive(plan.render_all(steps), plan.profile(country).modem)
        assert [e.message for e in events if isinstance(e, fsk.FskMessage)] == [cm.MessageWaiting(on)]
    if country == "uk":
        assert isinstance(steps[0], plan.LineReversal) and steps[-1] == plan.LineReversal(restore=True)


def test_whole_call_audio_decodes_with_our_receiver() -> None:
    for country in ("us", "uk", "de"):
        p = plan.profile(country)
        events = fsk.receive(plan.render_all(plan.plan_call(p, CID)), p.modem)
        assert [e.message for e in events if isinstance(e, fsk.FskMessage)] == [CID]


def test_sdmf_can_be_chosen_for_us_handsets_that_need_it() -> None:
    cid = cm.CallerId(when=CID.when, number="2125551234")
    steps = plan.plan_call(plan.profile("us"), cid, cm.Format.SDMF)
    data = steps[2]
    assert isinstance(data, plan.Data) and data.message[0] == cm.SDMF_CALL


def test_unknown_country_is_a_usage_error() -> None:
    with pytest.raises(AudioUsageError):
        plan.profile("xx")
