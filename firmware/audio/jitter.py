"""Adaptive jitter buffer (sans-I/O): packets in with their arrival time, one frame out per playout tick.

Model. Every packet carries an RTP-style 16-bit sequence number and 32-bit sample timestamp (unwrapped
here to a running count). Its transit ``arrival - timestamp/rate`` contains an unknown constant (clock
offset + base network delay) plus jitter. Over a sliding window of recent packets the buffer takes the
smallest transit as the base and the ``quantile`` (default 0.98) of transit-above-base as the jitter to
absorb; the target delay is that plus a small margin, clamped to [min_delay, max_delay]. The playout
position wanted at time ``now`` is ``(now - base - target)·rate``.

Each :meth:`JitterBuffer.pull` plays the frame at the current playout position and advances by one
frame. When the position drifts from the wanted one the buffer adapts by whole frames: it skips a frame
when playing a frame too late (delay a frame above target) and inserts a concealment frame when playing
early (delay below target: the buffer is about to run dry). So frames play with a delay between the
target and the target plus one frame; finer (sub-frame time-scaling) adaptation is not done. Missing
frames are concealed (:mod:`plc`) or, with ``plc=False`` (emergency/TTY audio, DESIGN §6.4), played
as silence: no synthetic audio of any kind (stretch frames included).

Packets older than the playout position are late (dropped, counted); duplicates are dropped; the buffer
holds at most ``capacity`` packets; a timestamp jump of more than ``resync_s`` restarts playout.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.errors import AudioUsageError, MediaError
from roamline.firmware.audio.plc import Concealer

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]
FrameKind = Literal["audio", "concealed", "silence", "waiting"]
PushResult = Literal["accepted", "late", "duplicate", "overflow", "resync"]


@dataclass(frozen=True, slots=True)
class MediaPacket:
    """One packet of decoded audio (e.g. G.711 payload already decoded to int16)."""

    seq: int  # 16-bit RTP sequence number
    timestamp: int  # 32-bit RTP timestamp, in samples
    samples: Int16Array = field(repr=False)


@dataclass(frozen=True, slots=True)
class PlayoutFrame:
    samples: Int16Array = field(repr=False)
    kind: FrameKind  # audio: a packet; concealed: PLC; silence: lost with PLC off; waiting: not started
    timestamp: int | None  # unwrapped timestamp of the frame's first sample, None while waiting


@dataclass(slots=True)
class JitterStats:
    received: int = 0
    played: int = 0
    concealed: int = 0
    silent: int = 0
    late: int = 0
    duplicate: int = 0
    overflow: int = 0
    resyncs: int = 0
    skipped: int = 0  # frames dropped to shrink the delay
    stretched: int = 0  # frames inserted to grow the delay


class JitterBuffer:
    def __init__(self, rate: int = 8000, frame: int = 160, *, plc: bool = True, min_delay_ms: float = 0.0,
                 max_delay_ms: float = 400.0, initial_delay_ms: float = 60.0, margin_ms: float = 2.0,
                 quantile: float = 0.98, window: int = 250, capacity: int = 64, resync_s: float = 2.0
                 ) -> None:
        if frame <= 0 or rate <= 0 or capacity < 2 or window < 4:
            raise AudioUsageError("jitter buffer needs positive rate/frame, capacity >= 2, window >= 4")
        if not 0.5 <= quantile <= 1.0 or min_delay_ms > max_delay_ms:
            raise AudioUsageError("quantile must be in [0.5, 1] and min_delay <= max_delay")
        self.rate, self.frame, self.plc = rate, frame, plc
        self._min_delay, self._max_delay = min_delay_ms / 1000, max_delay_ms / 1000
        self._initial = initial_delay_ms / 1000
        self._margin, self._quantile = margin_ms / 1000, quantile
        self._capacity, self._resync = capacity, round(resync_s * rate)
        self._transits: collections.deque[float] = collections.deque(maxlen=window)
        self._warm = min(window, 20)
        self._packets: dict[int, Int16Array] = {}
        self._last_raw: int | None = None
        self._last_ext = 0
        self._next: int | None = None  # unwrapped timestamp to play next
        self._concealer = Concealer(rate, frame) if plc else None
        self._concealer_ready = False  # conceal only after some real audio has played
        self._late_run = self._early_run = 0
        self.stats = JitterStats()

    # -- delay estimation ------------------------------------------------------------------------
    @property
    def target_delay(self) -> float:
        """Seconds of buffering the buffer aims for, from the jitter it has seen."""
        if len(self._transits) < self._warm:
            return min(max(self._initial, self._min_delay), self._max_delay)
        t = np.fromiter(self._transits, dtype=np.float64)
        spread = float(np.quantile(t - t.min(), self._quantile))
        return min(max(spread + self._margin, self._min_delay), self._max_delay)

    def _base(self) -> float:
        return min(self._transits)

    def _wanted(self, now: float) -> float:
        return (now - self._base() - self.target_delay) * self.rate

    # -- input -----------------------------------------------------------------------------------
    def _unwrap(self, ts: int) -> int:
        if self._last_raw is None:
            self._last_raw, self._last_ext = ts, ts
            return ts
        delta = (ts - self._last_raw) & 0xFFFFFFFF
        if delta >= 0x80000000:
            delta -= 0x100000000
        ext = self._last_ext + delta
        if delta > 0:
            self._last_raw, self._last_ext = ts, ext
        return ext

    def _restart(self) -> None:
        self._packets.clear()
        self._transits.clear()
        self._next = None
        self.stats.resyncs += 1

    def push(self, packet: MediaPacket, now: float) -> PushResult:
        if len(packet.samples) != self.frame:
            raise MediaError(f"packet of {len(packet.samples)} samples; this stream uses {self.frame}")
        if not 0 <= packet.timestamp <= 0xFFFFFFFF or not 0 <= packet.seq <= 0xFFFF:
            raise MediaError("RTP sequence number or timestamp out of range")
        self.stats.received += 1
        ext = self._unwrap(packet.timestamp)
        if self._transits and abs((now - ext / self.rate) - self._base()) * self.rate > self._resync:
            log.info("jitter-resync", extra={"fields": {"timestamp": packet.timestamp}})
            self._restart()
            self._last_raw, self._last_ext = packet.timestamp, ext
            result: PushResult = "resync"
        else:
            result = "accepted"
        self._transits.append(now - ext / self.rate)
        if self._next is not None and ext < self._next:
            self.stats.late += 1
            return "late"
        if ext in self._packets:
            self.stats.duplicate += 1
            return "duplicate"
        if len(self._packets) >= self._capacity:
            newest = max(self._packets)
            if ext > newest:
                self.stats.overflow += 1
                return "overflow"
            del self._packets[newest]  # keep the packets that will play soonest
            self.stats.overflow += 1
        self._packets[ext] = np.asarray(packet.samples, dtype=np.int16)
        return result

    # -- output ----------------------------------------------------------------------------------
    def _fill(self, ts: int | None) -> PlayoutFrame:
        """A frame for a missing packet."""
        if self._concealer is not None and self._concealer_ready:
            self.stats.concealed += 1
            return PlayoutFrame(self._concealer.conceal(), "concealed", ts)
        self.stats.silent += 1
        return PlayoutFrame(np.zeros(self.frame, dtype=np.int16), "silence", ts)

    def pull(self, now: float) -> PlayoutFrame:
        if self._next is None:
            ready = [ts for ts in self._packets if ts <= self._wanted(now) + self.frame / 2]
            if not ready:
                return PlayoutFrame(np.zeros(self.frame, dtype=np.int16), "waiting", None)
            self._next = min(self._packets)
        # This frame's delay is target - drift/rate. Exactly one frame position has drift in
        # ((h-1)·frame, h·frame]; move there by whole frames, but only once the need has persisted (a few
        # pulls when early, longer when late) so that noise in the estimate does not make the buffer hunt.
        drift = self._next - self._wanted(now)
        h = 0.1 * self.frame
        self._late_run = self._late_run + 1 if drift <= h - self.frame else 0
        self._early_run = self._early_run + 1 if drift > h else 0
        if self._late_run >= 10 and self._next + self.frame <= max(self._packets, default=self._next):
            self._packets.pop(self._next, None)  # playing too late: drop one frame to catch up
            self._next += self.frame
            self.stats.skipped += 1
            self._late_run = 0
        elif self._early_run >= 2:
            self._early_run = 0
            self.stats.stretched += 1  # playing too early: insert a frame, position unchanged
            return self._fill(self._next)
        ts = self._next
        self._next += self.frame
        for old in [k for k in self._packets if k < self._next]:
            samples = self._packets.pop(old)
            if old != ts:
                continue
            self.stats.played += 1
            if self._concealer is not None:
                self._concealer_ready = True
                samples = self._concealer.good(samples)
            return PlayoutFrame(samples, "audio", ts)
        return self._fill(ts)
