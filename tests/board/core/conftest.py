"""A virtual-clock driver for the FXS core: scheduled raw hook edges (with contact bounce), polls at
every deadline as a runner would, and a record of every output pin change with its tick."""

from __future__ import annotations

import random

from roamline.board.compat import ticks_add, ticks_diff
from roamline.board.core.fxs import FxsCore
from roamline.board.core.hook import HookTiming

WRAP_START = (1 << 30) - 3000  # start near the tick counter's wrap so every test crosses it


def bounce_edges(level: bool, at: int, rng: random.Random | None, max_ms: int = 5) -> list[tuple[int, bool]]:
    """The raw edges of one mechanical transition to ``level`` at ``at``: chatter for up to max_ms."""
    if rng is None:
        return [(at, level)]
    edges = [(at, level)]
    t = at
    lvl = level
    for _ in range(rng.randint(0, 4)):
        t += rng.randint(1, max(1, max_ms // 3))
        if t - at >= max_ms:
            break
        lvl = not lvl
        edges.append((t, lvl))
    if lvl != level:
        edges.append((t + 1, level))
    return edges


class Rig:
    def __init__(self, timing: HookTiming | None = None, ring_hz: int = 20, start: int = WRAP_START,
                 seed: int | None = 1) -> None:
        self.now = start
        self.start = start
        self.core = FxsCore(timing or HookTiming(), ring_hz, start)
        self.rng = random.Random(seed) if seed is not None else None
        self.edges: list[tuple[int, bool]] = []  # absolute ms since start (not wrapped), level
        self.events: list[tuple[int, int, int]] = []  # (kind, value, ms since start)
        self.pins: list[tuple[int, bool, bool]] = [(0, False, False)]  # (ms since start, ring_mode, reverse)

    @property
    def t(self) -> int:
        """Virtual ms since the rig started."""
        return ticks_diff(self.now, self.start)

    def transition(self, level: bool, at_ms: int) -> None:
        self.edges.extend(bounce_edges(level, at_ms, self.rng))
        self.edges.sort(key=lambda e: e[0])

    def hook_waveform(self, start_ms: int, segments: list[tuple[bool, int]]) -> int:
        """Levels held for durations from start_ms; returns the end time."""
        t = start_ms
        for level, dur in segments:
            self.transition(level, t)
            t += dur
        return t

    def ring(self, cadence: tuple[int, ...], cycles: int = 0) -> None:
        self.core.ring(cadence, self.now, cycles)
        self._poll()

    def _poll(self) -> None:
        for kind, value, at in self.core.poll(self.now):
            self.events.append((kind, value, ticks_diff(at, self.start)))
        state = (self.core.ring_mode, self.core.reverse)
        if state != self.pins[-1][1:]:
            self.pins.append((self.t, *state))

    def run_until(self, t_ms: int) -> None:
        spins = 0
        while True:
            spins += 1
            assert spins < 1_000_000, "the core's deadline does not advance"
            dl = self.core.deadline()
            nxt_dl = ticks_diff(dl, self.start) if dl is not None else None
            nxt_edge = self.edges[0][0] if self.edges else None
            cands = [x for x in (nxt_dl, nxt_edge) if x is not None and x <= t_ms]
            if not cands:
                break
            step = max(min(cands), self.t)
            if step == self.t and not (self.edges and self.edges[0][0] <= step):
                spins += 100_000  # a deadline at "now" must be consumed by the poll
            self.now = ticks_add(self.start, step)
            while self.edges and self.edges[0][0] <= step:
                self.core.hook_edge(self.edges.pop(0)[1], self.now)
            self._poll()
        self.now = ticks_add(self.start, t_ms)
        self._poll()

    def kinds(self, *only: int) -> list[tuple[int, int, int]]:
        return [e for e in self.events if not only or e[0] in only]
