"""MicroPython-style millisecond ticks on both interpreters, with an injectable clock.

On MicroPython the ``time.ticks_*`` functions are used as they are. On CPython the same semantics are
emulated (a wrapping counter of 2**30 ms, signed ``ticks_diff``) over a time source that tests and
simulators can replace, so the core under ``board/core`` runs unchanged on a virtual clock.
The core itself never reads the clock: callers pass ``now`` (ticks) in; ``ticks_ms`` is for adapters.
"""

import time as _time

TICKS_PERIOD = 1 << 30
_TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2

_native = getattr(_time, "ticks_diff", None) is not None  # True only on MicroPython
_source = None  # a callable returning seconds, or None for the interpreter's own clock


def set_source(source: "object | None") -> None:
    """Make ``ticks_ms`` read ``source()`` (seconds, float); None restores the real clock."""
    global _source
    _source = source


def ticks_ms() -> int:
    if _source is not None:
        return int(_source() * 1000) & _TICKS_MAX  # type: ignore[operator]
    if _native:
        return int(getattr(_time, "ticks_ms")())  # noqa: B009 - MicroPython only
    return int(_time.monotonic() * 1000) & _TICKS_MAX


def ticks_add(ticks: int, delta: int) -> int:
    if _native and _source is None:
        return int(getattr(_time, "ticks_add")(ticks, delta))  # noqa: B009
    return (ticks + delta) & _TICKS_MAX


def ticks_diff(end: int, start: int) -> int:
    """Signed difference ``end - start`` that survives the counter wrapping (|diff| < half a period)."""
    if _native and _source is None:
        return int(getattr(_time, "ticks_diff")(end, start))  # noqa: B009
    d = (end - start) & _TICKS_MAX
    if d >= _TICKS_HALF:
        d -= TICKS_PERIOD
    return d


def ticks_from_seconds(seconds: float) -> int:
    """Ticks for a float-seconds clock reading (CPython adapters use this with their Clock)."""
    return round(seconds * 1000) & _TICKS_MAX
