"""The cloud room's exceptions: misuse by our own code versus a misbehaving peer."""

from __future__ import annotations

from roamline.errors import RoamlineError, RoamlinePeerError, RoamlineUsageError
from roamline.wire.errors import ErrorCode


class CloudError(RoamlineError):
    """Base of every error raised by roamline.cloud."""


class UsageError(CloudError, RoamlineUsageError):
    """The caller misused this API or gave invalid configuration (a bug or a bad file on our side)."""


class PeerError(CloudError, RoamlinePeerError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""


class StoreError(UsageError):
    """The registry store cannot be opened or was asked the impossible (duplicate id, ambiguous name)."""


class Refused(PeerError):
    """A box's request is refused; ``code`` is the wire error code sent back; ``close`` ends the link."""

    def __init__(self, code: ErrorCode, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.close = close
