"""The location room's exceptions: misuse by our own code versus a misbehaving receiver or gpsd."""

from __future__ import annotations

from roamline.firmware.errors import PeerError as _FirmwarePeerError
from roamline.firmware.errors import UsageError as _FirmwareUsageError


class UsageError(_FirmwareUsageError):
    """The caller misused this API or gave invalid configuration."""


class PeerError(_FirmwarePeerError):
    """The GPS receiver, gpsd or the network misbehaved (garbage, closed connection, no such device)."""
