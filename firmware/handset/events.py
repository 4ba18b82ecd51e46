"""Typed, frozen events from the handset to call control. ``at`` is when it happened (monotonic s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class HandsetEvent:
    at: float


@dataclass(frozen=True, slots=True)
class OffHook(HandsetEvent):
    answered: bool = False  # True when the lift tripped ringing (answering a call)


@dataclass(frozen=True, slots=True)
class OnHook(HandsetEvent):
    """Hang-up: ``at`` is when the receiver went down (reported once it outlasted a flash)."""


@dataclass(frozen=True, slots=True)
class HookFlash(HandsetEvent):
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Digit(HandsetEvent):
    digit: str  # "0"-"9", and for DTMF also "*", "#", "A"-"D"
    source: Literal["pulse", "dtmf"]


@dataclass(frozen=True, slots=True)
class RingTrip(HandsetEvent):
    """Ringing stopped because the handset was lifted; ``latency_ms`` from the lift to the stop."""

    latency_ms: int


@dataclass(frozen=True, slots=True)
class RingDone(HandsetEvent):
    """The asked-for number of ring cycles ended unanswered."""

    bursts: int


@dataclass(frozen=True, slots=True)
class CallerIdSent(HandsetEvent):
    """The caller-ID burst finished playing to the handset."""


@dataclass(frozen=True, slots=True)
class MessageWaitingSent(HandsetEvent):
    """The handset was told (without ringing) that messages wait (``active``) or no longer do."""

    active: bool
