"""Caller-ID errors: subclasses of the firmware room's roots, so callers can catch either."""

from __future__ import annotations

from roamline.firmware.errors import PeerError, UsageError


class CallerIdUsageError(UsageError):
    """A caller-ID value or format our own code asked for cannot be encoded (a bug on our side)."""


class CallerIdError(PeerError):
    """A received caller-ID message is malformed (framing, length, checksum, field contents)."""
