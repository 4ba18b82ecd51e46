"""The phone line as one sans-I/O core: AT dialogue + caller ID + DLE voice + the call state table.

Operations (identify, init, answer, dial, hangup) are short command sequences; each ends with one
``OpDone``. Everything else the modem says becomes typed events: rings counted, caller ID assembled,
far-end hang-up recognised (loop current loss, busy or dial tone while off-hook, NO CARRIER, silence),
answer inferred on outgoing calls, and ``CallEnded(reason)`` once the line is back on hook.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from roamline.firmware.callerid.codec import CallerId
from roamline.firmware.line import audio
from roamline.firmware.line import events as ev
from roamline.firmware.line.at import ModemCore
from roamline.firmware.line.callerid import CallerIdAssembler
from roamline.firmware.line.calls import IN_CALL, CallState, CallStateMachine, Trigger
from roamline.firmware.line.errors import LineUsageError
from roamline.firmware.line.modem_profiles import IDENTIFY_COMMANDS, ModemProfile, detect

_DIAL_OK = re.compile(r"^[0-9*#ABCD,!W@]{1,40}$")  # ',' pause, '!' flash, 'W' wait for dial tone
FAIL_REASONS: dict[ev.OpResult, ev.EndReason] = {
    "BUSY": "busy", "NO DIALTONE": "no-dialtone", "NO ANSWER": "no-answer", "NO CARRIER": "no-carrier",
    "ERROR": "error", "TIMEOUT": "timeout"}  # every result a failing command can have
_ABANDONED_BY: dict[ev.EndReason, ev.AbandonedBy] = {
    "local-hangup": "LOCAL HANGUP", "loop-current-loss": "LOOP CURRENT LOSS", "busy-tone": "BUSY TONE",
    "dial-tone": "DIAL TONE", "no-carrier": "NO CARRIER", "busy": "BUSY", "no-answer": "NO ANSWER",
    "no-dialtone": "NO DIALTONE", "error": "ERROR", "timeout": "TIMEOUT"}
_HANGUP_SIGNALS: dict[type[ev.LineEvent], ev.HangupSignal] = {
    ev.LoopCurrentLoss: "loop-current-loss", ev.Busy: "busy-tone", ev.DialTone: "dial-tone",
}  # silence ('s') is not a hang-up: a caller may simply say nothing for a while


@dataclass(slots=True)
class _Op:
    name: ev.OpName
    steps: deque[tuple[str, float, bool]]  # command, timeout, optional (ERROR tolerated)
    current: str | None = None
    responses: dict[str, str] = field(default_factory=dict)


class LineSession:
    def __init__(self, profile: ModemProfile | None = None, *, ring_gap_s: float = 8.0,
                 cid_quiet_s: float = 1.5, command_timeout: float = 3.0, dial_timeout: float = 60.0,
                 no_answer_s: float = 60.0, ringback_on_s: float = 2.5, voice_threshold: float = 300.0,
                 voice_min_s: float = 0.6, voice_gap_s: float = 0.25, unformatted_cid: bool = False) -> None:
        self.profile = profile
        self.profile_forced = profile is not None
        self.core = ModemCore(eos=profile.voice.eos if profile else "single",
                              cid=CallerIdAssembler(cid_quiet_s))
        self.calls = CallStateMachine()
        self.ring_gap_s, self.command_timeout, self.dial_timeout = ring_gap_s, command_timeout, dial_timeout
        self.no_answer_s, self.ringback_on_s = no_answer_s, ringback_on_s
        # an answer is inferred from voice_min_s of voice on the line, through pauses up to voice_gap_s
        # (the gaps between a greeting's syllables and words: "hello, Dave's pizza")
        self.voice_threshold, self.voice_min_s, self.voice_gap_s = voice_threshold, voice_min_s, voice_gap_s
        self.unformatted_cid = unformatted_cid
        self.identity: dict[str, str] = {}
        self.voice_supported: bool | None = None
        self.rings = 0
        self.caller_id: CallerId | None = None
        self.answer_inferred_at: float | None = None
        self._op: _Op | None = None
        self._ring_deadline: float | None = None
        self._alert_deadline: float | None = None
        self._last_ringback: float | None = None
        self._voice_s = 0.0
        self._quiet_s = 0.0
        self._end_reason: ev.EndReason = "local-hangup"
        self._pending_out: list[ev.LineEvent] = []

    # ---- properties -----------------------------------------------------------------------------
    @property
    def state(self) -> CallState:
        return self.calls.state

    @property
    def can_bridge(self) -> bool:
        """Full duplex (+VTR): can carry a conversation. A half-duplex modem can only take messages."""
        return self.profile is not None and self.profile.voice.full_duplex

    @property
    def encoding(self) -> str:
        return self.profile.voice.formats[0].encoding if self.profile else "ulaw"

    @property
    def busy(self) -> bool:
        return self._op is not None

    # ---- operations ------------------------------------------------------------------------------
    def identify(self, now: float) -> None:
        self._run("identify", [(c, self.command_timeout, True) for c in (*IDENTIFY_COMMANDS, "AT+FCLASS=?")],
                  now)

    def initialise(self, now: float, *, reset: bool = True) -> None:
        p = self._need_profile()
        steps = [(p.reset, self.command_timeout * 2, False)] if reset else []
        steps += [(c, self.command_timeout, False) for c in p.init]
        cid = p.caller_id_unformatted if self.unformatted_cid else p.caller_id
        t = self.command_timeout
        steps += [(cid, t, True), (p.voice_select(), t, False), (p.voice.silence, t, True),
                  (p.voice.inactivity, t, True)]
        self._run("init", steps, now)

    def probe(self, now: float, timeout: float = 1.0) -> None:
        self._run("probe", [("AT", timeout, False)], now)

    def answer(self, now: float) -> None:
        p = self._need_profile()
        self.calls.fire(Trigger.ANSWER)
        select = "ATA" if p.quirks.answer_needs_ata else p.voice.line_select
        steps = [(select, self.command_timeout * 2, False), (self._stream_cmd(), 5.0, False)]
        self._run("answer", steps, now)

    def dial(self, number: str, now: float) -> None:
        if not _DIAL_OK.match(number.upper()):
            raise LineUsageError(f"not a dialable string: {number!r}")
        self._need_profile()
        self.calls.fire(Trigger.DIAL)
        self.answer_inferred_at = None
        self._run("dial", [(f"ATDT{number.upper()}", self.dial_timeout, False),
                           (self._stream_cmd(), 5.0, False)], now)

    def flash(self, now: float) -> None:
        """Hook flash during a call (e.g. to take a waiting call): the voice stream is ended, ``ATD!``
        sent, and the stream started again; ``OpDone("flash")`` follows. The call stays connected."""
        if self.calls.state is not CallState.CONNECTED:
            raise LineUsageError(f"a hook flash needs a connected call, not {self.calls.state.value}")
        if self.core.voice is not None:
            self.core.stop_voice(now)
        self._run("flash", [("ATD!", self.command_timeout * 2, False), (self._stream_cmd(), 5.0, False)], now)

    def transmit(self, now: float) -> None:
        """Half duplex: turn the answered call's stream to voice transmit (+VTX) to play to the caller
        (a greeting, a refusal); ``OpDone("transmit")`` follows once it runs. A full-duplex stream, or one
        already transmitting (a second prompt), already sends: done at once, the stream left as it is."""
        self._direction("transmit", "AT+VTX", now)

    def receive(self, now: float) -> None:
        """Half duplex: back to voice receive (+VRX); what was sent plays out first (the modem answers
        the transmit stream's end only then), ``OpDone("receive")`` follows."""
        self._direction("receive", "AT+VRX", now)

    def _direction(self, name: ev.OpName, command: str, now: float) -> None:
        if self.calls.state is not CallState.CONNECTED:
            raise LineUsageError(f"{name} needs a connected call, not {self.calls.state.value}")
        if self._op is not None:
            raise LineUsageError(f"cannot start {name}: {self._op.name} is still running")
        already = self.core.voice == ("tx" if name == "transmit" else "rx")
        if self.can_bridge or already:  # +VTR carries both ways, or it already goes this way: nothing to turn
            self._op = _Op(name, deque())
            self._pending_out += self._finish(True, "OK", now)
            return
        if self.core.voice is not None:
            self.core.stop_voice(now, timeout=30.0)  # a transmit stream ends when its buffer played out
        self._run(name, [(command, 5.0, False)], now)

    def hangup(self, now: float, reason: ev.EndReason = "local-hangup") -> None:
        """Go on hook from any call state; ``CallEnded(reason)`` follows when the modem confirms."""
        if self.calls.state in (CallState.IDLE, CallState.HANGING_UP, CallState.OUT_OF_SERVICE):
            return
        self.calls.fire(Trigger.HANGUP)
        self._pending_out += self._start_hangup(now, reason)

    def send_voice(self, data: bytes) -> None:
        self.core.send_voice(data)

    def outgoing(self) -> bytes:
        return self.core.outgoing()

    def deadline(self) -> float | None:
        candidates = (self.core.deadline(), self._ring_deadline, self._alert_deadline)
        times = [t for t in candidates if t is not None]
        return min(times) if times else None

    # ---- recovery hooks --------------------------------------------------------------------------
    def modem_lost(self, reason: str, now: float) -> list[ev.LineEvent]:
        """The modem went silent or away: whatever was in flight fails, a call ends with a clear reason."""
        out: list[ev.LineEvent] = []
        self.core.abandon()
        if self._op is not None:
            out.append(ev.OpDone(self._op.name, False, "MODEM-LOST"))
            self._op = None
        in_call = self.calls.state in IN_CALL or self.calls.state in (CallState.RINGING, CallState.HANGING_UP)
        if self.calls.state is not CallState.OUT_OF_SERVICE:
            self.calls.fire(Trigger.MODEM_LOST)
            out.append(ev.ModemLost(reason))
            out.append(ev.StateChanged(self.calls.state))
        if in_call:
            out.append(ev.CallEnded(f"modem-lost: {reason}"))
        self._clear_call()
        return out

    def recovered(self, now: float) -> list[ev.LineEvent]:
        if self.calls.state is CallState.OUT_OF_SERVICE:
            self.calls.fire(Trigger.RECOVERED)
            return [ev.StateChanged(self.calls.state)]
        return []

    # ---- input -----------------------------------------------------------------------------------
    def feed(self, data: bytes, now: float) -> list[ev.LineEvent]:
        return self._handle(self.core.feed(data, now), now)

    def poll(self, now: float) -> list[ev.LineEvent]:
        out = self._handle(self.core.poll(now), now)
        st = self.calls.state
        if st is CallState.RINGING and self._ring_deadline is not None and now >= self._ring_deadline:
            self.calls.fire(Trigger.RINGS_STOPPED)
            out += [ev.CallEnded("caller-gave-up"), ev.StateChanged(self.calls.state)]
            self._clear_call()
        elif st is CallState.ALERTING and self._alert_deadline is not None and now >= self._alert_deadline:
            out += self._far_end("no-answer", now)
        return out

    # ---- internals -------------------------------------------------------------------------------
    def _need_profile(self) -> ModemProfile:
        if self.profile is None:
            raise LineUsageError("no modem profile: identify the modem first or name a profile")
        return self.profile

    def _stream_cmd(self) -> str:
        return "AT+VTR" if self.can_bridge else "AT+VRX"

    def _run(self, name: ev.OpName, steps: list[tuple[str, float, bool]], now: float) -> None:
        if self._op is not None:
            raise LineUsageError(f"cannot start {name}: {self._op.name} is still running")
        self._op = _Op(name, deque(steps))
        self._advance(now)

    def _advance(self, now: float) -> list[ev.LineEvent]:
        op = self._op
        if op is None or op.current is not None:
            return []
        if not op.steps:
            return self._finish(True, "OK", now)
        if self.core.busy or self.core.voice is not None:
            return []
        cmd, timeout, _optional = op.steps[0]
        op.current = cmd
        self.core.command(cmd, now, timeout)
        return []

    def _step_done(self, command: str, result: ev.OpResult, lines: tuple[str, ...],
                   now: float) -> list[ev.LineEvent]:
        op = self._op
        if op is None or op.current != command:
            return []
        _cmd, _timeout, optional = op.steps.popleft()
        op.current = None
        op.responses[command] = "\n".join(lines)
        ok = result in ("OK", "CONNECT", "VCON")
        if not ok and not (optional and result != "TIMEOUT"):
            return self._finish(False, result, now)
        return self._advance(now)

    def _finish(self, ok: bool, result: ev.OpResult, now: float) -> list[ev.LineEvent]:
        op, self._op = self._op, None
        assert op is not None
        out: list[ev.LineEvent] = [ev.OpDone(op.name, ok, result, tuple(op.responses.get(c, "")
                                                                      for c in op.responses))]
        if op.name == "identify" and ok:
            self.identity = dict(op.responses)
            classes = self.identity.get("AT+FCLASS=?", "")
            self.voice_supported = bool(re.search(r"(^|[^0-9.])8([^0-9.]|$)", classes))
            if not self.profile_forced:
                self.profile = detect(self.identity)
            if self.profile is not None:
                self.core.eos = self.profile.voice.eos
        elif op.name == "answer":
            out += self._transition(Trigger.ANSWERED if ok else Trigger.FAILED)
            if not ok:
                out += self._start_hangup(now, FAIL_REASONS.get(result, "error"))
        elif op.name == "dial":
            if ok:
                out += self._transition(Trigger.DIALLED)
                self._alert_deadline = now + self.no_answer_s
                self._last_ringback, self._voice_s = None, 0.0
            elif self.calls.state is CallState.DIALING:
                out += self._transition(Trigger.FAILED)
                out += self._start_hangup(now, FAIL_REASONS.get(result, "error"))
        elif op.name == "flash" and not ok and result != "TIMEOUT" and self.core.voice is None:
            self._run("stream", [(self._stream_cmd(), 5.0, False)], now)  # the flash was refused: carry on
        elif op.name == "hangup":
            out += self._transition(Trigger.ON_HOOK if ok else Trigger.FAILED)
            out.append(ev.CallEnded(self._end_reason))
            self._clear_call()
        return out

    def _start_hangup(self, now: float, reason: ev.EndReason) -> list[ev.LineEvent]:
        self._end_reason = reason
        self._alert_deadline = None
        out: list[ev.LineEvent] = []
        if self._op is not None:  # abandon the running operation (e.g. a dial still ringing out)
            out.append(ev.OpDone(self._op.name, False, _ABANDONED_BY[reason]))
            self._op = None
            self.core.abandon()
        if self.core.voice is not None:
            self.core.stop_voice(now)
        p = self._need_profile()
        self._op = _Op("hangup", deque([(p.voice.on_hook, self.command_timeout, True),
                                        ("ATH", self.command_timeout, True)]))
        return out + self._advance(now)

    def _transition(self, trigger: Trigger) -> list[ev.LineEvent]:
        self.calls.fire(trigger)
        return [ev.StateChanged(self.calls.state)]

    def _clear_call(self) -> None:
        self.rings = 0
        self.caller_id = None
        self._ring_deadline = self._alert_deadline = None
        self.core.cid.reset()

    def _far_end(self, reason: ev.HangupSignal | Literal["busy", "no-answer"],
                 now: float) -> list[ev.LineEvent]:
        """The far end hung up (a hang-up signal), or the call attempt failed (busy, no answer)."""
        if reason == "busy" or reason == "no-answer" or self.calls.state is CallState.DIALING:
            out = self._transition(Trigger.FAILED)  # while dialling, any end is a failed attempt
        else:
            out = [ev.FarEndHangup(reason), *self._transition(Trigger.FAR_END_HANGUP)]
        return out + self._start_hangup(now, reason)

    def _handle(self, events: list[ev.LineEvent], now: float) -> list[ev.LineEvent]:
        out, self._pending_out = self._pending_out, []
        for e in events:
            st = self.calls.state
            if isinstance(e, ev.CommandDone):
                out += self._step_done(e.command, e.result, e.lines, now)
                if e.command == "<end-voice>":
                    out += self._advance(now)
            elif isinstance(e, ev.CommandTimedOut):
                out += self._step_done(e.command, "TIMEOUT", (), now)
                out += self._advance(now)
            elif isinstance(e, ev.Ring):
                if st in (CallState.IDLE, CallState.RINGING):
                    if st is CallState.IDLE:
                        out += self._transition(Trigger.RING)
                    self.rings += 1
                    self._ring_deadline = now + self.ring_gap_s
                    out.append(ev.Ring(self.rings))
            elif isinstance(e, ev.CallerIdReceived):
                self.caller_id = e.caller_id
                out.append(e)
            elif isinstance(e, ev.VoiceData):
                out.append(e)
                if st is CallState.ALERTING:
                    out += self._infer_answer(e.data, now)
            elif isinstance(e, ev.EndOfStream):
                out.append(e)
                out += self._advance(now)
            elif isinstance(e, ev.Busy) and (st in (CallState.DIALING, CallState.ALERTING) or (
                    st is CallState.CONNECTED and self._recently_inferred(now))):
                # an inferred answer is provisional: busy tone soon after it means the line was busy
                out.append(e)
                out += self._far_end("busy", now)
            elif st is CallState.ALERTING and isinstance(e, ev.Ringback):
                out.append(e)
                self._last_ringback, self._voice_s = now, 0.0
            elif st in IN_CALL and type(e) in _HANGUP_SIGNALS and not (
                    st in (CallState.DIALING, CallState.ALERTING) and isinstance(e, ev.DialTone)):
                # dial tone is heard before and while the number is dialled: not the far end's end
                out.append(e)
                out += self._far_end(_HANGUP_SIGNALS[type(e)], now)
            elif isinstance(e, ev.ResultCode) and e.code == "NO CARRIER" and st in IN_CALL:
                out += self._far_end("no-carrier", now)
            else:
                out.append(e)
        return out

    def _recently_inferred(self, now: float) -> bool:
        return self.answer_inferred_at is not None and now - self.answer_inferred_at < 3.0

    def _infer_answer(self, data: bytes, now: float) -> list[ev.LineEvent]:
        if self._last_ringback is not None and now - self._last_ringback < self.ringback_on_s:
            return []  # energy now is the ringback tone itself
        seconds = audio.samples_in(data, self.encoding) / 8000
        if audio.mean_abs(data, self.encoding) < self.voice_threshold:
            self._quiet_s += seconds
            if self._quiet_s > self.voice_gap_s:
                self._voice_s = 0.0
            return []
        self._quiet_s = 0.0
        self._voice_s += seconds
        if self._voice_s < self.voice_min_s:
            return []
        self.answer_inferred_at = now
        self._alert_deadline = None
        return [ev.AnswerInferred(now), *self._transition(Trigger.ANSWER_INFERRED)]
