"""Handset errors: subclasses of the firmware room's roots."""

from __future__ import annotations

from roamline.firmware.errors import PeerError, UsageError


class HandsetUsageError(UsageError):
    """The handset API was misused (ringing an off-hook phone, unknown tone or cadence)."""


class HandsetPeerError(PeerError):
    """The handset hardware misbehaved (pins could not be opened, audio device failed)."""
