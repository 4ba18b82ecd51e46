"""Contact debouncing for the hook switch: a level counts once it has held for ``settle_ms``."""

from roamline.board.compat import ticks_add, ticks_diff
from roamline.board.errors import UsageError


class Debouncer:
    """Feed raw level changes with ``edge``; ``poll`` reports a settled change once, with the time
    of the raw edge that started it (so pulse and flash durations are not skewed by the settle delay)."""

    def __init__(self, settle_ms: int, level: bool, now: int) -> None:
        if settle_ms < 0:
            raise UsageError("settle_ms must be >= 0")
        self.settle_ms = settle_ms
        self.stable = level
        self._raw = level
        self._raw_at = now

    @property
    def pending(self) -> bool:
        return self._raw != self.stable

    @property
    def raw_at(self) -> int:
        return self._raw_at

    def edge(self, level: bool, now: int) -> None:
        if level != self._raw:
            self._raw = level
            self._raw_at = now

    def deadline(self) -> "int | None":
        if self._raw == self.stable:
            return None
        return ticks_add(self._raw_at, self.settle_ms)

    def poll(self, now: int) -> "int | None":
        """The settled change's edge time if the level changed, else None."""
        if self._raw != self.stable and ticks_diff(now, self._raw_at) >= self.settle_ms:
            self.stable = self._raw
            return self._raw_at
        return None
