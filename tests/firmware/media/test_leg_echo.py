"""Echo cancelled on a relayed leg's send path, measured on a hybrid model that is not only linear:
the echo of what the leg played (pulled from its jitter buffer) through a delayed, dispersive,
band-limited and mildly saturating hybrid, plus line noise; what leaves the leg is decoded from its
datagrams. Far-end speech alone must lose at least 15 dB of echo once converged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from roamline.firmware.audio import g711
from roamline.firmware.media import FRAME, MediaLeg
from roamline.hil import speech
from roamline.hil.hybrid_sim import HybridEcho, erle_db
from roamline.wire import media


def test_the_leg_cancels_the_echo_of_what_it_played(tmp_path: Path) -> None:
    far = np.tile(speech.speak(speech.FAR_TEXT, "en-us", tmp_path), 2)[: 6 * 8000]
    n = len(far) // FRAME * FRAME
    noise = np.random.default_rng(3).normal(0, 10, n)
    hybrid = HybridEcho(32, erl_db=6.0, seed=32)
    rx, tx = MediaLeg(1, echo=True), MediaLeg(1, echo=False)
    datagrams = tx.send(far[:n])
    outs, echoes = [], []
    for k, i in enumerate(range(0, n, FRAME)):
        now = 10.0 + i / 8000
        rx.receive(datagrams[k], now)
        echo = 12000 * np.tanh(hybrid.process(rx.pull(now)) / 12000)
        echoes.append(echo)
        mic = np.clip(np.rint(echo + noise[i:i + FRAME]), -32768, 32767).astype(np.int16)
        outs += [g711.decode("ulaw", media.decode_datagram(d).packet.payload).astype(float)
                 for d in rx.send(mic)]
    out, echo = np.concatenate(outs), np.concatenate(echoes)
    assert np.sum(echo[8000:] ** 2) > 0  # the far end did play (through the jitter buffer)
    assert erle_db(echo[8000:], out[8000:]) >= 15.0
