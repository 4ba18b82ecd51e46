"""The card's answers to one command (firmware/card/apdu.py Exchange): status words, GET RESPONSE
(61xx), resend on 6Cxx, command chaining. The input is a sequence of card responses (1-byte length
prefix each). Documented errors: ``MalformedResponse`` (no status word, endless chaining, too long).
"""

from __future__ import annotations

from roamline.firmware.card import apdu, errors

EXPECTED: tuple[type[BaseException], ...] = (errors.MalformedResponse,)


def responses(data: bytes, width: int = 1) -> list[bytes]:
    """``data`` read as answers, each after a ``width``-byte big-endian length."""
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i : i + width], "big")
        out.append(data[i + width : i + width + n])
        i += width + n
    return out


def target(data: bytes) -> None:
    if not data:
        return
    size = data[0] * 3  # 0..765 bytes of command data: chained when longer than 255
    ex = apdu.Exchange(apdu.Command(0x00, 0xDB, 0x3F, 0xFF, bytes(size), le=256))
    for raw in responses(data[1:]):
        if ex.next_frame() is None:
            break
        ex.receive(raw)
    if ex.result is not None:
        assert 0 <= ex.result.sw <= 0xFFFF and len(ex.result.data) <= apdu.MAX_RESPONSE
        if not ex.result.ok:
            assert isinstance(apdu.error_for(ex.result.sw), errors.CardStatusError)
