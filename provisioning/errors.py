"""The provisioning room's exceptions: misuse by our own code versus a misbehaving peer."""

from __future__ import annotations

from roamline.errors import RoamlineError, RoamlinePeerError, RoamlineUsageError


class ProvisioningError(RoamlineError):
    """Base of every error raised by roamline.provisioning."""


class UsageError(ProvisioningError, RoamlineUsageError):
    """The caller misused this API or gave invalid configuration (a bug or a bad file on our side)."""


class PeerError(ProvisioningError, RoamlinePeerError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""
