"""The thread that owns the SLIC pins and the audio pump and feeds the controller.

Hook edges arrive on gpiozero's event thread and are stamped with the clock there; the runner's own
thread polls the controller at its deadlines (and at once after each edge), writes the SLIC outputs and
LEDs, and hands events to ``on_event``. ``step`` does one round synchronously, so simulators on a
virtual clock can drive the same code without threads. ``start``/``stop`` are idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from roamline.board.gpio import SlicPins
from roamline.firmware.handset.controller import HandsetController, Led
from roamline.firmware.handset.events import HandsetEvent
from roamline.firmware.handset.ports import Int16Array
from roamline.wire.clock import Clock

log = logging.getLogger(__name__)

MAX_WAIT_S = 0.25  # wake at least this often even with nothing due (cheap; guards against lost wakeups)


class AudioPort(Protocol):
    """A paced, blocking audio device: ``read`` waits for the mouthpiece block, ``write`` queues the
    earpiece block. (firmware.audio's device backends fit behind this.)"""

    def read(self, n: int) -> Int16Array: ...

    def write(self, samples: Int16Array) -> None: ...


class HandsetRunner:
    def __init__(self, controller: HandsetController, pins: SlicPins, clock: Clock,
                 on_event: Callable[[HandsetEvent], None], *, audio: AudioPort | None = None,
                 block: int = 160) -> None:
        self.controller = controller
        self.pins = pins
        self.clock = clock
        self.on_event = on_event
        self.audio = audio
        self.block = block
        self._lock = threading.RLock()
        self._edges: deque[tuple[bool, float]] = deque(maxlen=4096)  # bounded: chatter cannot eat memory
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._written: tuple[bool, bool] | None = None
        self._leds: tuple[Led, bool] | None = None

    # -- edges from gpiozero ----------------------------------------------------------------------
    def _on_edge(self, off_hook: bool) -> None:
        self._edges.append((off_hook, self.clock.monotonic()))
        self._wake.set()

    def open(self) -> None:
        """Claim the pins and start listening for edges (no thread yet)."""
        self.pins.on_hook_change = self._on_edge
        self.pins.open()
        with self._lock:
            now = self.clock.monotonic()
            if self.pins.off_hook() != self.controller.off_hook:
                self.controller.hook_edge(self.pins.off_hook(), now)
            self._apply()

    def close(self) -> None:
        self.stop()
        self.pins.on_hook_change = None
        self.pins.close()

    # -- one round ---------------------------------------------------------------------------------
    def step(self) -> list[HandsetEvent]:
        """Feed queued edges, poll at the clock's now, write outputs, deliver and return events."""
        with self._lock:
            while self._edges:
                level, at = self._edges.popleft()
                self.controller.hook_edge(level, at)
            events = self.controller.poll(self.clock.monotonic())
            self._apply()
        for e in events:
            try:
                self.on_event(e)
            except Exception:  # a broken listener must not stop the phone from ringing off
                log.exception("handset-listener-failed")
        return events

    def pump_audio(self, mic: Int16Array) -> Int16Array:
        """One audio block through the controller (the audio thread, or a simulator, calls this)."""
        with self._lock:
            return self.controller.audio(mic, self.clock.monotonic())

    def _apply(self) -> None:
        c = self.controller
        ring = (c.ring_mode, c.reverse)
        if ring != self._written:
            self.pins.set_ring(*ring)
            self._written = ring
        leds = c.leds
        if leds != self._leds:
            self.pins.set_leds(leds[0], red=leds[1])
            self._leds = leds

    # -- threads -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        if not self.pins.is_open:
            self.open()
        self._stop.clear()
        self._threads = [threading.Thread(target=self._control_loop, name="handset-control", daemon=True)]
        if self.audio is not None:
            self._threads.append(threading.Thread(target=self._audio_loop, name="handset-audio", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        if not self._threads:
            return
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        with self._lock:
            self.controller.stop_ring()
            self._apply()

    def _control_loop(self) -> None:
        while not self._stop.is_set():
            self.step()
            dl = self.controller.deadline()
            wait = MAX_WAIT_S if dl is None else min(MAX_WAIT_S, max(0.0, dl - self.clock.monotonic()))
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()

    def _audio_loop(self) -> None:
        assert self.audio is not None
        while not self._stop.is_set():
            try:
                mic = self.audio.read(self.block)
                self.audio.write(self.pump_audio(mic))
            except Exception:
                log.exception("handset-audio-failed")
                with self._lock:
                    self.controller.set_fault(True)
                return
            self._wake.set()  # digits found in this block go out now
