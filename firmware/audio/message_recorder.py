"""Recording a voicemail message from the line: sans-I/O, µ-law in, the end decided here.

``feed`` takes what the line hears (any length, µ-law or A-law as the modem streams it) and says when the
message is over: ``silence`` (no voice for ``silence_s``) or ``max-length``. ``audio`` is the message as
µ-law 8 kHz (the wire's encoding), its trailing silence cut to ``keep_tail_s``; a recording with no voice at
all is empty (only the missed call remains). A 20 ms frame is voice when its RMS is above
``threshold_dbfs`` (−45 dBFS: well above a quiet line's noise, well below speech at −20 … −10 dBFS).
"""

from __future__ import annotations

import math

import numpy as np

from roamline.firmware.audio import g711

RATE = 8000
FRAME = 160  # 20 ms


class MessageRecorder:
    def __init__(self, *, max_s: float, silence_s: float, law: str = "ulaw", threshold_dbfs: float = -45.0,
                 keep_tail_s: float = 0.5) -> None:
        if law not in ("ulaw", "alaw"):
            raise ValueError(f"law must be ulaw or alaw, not {law!r}")
        self._law = law
        self._max = int(max_s * RATE)
        self._silence = int(silence_s * RATE)
        self._threshold = 32768.0 * math.pow(10.0, threshold_dbfs / 20.0)
        self._tail = int(keep_tail_s * RATE)
        self._ulaw = bytearray()
        self._pending = b""
        self._voiced_to = 0  # samples up to the end of the last voiced frame
        self._heard_voice = False
        self.ended: str | None = None

    @property
    def samples(self) -> int:
        return len(self._ulaw)

    def feed(self, data: bytes) -> str | None:
        """Add what the line heard; the reason the message ended, once (None while it goes on)."""
        if self.ended is not None:
            return None
        data = self._pending + data
        whole = len(data) - len(data) % FRAME
        self._pending = data[whole:]
        for i in range(0, whole, FRAME):
            frame = data[i:i + FRAME]
            samples = g711.decode(self._law, frame)
            self._ulaw += frame if self._law == "ulaw" else bytes(g711.encode("ulaw", samples))
            rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
            if rms >= self._threshold:
                self._heard_voice = True
                self._voiced_to = len(self._ulaw)
            if len(self._ulaw) >= self._max:
                self.ended = "max-length"
            elif len(self._ulaw) - self._voiced_to >= self._silence:
                self.ended = "silence"
            if self.ended is not None:
                return self.ended
        return None

    def audio(self) -> bytes:
        """The message (µ-law): up to ``keep_tail_s`` after the last voice; empty if there was none."""
        if not self._heard_voice:
            return b""
        return bytes(self._ulaw[: min(len(self._ulaw), self._voiced_to + self._tail, self._max)])


__all__ = ["MessageRecorder"]
