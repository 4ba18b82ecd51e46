"""What the simulated modem asks of its line (the exchange takes them with ``ModemSim.take_requests``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LineRequest:
    """Base of what the modem asks of its line."""


@dataclass(frozen=True, slots=True)
class OffHook(LineRequest):
    pass


@dataclass(frozen=True, slots=True)
class OnHook(LineRequest):
    pass


@dataclass(frozen=True, slots=True)
class Dial(LineRequest):
    number: str


@dataclass(frozen=True, slots=True)
class SendDigit(LineRequest):
    digit: str


@dataclass(frozen=True, slots=True)
class Flash(LineRequest):
    """A hook flash (on-hook for about 0.5 s) while the modem is on the line."""
