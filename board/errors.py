"""The board room's exceptions: misuse by our own code versus a misbehaving peer.

Kept importable by MicroPython (no ``from __future__``): the core raises these on a microcontroller too.
"""


class BoardError(Exception):
    """Base of every error raised by roamline.board."""


class UsageError(BoardError):
    """The caller misused this API or gave invalid configuration (a bug or a bad file on our side)."""


class PeerError(BoardError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""
