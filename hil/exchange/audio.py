"""Line audio: 8 kHz int16 frames, G.711 and linear codings per +VSM, call-progress and DTMF tones."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roamline.hil.errors import UsageError

RATE = 8000
FRAME = 160  # 20 ms
Samples = npt.NDArray[np.int16]

SILENCE: Samples = np.zeros(FRAME, dtype=np.int16)

DTMF_FREQS = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}

# North American precise tone plan: (frequencies, cadence on/off seconds; empty cadence = steady).
TONES: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "dial": ((350, 440), ()),
    "ringback": ((440, 480), (2.0, 4.0)),
    "busy": ((480, 620), (0.5, 0.5)),
    "reorder": ((480, 620), (0.25, 0.25)),
}


def tone(freqs: tuple[int, ...], seconds: float, level: float = 0.25, start: int = 0) -> Samples:
    n = round(seconds * RATE)
    t = (np.arange(n) + start) / RATE
    sig = sum(np.sin(2 * np.pi * f * t) for f in freqs) * (level * 32767 / max(1, len(freqs)))
    return np.asarray(sig, dtype=np.float64).astype(np.int16)


def tone_frame(name: str, t: float) -> Samples:
    """The 20 ms frame of call-progress tone ``name`` starting ``t`` seconds into the tone."""
    freqs, cadence = TONES[name]
    if cadence and not tone_on(cadence, t):
        return SILENCE
    return tone(freqs, FRAME / RATE, start=round(t * RATE))


def tone_on(cadence: tuple[float, ...], t: float) -> bool:
    """Whether a cadence (on, off, on, off...) is in an 'on' part at ``t`` seconds from its start."""
    period = sum(cadence)
    x = t % period
    for i, seg in enumerate(cadence):
        if x < seg:
            return i % 2 == 0
        x -= seg
    return False


def rms(frame: Samples) -> float:
    return float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) if len(frame) else 0.0


# --- G.711 (our own implementation of the standard's segment coding) ---

def _ulaw_encode(x: Samples) -> bytes:
    s = x.astype(np.int32)
    sign = (s < 0).astype(np.int32)
    mag = np.minimum(np.abs(s) >> 2, 8158) + 33  # 14-bit magnitude plus bias
    exp = np.clip(np.floor(np.log2(mag)).astype(np.int32) - 5, 0, 7)
    mant = (mag >> (exp + 1)) & 0x0F
    code = ~((sign << 7) | (exp << 4) | mant) & 0xFF
    return bytes(code.astype(np.uint8).tobytes())


def _ulaw_decode(b: bytes) -> Samples:
    c = ~np.frombuffer(b, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exp, mant = c & 0x80, (c >> 4) & 7, c & 0x0F
    mag = (((mant << 1) + 33) << exp) - 33
    return np.where(sign != 0, -mag, mag).astype(np.int32).__lshift__(2).astype(np.int16)


def _alaw_encode(x: Samples) -> bytes:
    s = x.astype(np.int32) >> 3  # 13-bit
    sign = np.where(s >= 0, 0x80, 0)
    mag = np.minimum(np.where(s >= 0, s, -s - 1), 4095)
    exp = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4)
    exp = np.clip(exp, 0, 7)
    mant = np.where(exp == 0, mag >> 1, mag >> exp) & 0x0F
    code = (sign | (exp << 4) | mant) ^ 0x55
    return bytes(code.astype(np.uint8).tobytes())


def _alaw_decode(b: bytes) -> Samples:
    c = np.frombuffer(b, dtype=np.uint8).astype(np.int32) ^ 0x55
    sign, exp, mant = c & 0x80, (c >> 4) & 7, c & 0x0F
    mag = np.where(exp == 0, (mant << 1) + 1, ((mant << 1) + 33) << (exp - 1))
    return (np.where(sign != 0, mag, -mag) << 3).astype(np.int16)


def encode(x: Samples, encoding: str) -> bytes:
    if encoding == "s16le":
        return x.astype("<i2").tobytes()
    if encoding == "u8":
        return ((x.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    if encoding == "s8":
        return (x.astype(np.int32) >> 8).astype(np.int8).tobytes()
    if encoding == "ulaw":
        return _ulaw_encode(x)
    if encoding == "alaw":
        return _alaw_encode(x)
    raise UsageError(f"unknown sample encoding {encoding!r}")


def decode(b: bytes, encoding: str) -> Samples:
    if encoding == "s16le":
        return np.frombuffer(b[: len(b) // 2 * 2], dtype="<i2").astype(np.int16)
    if encoding == "u8":
        return ((np.frombuffer(b, dtype=np.uint8).astype(np.int32) - 128) << 8).astype(np.int16)
    if encoding == "s8":
        return (np.frombuffer(b, dtype=np.int8).astype(np.int32) << 8).astype(np.int16)
    if encoding == "ulaw":
        return _ulaw_decode(b)
    if encoding == "alaw":
        return _alaw_decode(b)
    raise UsageError(f"unknown sample encoding {encoding!r}")


def bytes_per_sample(encoding: str) -> int:
    return 2 if encoding == "s16le" else 1


def read_wav(path: str | Path) -> Samples:
    """An 8 kHz mono 16-bit WAV file as samples (other formats are a UsageError: convert with sox)."""
    with wave.open(str(path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise UsageError(f"{path}: need 8000 Hz mono 16-bit WAV (try: sox IN -r 8000 -c 1 -b 16 OUT)")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


def write_wav(path: str | Path, samples: Samples) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())
