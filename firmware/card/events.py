"""Card events and the sans-I/O reader tracker: what PC/SC reports (reader lists, reader states, pcscd
up/down) with ``now`` in, typed events out. The thread around it lives in reader.py."""

from __future__ import annotations

from dataclasses import dataclass

from roamline.firmware.card.pcsc import (
    STATE_CHANGED,
    STATE_EMPTY,
    STATE_MUTE,
    STATE_PRESENT,
    STATE_UNAVAILABLE,
    STATE_UNAWARE,
    STATE_UNKNOWN,
)


@dataclass(frozen=True, slots=True)
class CardEvent:
    at: float  # monotonic seconds when PC/SC reported it


@dataclass(frozen=True, slots=True)
class PcscAvailable(CardEvent):
    pass


@dataclass(frozen=True, slots=True)
class PcscUnavailable(CardEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class ReaderAdded(CardEvent):
    reader: str


@dataclass(frozen=True, slots=True)
class ReaderLost(CardEvent):
    reader: str


@dataclass(frozen=True, slots=True)
class CardInserted(CardEvent):
    reader: str
    atr: bytes


@dataclass(frozen=True, slots=True)
class CardRemoved(CardEvent):
    reader: str


def has_card(state: int) -> bool:
    return bool(state & STATE_PRESENT) and not state & (STATE_MUTE | STATE_UNAVAILABLE | STATE_UNKNOWN)


class ReaderTracker:
    """Sans-I/O: what PC/SC says → events. Card state per reader: absent or present(ATR, event count)."""

    def __init__(self) -> None:
        self.pcsc_up: bool | None = None  # None: not known yet
        self._state: dict[str, int] = {}  # reader → last PC/SC event state (CHANGED bit cleared)
        self._cards: dict[str, tuple[bytes, int]] = {}  # reader → (ATR, pcsc-lite event counter)

    @property
    def readers(self) -> list[str]:
        return list(self._state)

    @property
    def cards(self) -> dict[str, bytes]:
        return {r: atr for r, (atr, _) in self._cards.items()}

    def watch_list(self) -> list[tuple[str, int]]:
        return list(self._state.items())

    def up(self, now: float) -> list[CardEvent]:
        if self.pcsc_up:
            return []
        self.pcsc_up = True
        return [PcscAvailable(now)]

    def down(self, now: float, reason: str) -> list[CardEvent]:
        events: list[CardEvent] = []
        for reader in list(self._state):
            events += self._lose(reader, now)
        if self.pcsc_up is not False:
            events.append(PcscUnavailable(now, reason))
        self.pcsc_up = False
        return events

    def readers_listed(self, names: list[str], now: float) -> list[CardEvent]:
        events: list[CardEvent] = []
        for reader in [r for r in self._state if r not in names]:
            events += self._lose(reader, now)
        for reader in names:
            if reader not in self._state:
                self._state[reader] = STATE_UNAWARE
                events.append(ReaderAdded(now, reader))
        return events

    def _lose(self, reader: str, now: float) -> list[CardEvent]:
        events: list[CardEvent] = []
        if self._cards.pop(reader, None) is not None:
            events.append(CardRemoved(now, reader))
        if self._state.pop(reader, None) is not None:
            events.append(ReaderLost(now, reader))
        return events

    def status(self, reader: str, state: int, atr: bytes, now: float) -> list[CardEvent]:
        """One reader's state from SCardGetStatusChange."""
        if reader not in self._state:
            return []
        self._state[reader] = state & ~STATE_CHANGED
        if state & (STATE_UNKNOWN | STATE_UNAVAILABLE):
            return self._lose(reader, now)
        count = state >> 16  # pcsc-lite: insert/remove counter, catches a swap between two polls
        before = self._cards.get(reader)
        if has_card(state):
            if before is None:
                self._cards[reader] = (atr, count)
                return [CardInserted(now, reader, atr)]
            if before[0] != atr or (count and before[1] and count != before[1]):
                self._cards[reader] = (atr, count)
                return [CardRemoved(now, reader), CardInserted(now, reader, atr)]
            return []
        if before is not None and state & (STATE_EMPTY | STATE_MUTE | STATE_PRESENT):
            del self._cards[reader]
            return [CardRemoved(now, reader)]
        return []
