"""Streaming DTMF detector (sans-I/O): 8 kHz samples in, digit events with start/end sample times out.

Method: Goertzel single-bin DFTs, evaluated for all frames of a block at once as one matrix product
(numerically the same as running the Goertzel recursion per frame, but vectorised with numpy). Frames are
N = 102 samples (12.75 ms) with a hop of H = 51 samples. For each frame:

- *rectangular* bins at the 8 DTMF frequencies (row spacing ~ one bin, so a neighbouring row/column falls
  near a null) and at the column tones' second harmonics give the levels;
- *Hann* bins at the 8 frequencies give the phase; the phase advance between consecutive frames (lag H)
  measures each tone's frequency offset, unambiguous to ±fs/(2H) = ±78 Hz.

A frame is a *hit* for a key when all of these hold (ITU-T Q.24 style criteria, AT&T/Bell column):
level of both tones ≥ ``min_level_dbm0``; twist within limits; every other row (column) ≥ 8 dB below the
best; the two tones carry ≥ ``min_energy_ratio`` of the frame's energy; the column tone's second harmonic is
weak; both measured frequencies within ``max_freq_dev`` of nominal (accept ±1.5 %, reject ±3.5 %: the
decision point sits between them).

Twist (get the sign right): twist = level(high group) − level(low group), in dB. Q.24 (AT&T/Bell entry,
the figures in the issue) requires receivers to accept −8 dB … +4 dB. The line attenuates the high group
more, so a *normal* (a.k.a. standard/forward in Q.24's usage) twist has the high group **weaker**, up to
8 dB; a *reverse* twist has the high group **stronger**, up to 4 dB. (Some chip datasheets call the
high-stronger case "forward twist"; we go by the sign above.) Our decision limits add a 2 dB margin for
the weaker tone's level error in noise (at 8 dB twist and 15 dB SNR it is only ~6 dB above the noise):
10 dB normal, 6 dB reverse.

Duration: the amplitude a rectangular-window DFT sees grows linearly with how much of the frame the tone
covers, so a tone edge is where the envelope crosses half its plateau, at the frame centre. Start and end
are interpolated there; a key is announced (:class:`DigitStarted`) once a near-plateau hit frame ends at
least ``min_on_s`` after the start (30 ms: between Q.24's 23 ms must-reject and 40 ms must-accept), and
ends (:class:`DigitEnded`) after more than ``max_dropout_frames`` frames without a hit (dropouts ≤ ~10 ms are
bridged) or when another key appears. Tones that never get announced produce no events at all.

Samples are float (full scale ±1.0) or integer (int16 full scale). Level reference: 0 dBm0 is a sine of
peak 10^(−3.14/20) of full scale (G.711's +3.14 dBm0 overload point).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.errors import AudioUsageError

FloatArray = npt.NDArray[np.float64]

RATE = 8000
FRAME = 102
HOP = 51
ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
DBM0_PEAK = 10 ** (-3.14 / 20)  # sine peak (full scale = 1.0) at 0 dBm0
_CHUNK = HOP * 160  # frames per vectorised block: bounds memory whatever the caller feeds
_TONES = np.array(ROWS + COLS)


def key_tones(key: str) -> tuple[float, float]:
    """(low, high) nominal frequencies of a key, e.g. ``key_tones("5") == (770.0, 1336.0)``."""
    for r, row in enumerate(KEYS):
        c = row.find(key)
        if c >= 0 and len(key) == 1:
            return ROWS[r], COLS[c]
    raise AudioUsageError(f"not a DTMF key: {key!r}")


@dataclass(frozen=True, slots=True)
class DtmfConfig:
    """Decision limits. Defaults meet the Q.24 figures in the module docstring with margin."""

    min_level_dbm0: float = -36.0     # each tone
    normal_twist_db: float = 10.0     # high group weaker than low group by at most this
    reverse_twist_db: float = 6.0     # high group stronger than low group by at most this
    relative_peak_db: float = 8.0     # other rows/columns below the best one by at least this
    min_energy_ratio: float = 0.75    # share of frame energy in the two tones
    col_harmonic_db: float = 12.0     # column tone's 2nd harmonic below it by at least this
    max_freq_dev: float = 0.025       # relative; accept ±1.5 %, reject ±3.5 %
    min_on_s: float = 0.030           # reject < 23 ms, accept ≥ 40 ms
    max_dropout_frames: int = 2       # bridged gap: 2 frames ≈ 12.75 ms of misses
    full_frame: float = 0.7           # a frame this close to the plateau counts as inside the tone


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """Base of the detector's events. Times are sample indices at 8 kHz from the first sample fed."""

    digit: str
    start: int


