"""A relayed leg's media at the box: RTP/PCMU in flow datagrams both ways, jitter buffer on receive."""

from __future__ import annotations

import random

import numpy as np

from roamline.firmware.media import FRAME, LegSource, MediaLeg, flow_of
from roamline.wire import media
from roamline.wire.clock import ManualClock


def tone(hz: float, seconds: float, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def power_at(x: np.ndarray, hz: float, rate: int = 8000) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(float)))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spectrum[np.argmin(np.abs(freqs - hz))] / (spectrum.mean() + 1e-9))


def test_frames_go_out_as_pcmu_rtp_with_the_flow_id_and_rising_seq_and_timestamp() -> None:
    leg = MediaLeg(77, echo=False)
    out = leg.send(tone(1000, 0.05))  # 400 samples: two whole frames, 80 kept for later
    assert len(out) == 2
    a, b = (media.decode_datagram(d) for d in out)
    assert a.flow_id == b.flow_id == 77 and flow_of(out[0]) == 77
    assert len(a.packet.payload) == FRAME
    assert (b.packet.seq - a.packet.seq) % 65536 == 1
    assert (b.packet.timestamp - a.packet.timestamp) % 2**32 == FRAME
    assert len(leg.send(tone(1000, 0.01))) == 1  # the 80 kept + 80 new


def test_a_tone_crosses_two_legs_through_jitter_and_reordering() -> None:
    clock = ManualClock()
    tx, rx = MediaLeg(5, echo=False), MediaLeg(5, echo=False)
    sent = tone(697, 2.0)
    datagrams = tx.send(sent)
    rng = random.Random(1)
    arrivals = sorted(
        ((i * 0.02 + rng.uniform(0, 0.02), d) for i, d in enumerate(datagrams)), key=lambda x: x[0]
    )  # up to 20 ms extra delay each: reordering happens
    ear = LegSource(rx, clock)
    heard: list[np.ndarray] = []
    t0, k = clock.monotonic(), 0
    for step in range(130):
        now = t0 + step * 0.02
        while k < len(arrivals) and t0 + arrivals[k][0] <= now:
            assert rx.receive(arrivals[k][1], t0 + arrivals[k][0])
            k += 1
        clock.advance(now - clock.monotonic())
        heard.append(ear.read(FRAME))
    x = np.concatenate(heard)
    assert power_at(x, 697) > 20 * max(power_at(x, 1209), 1.0)
    assert rx.stats["received"] == len(datagrams) and rx.stats["late"] <= 2


def test_malformed_and_foreign_datagrams_are_dropped_and_counted() -> None:
    leg = MediaLeg(9, echo=False)
    other = MediaLeg(10, echo=False).send(tone(500, 0.02))[0]
    assert not leg.receive(b"\x09garbage", 1.0)
    assert not leg.receive(other, 1.0)
    assert leg.stats["dropped"] == 2 and leg.stats["received"] == 0
