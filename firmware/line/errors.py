"""Errors of the phone line, rooted in the firmware room's UsageError / PeerError."""

from __future__ import annotations

from roamline.firmware.errors import PeerError, UsageError


class LineUsageError(UsageError):
    """The driver was misused (e.g. answering with no call ringing) or a profile is invalid."""


class IllegalTransition(LineUsageError):
    """The call state machine was asked for a transition its table does not allow."""


class ModemError(PeerError):
    """The modem misbehaved: answered ERROR, gave a malformed reply, or stopped answering."""


class ModemTimeout(ModemError):
    """A command got no final result code before its deadline."""


class ModemGone(ModemError):
    """The modem's device disappeared (USB unplug) or cannot be opened."""


class CallFailed(PeerError):
    """A call attempt ended with BUSY, NO ANSWER, NO DIALTONE, NO CARRIER or ERROR; ``reason`` says which."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"call failed: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason


class CallerIdError(PeerError):
    """An unformatted caller-ID message was malformed or failed its checksum."""
