"""The wire room's exceptions: misuse by our own code versus a misbehaving peer.

Errors a peer can cause on the link carry an :class:`ErrorCode`, the code sent back in an ``error`` frame.
"""

from __future__ import annotations

from enum import StrEnum

from roamline.errors import RoamlineError, RoamlinePeerError, RoamlineUsageError


class WireError(RoamlineError):
    """Base of every error raised by roamline.wire."""


class UsageError(WireError, RoamlineUsageError):
    """The caller misused this API or gave invalid configuration (a bug or a bad file on our side)."""


class PeerError(WireError, RoamlinePeerError):
    """Something outside us (a device, card, network peer or user input) misbehaved."""


class ErrorCode(StrEnum):
    """Codes carried by ``error`` frames (docs/protocol.md §Errors). Values are wire strings."""

    BAD_FRAME = "bad-frame"
    TOO_LARGE = "too-large"
    UNSUPPORTED_VERSION = "unsupported-version"
    UNKNOWN_TYPE = "unknown-type"
    BAD_BODY = "bad-body"
    NOT_AUTHENTICATED = "not-authenticated"
    BAD_SIGNATURE = "bad-signature"
    BAD_CERTIFICATE = "bad-certificate"
    STALE_NONCE = "stale-nonce"
    REVOKED = "revoked"
    UNKNOWN_BOX = "unknown-box"
    UNKNOWN_CARD = "unknown-card"
    FORBIDDEN = "forbidden"
    INTERNAL = "internal"


class LinkError(PeerError):
    """A peer broke the link protocol or was refused; ``code`` is what an ``error`` frame would carry.

    Servers may raise LinkError (or a subclass) with any code from a request handler; the adapter
    answers the request with that code and message.
    """

    default_code = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code if code is not None else self.default_code


class FrameError(LinkError):
    """The byte stream cannot be framed; the stream must be closed after answering."""

    default_code = ErrorCode.BAD_FRAME


class FrameTooLarge(FrameError):
    default_code = ErrorCode.TOO_LARGE


class MalformedFrame(FrameError):
    """Bad UTF-8, not JSON, not an object, or missing/bad envelope fields."""

    default_code = ErrorCode.BAD_FRAME


class UnsupportedVersion(LinkError):
    default_code = ErrorCode.UNSUPPORTED_VERSION


class UnknownType(LinkError):
    default_code = ErrorCode.UNKNOWN_TYPE


class BadBody(LinkError):
    default_code = ErrorCode.BAD_BODY


class BadCertificate(LinkError):
    """A certificate does not parse, is not from the pinned CA, is not valid now, or has the wrong role."""

    default_code = ErrorCode.BAD_CERTIFICATE


class BadSignature(LinkError):
    """A signature does not verify against the expected key and digest."""

    default_code = ErrorCode.BAD_SIGNATURE


class RemoteError(LinkError):
    """The peer answered our request with an ``error`` frame."""


class RequestTimeout(PeerError):
    """No reply arrived before the request's deadline."""


class LinkClosed(PeerError):
    """The connection or stream closed (or was never open) while we needed it."""


class MediaFault(StrEnum):
    """What was wrong with a media datagram (relays count drops by these)."""

    TRUNCATED = "truncated"
    TOO_LONG = "too-long"
    BAD_VERSION = "bad-version"
    UNSUPPORTED_HEADER = "unsupported-header"  # padding, extension or CSRCs
    BAD_PAYLOAD_TYPE = "bad-payload-type"


class MalformedMedia(PeerError):
    """A media datagram outside the v1 layout (docs/protocol.md §11); ``fault`` says how."""

    def __init__(self, message: str, fault: MediaFault) -> None:
        super().__init__(message)
        self.fault = fault


class TruncatedMedia(MalformedMedia):
    """The datagram ends inside its flow id, its RTP header or its payload."""


class BadRtp(MalformedMedia):
    """The RTP header or payload is not v1 media (version, padding/extension/CSRC, payload type, length)."""
class BoxRevoked(LinkClosed):
    """The registry revoked this box: it refuses the box's hello; no link until an operator acts."""
