"""Link messages (wire/messages.py from_frame): envelope + body validation for every message type.

The input is either a raw frame payload (first byte even) or a JSON body for one message type chosen
by the second byte. Property: a message that validates survives encode → decode unchanged.
Documented errors: ``LinkError`` (``UnknownType``, ``BadBody``, ``UnsupportedVersion``,
``MalformedFrame``, ``FrameTooLarge``).
"""

from __future__ import annotations

import json

from roamline.wire.errors import LinkError
from roamline.wire.framing import Frame, parse_payload
from roamline.wire.messages import MESSAGE_TYPES, encode_message, from_frame

EXPECTED: tuple[type[BaseException], ...] = (LinkError,)
TYPES = sorted(MESSAGE_TYPES)


def target(data: bytes) -> None:
    if len(data) < 2:
        return
    if data[0] % 2 == 0:
        frame = parse_payload(data[1:])
    else:
        try:
            body = json.loads(data[2:].decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            return
        if not isinstance(body, dict):
            return
        frame = Frame(v=1, type=TYPES[data[1] % len(TYPES)], body=body, id="1", re="1")
    env = from_frame(frame)
    again = from_frame(parse_payload(encode_message(env.message, id=env.id, re=env.re)[4:]))
    assert again == env, (env, again)
