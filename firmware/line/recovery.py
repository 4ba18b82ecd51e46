"""Recovery policy as a table (sans-I/O): silent modem → reset; still silent → board power-cycle hook;
gone (unplugged) → re-find by USB identity, then re-initialise. The adapter performs each step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path

from roamline.firmware.line.errors import IllegalTransition


class Step(Enum):
    HEALTHY = "healthy"
    RESET = "reset"
    POWER_CYCLE = "power-cycle"
    REFIND = "refind"
    REINIT = "reinit"


class Outcome(Enum):
    OK = "ok"
    SILENT = "silent"
    GONE = "gone"
    DONE = "done"
    FOUND = "found"
    ABSENT = "absent"


TABLE: dict[tuple[Step, Outcome], Step] = {
    (Step.HEALTHY, Outcome.OK): Step.HEALTHY,
    (Step.HEALTHY, Outcome.SILENT): Step.RESET,
    (Step.HEALTHY, Outcome.GONE): Step.REFIND,
    (Step.RESET, Outcome.OK): Step.HEALTHY,
    (Step.RESET, Outcome.SILENT): Step.POWER_CYCLE,
    (Step.RESET, Outcome.GONE): Step.REFIND,
    (Step.POWER_CYCLE, Outcome.DONE): Step.REFIND,
    (Step.REFIND, Outcome.FOUND): Step.REINIT,
    (Step.REFIND, Outcome.ABSENT): Step.REFIND,
    (Step.REINIT, Outcome.OK): Step.HEALTHY,
    (Step.REINIT, Outcome.SILENT): Step.POWER_CYCLE,
    (Step.REINIT, Outcome.GONE): Step.REFIND,
}


class RecoveryPolicy:
    """Tracks where recovery stands. Without a power-cycle hook, or after ``max_power_cycles`` in a row,
    a power-cycle step becomes a wait for the device to be re-found (someone may replug it)."""

    def __init__(self, *, has_power_cycle: bool, max_power_cycles: int = 2) -> None:
        self.step = Step.HEALTHY
        self.has_power_cycle = has_power_cycle
        self.max_power_cycles = max_power_cycles
        self.power_cycles = 0

    def report(self, outcome: Outcome) -> Step:
        try:
            nxt = TABLE[(self.step, outcome)]
        except KeyError:
            msg = f"recovery: {outcome.value} is not expected in {self.step.value}"
            raise IllegalTransition(msg) from None
        if nxt is Step.POWER_CYCLE:
            if not self.has_power_cycle or self.power_cycles >= self.max_power_cycles:
                nxt = Step.REFIND
            else:
                self.power_cycles += 1
        if nxt is Step.HEALTHY:
            self.power_cycles = 0
        self.step = nxt
        return nxt


def usb_finder(usb_ids: Sequence[str], fallback: str | None = None) -> Callable[[], str | None]:
    """A finder: the device path of the first serial port whose USB vendor:product is in ``usb_ids``
    (pyserial's list_ports), else ``fallback`` if that path exists."""
    wanted = {u.lower() for u in usb_ids}

    def find() -> str | None:
        from serial.tools import list_ports

        for port in list_ports.comports():
            if port.vid is not None and port.pid is not None and f"{port.vid:04x}:{port.pid:04x}" in wanted:
                return str(port.device)
        return fallback if fallback is not None and Path(fallback).exists() else None

    return find
