"""The holder's profile from the registry (wire/profile.py ``loads``).

Property: a profile that parses survives ``dumps`` → ``loads`` unchanged.
Documented error: ``ProfileError`` (a BadBody), with a one-line message.
"""

from __future__ import annotations

from roamline.wire.profile import ProfileError, loads

EXPECTED: tuple[type[BaseException], ...] = (ProfileError,)


def target(data: bytes) -> None:
    try:
        profile = loads(data)
    except ProfileError as exc:
        assert "\n" not in str(exc)
        raise
    assert loads(profile.dumps()) == profile
