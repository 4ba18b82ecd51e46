"""Hook-switch timing: lift, hang-up, hook flash and pulse (rotary) dialling from settled hook changes.

An on-hook period while off-hook is classified when it ends (or when it outlasts the flash window):
  shorter than ``pulse_break_min_ms``           -> glitch (ignored)
  pulse_break_min_ms .. pulse_break_max_ms      -> one dial pulse (if pulse dialling is enabled)
  flash_min_ms .. flash_max_ms (inclusive)      -> hook flash
  longer than flash_max_ms                      -> hang-up, reported as soon as it is longer
A pulse train ends when the line stays off-hook for ``interdigit_ms``: n pulses are digit n, 10 is 0.
"""

from roamline.board.compat import ticks_add, ticks_diff
from roamline.board.core import events as ev
from roamline.board.errors import UsageError


class HookTiming:
    """Timing windows in ms. Defaults suit 8-12 pps dials with 55-70 % break and flash 100-800 ms."""

    def __init__(
        self,
        settle_ms: int = 10,
        flash_min_ms: int = 100,
        flash_max_ms: int = 800,
        pulse_dial: bool = True,
        pulse_break_min_ms: int = 25,
        pulse_break_max_ms: int = 95,
        interdigit_ms: int = 200,
    ) -> None:
        self.settle_ms = settle_ms
        self.flash_min_ms = flash_min_ms
        self.flash_max_ms = flash_max_ms
        self.pulse_dial = pulse_dial
        self.pulse_break_min_ms = pulse_break_min_ms
        self.pulse_break_max_ms = pulse_break_max_ms
        self.interdigit_ms = interdigit_ms
        self.check()

    def check(self) -> None:
        if not 0 <= self.settle_ms < 20:
            raise UsageError("settle_ms must be 0..19 (pulse makes can be as short as ~25 ms)")
        if not 0 < self.flash_min_ms <= self.flash_max_ms:
            raise UsageError("need 0 < flash_min_ms <= flash_max_ms")
        if self.pulse_dial:
            if not self.settle_ms < self.pulse_break_min_ms <= self.pulse_break_max_ms:
                raise UsageError("need settle_ms < pulse_break_min_ms <= pulse_break_max_ms")
            if self.pulse_break_max_ms >= self.flash_min_ms:
                raise UsageError("pulse_break_max_ms must be below flash_min_ms (else a flash is a digit 1)")
            if self.interdigit_ms <= self.pulse_break_max_ms:
                raise UsageError("interdigit_ms must exceed pulse_break_max_ms")


_IDLE = 0  # on-hook
_OFF = 1  # off-hook (possibly between dial pulses)
_BREAK = 2  # momentarily on-hook, not yet classified


class HookDecoder:
    def __init__(self, timing: HookTiming, off_hook: bool, now: int) -> None:
        self.t = timing
        self._state = _OFF if off_hook else _IDLE
        self._since = now  # start of the current on-hook / off-hook period
        self._pulses = 0

    @property
    def off_hook(self) -> bool:
        """The user's view: a short break (pulse, flash) does not count as on-hook."""
        return self._state != _IDLE

    def change(self, off_hook: bool, at: int, out: "list[tuple[int, int, int]]") -> None:
        """A settled hook change that happened at ``at``; events are appended to ``out``."""
        s = self._state
        if off_hook:
            if s == _IDLE:
                self._state = _OFF
                self._since = at
                self._pulses = 0
                out.append((ev.OFF_HOOK, 0, at))
            elif s == _BREAK:
                self._end_break(at, out)
        elif s == _OFF:
            self._state = _BREAK
            self._since = at

    def _end_break(self, at: int, out: "list[tuple[int, int, int]]") -> None:
        t = self.t
        d = ticks_diff(at, self._since)
        self._state = _OFF
        self._since = at
        if t.pulse_dial and t.pulse_break_min_ms <= d <= t.pulse_break_max_ms:
            self._pulses += 1
        elif t.flash_min_ms <= d <= t.flash_max_ms:
            self._flush_digit(at, out)
            out.append((ev.FLASH, d, at))
        else:
            out.append((ev.GLITCH, d, at))

    def _flush_digit(self, at: int, out: "list[tuple[int, int, int]]") -> None:
        n = self._pulses
        self._pulses = 0
        if n == 0:
            return
        if n > 10:
            out.append((ev.BAD_DIGIT, n, at))
        else:
            out.append((ev.DIGIT, n % 10, at))

    def deadline(self) -> "int | None":
        if self._state == _BREAK:
            return ticks_add(self._since, self.t.flash_max_ms + 1)
        if self._state == _OFF and self._pulses:
            return ticks_add(self._since, self.t.interdigit_ms)
        return None

    def poll(self, now: int, out: "list[tuple[int, int, int]]") -> None:
        s = self._state
        if s == _BREAK and ticks_diff(now, self._since) > self.t.flash_max_ms:
            # A pulse train cut short by hanging up is dropped: the call is over.
            self._state = _IDLE
            self._pulses = 0
            out.append((ev.ON_HOOK, 0, self._since))
        elif s == _OFF and self._pulses and ticks_diff(now, self._since) >= self.t.interdigit_ms:
            self._flush_digit(self._since, out)
