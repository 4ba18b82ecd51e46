"""The cloud room's exceptions: misuse by our own code versus a misbehaving peer."""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error raised by roamline.cloud."""


class UsageError(CloudError):
    """The caller misused this API or gave invalid configuration (a bug or a bad file on our side)."""


class PeerError(CloudError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""


class StoreError(UsageError):
    """The registry store cannot be opened or was asked the impossible (duplicate id, ambiguous name)."""


class Refused(PeerError):
    """A box's request is refused; ``code`` is the wire error code sent back; ``close`` ends the link."""

    def __init__(self, code: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.close = close
