"""The threads that own the SLIC pins and the audio device and feed the controller.

Hook edges arrive on gpiozero's event thread and are stamped with the clock there; the control thread
polls the controller at its deadlines (and at once after each edge), writes the SLIC outputs and LEDs,
and hands events to ``on_event``. The audio thread moves one block at a time between the audio device
(a ``firmware.audio`` AudioDevice at the controller's rate: see ``firmware.handset.audio``, which adapts
the USB codec's 48 kHz) and the controller. ``step`` and ``audio_step`` do one round synchronously, so
simulators on a virtual clock drive the same code without threads.

Call control and other threads command the controller through ``call`` (or the named shortcuts
``ring``, ``stop_ring``, ``play``, ``set_voice``, ``message_waiting``, ``set_fault``): the command runs
under the runner's lock, its pin changes are written at once and the control thread re-reads deadlines.
``open``/``close`` claim and release pins and audio device; ``start``/``stop`` are idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from roamline.board.gpio import SlicPins
from roamline.firmware.audio.device import AudioDevice
from roamline.firmware.callerid.codec import CallerId
from roamline.firmware.handset.controller import HandsetController, Led
from roamline.firmware.handset.errors import HandsetUsageError
from roamline.firmware.handset.events import HandsetEvent
from roamline.firmware.handset.ports import BlockSource
from roamline.wire.clock import Clock

log = logging.getLogger(__name__)

MAX_WAIT_S = 0.25  # wake at least this often even with nothing due (cheap; guards against lost wakeups)
IDLE_AUDIO_WAIT_S = 1.0  # the audio thread, parked while the line is idle, re-checks at least this often
T = TypeVar("T")


class HandsetRunner:
    def __init__(self, controller: HandsetController, pins: SlicPins, clock: Clock,
                 on_event: Callable[[HandsetEvent], None], *, audio: AudioDevice | None = None,
                 block: int | None = None) -> None:
        """``audio`` must run at the controller's rate; ``block`` defaults to 20 ms of it."""
        if audio is not None and audio.rate != controller.rate:
            raise HandsetUsageError(f"the audio device runs at {audio.rate} Hz, the controller at "
                                    f"{controller.rate} Hz: adapt it (firmware.handset.audio)")
        self.controller = controller
        self.pins = pins
        self.clock = clock
        self.on_event = on_event
        self.audio = audio
        self.block = block if block is not None else controller.rate // 50
        self._lock = threading.RLock()
        self._edges: deque[tuple[bool, float]] = deque(maxlen=4096)  # bounded: chatter cannot eat memory
        self._wake = threading.Event()
        self._audio_wake = threading.Event()  # a parked audio thread: any edge, command or poll wakes it
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._written: tuple[bool, bool] | None = None
        self._leds: tuple[Led, bool] | None = None

    # -- edges from gpiozero ----------------------------------------------------------------------
    def _on_edge(self, off_hook: bool) -> None:
        self._edges.append((off_hook, self.clock.monotonic()))
        self._wake.set()
        self._audio_wake.set()

    def open(self) -> None:
        """Claim the pins and the audio device and start listening for edges (no thread yet)."""
        if self.audio is not None:
            self.audio.open()
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
        if self.audio is not None:
            self.audio.close()

    # -- commands, from any thread ------------------------------------------------------------------
    def call(self, command: Callable[[HandsetController, float], T]) -> T:
        """Run ``command(controller, now)`` under the runner's lock, write the outputs it changed and
        wake the control thread; returns what the command returns (its exceptions propagate)."""
        try:
            with self._lock:
                result = command(self.controller, self.clock.monotonic())
                self._apply()
        finally:
            self._wake.set()
            self._audio_wake.set()
        return result

    def ring(self, cadence: str | tuple[int, ...], *, cycles: int = 0,
             caller_id: CallerId | None = None) -> None:
        self.call(lambda c, now: c.ring(cadence, now, cycles=cycles, caller_id=caller_id))

    def stop_ring(self) -> None:
        self.call(lambda c, _now: c.stop_ring())

    def play(self, tone: str | None) -> None:
        self.call(lambda c, _now: c.play(tone))

    def set_voice(self, source: BlockSource | None) -> None:
        self.call(lambda c, _now: c.set_voice(source))

    def message_waiting(self, active: bool) -> None:
        self.call(lambda c, now: c.message_waiting(active, now))

    def set_fault(self, fault: bool) -> None:
        self.call(lambda c, _now: c.set_fault(fault))

    # -- one round ---------------------------------------------------------------------------------
    def step(self) -> list[HandsetEvent]:
        """Feed queued edges, poll at the clock's now, write outputs, deliver and return events."""
        with self._lock:
            while self._edges:
                level, at = self._edges.popleft()
                self.controller.hook_edge(level, at)
            events = self.controller.poll(self.clock.monotonic())
            self._apply()
            if not self.controller.line_idle:  # e.g. a message-waiting burst the poll started
                self._audio_wake.set()
        for e in events:
            try:
                self.on_event(e)
            except Exception:  # a broken listener must not stop the phone from ringing off
                log.exception("handset-listener-failed")
        return events

    def audio_step(self) -> None:
        """One audio block: read the mouthpiece from the device, run it through the controller, write
        the earpiece (the audio thread, or a simulator on a virtual clock, calls this)."""
        if self.audio is None:
            raise HandsetUsageError("this runner has no audio device")
        mic = self.audio.read(self.block)  # a paced device blocks here, outside the lock
        with self._lock:
            ear = self.controller.audio(mic, self.clock.monotonic())
            self._apply()  # a transmission may have switched the line polarity
        self.audio.write(ear)
        self._wake.set()  # digits found in this block go out now

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
        self._audio_wake.set()
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

    def audio_idle(self) -> bool:
        """Whether the audio thread may park: on-hook and nothing to send (``controller.line_idle``)."""
        with self._lock:
            return self.controller.line_idle

    def _audio_loop(self) -> None:
        """One block at a time while the line is in use; parked (no device reads, no CPU) while it is
        on-hook and idle, until a hook edge, a command (ring, tone, message waiting) or a poll that
        started a transmission wakes it."""
        while not self._stop.is_set():
            self._audio_wake.clear()
            if self.audio_idle():
                self._audio_wake.wait(IDLE_AUDIO_WAIT_S)
                continue
            try:
                self.audio_step()
            except Exception:
                log.exception("handset-audio-failed")
                self.set_fault(True)
                return
