"""Ring cadences and the sequencer that drives a SLIC's ring-mode and forward/reverse outputs.

An AG1171-class SLIC rings when its ring-mode input is set and its forward/reverse input is toggled at
the ringing frequency (each toggle is half a cycle). A cadence is a flat tuple of milliseconds:
on, off, on, off, ... (even length), repeated. Timings are scheduled from the start of each segment,
not from when ``poll`` ran, so late polling never stretches or drifts a cadence.
"""

from roamline.board.compat import ticks_add, ticks_diff
from roamline.board.core import events as ev
from roamline.board.errors import UsageError

CADENCES = {
    # Country cadences.
    "us": (2000, 4000),
    "uk": (400, 200, 400, 2000),
    "de": (1000, 4000),
    # Telcordia GR-506 distinctive ringing (Bell): dr1 is the standard ring.
    "us-dr1": (2000, 4000),
    "us-dr2": (800, 400, 800, 4000),  # long-long
    "us-dr3": (400, 200, 400, 200, 800, 4000),  # short-short-long
    "us-dr4": (300, 200, 1000, 200, 300, 4000),  # short-long-short
}


def check_cadence(cadence: "tuple[int, ...]") -> None:
    if len(cadence) < 2 or len(cadence) % 2:
        raise UsageError("a cadence is an even number of on/off durations")
    for ms in cadence:
        if not 0 < ms <= 60000:
            raise UsageError("cadence durations must be 1..60000 ms")


def cadence_named(name: str) -> "tuple[int, ...]":
    c = CADENCES.get(name)
    if c is None:
        raise UsageError("unknown cadence " + repr(name))
    return c


class RingSequencer:
    def __init__(self, freq_hz: int, now: int) -> None:
        if freq_hz not in (16, 20, 25, 50):
            raise UsageError("ringing frequency must be 16, 20, 25 or 50 Hz")
        self.half_ms = 500 // freq_hz  # one toggle of forward/reverse
        self.ring_mode = False
        self.reverse = False
        self.ringing = False
        self._cad: tuple[int, ...] = (0, 0)
        self._seg = 0
        self._seg_at = now
        self._cycles = 0
        self._bursts = 0
        self._toggles = 0  # half cycles elapsed in the current burst, as of the last poll
        self._queued: list[tuple[int, int, int]] = []  # events from start(), returned by the next poll

    def start(self, cadence: "tuple[int, ...]", now: int, cycles: int = 0) -> None:
        """Ring ``cycles`` times through ``cadence`` (0: until stopped), first burst at ``now``."""
        check_cadence(cadence)
        if cycles < 0:
            raise UsageError("cycles must be >= 0")
        self._cad = tuple(cadence)
        self._cycles = cycles
        self._bursts = 0
        self.ringing = True
        self._queued = []
        self._enter(0, now, self._queued)

    def stop(self) -> bool:
        """Stop at once (mid-burst too); True if it was ringing."""
        was = self.ringing
        self.ringing = False
        self._queued = []
        self.ring_mode = False
        self.reverse = False
        return was

    def _enter(self, seg: int, at: int, out: "list[tuple[int, int, int]]") -> None:
        self._seg = seg
        self._seg_at = at
        on = seg % 2 == 0
        self.ring_mode = on
        self.reverse = False
        self._toggles = 0
        if on:
            out.append((ev.RING_BURST, self._bursts, at))
        else:
            out.append((ev.RING_PAUSE, self._bursts, at))
        if not on:
            self._bursts += 1

    def deadline(self) -> "int | None":
        if not self.ringing:
            return None
        dur = self._cad[self._seg]
        if self._seg % 2 == 0:
            toggle = (self._toggles + 1) * self.half_ms
            if toggle < dur:
                return ticks_add(self._seg_at, toggle)
        return ticks_add(self._seg_at, dur)

    def poll(self, now: int, out: "list[tuple[int, int, int]]") -> None:
        if self._queued:
            out.extend(self._queued)
            self._queued = []
        while self.ringing:
            dur = self._cad[self._seg]
            end = ticks_add(self._seg_at, dur)
            if ticks_diff(now, end) < 0:
                break
            nxt = self._seg + 1
            if nxt == len(self._cad):
                nxt = 0
                if self._cycles and self._bursts >= self._cycles * (len(self._cad) // 2):
                    self.stop()
                    out.append((ev.RING_DONE, self._bursts, end))
                    return
            self._enter(nxt, end, out)
        if self.ringing and self._seg % 2 == 0:
            n = ticks_diff(now, self._seg_at) // self.half_ms
            self._toggles = n
            self.reverse = n % 2 == 1
