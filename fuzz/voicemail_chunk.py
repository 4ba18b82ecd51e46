"""A ``voicemail.chunk`` deliver payload from a box's outbox (wire/voicemail.py parse_chunk), as JSON.

Documented error: ``VoicemailError`` (one line, naming the field). What parses round-trips, and the
registry's reassembly of a parsed last chunk alone either gives its audio or a VoicemailError.
"""

from __future__ import annotations

import json

from roamline.wire.voicemail import VoicemailError, assemble, parse_chunk

EXPECTED: tuple[type[BaseException], ...] = (VoicemailError,)


def target(data: bytes) -> None:
    try:
        payload = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return
    chunk = parse_chunk(payload)
    assert parse_chunk(json.loads(json.dumps(chunk.to_json()))) == chunk
    if chunk.seq == 0 and chunk.last:
        assert assemble([chunk]) == chunk.audio
