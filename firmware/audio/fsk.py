"""FSK for on-hook data to the handset: Bell 202 and V.23 modulation, and our own strict receiver.

Bits go out as asynchronous characters (start bit 0, 8 data bits LSB first, stop bit 1) after the
*channel seizure* (alternating 0/1, starting with 0) and the *mark* (continuous 1s). Mark is binary 1.

=========  ========  ========  =====
modem      mark      space     baud
=========  ========  ========  =====
Bell 202   1200 Hz   2200 Hz   1200   (US, Telcordia GR-30-CORE)
V.23       1300 Hz   2100 Hz   1200   (ETSI EN 300 659-1, BT SIN 227, Germany)
=========  ========  ========  =====

The receiver is non-coherent: the signal is mixed down at the mark and space frequencies and averaged
over one bit; the sign of |mark|² − |space|² is the bit. It hunts for a run of mark of at least
``min_mark_bits``, then reads characters, sampling each bit at its centre measured from the start bit's
edge, and assembles caller-ID messages (type, length, body, checksum) which it hands to
:func:`roamline.firmware.callerid.codec.decode`. Anything wrong (framing, checksum, contents, carrier
lost mid-message) is reported as :class:`FskRejected` and the receiver hunts again. Buffers are bounded:
at most one message (≤ 258 bytes) and a few bits of audio are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.errors import AudioUsageError
from roamline.firmware.callerid import codec as cm

FloatArray = npt.NDArray[np.float64]
DBM0_PEAK = 10 ** (-3.14 / 20)  # sine peak at 0 dBm0 (full scale 1.0), as in dtmf.py


@dataclass(frozen=True, slots=True)
class FskModem:
    name: str
    mark_hz: float
    space_hz: float
    baud: float


BELL202 = FskModem("bell202", 1200.0, 2200.0, 1200.0)
V23 = FskModem("v23", 1300.0, 2100.0, 1200.0)


def char_bits(data: bytes) -> list[int]:
    """Asynchronous framing: per byte a 0 start bit, 8 data bits LSB first, a 1 stop bit."""
    bits: list[int] = []
    for b in data:
        bits += [0, *((b >> i) & 1 for i in range(8)), 1]
    return bits


def burst_bits(message: bytes, seizure_bits: int, mark_bits: int, tail_bits: int = 4) -> list[int]:
    """Channel seizure (0101…), mark (111…), the message's characters, then a short mark tail."""
    return [i & 1 for i in range(seizure_bits)] + [1] * mark_bits + char_bits(message) + [1] * tail_bits


def modulate(bits: list[int], modem: FskModem, rate: int = 8000, level_dbm0: float = -13.0) -> FloatArray:
    """Continuous-phase FSK: each bit lasts exactly rate/baud samples on average (fractional timing)."""
    if rate < 2.2 * max(modem.mark_hz, modem.space_hz):
        raise AudioUsageError(f"{rate} Hz is too low a rate for {modem.name}")
    n = int(np.ceil(len(bits) * rate / modem.baud))
    which = np.minimum((np.arange(n) * modem.baud / rate).astype(np.int64), len(bits) - 1)
    freq = np.where(np.asarray(bits, dtype=np.int64)[which] == 1, modem.mark_hz, modem.space_hz)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    return np.asarray(DBM0_PEAK * 10 ** (level_dbm0 / 20) * np.sin(phase), dtype=np.float64)


def burst(message: bytes, modem: FskModem, seizure_bits: int = 300, mark_bits: int = 180, rate: int = 8000,
          level_dbm0: float = -13.0) -> FloatArray:
    """The audio of one on-hook data transmission carrying ``message`` (a framed caller-ID message)."""
    return modulate(burst_bits(message, seizure_bits, mark_bits), modem, rate, level_dbm0)


# --- receiver --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FskEvent:
    """Base of receiver events; ``at`` is the sample index where the message's first character began."""

    at: int


@dataclass(frozen=True, slots=True)
class FskMessage(FskEvent):
    raw: bytes
    message: cm.Message


@dataclass(frozen=True, slots=True)
class FskRejected(FskEvent):
    reason: str
    raw: bytes


_HUNT, _IDLE, _MSG = 0, 1, 2


