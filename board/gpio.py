"""GPIO through gpiozero: pin factories chosen by name from the board profile, and the SLIC's pins.

Factories are looked up by name in gpiozero's own entry-point table (``lgpio``, ``rpigpio``, ``mock``
…), so RPi.GPIO is only ever imported by gpiozero itself when a profile asks for it. gpiozero's
``bounce_time`` is not used (the mock ignores it, real drivers differ): debouncing is the core's job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from roamline.board.errors import PeerError, UsageError
from roamline.board.profile import BoardProfile

log = logging.getLogger(__name__)


def pin_factory(name: str) -> Any:
    """A new gpiozero pin factory by name; PeerError if this machine cannot provide it."""
    eps = {ep.name: ep for ep in entry_points(group="gpiozero_pin_factories")}
    if name not in eps:
        raise UsageError(f"unknown gpiozero pin factory {name!r} (have {', '.join(sorted(eps))})")
    try:
        return eps[name].load()()
    except Exception as exc:  # the drivers raise anything from ImportError to RuntimeError off a Pi
        raise PeerError(f"cannot open GPIO through the {name} pin factory: {exc}") from None


class SlicPins:
    """The SLIC's hook input, ring-mode and forward/reverse outputs, and the status LEDs, as gpiozero
    devices. ``open``/``close`` are explicit and idempotent; hook changes reach ``on_hook_change``
    from gpiozero's event thread as raw levels (True = off-hook), chatter included."""

    def __init__(self, profile: BoardProfile, factory: Any) -> None:
        self.profile = profile
        self.factory = factory
        self._devices: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.on_hook_change: Callable[[bool], None] | None = None

    @property
    def is_open(self) -> bool:
        return bool(self._devices)

    def open(self) -> None:
        from gpiozero import LED, DigitalInputDevice, DigitalOutputDevice

        with self._lock:
            if self._devices:
                return
            s, led = self.profile.slic, self.profile.status_led
            try:
                hook = DigitalInputDevice(s.hook_pin, pull_up=None, active_state=s.hook_off_level == "high",
                                          pin_factory=self.factory)
                self._devices["hook"] = hook
                self._devices["ring_mode"] = DigitalOutputDevice(
                    s.ring_mode_pin, active_high=s.ring_mode_active == "high", initial_value=False,
                    pin_factory=self.factory)
                self._devices["reverse"] = DigitalOutputDevice(
                    s.forward_reverse_pin, active_high=s.reverse_level == "high", initial_value=False,
                    pin_factory=self.factory)
                self._devices["green"] = LED(led.green_pin, active_high=led.active == "high",
                                             pin_factory=self.factory)
                if led.red_pin is not None:
                    self._devices["red"] = LED(led.red_pin, active_high=led.active == "high",
                                               pin_factory=self.factory)
            except Exception as exc:
                self._close_locked()
                raise PeerError(f"cannot claim the SLIC's GPIO pins: {exc}") from None
            hook.when_activated = lambda: self._changed(True)
            hook.when_deactivated = lambda: self._changed(False)
            log.info("slic-open", extra={"fields": {"profile": self.profile.name}})

    def _changed(self, off_hook: bool) -> None:
        cb = self.on_hook_change
        if cb is not None:
            cb(off_hook)

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        for name in ("ring_mode", "reverse"):
            dev = self._devices.get(name)
            if dev is not None:
                dev.off()  # never leave ringing voltage on
        for dev in self._devices.values():
            dev.close()
        self._devices.clear()

    def _dev(self, name: str) -> Any:
        dev = self._devices.get(name)
        if dev is None:
            raise UsageError("SlicPins used before open()")
        return dev

    def off_hook(self) -> bool:
        return bool(self._dev("hook").value)

    def set_ring(self, ring_mode: bool, reverse: bool) -> None:
        self._dev("ring_mode").value = ring_mode
        self._dev("reverse").value = reverse

    def set_leds(self, green: bool | tuple[float, float], red: bool = False) -> None:
        """green: on/off, or (on_s, off_s) to blink (gpiozero's own background blinker)."""
        g = self._dev("green")
        if isinstance(green, tuple):
            g.blink(on_time=green[0], off_time=green[1])
        else:
            g.value = green
        r = self._devices.get("red")
        if r is not None:
            r.value = red
