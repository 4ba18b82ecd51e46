"""The hil room's exceptions: misuse by our own code versus a misbehaving peer."""

from __future__ import annotations


class HilError(Exception):
    """Base of every error raised by roamline.hil."""


class UsageError(HilError):
    """The caller misused this API or gave invalid configuration (a bug or a bad file on our side)."""


class PeerError(HilError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""
