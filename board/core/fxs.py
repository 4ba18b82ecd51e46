"""The FXS port core: debounced hook switch, hook timing, ringing and ring trip, sans-I/O.

Callers feed raw hook-switch levels (``hook_edge``), start/stop ringing, and call ``poll(now)`` at or
after ``deadline()`` (and after every edge). Outputs are the events ``poll`` returns and the logical
``ring_mode`` / ``reverse`` outputs the caller writes to the SLIC pins after each call.
Ring trip: ringing stops in the same ``poll`` that settles an off-hook, mid-burst too; the latency from
the first raw off-hook edge is the settle time plus the caller's polling delay.
"""

from roamline.board.compat import ticks_diff
from roamline.board.core import events as ev
from roamline.board.core.cadence import RingSequencer
from roamline.board.core.debounce import Debouncer
from roamline.board.core.hook import HookDecoder, HookTiming
from roamline.board.errors import UsageError


class FxsCore:
    def __init__(self, timing: HookTiming, ring_hz: int, now: int, off_hook: bool = False) -> None:
        self.timing = timing
        self._deb = Debouncer(timing.settle_ms, off_hook, now)
        self._hook = HookDecoder(timing, off_hook, now)
        self._ring = RingSequencer(ring_hz, now)
        self._lift_at = now  # first raw off-hook edge seen while ringing (for the trip latency)
        self._lift_seen = False

    # -- outputs ---------------------------------------------------------------------------------
    @property
    def ring_mode(self) -> bool:
        return self._ring.ring_mode

    @property
    def reverse(self) -> bool:
        return self._ring.reverse

    @property
    def ringing(self) -> bool:
        return self._ring.ringing

    @property
    def off_hook(self) -> bool:
        return self._hook.off_hook

    # -- inputs ----------------------------------------------------------------------------------
    def hook_edge(self, off_hook: bool, now: int) -> None:
        if off_hook and self._ring.ringing and not self._lift_seen:
            self._lift_seen = True
            self._lift_at = now
        self._deb.edge(off_hook, now)

    def ring(self, cadence: "tuple[int, ...]", now: int, cycles: int = 0) -> None:
        if self._hook.off_hook:
            raise UsageError("cannot ring an off-hook handset")
        self._lift_seen = False
        self._ring.start(cadence, now, cycles)

    def stop_ring(self) -> bool:
        return self._ring.stop()

    def deadline(self) -> "int | None":
        best = None
        # While a hook change settles, the hook windows wait for it (see poll).
        hook = None if self._deb.pending else self._hook.deadline()
        for d in (self._deb.deadline(), hook, self._ring.deadline()):
            if d is not None and (best is None or ticks_diff(d, best) < 0):
                best = d
        return best

    def poll(self, now: int) -> "list[tuple[int, int, int]]":
        out: list[tuple[int, int, int]] = []
        at = self._deb.poll(now)
        if at is not None:
            level = self._deb.stable
            if level and self._ring.ringing and not self._hook.off_hook:
                self._ring.stop()
                lift = self._lift_at if self._lift_seen else at
                out.append((ev.RING_TRIP, ticks_diff(now, lift), now))
                out.append((ev.OFF_HOOK, 1, at))
                self._hook.change(level, at, [])
            else:
                self._hook.change(level, at, out)
        if (self._lift_seen and not self._deb.stable and not self._deb.pending
                and ticks_diff(now, self._deb.raw_at) >= self.timing.settle_ms):
            self._lift_seen = False  # a lift that fell back on-hook for good was not a lift
        # While a change is still settling, time stands at its edge for the hook windows: a make that
        # ends a flash at exactly flash_max must not be taken for a hang-up by the settle delay.
        self._hook.poll(self._deb.raw_at if self._deb.pending else now, out)
        self._ring.poll(now, out)
        return out
