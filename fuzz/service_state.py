"""The box service's state document as `box health` reads it (firmware/service_state.py ``decode``; the
file is written by firmware/state_file.py), its round trip and the verdict made of it.

Documented error: ``PeerError`` (not JSON, or a field refused), with a one-line message. Beyond that:
a state that decodes re-encodes to itself, every strict prefix of its encoding is refused (a torn file
never reads as a state), and ``assess`` gives a one-line reason and never calls a stale or a stopped
state healthy.
"""

from __future__ import annotations

import math

from roamline.firmware.errors import PeerError
from roamline.firmware.service_state import STALE_BEATS, assess, decode, encode

EXPECTED: tuple[type[BaseException], ...] = (PeerError,)


def target(data: bytes) -> None:
    try:
        state = decode(data)
    except PeerError as exc:
        assert str(exc).startswith("malformed service state (") and str(exc).isprintable(), str(exc)
        raise
    again = encode(state)
    assert decode(again) == state
    for cut in range(0, len(again) - 1, max(1, len(again) // 16)):  # the last byte is the newline
        try:
            decode(again[:cut])
        except PeerError:
            continue
        raise AssertionError(f"a prefix of {cut} bytes read as a state")
    limit = STALE_BEATS * state.heartbeat_s + 1.0
    for age in (0.0, limit / 2, limit + 1.0):
        now = state.beat_monotonic + age
        for alive in (True, False):
            v = assess(state, boot_id=state.boot_id, monotonic=now, pid_alive=alive,
                       expected_slot=state.firmware.slot)
            assert v.reason.isprintable() and v.reason, v.reason
            if v.healthy:
                assert alive and state.phase == "running" and state.link.up, v
                assert math.isfinite(now - state.beat_monotonic) and now - state.beat_monotonic <= limit, v
                assert all(p.ok or not p.required for p in state.peripherals.values()), v
