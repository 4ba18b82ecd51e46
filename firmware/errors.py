"""The firmware room's exceptions: misuse by our own code versus a misbehaving peer."""

from __future__ import annotations


class FirmwareError(Exception):
    """Base of every error raised by roamline.firmware."""


class UsageError(FirmwareError):
    """The caller misused this API or gave invalid configuration (a bug or a bad file on our side)."""


class PeerError(FirmwareError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""
