"""BER-TLV from the card (firmware/card/tlv.py): incremental decoder, nested templates.

Property: the items decoded do not depend on where the bytes were cut; constructed items' children
parse (or fail) the same way. Documented error: ``TlvError`` (a ``MalformedResponse``).
"""

from __future__ import annotations

from fuzz._harness import chunks
from roamline.firmware.card import tlv

EXPECTED: tuple[type[BaseException], ...] = (tlv.TlvError,)


def _walk(items: list[tlv.Tlv], depth: int = 0) -> None:
    for item in items:
        assert len(item.value) <= tlv.MAX_VALUE
        if item.constructed and depth < 8:
            try:
                _walk(item.children(), depth + 1)
            except tlv.TlvError:
                pass


def target(data: bytes) -> None:
    if not data:
        return
    body = data[1:]
    try:
        whole: list[tlv.Tlv] | None = tlv.parse_all(body)
    except tlv.TlvError:
        whole = None
    dec, split = tlv.TlvDecoder(), []
    try:
        for piece in chunks(body, data[0]):
            split += dec.feed(piece)
        dec.finish()
    except tlv.TlvError:
        assert whole is None, "failed in pieces, parsed whole"
        return
    assert whole == split
    _walk(split)
