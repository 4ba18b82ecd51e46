"""What hangs off the exchange: modem lines and scriptable PSTN phones (both sans-I/O, ``now``-driven)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from roamline.hil.errors import UsageError
from roamline.hil.exchange import audio, callerid
from roamline.hil.exchange.dialects import Dialect
from roamline.hil.exchange.modem import ModemSim

if TYPE_CHECKING:
    from roamline.hil.exchange.core import Call, Exchange

log = logging.getLogger(__name__)

DISCONNECTS = ("loop_drop", "busy", "reorder", "none")
CID_TIMINGS = ("before", "between", "none")
MAX_RECORD_FRAMES = 50 * 600  # ten minutes of what a phone hears


@dataclass(frozen=True, slots=True)
class Heard:
    """One thing a phone noticed, for test assertions: kind and detail at simulated time ``at``."""

    at: float
    kind: str  # ring, caller_id, answered, far_hangup, busy, reorder, dtmf, ended
    detail: str = ""


class Endpoint:
    """A subscriber terminal on the exchange."""

    def __init__(self, number: str, name: str | None) -> None:
        if not number or not all(c.isdigit() or c in "+*#" for c in number):
            raise UsageError(f"a number is digits (optionally a leading +): {number!r}")
        self.number = number
        self.name = name
        self.off_hook = False
        self.call: Call | None = None
        self.tone: str | None = None
        self.tone_since = 0.0
        self.waiting: Call | None = None  # a second call announced by call-waiting tone

    def set_tone(self, tone: str | None, now: float) -> None:
        if tone != self.tone:
            self.tone, self.tone_since = tone, now

    # overridden by Line and Phone
    def ring(self, now: float) -> None: ...
    def caller_id(self, p: callerid.Presentation, now: float) -> None: ...
    def dtmf(self, digit: str, now: float) -> None: ...
    def far_disconnect(self, signal: str, now: float) -> None: ...
    def call_waiting_tone(self, now: float) -> None: ...
    def hear(self, frame: np.ndarray, now: float) -> None: ...

    def speak(self, now: float) -> np.ndarray:
        return audio.SILENCE

    def busy(self) -> bool:
        return self.off_hook or self.call is not None


class Line(Endpoint):
    """An exchange line with a voice-modem simulator plugged in (``modem`` None while unplugged).

    ``cid_timing``: where caller ID goes on calls to this line ("before" the first ring, "between"
    rings 1 and 2, "none"); ``disconnect``: how this exchange tells the line the far end hung up
    ("loop_drop" open-switch interval, "busy" or "reorder" tone only, or "none": just silence).
    """

    def __init__(self, number: str, dialect: Dialect, *, name: str | None = None, cid_timing: str = "between",
                 disconnect: str = "loop_drop", dial_tone: bool = True, call_waiting: bool = False) -> None:
        super().__init__(number, name)
        if cid_timing not in CID_TIMINGS or disconnect not in DISCONNECTS:
            raise UsageError(f"cid_timing in {CID_TIMINGS}, disconnect in {DISCONNECTS}")
        self.dialect = dialect
        self.cid_timing = cid_timing
        self.disconnect = disconnect
        self.dial_tone = dial_tone  # False: a dead line (no dial tone when the modem goes off-hook)
        self.call_waiting = call_waiting  # a call to this line while it talks: tone bursts, not busy
        self.modem: ModemSim | None = ModemSim(dialect)

    def set_tone(self, tone: str | None, now: float) -> None:
        super().set_tone(tone, now)
        if self.modem:
            self.modem.progress(tone, now)

    def ring(self, now: float) -> None:
        if self.modem:
            self.modem.ring(now)

    def caller_id(self, p: callerid.Presentation, now: float) -> None:
        if self.modem:
            self.modem.caller_id(p, now)

    def dtmf(self, digit: str, now: float) -> None:
        if self.modem:
            self.modem.dtmf(digit, now)

    def far_disconnect(self, signal: str, now: float) -> None:
        if signal == "loop_drop" and self.modem:
            self.modem.loop_drop(now)
        self.set_tone(signal if signal in ("busy", "reorder") else None, now)

    def call_waiting_tone(self, now: float) -> None:
        if self.modem:
            self.modem.call_waiting(now)

    def hear(self, frame: np.ndarray, now: float) -> None:
        if self.modem:
            self.modem.hear(frame, now)

    def speak(self, now: float) -> np.ndarray:
        return self.modem.speak(now) if self.modem else audio.SILENCE


class Phone(Endpoint):
    """A scriptable PSTN phone. Every public method is thread-safe (takes the exchange's lock).

    ``answer_after``: answer incoming calls after that many rings (None: never answer);
    ``busy``: the phone is always busy (calls to it get busy tone); ``hangs_up``: it hangs up as soon as
    the other party does (an operator, an answering point), instead of staying off hook.
    """

    def __init__(self, exchange: Exchange, number: str, *, name: str | None = None,
                 answer_after: int | None = 2, busy: bool = False, hangs_up: bool = False) -> None:
        super().__init__(number, name)
        self._ex = exchange
        self.answer_after = answer_after
        self.always_busy = busy
        self.hangs_up = hangs_up
        self.rings = 0
        self.events: list[Heard] = []
        self.caller_ids: list[callerid.Presentation] = []
        self._heard: list[np.ndarray] = []
        self._play: list[tuple[np.ndarray, str | None]] = []  # samples, DTMF digit they carry
        self._digits_out: list[str] = []
        self.digits_heard = ""
        self.changed = threading.Condition(exchange.lock)

    # --- scripting API ---
    def dial(self, to: str, *, presentation: str | callerid.Presentation = "number+name",
             cid_timing: str | None = None, cid_format: str = "mdmf",
             cadence: tuple[float, ...] | None = None, cpc_s: float | None = None) -> Call:
        """Go off-hook and dial ``to``. ``presentation``: "number+name", "number", "private",
        "unavailable", "none", or an explicit Presentation. ``cadence``: ring on/off seconds.
        ``cpc_s``: calling-party control hold for this call (None: the exchange's)."""
        with self._ex.lock:
            if self.busy():
                raise UsageError(f"phone {self.number} is already in a call")
            p = self._presentation(presentation, cid_format)
            self.off_hook = True
            return self._ex.originate(self, to, presentation=p, cid_timing=cid_timing, cadence=cadence,
                                      cpc_s=cpc_s)

    def answer(self) -> None:
        with self._ex.lock:
            if self.call is None or self.call.callee is not self or self.call.state != "ringing":
                raise UsageError(f"phone {self.number} has no call to answer")
            self._ex.answer(self)

    def hang_up(self, signal: str | None = None) -> None:
        """Go on-hook. ``signal`` overrides how the far line is told (see Line.disconnect)."""
        with self._ex.lock:
            self._ex.hang_up(self, signal=signal)

    def send_dtmf(self, digits: str, on: float = 0.1, off: float = 0.1) -> None:
        with self._ex.lock:
            for d in digits.upper():
                if d not in audio.DTMF_FREQS:
                    raise UsageError(f"not a DTMF digit: {d!r}")
                self._play.append((audio.tone(audio.DTMF_FREQS[d], on), d))
                self._play.append((np.zeros(int(off * audio.RATE), dtype=np.int16), None))

    def play(self, sound: np.ndarray | str | Path) -> None:
        """Queue 8 kHz int16 samples (or an 8 kHz mono 16-bit WAV file) to say into the call."""
        samples = audio.read_wav(sound) if isinstance(sound, str | Path) else np.asarray(sound, np.int16)
        with self._ex.lock:
            self._play.append((samples, None))

    def playing(self) -> bool:
        with self._ex.lock:
            return bool(self._play)

    def heard(self) -> np.ndarray:
        """Everything this phone heard while off-hook, as one int16 array."""
        with self._ex.lock:
            return np.concatenate(self._heard) if self._heard else np.zeros(0, np.int16)

    def clear_heard(self) -> None:
        with self._ex.lock:
            self._heard.clear()

    def kinds(self) -> list[str]:
        with self._ex.lock:
            return [e.kind for e in self.events]

    @property
    def state(self) -> str:
        """idle | calling (ringback) | waiting (ringback; callee hears call waiting) | ringing (incoming)
        | connected | held (the line flashed over to its waiting call) | cpc (the callee hung up, this
        caller still holds the call) | busy | ended."""
        with self._ex.lock:
            c = self.call
            if c is None:
                return "ended" if self.off_hook else "idle"
            if c.state == "ringing":
                return "ringing" if c.callee is self else "calling"
            return c.state

    # --- exchange side ---
    def _presentation(self, how: str | callerid.Presentation, fmt: str) -> callerid.Presentation | None:
        if isinstance(how, callerid.Presentation):
            return how
        d, t = self._ex.date_time()
        table = {
            "number+name": (self.number, self.name or None),
            "number": (self.number, None),
            "private": (callerid.PRIVATE, callerid.PRIVATE),
            "unavailable": (callerid.UNAVAILABLE, callerid.UNAVAILABLE),
        }
        if how == "none":
            return None
        if how not in table:
            raise UsageError(f"presentation is one of {[*table, 'none']}: {how!r}")
        number, name = table[how]
        return callerid.Presentation(number, name, date=d, time=t, format=fmt)

    def note(self, kind: str, detail: str, now: float) -> None:
        self.events.append(Heard(now, kind, detail))
        self.changed.notify_all()

    def set_tone(self, tone: str | None, now: float) -> None:
        if tone != self.tone and tone in ("busy", "reorder"):
            self.note(tone, "", now)
        super().set_tone(tone, now)

    def ring(self, now: float) -> None:
        self.rings += 1
        self.note("ring", str(self.rings), now)
        if self.answer_after is not None and self.rings >= self.answer_after and self.call:
            self._ex.answer(self)

    def caller_id(self, p: callerid.Presentation, now: float) -> None:
        self.caller_ids.append(p)
        self.note("caller_id", f"{p.number}|{p.name}", now)

    def dtmf(self, digit: str, now: float) -> None:
        self.digits_heard += digit
        self.note("dtmf", digit, now)

    def far_disconnect(self, signal: str, now: float) -> None:
        self.note("far_hangup", signal, now)
        self.set_tone("reorder" if signal == "reorder" else "busy" if signal == "busy" else None, now)

    def hear(self, frame: np.ndarray, now: float) -> None:
        if len(self._heard) < MAX_RECORD_FRAMES:
            self._heard.append(frame.copy())

    def speak(self, now: float) -> np.ndarray:
        if not self._play or not (self.call and self.call.state == "connected"):
            return audio.SILENCE
        samples, digit = self._play[0]
        if digit is not None:
            self._digits_out.append(digit)
            self._play[0] = (samples, None)  # the digit is reported once, at its first frame
        frame = samples[: audio.FRAME]
        if len(samples) <= audio.FRAME:
            self._play.pop(0)
        else:
            self._play[0] = (samples[audio.FRAME :], None)
        if len(frame) < audio.FRAME:
            frame = np.concatenate([frame, np.zeros(audio.FRAME - len(frame), np.int16)])
        return frame

    def take_digits(self) -> list[str]:
        d, self._digits_out = self._digits_out, []
        return d

    def reset_for_call(self) -> None:
        self.rings = 0
