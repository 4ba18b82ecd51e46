"""The root of every Roamline exception, shared by all rooms (``roamline.errors``).

Not a room: a leaf that imports nothing, so every room may import it, ``wire`` and ``board`` included
(they import no other room). Kept importable by MicroPython (no ``from __future__``, no annotations, no
imports) because the board core's errors derive from it on a microcontroller too.

Two branches, and every room's ``errors.UsageError`` / ``errors.PeerError`` derives from one of them::

    RoamlineError
    ├── RoamlineUsageError   you misused this: a bug on our side or bad configuration (exit 2)
    └── RoamlinePeerError    the peer misbehaved: a device, card, network peer or user input (exit 1)
"""


class RoamlineError(Exception):
    """Base of every error Roamline raises on purpose (anything else escaping a command is a bug)."""


class RoamlineUsageError(RoamlineError):
    """The caller misused an API or gave invalid configuration (a bug or a bad file on our side)."""


class RoamlinePeerError(RoamlineError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""
