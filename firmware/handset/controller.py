"""The handset controller: sans-I/O glue between the board core, the audio path and call control.

In: raw hook levels (``hook_edge``), mouthpiece audio blocks (``audio``), commands (``ring``,
``play``, ``set_fault``), and ``now`` (monotonic seconds) with each. Out: typed events from ``poll``,
the SLIC output levels (``ring_mode``, ``reverse``), LED states (``leds``) and earpiece audio.
The runner calls ``poll`` at ``deadline()`` and after every edge; nothing here blocks or reads a clock.
"""

from __future__ import annotations

import logging

import numpy as np

from roamline.board.compat import ticks_diff, ticks_from_seconds
from roamline.board.core import events as ev
from roamline.board.core.cadence import cadence_named, check_cadence
from roamline.board.core.fxs import FxsCore
from roamline.board.core.hook import HookTiming
from roamline.board.errors import UsageError as BoardUsageError
from roamline.firmware.handset.errors import HandsetUsageError
from roamline.firmware.handset.events import (
    CallerIdSent,
    Digit,
    HandsetEvent,
    HookFlash,
    OffHook,
    OnHook,
    RingDone,
    RingTrip,
)
from roamline.firmware.handset.ports import (
    ArraySource,
    BlockSource,
    CallerId,
    CallerIdEncoder,
    DigitDetector,
    Int16Array,
    ToneSource,
)

log = logging.getLogger(__name__)

Led = bool | tuple[float, float]  # steady on/off, or blink (on_s, off_s)
CID_DELAY_S = 0.5  # after the first ring ends (Bell: ≥ 500 ms); before the first ring, the gap to it


