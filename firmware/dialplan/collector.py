"""Digits with inter-digit timeouts (sans-I/O): keys and ``now`` in, a decision and a deadline out.

An emergency string decides at its last digit, with no inter-digit wait. Everything else decides when the
classifier says it is complete, at '#', or when the inter-digit timeout passes (``poll`` at
``deadline()``); with no digit at all the first-digit timeout gives up (reorder).
"""

from __future__ import annotations

from dataclasses import dataclass

from roamline.firmware.dialplan.plan import Classified, Classifier, Kind
from roamline.firmware.errors import UsageError


@dataclass(frozen=True, slots=True)
class Collecting:
    """Not decided yet; ``deadline`` is when ``poll`` decides."""

    keys: str
    deadline: float


Decision = Classified | Collecting


class DigitCollector:
    def __init__(self, classifier: Classifier, now: float, *, interdigit_s: float = 4.0,
                 first_digit_s: float = 15.0) -> None:
        if interdigit_s <= 0 or first_digit_s <= 0:
            raise UsageError("dial timeouts must be positive")
        self.classifier = classifier
        self.interdigit_s = interdigit_s
        self.first_digit_s = first_digit_s
        self.keys = ""
        self._deadline: float | None = now + first_digit_s
        self.decided: Classified | None = None

    def deadline(self) -> float | None:
        return self._deadline

    def key(self, key: str, now: float) -> Decision:
        """One key went down. Returns the decision (final) or Collecting."""
        if self.decided is not None:
            raise UsageError(f"digits already decided ({self.decided.kind.value})")
        if len(key) != 1:
            raise UsageError(f"one key at a time, not {key!r}")
        self.keys += key
        c = self.classifier.classify(self.keys)
        if c.kind is Kind.INVALID or (c.complete and c.kind is not Kind.INCOMPLETE):
            return self._decide(c)
        if len(self.keys) >= 32:  # nobody dials this much: a stuck key or a child at the keypad
            return self._decide(self.classifier.classify(self.keys, final=True))
        self._deadline = now + self.interdigit_s
        return Collecting(self.keys, self._deadline)

    def poll(self, now: float) -> Decision:
        if self.decided is not None:
            return self.decided
        assert self._deadline is not None
        if now < self._deadline:
            return Collecting(self.keys, self._deadline)
        if not self.keys:
            return self._decide(Classified(Kind.INVALID, "", reason="no digits dialled"))
        return self._decide(self.classifier.classify(self.keys, final=True))

    def _decide(self, c: Classified) -> Classified:
        self.decided = c
        self._deadline = None
        return c
