"""The board room's exceptions: misuse by our own code versus a misbehaving peer.

Kept importable by MicroPython (no ``from __future__``): the core raises these on a microcontroller too.
MicroPython cannot derive a class from two exception classes, so the board room has no ``BoardError``
of its own: its errors derive straight from the shared branches in ``roamline.errors``.
"""

from roamline.errors import RoamlinePeerError, RoamlineUsageError


class UsageError(RoamlineUsageError):
    """The caller misused this API or gave invalid configuration (a bug or a bad file on our side)."""


class PeerError(RoamlinePeerError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""
