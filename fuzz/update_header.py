"""An update bundle's header (wire/update.py HeaderDecoder: magic, manifest, signature), whole and in
pieces. Property: the same header, or the same refusal, wherever the input is cut.
Documented error: ``BundleError``.
"""

from __future__ import annotations

from fuzz._harness import chunks
from roamline.wire.update import BundleError, Header, HeaderDecoder

EXPECTED: tuple[type[BaseException], ...] = (BundleError,)


def _decode(pieces: list[bytes]) -> Header | str | None:
    decoder = HeaderDecoder()
    try:
        header = None
        for piece in pieces:
            header = decoder.feed(piece)
            if header is not None:
                return header
        return header
    except BundleError as exc:
        return f"refused: {exc}"


def target(data: bytes) -> None:
    if not data:
        return
    whole = _decode([data[1:]])
    cut = _decode(chunks(data[1:], data[0]))
    assert whole == cut, (whole, cut)
    if isinstance(whole, str):
        raise BundleError(whole)
