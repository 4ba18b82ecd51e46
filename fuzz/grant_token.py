"""A route's signed grant as the host box reads it (wire/grant.py verify), against a fixed key.

First byte even: the rest is the token as received (forgeries, garbage). Odd: the rest is a payload
signed with the registry's key here, so the fuzzer reaches the body's parser behind the signature.
Documented error: ``GrantError`` (malformed, forged, another call, stale).
"""

from __future__ import annotations

from roamline.wire import grant, identity
from roamline.wire.grant import GrantError

EXPECTED: tuple[type[BaseException], ...] = (GrantError,)
KEY = identity.generate_key()


def target(data: bytes) -> None:
    if not data:
        return
    if data[0] % 2 == 0:
        token = data[1:].decode("utf-8", "replace")
    else:
        payload = data[1:]
        signature = identity.sign_digest(KEY, grant._digest(payload))
        token = f"{grant._b64(payload)}.{grant._b64(signature)}"
    g = grant.verify(token, KEY.public_key(), call_id="c1", line="+15550100001", number="+15550400004",
                     now=1000.0)
    assert g.call_id == "c1"