class HandsetController:
    def __init__(self, timing: HookTiming, ring_hz: int, rate: int, now: float, *,
                 tones: ToneSource | None = None, detector: DigitDetector | None = None,
                 caller_id: CallerIdEncoder | None = None, off_hook: bool = False) -> None:
        self.rate = rate
        self._tones = tones
        self._detector = detector
        self._cid_encoder = caller_id
        self._core = FxsCore(timing, ring_hz, ticks_from_seconds(now), off_hook)
        self._events: list[HandsetEvent] = []
        self._playing: BlockSource | None = None
        self._playing_cid = False
        self._voice: BlockSource | None = None
        self._cid_pending: CallerId | None = None
        self._cid_at: float | None = None  # when to start the caller-ID burst
        self._ring_after_cid: tuple[tuple[int, ...], int] | None = None
        self._ring_at: float | None = None  # when a ring held back for caller ID starts
        self._fault = False
        self._tick_base = ticks_from_seconds(now)  # the last poll's time, as ticks and as seconds
        self._tick_base_s = now

    # -- time -------------------------------------------------------------------------------------
    @staticmethod
    def _secs(at: int, now: float) -> float:
        return now - ticks_diff(ticks_from_seconds(now), at) / 1000.0

    # -- state ------------------------------------------------------------------------------------
    @property
    def off_hook(self) -> bool:
        return self._core.off_hook

    @property
    def ringing(self) -> bool:
        return self._core.ringing or self._ring_after_cid is not None

    @property
    def ring_mode(self) -> bool:
        return self._core.ring_mode

    @property
    def reverse(self) -> bool:
        return self._core.reverse

    @property
    def leds(self) -> tuple[Led, bool]:
        """(green, red): steady green idle, blinking while ringing, fast blink off-hook; red on fault."""
        if self._fault:
            return (False, True)
        if self.ringing:
            return ((0.25, 0.25), False)
        if self.off_hook:
            return ((0.1, 0.9), False)
        return (True, False)

    def set_fault(self, fault: bool) -> None:
        self._fault = fault

    # -- inputs -----------------------------------------------------------------------------------
    def hook_edge(self, off_hook: bool, now: float) -> None:
        self._core.hook_edge(off_hook, ticks_from_seconds(now))

    def ring(self, cadence: str | tuple[int, ...], now: float, *, cycles: int = 0,
             caller_id: CallerId | None = None) -> None:
        """Ring with a named cadence ("us", "uk", "de", "us-dr2", ...) or explicit on/off ms."""
        try:
            cad = cadence_named(cadence) if isinstance(cadence, str) else tuple(cadence)
            check_cadence(cad)
        except BoardUsageError as exc:
            raise HandsetUsageError(str(exc)) from None
        if self.off_hook:
            raise HandsetUsageError("cannot ring an off-hook handset")
        self.stop_ring()
        enc = self._cid_encoder if caller_id is not None else None
        if enc is not None and enc.timing == "before-first-ring":
            self._cid_pending = caller_id
            self._cid_at = now
            self._ring_after_cid = (cad, cycles)
            return
        self._cid_pending = caller_id if enc is not None else None
        self._core.ring(cad, ticks_from_seconds(now), cycles)

    def stop_ring(self) -> None:
        self._core.stop_ring()
        self._ring_after_cid = None
        self._ring_at = None
        self._cid_pending = None
        self._cid_at = None
        if self._playing_cid:
            self._playing = None
            self._playing_cid = False

    def play(self, tone: str | None) -> None:
        """Play a call-progress tone into the earpiece (None: stop). Voice is muted while a tone plays."""
        if tone is None:
            self._playing = None
            return
        if self._tones is None:
            raise HandsetUsageError("no tone source configured")
        self._playing = self._tones.tone(tone)
        self._playing_cid = False

    def set_voice(self, source: BlockSource | None) -> None:
        """Far-end audio for the earpiece during a call."""
        self._voice = source

    def audio(self, mic: Int16Array, now: float) -> Int16Array:
        """One block: mouthpiece in (DTMF detection), earpiece out (tone, caller ID or voice)."""
        if self._detector is not None and self.off_hook:
            for key in self._detector.feed(mic):
                self._events.append(Digit(now, key, "dtmf"))
        n = len(mic)
        src = self._playing if self._playing is not None else self._voice
        if src is None:
            return np.zeros(n, dtype=np.int16)
        out = src.read(n)
        if self._playing is not None and self._playing.finished:
            if self._playing_cid:
                self._events.append(CallerIdSent(now))
                self._after_cid(now)
            self._playing = None
            self._playing_cid = False
        return out

    def _after_cid(self, now: float) -> None:
        if self._ring_after_cid is not None:
            self._ring_at = now + CID_DELAY_S

    # -- time passing ------------------------------------------------------------------------------
    def deadline(self) -> float | None:
        best: float | None = None
        dl = self._core.deadline()
        if dl is not None:
            # Core deadlines are ticks; express them relative to the last known time base.
            best = self._tick_base_s + ticks_diff(dl, self._tick_base) / 1000.0
        for t in (self._cid_at, self._ring_at):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def poll(self, now: float) -> list[HandsetEvent]:
        self._tick_base = ticks_from_seconds(now)
        self._tick_base_s = now
        for kind, value, at in self._core.poll(self._tick_base):
            self._on_core(kind, value, self._secs(at, now), now)
        if self._cid_at is not None and now >= self._cid_at and self._cid_pending is not None:
            self._start_cid(self._cid_pending)
        if self._ring_at is not None and now >= self._ring_at and self._ring_after_cid is not None:
            cad, cycles = self._ring_after_cid
            self._ring_after_cid = None
            self._core.ring(cad, ticks_from_seconds(self._ring_at), cycles)
            self._ring_at = None
            for kind, value, at in self._core.poll(ticks_from_seconds(now)):
                self._on_core(kind, value, self._secs(at, now), now)
        out, self._events = self._events, []
        return out

    def _start_cid(self, info: CallerId) -> None:
        enc = self._cid_encoder
        self._cid_pending = None
        self._cid_at = None
        if enc is None or self.off_hook:
            return
        self._playing = ArraySource(enc.encode(info, self.rate))
        self._playing_cid = True

    def _on_core(self, kind: int, value: int, at: float, now: float) -> None:
        if kind == ev.OFF_HOOK:
            self._events.append(OffHook(at, answered=bool(value)))
            if self._playing_cid:  # a lift cuts caller ID short
                self._playing = None
                self._playing_cid = False
            self._cid_pending = None
            self._cid_at = None
            self._ring_after_cid = None
            self._ring_at = None
        elif kind == ev.ON_HOOK:
            self._playing = None
            self._voice = None
            self._events.append(OnHook(at))
        elif kind == ev.FLASH:
            self._events.append(HookFlash(at, value))
        elif kind == ev.DIGIT:
            self._events.append(Digit(at, str(value), "pulse"))
        elif kind == ev.RING_TRIP:
            self._events.append(RingTrip(at, value))
        elif kind == ev.RING_DONE:
            self._events.append(RingDone(at, value))
        elif kind == ev.RING_PAUSE and value == 0 and self._cid_pending is not None:
            self._cid_at = at + CID_DELAY_S
        elif kind in (ev.GLITCH, ev.BAD_DIGIT):
            log.info("hook-" + ev.NAMES[kind], extra={"fields": {"value": value}})

