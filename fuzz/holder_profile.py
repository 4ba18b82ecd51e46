"""The holder's profile (wire/profile.py ``loads``: JSON text → Profile), and its round trip.

Documented error: ``ProfileError`` (not JSON, too large, or a field refused), with a one-line message.
"""

from __future__ import annotations

from roamline.wire import profile
from roamline.wire.profile import ProfileError

EXPECTED: tuple[type[BaseException], ...] = (ProfileError,)


def target(data: bytes) -> None:
    try:
        p = profile.loads(data)
    except ProfileError as exc:
        assert "\n" not in str(exc) and str(exc)
        raise
    assert profile.loads(p.dumps()) == p
