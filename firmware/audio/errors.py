"""Audio errors: subclasses of the firmware room's roots, so callers can catch either."""

from __future__ import annotations

from roamline.firmware.errors import PeerError, UsageError


class AudioUsageError(UsageError):
    """Bad audio configuration or API misuse (wrong rate, wrong dtype, closed device)."""


class AudioDeviceError(PeerError):
    """The audio device (sound card, file, PortAudio) failed or went away."""


class MediaError(PeerError):
    """Media from the network is malformed (wrong payload size, absurd timestamps)."""
