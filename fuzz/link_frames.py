"""The link's control stream (wire/framing.py FrameDecoder): length-prefixed UTF-8 JSON envelopes.

Property: the frames decoded, and the error that closes the stream, do not depend on where the bytes
were cut. Documented errors: ``FrameError`` (``FrameTooLarge``, ``MalformedFrame``).
"""

from __future__ import annotations

from fuzz._harness import chunks
from roamline.wire.errors import FrameError
from roamline.wire.framing import MAX_PAYLOAD, FrameDecoder

EXPECTED: tuple[type[BaseException], ...] = (FrameError,)


def target(data: bytes) -> None:
    if not data:
        return
    body = data[1:]
    whole, err_whole = FrameDecoder().feed_until_error(body)
    dec, split, err_split = FrameDecoder(), [], None
    for piece in chunks(body, data[0]):
        got, err_split = dec.feed_until_error(piece)
        split += got
        if err_split is not None:
            break
    assert whole == split
    assert type(err_whole) is type(err_split) and str(err_whole) == str(err_split)
    assert dec.buffered <= MAX_PAYLOAD + 4
    FrameDecoder().feed(body)  # raises the FrameError the stream ends with, if any
