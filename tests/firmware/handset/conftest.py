"""Measuring what reached the simulated phone: FSK decoded by minimodem and by ours, tone runs, pins."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roamline.firmware.audio import fsk
from roamline.firmware.audio.device_file import write_wav
from roamline.firmware.callerid import codec as cm
from roamline.hil.handset import HandsetSim

needs_minimodem = pytest.mark.skipif(shutil.which("minimodem") is None, reason="minimodem not installed")
MODEMS = {"us": fsk.BELL202, "uk": fsk.V23, "de": fsk.V23}


def minimodem_messages(x: np.ndarray[Any, Any], rate: int, modem: fsk.FskModem) -> list[cm.Message]:
    """Every well-formed caller-ID / MWI message minimodem (the independent decoder) finds in ``x``."""
    args = ["1200"] if modem == fsk.BELL202 else ["-M", f"{modem.mark_hz:.0f}", "-S", f"{modem.space_hz:.0f}",
                                                   "1200"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ear.wav"
        write_wav(path, np.asarray(x, dtype=np.int16), rate)
        out = subprocess.run(["minimodem", "--rx", "-q", "-f", str(path), *args],
                             capture_output=True, timeout=60, check=True).stdout
    found: list[cm.Message] = []
    i = 0
    while i < len(out) - 2:
        raw = out[i:i + out[i + 1] + 3]
        try:
            found.append(cm.decode(raw))
        except cm.CallerIdError:
            i += 1
            continue
        i += len(raw)
    return found


def our_messages(x: np.ndarray[Any, Any], rate: int, modem: fsk.FskModem) -> list[tuple[int, cm.Message]]:
    """(sample index, message) for each message our receiver decodes in ``x``."""
    return [(e.at, e.message) for e in fsk.FskReceiver(modem, rate).feed(np.asarray(x, dtype=np.int16))
            if isinstance(e, fsk.FskMessage)]


def loud_span(sim: HandsetSim, threshold: float = 300.0) -> tuple[float, float]:
    """Times of the first and last earpiece samples above ``threshold``."""
    loud = np.flatnonzero(np.abs(sim.earpiece().astype(np.float64)) > threshold)
    assert len(loud), "the earpiece stayed silent"
    return (sim.earpiece_start + loud[0] / sim.rate, sim.earpiece_start + (loud[-1] + 1) / sim.rate)


def tone_runs(x: np.ndarray[Any, Any], rate: int, freqs: tuple[float, ...]) -> list[int]:
    """On/off run lengths (ms), starting with the first on run, of a tone made of ``freqs``: each component
    is mixed to baseband and smoothed over two beat periods (which nulls the other); the summed magnitude
    is compared with half its 99th percentile. The last, cut-off run is dropped."""
    x = np.asarray(x, dtype=np.float64)
    t = np.arange(len(x)) / rate
    length = round(2 / abs(freqs[1] - freqs[0]) * rate) if len(freqs) == 2 else round(0.01 * rate)
    w = np.hanning(length + 2)[1:-1]
    w /= w.sum()
    env = sum(np.abs(np.convolve(x * np.exp(-2j * np.pi * f * t), w, mode="same")) for f in freqs)
    on = np.asarray(env > 0.5 * np.percentile(env, 99))
    start = int(np.argmax(on))
    edges = np.flatnonzero(np.diff(on[start:].astype(int))) + 1
    bounds = [0, *edges.tolist(), len(x) - start]
    return [round(r * 1000 / rate) for r in np.diff(bounds)[:-1]]


def peak_freqs(x: np.ndarray[Any, Any], rate: int, count: int) -> list[float]:
    """The ``count`` strongest spectral peaks (Hz), zero-padded FFT with the main lobe wiped between picks."""
    x = np.asarray(x, dtype=np.float64)
    w = np.hanning(len(x))
    nfft = 1 << (len(x) * 4 - 1).bit_length()
    mag = np.abs(np.fft.rfft(x * w, nfft))
    freqs = np.fft.rfftfreq(nfft, 1 / rate)
    out = []
    for _ in range(count):
        i = int(np.argmax(mag))
        out.append(float(freqs[i]))
        guard = int(4 * nfft / len(x))
        mag[max(0, i - guard):i + guard] = 0
    return sorted(out)