@dataclass(frozen=True, slots=True)
class DigitStarted(DtmfEvent):
    """A key is down (announced once it has lasted ``min_on_s``)."""


@dataclass(frozen=True, slots=True)
class DigitEnded(DtmfEvent):
    """A key that was announced has been released; ``end`` is exclusive."""

    end: int

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / RATE


def _bases() -> tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]]:
    n = np.arange(FRAME)
    freqs = np.concatenate([_TONES, 2 * np.array(COLS)])
    rect = np.exp(-2j * np.pi * np.outer(n, freqs) / RATE).astype(np.complex128)
    hann = np.hanning(FRAME + 2)[1:-1]  # no zero end points: all N samples count
    return rect, (hann[:, None] * np.exp(-2j * np.pi * np.outer(n, _TONES) / RATE)).astype(np.complex128)


_BASIS = np.hstack(_bases())  # columns: 8 tones, 4 column harmonics (rectangular); 8 tones (Hann)
_IDX = HOP * np.arange(_CHUNK // HOP + 2)[:, None] + np.arange(FRAME)  # frame gather indices
_ADVANCE = np.exp(-2j * np.pi * _TONES * HOP / RATE)  # undoes the nominal tone's phase step per hop
_DEV_SCALE = RATE / (2 * np.pi * HOP) / _TONES  # radians per hop → relative frequency offset


@dataclass(slots=True)
class _Segment:
    key: int  # 4*row + col
    head: list[tuple[float, float]]  # (frame centre, envelope) from a little before the first hit
    first_hit: int  # index into head
    peak: float
    last_hit: tuple[float, float]
    tail: list[tuple[float, float]] = field(default_factory=list)
    hits: int = 0
    start: float | None = None
    announced: bool = False


def _bin_gain(offset_hz: FloatArray) -> FloatArray:
    """Gain of a rectangular N-point DFT bin for a tone ``offset_hz`` away (1 at the bin centre)."""
    d = np.clip(np.abs(offset_hz) * FRAME / RATE, 1e-9, 0.9)  # in bins; past 0.9 the frame fails anyway
    return np.asarray(np.sin(np.pi * d) / (FRAME * np.sin(np.pi * d / FRAME)), dtype=np.float64)


def _interp(a: tuple[float, float], b: tuple[float, float], level: float) -> float:
    (ca, ea), (cb, eb) = a, b
    if eb == ea:
        return cb
    return ca + (level - ea) / (eb - ea) * (cb - ca)


class DtmfDetector:
    """Feed 8 kHz audio in blocks of any size; get :class:`DtmfEvent` lists back. No I/O, no clock."""

    def __init__(self, config: DtmfConfig | None = None) -> None:
        self.config = config or DtmfConfig()
        c = self.config
        self._min_amp = DBM0_PEAK * 10 ** (c.min_level_dbm0 / 20)  # sine peak at the level limit
        self._normal = 10 ** (-c.normal_twist_db / 20)
        self._reverse = 10 ** (c.reverse_twist_db / 20)
        self._peak = 10 ** (-c.relative_peak_db / 20)
        self._harm = 10 ** (-c.col_harmonic_db / 20)
        self._min_on = c.min_on_s * RATE
        self._full = c.full_frame
        self.reset()

    def reset(self) -> None:
        """Back to the state of a new detector (time starts again at sample 0)."""
        # Start with half a frame of silence so the first frame is centred on sample 0.
        self._buf: FloatArray = np.zeros(FRAME - HOP)
        self._buf_start = -(FRAME - HOP)
        self._odd: bytes = b""
        self._prev_hann: npt.NDArray[np.complex128] = np.zeros(8, dtype=np.complex128)
        self._hist: deque[tuple[float, FloatArray]] = deque(maxlen=3)
        self._seg: _Segment | None = None
        self._fed = 0

    # --- input -------------------------------------------------------------------------------------

    def feed(self, samples: npt.ArrayLike) -> list[DtmfEvent]:
        """Feed samples (float full scale 1.0, or integers at int16 full scale)."""
        x = np.asarray(samples)
        if x.ndim != 1:
            raise AudioUsageError(f"DTMF detector takes mono 1-D samples, got shape {x.shape}")
        if x.dtype.kind in "iu":
            xf = x.astype(np.float64) / 32768.0
        elif x.dtype.kind == "f":
            xf = x.astype(np.float64)
        else:
            raise AudioUsageError(f"DTMF detector takes numeric samples, got dtype {x.dtype}")
        self._fed += len(xf)
        events: list[DtmfEvent] = []
        for i in range(0, len(xf), _CHUNK):
            self._buf = np.concatenate([self._buf, xf[i:i + _CHUNK]])
            events.extend(self._run())
        return events

    def feed_pcm16(self, data: bytes) -> list[DtmfEvent]:
        """Feed little-endian signed 16-bit PCM bytes; an odd trailing byte waits for the next call."""
        data = self._odd + bytes(data)
        whole = len(data) - len(data) % 2
        self._odd = data[whole:]
        return self.feed(np.frombuffer(data[:whole], dtype="<i2"))

    def flush(self) -> list[DtmfEvent]:
        """End of stream: finish any key in progress, then reset for reuse."""
        pad = FRAME + (self.config.max_dropout_frames + 3) * HOP
        events = self.feed(np.zeros(pad))
        seg = self._seg
        if seg is not None:
            events.extend(self._close(seg))
        self.reset()
        return events

    # --- analysis ----------------------------------------------------------------------------------

    def _run(self) -> list[DtmfEvent]:
        nf = (len(self._buf) - FRAME) // HOP + 1
        if nf <= 0:
            return []
        frames = self._buf[_IDX[:nf]]
        starts = self._buf_start + HOP * np.arange(nf)
        hits, amps = self._analyse(frames)
        self._buf = self._buf[nf * HOP:]
        self._buf_start += nf * HOP
        events: list[DtmfEvent] = []
        centres = starts + FRAME / 2
        for i in range(nf):
            events.extend(self._track(float(centres[i]), amps[i], int(hits[i])))
        return events

    def _analyse(self, frames: FloatArray) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """Per frame: the key index it is a hit for (−1 if none) and the 8 tone amplitudes."""
        c = self.config
        spec = frames @ _BASIS
        rect = np.abs(spec[:, :12]) * (2.0 / FRAME)  # sine amplitudes (a tone of peak A reads A)
        amps = rect[:, :8]
        hann = spec[:, 12:]
        prev = np.empty_like(hann)
        prev[0] = self._prev_hann
        prev[1:] = hann[:-1]
        self._prev_hann = hann[-1].copy()
        rows, cols = np.sort(amps[:, :4], axis=1), np.sort(amps[:, 4:], axis=1)
        ar, ac = rows[:, -1], cols[:, -1]
        ok = (ar >= self._min_amp) & (ac >= self._min_amp)
        if not ok.any():  # the common case (silence, quiet speech): skip the rest
            return np.full(len(frames), -1), amps
        r = np.argmax(amps[:, :4], axis=1)
        k = np.argmax(amps[:, 4:], axis=1)
        idx = np.arange(len(frames))
        ok &= (rows[:, -2] <= ar * self._peak) & (cols[:, -2] <= ac * self._peak)
        ok &= rect[idx, 8 + k] <= ac * self._harm
        # Phase advance over one hop, less the nominal tone's, gives each tone's frequency offset.
        rot_r = hann[idx, r] * np.conj(prev[idx, r]) * _ADVANCE[r]
        rot_c = hann[idx, 4 + k] * np.conj(prev[idx, 4 + k]) * _ADVANCE[4 + k]
        dev_r = np.angle(rot_r) * _DEV_SCALE[r]
        dev_c = np.angle(rot_c) * _DEV_SCALE[4 + k]
        ok &= (np.abs(dev_r) <= c.max_freq_dev) & (np.abs(dev_c) <= c.max_freq_dev)
        # Undo the rectangular bin's loss for an off-nominal tone before comparing levels.
        ar = ar / _bin_gain(dev_r * _TONES[r])
        ac = ac / _bin_gain(dev_c * _TONES[4 + k])
        ok &= (ac >= ar * self._normal) & (ac <= ar * self._reverse)
        power = np.einsum("ij,ij->i", frames, frames) / FRAME
        ok &= (ar * ar + ac * ac) / 2 >= c.min_energy_ratio * power
        return np.where(ok, 4 * r + k, -1), amps

    # --- tracking ----------------------------------------------------------------------------------

    def _track(self, centre: float, amps: FloatArray, hit: int) -> list[DtmfEvent]:
        events: list[DtmfEvent] = []
        seg = self._seg
        if seg is not None:
            env = float(amps[seg.key // 4] + amps[4 + seg.key % 4])
            seg.peak = max(seg.peak, env)
            if hit == seg.key:
                seg.tail.clear()
                seg.last_hit = (centre, env)
                seg.hits += 1
                if len(seg.head) < 64:
                    seg.head.append((centre, env))
                if not seg.announced:
                    seg.start = self._rise(seg)
                    if (seg.hits >= 2 and env >= self._full * seg.peak
                            and centre + FRAME / 2 - seg.start >= self._min_on):
                        seg.announced = True
                        events.append(DigitStarted(self._digit(seg), round(seg.start)))
            else:
                seg.tail.append((centre, env))
                if len(seg.tail) > self.config.max_dropout_frames or hit >= 0:
                    events.extend(self._close(seg))
                    seg = None
        if seg is None and hit >= 0:
            key_amp = (hit // 4, 4 + hit % 4)
            head = [(c, float(a[key_amp[0]] + a[key_amp[1]])) for c, a in self._hist]
            env = float(amps[key_amp[0]] + amps[key_amp[1]])
            head.append((centre, env))
            seg = _Segment(hit, head, len(head) - 1, max(e for _, e in head), (centre, env), hits=1)
        self._seg = seg
        self._hist.append((centre, amps))
        return events

    @staticmethod
    def _digit(seg: _Segment) -> str:
        return KEYS[seg.key // 4][seg.key % 4]

    @staticmethod
    def _rise(seg: _Segment) -> float:
        """Where the envelope first crossed half the plateau, walking back from the first hit."""
        half = seg.peak / 2
        head = seg.head
        j = seg.first_hit
        while j < len(head) - 1 and head[j][1] < half:
            j += 1
        while j > 0 and head[j - 1][1] >= half:
            j -= 1
        return head[j][0] if j == 0 else _interp(head[j - 1], head[j], half)

    def _close(self, seg: _Segment) -> list[DtmfEvent]:
        self._seg = None
        if not seg.announced or seg.start is None:
            return []
        half = seg.peak / 2
        end = seg.last_hit[0]
        prev = seg.last_hit
        for point in seg.tail:
            if point[1] < half:
                end = _interp(prev, point, half)
                break
            prev = point
            end = point[0]
        end = min(end, float(self._fed))
        return [DigitEnded(self._digit(seg), round(seg.start), max(round(end), round(seg.start) + 1))]


def to_8k(samples: npt.ArrayLike, rate: int) -> FloatArray:
    """Float samples at 8 kHz from float/int16 samples at ``rate``, through the box's own resampler
    (:mod:`roamline.firmware.audio.resample`, the filter the handset path runs)."""
    x = np.asarray(samples)
    xf = x.astype(np.float64) / 32768.0 if x.dtype.kind in "iu" else x.astype(np.float64)
    if rate == RATE:
        return xf
    if rate <= 0:
        raise AudioUsageError(f"bad sample rate {rate}")
    from roamline.firmware.audio.resample import resample_float

    return resample_float(xf, rate, RATE)


def detect(samples: npt.ArrayLike, rate: int = RATE, config: DtmfConfig | None = None) -> list[DigitEnded]:
    """Whole-signal convenience: every key pressed in ``samples`` (any rate), in order."""
    det = DtmfDetector(config)
    events = det.feed(to_8k(samples, rate)) + det.flush()
    return [e for e in events if isinstance(e, DigitEnded)]


def digits(samples: npt.ArrayLike, rate: int = RATE, config: DtmfConfig | None = None) -> str:
    return "".join(e.digit for e in detect(samples, rate, config))
