"""The exchange: numbers, calls, ringing with caller ID, call-progress tones, voice frames (sans-I/O).

Everything runs on simulated seconds passed as ``now``; :mod:`roamline.hil.exchange.runner` maps
real time onto them (time-scaled) and owns the ptys. All state is guarded by ``Exchange.lock``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from roamline.hil.errors import UsageError
from roamline.hil.exchange import audio, callerid
from roamline.hil.exchange.dialects import dialect as find_dialect
from roamline.hil.exchange.endpoints import DISCONNECTS, Endpoint, Line, Phone
from roamline.hil.exchange.linerequests import Dial, Flash, OffHook, OnHook, SendDigit

log = logging.getLogger(__name__)

FRAME_S = audio.FRAME / audio.RATE
US_RING = (2.0, 4.0)
CID_BEFORE_LEAD = 1.0  # caller ID ends this long before the first ring ("before" timing)
CID_AFTER_RING = 1.0  # the message is complete this long after ring 1 ends ("between" timing)
CALL_WAITING = (0.3, 9.7)  # 440 Hz burst every 10 s (North American call-waiting tone)


@dataclass(slots=True)
class Call:
    id: int
    caller: Endpoint
    callee: Endpoint | None
    started: float
    presentation: callerid.Presentation | None = None
    cid_timing: str = "between"
    cadence: tuple[float, ...] = US_RING
    state: str = "ringing"  # ringing | waiting (call-waiting) | connected | held | cpc | busy | ended
    cpc_s: float = 0.0  # calling-party control: the callee hanging up holds the call this long
    cpc_until: float | None = None  # when a callee's hang-up under calling-party control releases it
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str = ""
    rings_sent: int = 0
    cid_at: float | None = None
    _ring_onsets: list[float] = field(default_factory=list)

    def ring_onset(self, k: int) -> float:
        """Simulated time of the k-th ring burst (0-based), following the cadence."""
        period = sum(self.cadence)
        bursts = self.cadence[0::2]
        offsets, t = [], 0.0
        for i, seg in enumerate(self.cadence):
            if i % 2 == 0:
                offsets.append(t)
            t += seg
        lead = CID_BEFORE_LEAD + 0.5 if self.cid_timing == "before" and self.presentation else 0.0
        cycle, idx = divmod(k, len(bursts))
        return self.started + lead + cycle * period + offsets[idx]


class Exchange:
    def __init__(self, *, no_answer_timeout: float = 180.0, wall_clock: bool = True,
                 calling_party_control_s: float = 0.0) -> None:
        """``calling_party_control_s``: how long a call stays up after its callee hangs up while the
        caller has not (as many exchanges do: the calling party controls the call); 0: released at once."""
        if not 0 <= calling_party_control_s <= 600:
            raise UsageError("calling-party control hold is 0..600 s")
        self.calling_party_control_s = calling_party_control_s
        self.lock = threading.RLock()
        self.lines: dict[str, Line] = {}
        self.phones: dict[str, Phone] = {}
        self.calls: list[Call] = []
        self.no_answer_timeout = no_answer_timeout
        self.now = 0.0
        self._next_frame: float | None = None
        self._ids = 0
        self._wall = wall_clock

    # ---- building ----
    def add_line(self, number: str, modem: str = "cx93001", **kw: object) -> Line:
        with self.lock:
            self._free(number)
            line = Line(number, find_dialect(modem), **kw)  # type: ignore[arg-type]
            self.lines[number] = line
            return line

    def add_phone(self, number: str, **kw: object) -> Phone:
        with self.lock:
            self._free(number)
            phone = Phone(self, number, **kw)  # type: ignore[arg-type]
            self.phones[number] = phone
            return phone

    def _free(self, number: str) -> None:
        if number in self.lines or number in self.phones:
            raise UsageError(f"number {number} is already on the exchange")

    def endpoint(self, number: str) -> Endpoint | None:
        return self.lines.get(number) or self.phones.get(number)

    def date_time(self) -> tuple[str, str]:
        t = time.localtime(time.time() if self._wall else 0)
        return time.strftime("%m%d", t), time.strftime("%H%M", t)

    # ---- call control ----
    def originate(self, caller: Endpoint, to: str, *, presentation: callerid.Presentation | None,
                  cid_timing: str | None = None, cadence: tuple[float, ...] | None = None,
                  cpc_s: float | None = None) -> Call:
        now = self.now
        self._ids += 1
        callee = self.endpoint(to)
        timing = cid_timing or (callee.cid_timing if isinstance(callee, Line) else "between")
        if presentation is None:
            timing = "none"
        if cadence is not None and (len(cadence) % 2 or any(x <= 0 for x in cadence)):
            raise UsageError(f"a ring cadence is on/off pairs of positive seconds: {cadence}")
        call = Call(self._ids, caller, callee, now, presentation, timing, cadence or US_RING,
                    cpc_s=self.calling_party_control_s if cpc_s is None else cpc_s)
        if not 0 <= call.cpc_s <= 600:
            raise UsageError("calling-party control hold is 0..600 s")
        self.calls.append(call)
        caller.call = call
        self._log("call", call, to=to)
        if callee is None:
            self._end(call, "unknown number", tone_for_caller="reorder")
        elif (isinstance(callee, Line) and callee.call_waiting and callee.waiting is None
              and callee.call is not None and callee.call.state == "connected"):
            call.state = "waiting"
            callee.waiting = call
            caller.set_tone("ringback", now)
            self._log("waiting", call)
        elif callee.busy() or (isinstance(callee, Phone) and callee.always_busy) or (
            isinstance(callee, Line) and callee.modem is None
        ):
            call.state = "busy"
            caller.set_tone("busy", now)
            self._log("busy", call)
        else:
            callee.call = call
            if isinstance(callee, Phone):
                callee.reset_for_call()
            caller.set_tone("ringback", now)
            if timing == "before":
                call.cid_at = now + CID_BEFORE_LEAD
            elif timing == "between":
                call.cid_at = call.ring_onset(0) + call.cadence[0] + CID_AFTER_RING
        return call

    def answer(self, ep: Endpoint) -> None:
        call = ep.call
        if call is None or call.callee is not ep or call.state != "ringing":
            return
        ep.off_hook = True
        call.state, call.answered_at = "connected", self.now
        call.caller.set_tone(None, self.now)
        ep.set_tone(None, self.now)
        if isinstance(call.caller, Phone):
            call.caller.note("answered", ep.number, self.now)
        self._log("answered", call)

    def hang_up(self, ep: Endpoint, *, signal: str | None = None) -> None:
        if signal is not None and signal not in DISCONNECTS:
            raise UsageError(f"disconnect signal is one of {DISCONNECTS}")
        ep.off_hook = False
        ep.set_tone(None, self.now)
        call = ep.call
        ep.call = None
        if ep.waiting is not None and ep.waiting.state == "held":  # hanging up releases a held call too
            held, ep.waiting = ep.waiting, None
            self._release_held(ep, held)
        elif ep.waiting is not None:  # the line hangs up on its call: the waiting call now rings it
            waiting, ep.waiting = ep.waiting, None
            waiting.state, waiting.started, waiting.presentation = "ringing", self.now, None
            ep.call = waiting
        if call is None or call.state == "ended":
            return
        if (call.state == "connected" and ep is call.callee and call.cpc_s > 0 and call.caller.off_hook
                and call.caller.call is call):
            # calling-party control: the callee hung up but the caller has not, so the exchange keeps the
            # call (and the callee's line) until the caller hangs up or the hold runs out. The hold runs
            # from the callee's first hang-up: going off hook again re-answers without restarting it.
            ep.call = call
            call.state = "cpc"
            if call.cpc_until is None:
                call.cpc_until = self.now + call.cpc_s
            self._log("cpc-hold", call, until=f"{call.cpc_until:.3f}")
            return
        if call.state in ("waiting", "held"):  # the waiting (or held) party gave up
            line = call.callee if ep is call.caller else call.caller
            if line is not None and line.waiting is call:
                line.waiting = None
            self._end(call, "caller hung up" if ep is call.caller else "callee hung up")
            return
        other = call.callee if ep is call.caller else call.caller
        was_connected = call.state == "connected"
        self._end(call, "caller hung up" if ep is call.caller else "callee hung up")
        if other is not None and other.call is call:
            if was_connected:
                sig = signal or (other.disconnect if isinstance(other, Line) else "loop_drop")
                other.far_disconnect(sig, self.now)
                if isinstance(other, Phone) and other.hangs_up:
                    other.off_hook = False
                    other.set_tone(None, self.now)
                other.call = None if not other.off_hook else call  # still off-hook: hears the signal
            else:
                other.call = None  # ringing simply stops

    def _release_held(self, line: Endpoint, held: Call) -> None:
        other = held.callee if line is held.caller else held.caller
        self._end(held, "held call released")
        if other is not None and other.call is held:
            other.far_disconnect("loop_drop", self.now)
            other.call = None if not other.off_hook else held

    def flash(self, line: Line) -> None:
        """A hook flash from a line in a call: with a call waiting, swap (the current call is held and
        the waiting one connected; flash again to swap back). Without one it does nothing here
        (three-way calling is not modelled)."""
        call, other = line.call, line.waiting
        if call is None or other is None or call.state != "connected":
            return
        call.state, line.waiting = "held", call
        if other.state == "waiting":
            other.answered_at = self.now
            other.caller.set_tone(None, self.now)
            if isinstance(other.caller, Phone):
                other.caller.note("answered", line.number, self.now)
        other.state, line.call = "connected", other
        self._log("flash-swap", other, held=str(call.id))

    def _end(self, call: Call, reason: str, tone_for_caller: str | None = None) -> None:
        call.state, call.ended_at, call.end_reason = "ended", self.now, reason
        if tone_for_caller:
            call.caller.set_tone(tone_for_caller, self.now)
        self._log("ended", call, reason=reason)
        for ep in (call.caller, call.callee):
            if isinstance(ep, Phone):
                ep.note("ended", reason, self.now)

    def _log(self, what: str, call: Call, **kw: str) -> None:
        log.info(f"exchange-{what}", extra={"fields": {"call": call.id, "caller": call.caller.number,
                                                       "callee": getattr(call.callee, "number", None), **kw}})

    # ---- modem requests ----
    def _line_requests(self, line: Line) -> None:
        if line.modem is None:
            return
        for req in line.modem.take_requests():
            if isinstance(req, OffHook):
                self._line_off_hook(line)
            elif isinstance(req, OnHook):
                self.hang_up(line)
            elif isinstance(req, Dial):
                if line.call is None and line.off_hook:
                    line.set_tone(None, self.now)
                    d, t = self.date_time()
                    p = callerid.Presentation(line.number, line.name, date=d, time=t)
                    self.originate(line, req.number, presentation=p)
            elif isinstance(req, SendDigit):
                self._digit(line, req.digit)
            elif isinstance(req, Flash):
                self.flash(line)

    def _line_off_hook(self, line: Line) -> None:
        line.off_hook = True
        if line.call is not None and line.call.callee is line and line.call.state == "ringing":
            self.answer(line)
        elif line.call is not None and line.call.callee is line and line.call.state == "cpc":
            line.call.state = "connected"  # re-answer: back to the caller who still holds the call, no tone
            line.set_tone(None, self.now)
            self._log("cpc-reanswer", line.call)
        elif line.call is None:
            line.set_tone("dial" if line.dial_tone else None, self.now)

    def _digit(self, ep: Endpoint, digit: str) -> None:
        call = ep.call
        if call and call.state == "connected":
            other = call.callee if ep is call.caller else call.caller
            if other is not None:
                other.dtmf(digit, self.now)

    def unplugged(self, line: Line) -> None:
        """The line's modem vanished: whatever it was doing, the line is now on-hook."""
        with self.lock:
            if line.off_hook or line.call is not None:
                self.hang_up(line)
            line.modem = None

    # ---- time ----
    def tick(self, now: float) -> None:
        with self.lock:
            if now < self.now:
                return
            self.now = now
            for line in self.lines.values():
                self._line_requests(line)
            for call in list(self.calls):
                self._schedule(call, now)
            if self._next_frame is None:
                self._next_frame = now
            while self._next_frame <= now:
                self._frame(self._next_frame)
                self._next_frame += FRAME_S
            for line in self.lines.values():
                if line.modem:
                    line.modem.tick(now)
                    self._line_requests(line)
            self.calls = [c for c in self.calls if c.state != "ended" or now - (c.ended_at or 0) < 60]

    def _schedule(self, call: Call, now: float) -> None:
        if call.state == "cpc" and call.cpc_until is not None and now >= call.cpc_until:
            callee = call.callee
            self._end(call, "calling-party control released")
            if callee is not None and callee.call is call:
                callee.call = None
            if call.caller.call is call:
                call.caller.far_disconnect("loop_drop", now)
                call.caller.call = None if not call.caller.off_hook else call
            return
        overdue = now - call.started >= self.no_answer_timeout
        if call.state == "waiting" and call.callee is not None and overdue:
            call.callee.waiting = None
            self._end(call, "no answer", tone_for_caller="reorder")
        if call.state != "ringing" or call.callee is None:
            return
        if call.cid_at is not None and now >= call.cid_at and call.presentation:
            call.cid_at = None
            call.callee.caller_id(call.presentation, now)
        while call.ring_onset(call.rings_sent) <= now and call.state == "ringing":
            call.rings_sent += 1
            call.callee.ring(now)
        if call.state == "ringing" and now - call.started >= self.no_answer_timeout:
            call.callee.call = None
            self._end(call, "no answer", tone_for_caller="reorder")

    def _frame(self, t: float) -> None:
        eps: list[Endpoint] = [*self.lines.values(), *self.phones.values()]
        spoken = {}
        for ep in eps:
            if ep.off_hook:
                spoken[ep.number] = ep.speak(t)
                if isinstance(ep, Phone):
                    for d in ep.take_digits():
                        self._digit(ep, d)
        for ep in eps:
            if not ep.off_hook:
                continue
            call = ep.call
            if call is not None and call.state == "connected":
                other = call.callee if ep is call.caller else call.caller
                frame = spoken.get(other.number, audio.SILENCE) if other is not None else audio.SILENCE
            elif ep.tone:
                frame = audio.tone_frame(ep.tone, t - ep.tone_since)
            else:
                frame = audio.SILENCE
            if ep.waiting is not None and ep.waiting.state == "waiting" and audio.tone_on(
                    CALL_WAITING, t - ep.waiting.started):
                if not audio.tone_on(CALL_WAITING, t - FRAME_S - ep.waiting.started):
                    ep.call_waiting_tone(t)  # a burst starts: a modem reports it (<DLE>w)
                mixed = frame.astype(np.int32) + audio.tone((440,), FRAME_S, level=0.3)
                frame = np.clip(mixed, -32768, 32767).astype(np.int16)
            ep.hear(frame, t)
