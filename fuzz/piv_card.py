"""A PIV card session against a card that answers anything (firmware/card/piv.py PivClient): SELECT,
CHUID, the 9E certificate (gzip-compressed too), GENERAL AUTHENTICATE, PIN status. The input is the
card's answers in order (2-byte length prefix each). Documented errors: ``CardError`` (malformed answers
and error status words) and the harness's own ``CardGone`` when the answers run out.
"""

from __future__ import annotations

from fuzz.apdu_response import responses
from roamline.firmware.card import errors
from roamline.firmware.card.piv import PivClient


class CardGone(Exception):
    """The scripted card has no more answers (what a removed card looks like to the client)."""


EXPECTED: tuple[type[BaseException], ...] = (errors.CardError, CardGone)


def target(data: bytes) -> None:
    answers = iter(responses(data, 2))

    def transmit(apdu: bytes) -> bytes:
        try:
            return next(answers)
        except StopIteration:
            raise CardGone from None

    piv = PivClient(transmit)
    for step in (piv.select, piv.read_chuid, lambda: piv.read_certificate(0x9E),
                 lambda: piv.sign(0x9E, bytes(32)), piv.pin_status):
        try:
            step()
        except errors.CardError:
            pass
