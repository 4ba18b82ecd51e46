"""The handset controller: sans-I/O glue between the board core, the audio path and call control.

In: raw hook levels (``hook_edge``), mouthpiece audio blocks (``audio``), commands (``ring``,
``play``, ``message_waiting``, ``set_fault``), and ``now`` (monotonic seconds) with each. Out: typed
events from ``poll``, the SLIC output levels (``ring_mode``, ``reverse``), LED states (``leds``) and
earpiece audio. The runner calls ``poll`` at ``deadline()`` and after every edge; nothing here blocks or
reads a clock. Commands are not thread-safe: from other threads go through the runner's ``call``.

Caller ID and message waiting are *transmissions*: segments from the encoder (audio, and line polarity
changes for the UK) carried out in order, each polarity change when the audio before it has played.
A transmission is cut short by a lift or by ringing; message waiting is then sent again once the line
has been idle (on-hook, not ringing) for ``MWI_IDLE_S``. The F/R output shows the line polarity while
not ringing; ringing takes it over (and leaves the line in forward polarity).
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from roamline.board.compat import ticks_diff, ticks_from_seconds
from roamline.board.core import events as ev
from roamline.board.core.cadence import cadence_named, check_cadence
from roamline.board.core.fxs import FxsCore
from roamline.board.core.hook import HookTiming
from roamline.board.errors import UsageError as BoardUsageError
from roamline.firmware.callerid.codec import CallerId
from roamline.firmware.handset.errors import HandsetUsageError
from roamline.firmware.handset.events import (
    CallerIdSent,
    Digit,
    HandsetEvent,
    HookFlash,
    MessageWaitingSent,
    OffHook,
    OnHook,
    RingDone,
    RingTrip,
)
from roamline.firmware.handset.ports import (
    ArraySource,
    BlockSource,
    CallerIdEncoder,
    DigitDetector,
    Int16Array,
    Polarity,
    Segment,
    ToneSource,
)

log = logging.getLogger(__name__)

Led = bool | tuple[float, float]  # steady on/off, or blink (on_s, off_s)
CID_DELAY_S = 0.5  # after the first ring ends (Bell: ≥ 500 ms); before the first ring, the gap to it
MWI_IDLE_S = 0.5  # the line stays idle this long before message waiting is sent (after a call or ringing)


class HandsetController:
    def __init__(self, timing: HookTiming, ring_hz: int, rate: int, now: float, *,
                 tones: ToneSource | None = None, detector: DigitDetector | None = None,
                 caller_id: CallerIdEncoder | None = None, off_hook: bool = False,
                 dial_tone: bool = False) -> None:
        """``dial_tone``: play dial tone by itself on a lift that is not an answer (stutter dial tone
        while messages wait) and stop it at the first digit; otherwise call control plays tones."""
        self.rate = rate
        self._tones = tones
        self._detector = detector
        self._cid_encoder = caller_id
        self._auto_dial = dial_tone
        self._core = FxsCore(timing, ring_hz, ticks_from_seconds(now), off_hook)
        self._events: list[HandsetEvent] = []
        self._playing: BlockSource | None = None
        self._voice: BlockSource | None = None
        self._cid_pending: CallerId | None = None
        self._cid_at: float | None = None  # when to start the caller-ID burst
        self._ring_after_cid: tuple[tuple[int, ...], int] | None = None
        self._ring_at: float | None = None  # when a ring held back for caller ID starts
        # the transmission in progress (caller ID or message waiting): what is left of it
        self._tx: list[Segment] = []
        self._tx_kind: Literal["cid", "mwi"] | None = None  # what the FSK transmitter is sending
        self._tx_playing = False  # _playing is the transmission's audio
        self._tx_mwi = False  # the state a message-waiting transmission carries
        self._line_reversed = False
        self._mwi_want: bool | None = None  # what the handset should show (None: never said)
        self._mwi_shown: bool | None = None  # what a finished transmission last told it
        self._busy_until = now - MWI_IDLE_S  # the line was last busy (off-hook, ringing, sending) then
        self._dial_auto = False  # the dial tone playing was started by the lift
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
        """The F/R output: toggling at the ringing frequency while ringing, else the line polarity."""
        return self._core.reverse if self._core.ringing else self._line_reversed

    @property
    def messages_waiting(self) -> bool:
        return bool(self._mwi_want)

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
        self._abort_tx()  # a message-waiting transmission gives way (it is sent again afterwards)
        enc = self._cid_encoder if caller_id is not None else None
        if enc is not None and enc.timing == "before-first-ring":
            self._cid_pending = caller_id
            self._cid_at = now
            self._ring_after_cid = (cad, cycles)
            return
        self._cid_pending = caller_id if enc is not None else None
        self._start_ring(cad, now, cycles)

    def _start_ring(self, cad: tuple[int, ...], now: float, cycles: int) -> None:
        self._line_reversed = False  # the ring sequencer owns F/R now and leaves it forward
        self._core.ring(cad, ticks_from_seconds(now), cycles)

    def stop_ring(self) -> None:
        self._core.stop_ring()
        self._ring_after_cid = None
        self._ring_at = None
        self._cid_pending = None
        self._cid_at = None
        if self._tx_kind == "cid":
            self._abort_tx()

    def play(self, tone: str | None) -> None:
        """Play a call-progress tone into the earpiece (None: stop). Voice is muted while a tone plays.
        While messages wait, "dial" plays the plan's stutter dial tone."""
        self._dial_auto = False
        if self._tx_playing:
            self._abort_tx()
        if tone is None:
            self._playing = None
            return
        if self._tones is None:
            raise HandsetUsageError("no tone source configured")
        if tone == "dial" and self._mwi_want:
            tone = "stutter_dial"
        self._playing = self._tones.tone(tone)

    def set_voice(self, source: BlockSource | None) -> None:
        """Far-end audio for the earpiece during a call."""
        self._voice = source

    def message_waiting(self, active: bool, now: float) -> None:
        """Turn the handset's visual message-waiting indicator on or off. The signal goes without ringing
        once the line is idle (at once if it is); while messages wait, dial tone stutters."""
        self._mwi_want = active
        log.info("handset-message-waiting", extra={"fields": {"active": active, "at": now}})

    def audio(self, mic: Int16Array, now: float) -> Int16Array:
        """One block: mouthpiece in (DTMF detection), earpiece out (tone, caller ID or voice)."""
        if self._detector is not None and self.off_hook:
            for key in self._detector.feed(mic):
                self._events.append(Digit(now, key, "dtmf"))
                self._digit_heard()
        n = len(mic)
        if self._playing is not None and self._playing.finished:
            # checked before reading, so what follows starts once the last sample has played
            self._playing = None
            if self._tx_playing:
                self._tx_playing = False
                self._run_tx(now)
        src = self._playing if self._playing is not None else self._voice
        if src is None:
            return np.zeros(n, dtype=np.int16)
        return src.read(n)

    def _digit_heard(self) -> None:
        if self._dial_auto:
            self._dial_auto = False
            self._playing = None

    # -- transmissions (caller ID, message waiting) ----------------------------------------------------
    def _start_tx(self, kind: Literal["cid", "mwi"], segments: list[Segment], now: float) -> None:
        self._tx, self._tx_kind = segments, kind
        self._playing = None
        self._dial_auto = False
        self._run_tx(now)

    def _run_tx(self, now: float) -> None:
        """Carry out the transmission up to its next audio (which ``audio`` plays), or finish it."""
        while self._tx:
            seg = self._tx.pop(0)
            if isinstance(seg, Polarity):
                self._line_reversed = seg.reversed
            else:
                self._playing = ArraySource(seg)
                self._tx_playing = True
                return
        kind, self._tx_kind = self._tx_kind, None
        if kind == "cid":
            self._events.append(CallerIdSent(now))
            if self._ring_after_cid is not None:
                self._ring_at = now + CID_DELAY_S
        elif kind == "mwi":
            self._mwi_shown = self._tx_mwi
            self._busy_until = now
            self._events.append(MessageWaitingSent(now, self._tx_mwi))

    def _abort_tx(self) -> None:
        if self._tx_kind is None:
            return
        if self._tx_playing:
            self._playing = None
        self._tx, self._tx_kind, self._tx_playing = [], None, False
        self._line_reversed = False

    @property
    def line_idle(self) -> bool:
        """On-hook with nothing to send down the line (no ring, caller ID, message-waiting burst or tone):
        the audio path has nothing to do (DTMF is only listened for off-hook; hook and ring are pins)."""
        return self._line_idle()

    def _line_idle(self) -> bool:
        return not (self.off_hook or self.ringing or self._tx_kind is not None or self._playing is not None
                    or self._cid_at is not None)

    def _mwi_due(self) -> float | None:
        if (self._cid_encoder is None or self._mwi_want is None or self._mwi_want == self._mwi_shown
                or not self._line_idle()):
            return None
        return self._busy_until + MWI_IDLE_S

    # -- time passing ------------------------------------------------------------------------------
    def deadline(self) -> float | None:
        best: float | None = None
        dl = self._core.deadline()
        if dl is not None:
            # Core deadlines are ticks; express them relative to the last known time base.
            best = self._tick_base_s + ticks_diff(dl, self._tick_base) / 1000.0
        for t in (self._cid_at, self._ring_at, self._mwi_due()):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def poll(self, now: float) -> list[HandsetEvent]:
        was_busy = not self._line_idle()
        self._tick_base = ticks_from_seconds(now)
        self._tick_base_s = now
        for kind, value, at in self._core.poll(self._tick_base):
            self._on_core(kind, value, self._secs(at, now), now)
        if self._cid_at is not None and now >= self._cid_at and self._cid_pending is not None:
            self._start_cid(self._cid_pending, now)
        if self._ring_at is not None and now >= self._ring_at and self._ring_after_cid is not None:
            cad, cycles = self._ring_after_cid
            self._ring_after_cid = None
            self._start_ring(cad, self._ring_at, cycles)
            self._ring_at = None
            for kind, value, at in self._core.poll(ticks_from_seconds(now)):
                self._on_core(kind, value, self._secs(at, now), now)
        due = self._mwi_due()
        if due is not None and now >= due:
            self._start_mwi(now)
        if was_busy or not self._line_idle():  # the idle wait runs from the poll that saw it end
            self._busy_until = now
        out, self._events = self._events, []
        return out

    def _start_mwi(self, now: float) -> None:
        assert self._cid_encoder is not None and self._mwi_want is not None  # _mwi_due checked
        self._tx_mwi = self._mwi_want
        self._start_tx("mwi", list(self._cid_encoder.encode_mwi(self._tx_mwi, self.rate)), now)

    def _start_cid(self, info: CallerId, now: float) -> None:
        enc = self._cid_encoder
        self._cid_pending = None
        self._cid_at = None
        if enc is None or self.off_hook:
            return
        self._start_tx("cid", list(enc.encode(info, self.rate)), now)

    def _on_core(self, kind: int, value: int, at: float, now: float) -> None:
        if kind == ev.OFF_HOOK:
            self._events.append(OffHook(at, answered=bool(value)))
            self._abort_tx()  # a lift cuts caller ID (or message waiting) short
            self._cid_pending = None
            self._cid_at = None
            self._ring_after_cid = None
            self._ring_at = None
            if self._auto_dial and not value and self._tones is not None:
                self.play("dial")
                self._dial_auto = True
        elif kind == ev.ON_HOOK:
            self._playing = None
            self._voice = None
            self._dial_auto = False
            self._events.append(OnHook(at))
        elif kind == ev.FLASH:
            self._events.append(HookFlash(at, value))
        elif kind == ev.DIGIT:
            self._events.append(Digit(at, str(value), "pulse"))
            self._digit_heard()
        elif kind == ev.RING_TRIP:
            self._events.append(RingTrip(at, value))
        elif kind == ev.RING_DONE:
            self._events.append(RingDone(at, value))
        elif kind == ev.RING_PAUSE and value == 0 and self._cid_pending is not None:
            self._cid_at = at + CID_DELAY_S
        elif kind in (ev.GLITCH, ev.BAD_DIGIT):
            log.info("hook-" + ev.NAMES[kind], extra={"fields": {"value": value}})
