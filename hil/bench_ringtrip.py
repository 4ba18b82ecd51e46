"""Ring-trip latency in real time: the handset runner's thread, gpiozero mock pins, the system clock.

Each trial starts ringing (US cadence), lifts the simulated handset at a random moment in the first
burst or the following silence (contact bounce included, driven from another thread with real sleeps),
and measures from the first hook edge to the ring-mode output going off — or, lifted in the silence,
to the moment the runner stopped the cadence (the RingTrip event). For ``roamline bench handset``:
``ring_trip_ms()`` returns the figures as a dict ready for its JSON line.
"""

from __future__ import annotations

import random
import statistics
import threading
import time

from roamline.board.gpio import SlicPins
from roamline.board.profile import load_profile
from roamline.firmware.handset.controller import HandsetController
from roamline.firmware.handset.events import HandsetEvent, RingTrip
from roamline.firmware.handset.runner import HandsetRunner
from roamline.hil.errors import PeerError
from roamline.hil.handset import ClockedMockFactory
from roamline.wire.clock import SystemClock


def _trial(rng: random.Random) -> float:
    profile = load_profile("sim")
    clock = SystemClock()
    factory = ClockedMockFactory(clock)
    ctl = HandsetController(profile.hook_timing, profile.slic.ring_hz, 8000, clock.monotonic())
    tripped = threading.Event()
    trip_at: list[float] = []

    def on_event(e: HandsetEvent) -> None:
        if isinstance(e, RingTrip):
            trip_at.append(clock.monotonic())
            tripped.set()

    runner = HandsetRunner(ctl, SlicPins(profile, factory), clock, on_event)
    try:
        runner.open()
        runner.ring("us")  # from "call control", as the real box would: another thread, thread-safe
        runner.start()
        time.sleep(rng.uniform(0.05, 2.5))
        hook = factory.pin(profile.slic.hook_pin)
        t0 = clock.monotonic()
        hook.drive_high()
        for _ in range(rng.randint(0, 3)):  # contact chatter
            time.sleep(rng.uniform(0.0003, 0.0015))
            hook.drive_low()
            time.sleep(rng.uniform(0.0003, 0.0015))
            hook.drive_high()
        if not tripped.wait(2.0):
            raise PeerError("ringing was not tripped within 2 s")
        rm = factory.pin(profile.slic.ring_mode_pin).history
        off = [t for t, s in rm if not s and t >= t0]
        stop = off[0] if off else trip_at[0]
        return (stop - t0) * 1000.0
    finally:
        runner.close()
        factory.close()


def ring_trip_ms(trials: int = 20, seed: int = 1) -> dict[str, float]:
    rng = random.Random(seed)
    xs = sorted(_trial(rng) for _ in range(trials))
    p99 = xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]
    return {"ring_trip_ms": round(statistics.median(xs), 2), "ring_trip_p99_ms": round(p99, 2),
            "ring_trip_max_ms": round(xs[-1], 2), "ring_trip_trials": float(trials)}


if __name__ == "__main__":
    import json

    print(json.dumps(ring_trip_ms()))
