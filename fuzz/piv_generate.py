"""A card's answer to GENERATE ASYMMETRIC KEY PAIR (firmware/card/pivadmin.py parse_generated_key).

Documented errors: ``CardError`` (``MalformedResponse`` and the TLV parser's errors).
"""

from __future__ import annotations

from roamline.firmware.card.errors import CardError
from roamline.firmware.card.pivadmin import parse_generated_key

EXPECTED: tuple[type[BaseException], ...] = (CardError,)


def target(data: bytes) -> None:
    key = parse_generated_key(data)
    assert key.curve.name == "secp256r1"
