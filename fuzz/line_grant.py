"""Signed host-line rights on a dial (wire/grant.py ``verify``): tokens from the network.

Documented error: ``GrantError`` (missing, malformed, forged, for another dial, stale). A token made
from fuzz input can never verify (the harness's key signs nothing it is fed), so every input must be
refused cleanly; the seeds include genuine tokens cut and changed.
"""

from __future__ import annotations

from roamline.wire import grant, identity

EXPECTED: tuple[type[BaseException], ...] = (grant.GrantError,)
_CA = identity.CertificateAuthority.create(now=1_800_000_000.0)
_KEY = _CA.certificate.public_key()


def target(data: bytes) -> None:
    token = data.decode("utf-8", "replace")
    grant.verify(token, _KEY, call_id="c-00000000000000a1", line="+15551230000",  # type: ignore[arg-type]
                 number="+15559990000", now=1_800_000_000.0)
    raise AssertionError("a fuzz input verified")