class FskReceiver:
    """Sans-I/O receiver: feed samples (float full scale 1.0 or int16), get events."""

    def __init__(self, modem: FskModem, rate: int = 8000, min_mark_bits: int = 30,
                 min_level_dbm0: float = -40.0) -> None:
        if rate < 2.2 * max(modem.mark_hz, modem.space_hz):
            raise AudioUsageError(f"{rate} Hz is too low a rate for {modem.name}")
        self.modem, self.rate = modem, rate
        self._bit = rate / modem.baud  # samples per bit (fractional)
        self._win = max(2, round(self._bit))
        self._min_mark = int(min_mark_bits * self._bit)
        # Mixer output of a tone of peak A averages to A/2; carrier power threshold on |m|²+|s|².
        self._min_power = (DBM0_PEAK * 10 ** (min_level_dbm0 / 20) / 2) ** 2
        self._f = np.array([modem.mark_hz, modem.space_hz]) / rate
        self.reset()

    def reset(self) -> None:
        self._n = 0  # absolute index of the next sample fed
        self._tail = np.zeros((self._win - 1, 2), dtype=np.complex128)  # last win-1 mixed samples
        self._d: list[float] = []  # discriminator, from absolute index self._d0
        self._p: list[float] = []  # carrier power
        self._d0 = 0
        self._pos = 0  # absolute index the state machine has reached
        self._state = _HUNT
        self._run = 0
        self._framer = cm.Framer()
        self._msg_at = 0

    def feed(self, samples: npt.ArrayLike) -> list[FskEvent]:
        x = np.asarray(samples)
        if x.ndim != 1 or x.dtype.kind not in "iuf":
            raise AudioUsageError("FSK receiver takes 1-D numeric samples")
        xf = x.astype(np.float64) / 32768.0 if x.dtype.kind in "iu" else x.astype(np.float64)
        events: list[FskEvent] = []
        for i in range(0, len(xf), 4096):
            self._demod(xf[i:i + 4096])
            events += self._scan()
        return events

    def flush(self) -> list[FskEvent]:
        """End of stream: a message still being received is rejected as cut short; then reset."""
        events = self.feed(np.zeros(int(12 * self._bit) + self._win))
        if self._state == _MSG and self._framer.pending:
            events.append(FskRejected(self._msg_at, "signal ended inside a message", self._framer.pending))
        self.reset()
        return events

    def _demod(self, x: FloatArray) -> None:
        t = self._n + np.arange(len(x))
        self._n += len(x)
        mixed = x[:, None] * np.exp(-2j * np.pi * np.mod(np.outer(t, self._f), 1.0))
        full = np.concatenate([self._tail, mixed])
        csum = np.concatenate([np.zeros((1, 2), dtype=np.complex128), np.cumsum(full, axis=0)])
        avg = (csum[self._win:] - csum[:-self._win]) / self._win  # window ending at each new sample
        self._tail = full[len(full) - (self._win - 1):]
        power = np.abs(avg) ** 2
        self._d += list(power[:, 0] - power[:, 1])
        self._p += list(power[:, 0] + power[:, 1])

    def _at(self, i: int) -> tuple[float, float]:
        j = i - self._d0
        return self._d[j], self._p[j]

    def _scan(self) -> list[FskEvent]:
        events: list[FskEvent] = []
        end = self._d0 + len(self._d)
        need = int(np.ceil(9.5 * self._bit)) + 1  # lookahead to read a whole character
        while self._pos < end:
            if self._state == _HUNT:
                d, p = self._at(self._pos)
                self._run = self._run + 1 if (d > 0 and p >= self._min_power) else 0
                self._pos += 1
                if self._run >= self._min_mark:
                    self._state = _IDLE
                continue
            # _IDLE or _MSG: wait for a start-bit edge, then read the character.
            d, p = self._at(self._pos)
            if p < self._min_power:
                events += self._abandon("carrier lost")
                self._pos += 1
                continue
            if d > 0:
                self._pos += 1
                continue
            if self._pos + need > end:
                break  # wait for the rest of the character
            events += self._character(self._pos)
        # Keep only what a pending character may still need.
        keep_from = min(self._pos, end) - self._win
        if keep_from > self._d0:
            cut = keep_from - self._d0
            del self._d[:cut]
            del self._p[:cut]
            self._d0 = keep_from
        return events

    def _character(self, edge: int) -> list[FskEvent]:
        bits = []
        for k in range(10):
            d, _ = self._at(edge + round((k + 0.5) * self._bit) - 1)
            bits.append(1 if d > 0 else 0)
        if bits[0] != 0:  # a glitch, not a start bit
            self._pos = edge + 1
            return []
        if bits[9] != 1:
            self._pos = edge + 1
            return self._abandon("framing error (no stop bit)")
        byte = sum(b << i for i, b in enumerate(bits[1:9]))
        self._pos = edge + round(9.5 * self._bit)
        if self._state == _IDLE:
            # The one-bit average crosses zero about half a window after the true edge.
            self._state, self._msg_at = _MSG, edge - self._win // 2
            self._framer.reset()
        try:
            raw = self._framer.push(byte)
        except cm.CallerIdError as exc:
            return [FskRejected(self._msg_at, str(exc), bytes([byte])), *self._abandon("")]
        if raw is not None:
            self._state, self._run = _HUNT, 0
            try:
                return [FskMessage(self._msg_at, raw, cm.decode(raw))]
            except cm.CallerIdError as exc:
                return [FskRejected(self._msg_at, str(exc), raw)]
        return []

    def _abandon(self, reason: str) -> list[FskEvent]:
        events: list[FskEvent] = []
        if self._state == _MSG and self._framer.pending:
            events.append(FskRejected(self._msg_at, reason, self._framer.pending))
        self._state, self._run = _HUNT, 0
        self._framer.reset()
        return events


def receive(samples: npt.ArrayLike, modem: FskModem, rate: int = 8000) -> list[FskEvent]:
    """Whole-signal convenience: every message (or rejection) in ``samples``."""
    rx = FskReceiver(modem, rate)
    return rx.feed(samples) + rx.flush()
