"""Card errors: all are PeerErrors (the card, reader or pcscd misbehaved or went away)."""

from __future__ import annotations

from roamline.firmware.errors import PeerError


class CardError(PeerError):
    """Base of card-side failures."""


class MalformedResponse(CardError):
    """The card answered with bytes that do not parse (bad TLV, short response, missing object)."""


class CardStatusError(CardError):
    """The card answered a command with an error status word."""

    def __init__(self, sw: int, message: str = "") -> None:
        self.sw = sw
        super().__init__(f"card status {sw:04X}" + (f": {message}" if message else ""))


class WrongLength(CardStatusError):
    """6700 / 6Cxx."""


class SecurityNotSatisfied(CardStatusError):
    """6982: e.g. key 9A used before the PIN was verified."""


class PinBlocked(CardStatusError):
    """6983: the PIN's retry counter is exhausted."""


class WrongPin(CardStatusError):
    """63Cx: the PIN was wrong (or not yet verified); ``tries_left`` = x."""

    def __init__(self, sw: int, message: str = "") -> None:
        self.tries_left = sw & 0x0F
        super().__init__(sw, message or f"wrong PIN, {self.tries_left} tries left")


class ConditionsNotSatisfied(CardStatusError):
    """6985."""


class WrongData(CardStatusError):
    """6A80."""


class NotFound(CardStatusError):
    """6A82 (file/application/object not found) and 6A88 (referenced data / key not found)."""


class WrongP1P2(CardStatusError):
    """6A86 / 6B00."""


class InsNotSupported(CardStatusError):
    """6D00."""


class ClaNotSupported(CardStatusError):
    """6E00."""


class CardRemovedError(CardError):
    """The card left the reader (or pcscd lost it) while we were talking to it."""


class CardIOError(CardError):
    """Transmission failed (reader or pcscd trouble) and the card's fate is unknown."""


class PcscUnavailableError(CardError):
    """pcscd is not running or not reachable."""


class ReaderUnavailableError(CardRemovedError):
    """The reader itself went away (unplugged, or pcscd dropped it): its card is gone with it."""
