"""Content checks: send something recognisable in at one end of a call and find it at the other.

Voice is checked by what it carries, not by packet counts. Three kinds of probe:

- **tones**: a sine (or several) at chosen frequencies; found per 20 ms step by the energy in their
  bins of a windowed DFT — present when they stand ``min_snr_db`` above the rest for long enough;
- **DTMF digits**: keypad tones (``hil.handset.dtmf_audio``), found by the firmware's own Q.24-style
  detector (``firmware.audio.dtmf``), so what was keyed must come out as the same digit string;
- **spoken digits**: espeak-ng speech (``hil.speech``); found by cross-correlating the energy envelope
  of what was received with what was sent (speech survives G.711, resampling, echo cancellation and
  jitter buffers with its envelope intact, so a high correlation at some lag means it got through).

Each check returns a :class:`MediaCheck` whose ``event()`` is the ``media.verified`` line the demo prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from roamline.hil.errors import UsageError

Int16Array = npt.NDArray[np.int16]
BLOCK_S = 0.020


@dataclass(frozen=True)
class MediaCheck:
    """What a check looked for and what it found. ``ok`` is the verdict."""

    kind: str  # "tone" | "dtmf" | "speech"
    expected: str
    found: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def event(self, **extra: Any) -> dict[str, Any]:
        return {"type": "media.verified" if self.ok else "media.failed", "kind": self.kind,
                "expected": self.expected, "found": self.found, **self.detail, **extra}


def _as_float(samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise UsageError("audio for a content check is one channel")
    return x.astype(np.float64) / 32768.0 if x.dtype.kind in "iu" else x.astype(np.float64)


def tone_blocks(samples: npt.ArrayLike, rate: int, freqs: tuple[float, ...], min_snr_db: float = 10.0,
                min_dbfs: float = -45.0) -> npt.NDArray[np.bool_]:
    """Per 20 ms step (over a Hann-windowed 40 ms frame, 25 Hz bins): does every one of ``freqs`` carry
    at least ``min_dbfs`` and do they together stand ``min_snr_db`` above the rest of the frame?"""
    x = _as_float(samples)
    step = round(rate * BLOCK_S)
    n = 2 * step
    w = np.hanning(n)
    bins = np.fft.rfftfreq(n, 1 / rate)
    bands = [np.abs(bins - f) <= 2 * rate / n for f in freqs]  # the main lobe: ±2 bins
    union = np.any(bands, axis=0)
    floor = 10 ** (min_dbfs / 10)
    out = []
    for i in range(0, len(x) - n + 1, step):
        b = x[i:i + n]
        spec = np.abs(np.fft.rfft(b * w)) ** 2
        total = float(spec.sum()) + 1e-20
        ms = float(np.mean((b * w) ** 2) / np.mean(w * w))  # the frame's mean-square power
        levels = [float(spec[m].sum()) / total * ms for m in bands]
        tone = float(spec[union].sum())
        snr = 10 * np.log10((tone + 1e-20) / max(total - tone, 1e-20))
        out.append(all(lv > floor for lv in levels) and snr >= min_snr_db)
    return np.asarray(out, dtype=bool)


def check_tone(samples: npt.ArrayLike, rate: int, freqs: tuple[float, ...] | float, min_s: float = 0.2,
               **kw: Any) -> MediaCheck:
    """The tone (one or several frequencies together) is present for at least ``min_s`` in a row."""
    fs = (float(freqs),) if isinstance(freqs, int | float) else tuple(float(f) for f in freqs)
    hits = tone_blocks(samples, rate, fs, **kw)
    run = best = 0
    for h in hits:
        run = run + 1 if h else 0
        best = max(best, run)
    seconds = best * BLOCK_S
    name = "+".join(f"{f:g}" for f in fs) + " Hz"
    return MediaCheck("tone", name, f"{name} for {seconds:.2f} s" if best else "no such tone",
                      seconds >= min_s, {"seconds": round(seconds, 2), "blocks": int(hits.sum())})


def check_dtmf(samples: npt.ArrayLike, rate: int, digits: str) -> MediaCheck:
    """The firmware's DTMF detector finds exactly ``digits`` in what was received."""
    from roamline.firmware.audio.dtmf import digits as detect

    found = detect(np.asarray(samples), rate)
    return MediaCheck("dtmf", digits, found, found == digits)


def spoken_digits(digits: str, rate: int = 8000) -> Int16Array:
    """``digits`` read out by espeak-ng ("one two three"), as int16 at ``rate``."""
    from roamline.hil.speech import speak

    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    if not digits or not digits.isdigit():
        raise UsageError(f"spoken digits are 0-9, not {digits!r}")
    return np.asarray(speak(", ".join(words[int(d)] for d in digits), rate=rate), dtype=np.int16)


def envelope(samples: npt.ArrayLike, rate: int, frame_s: float = 0.010) -> npt.NDArray[np.float64]:
    """Log energy per 10 ms frame (dB), floored at -80: the shape speech keeps through a call."""
    x = _as_float(samples)
    n = max(1, round(rate * frame_s))
    k = len(x) // n
    if k == 0:
        return np.zeros(0)
    e = np.mean(x[:k * n].reshape(k, n) ** 2, axis=1)
    return np.asarray(np.maximum(10 * np.log10(e + 1e-12), -80.0), dtype=np.float64)


def check_speech(sent: npt.ArrayLike, received: npt.ArrayLike, rate: int, min_corr: float = 0.6,
                 max_lag_s: float = 2.0, label: str = "speech") -> MediaCheck:
    """``sent`` appears in ``received`` (at a lag up to ``max_lag_s``): the best normalised correlation
    of their energy envelopes is at least ``min_corr``."""
    a, b = envelope(sent, rate), envelope(received, rate)
    if len(a) == 0 or len(b) < len(a):
        return MediaCheck("speech", label, "received audio shorter than what was sent", False)
    a = a - a.mean()
    na = float(np.linalg.norm(a))
    if na == 0:
        raise UsageError("the sent audio has no envelope (silence?)")
    best, lag = -1.0, 0
    for i in range(min(len(b) - len(a), round(max_lag_s / 0.010)) + 1):
        w = b[i:i + len(a)]
        w = w - w.mean()
        nw = float(np.linalg.norm(w))
        if nw == 0:
            continue
        c = float(np.dot(a, w) / (na * nw))
        if c > best:
            best, lag = c, i
    return MediaCheck("speech", label, f"correlation {best:.2f} at {lag * 10} ms", best >= min_corr,
                      {"correlation": round(best, 3), "lag_ms": lag * 10})
