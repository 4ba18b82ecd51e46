"""The per-connection nonce budget counts nonces issued and not yet presented, not every recent one."""

from __future__ import annotations

from typing import Any

from roamline.wire.errors import ErrorCode
from roamline.wire.messages import Error, NoncePurpose, NonceRequest, Registered, Welcome


def test_presented_nonces_free_the_budget(harness: Any) -> None:
    h = harness
    acct = h.account("Ann", "+15550100001")
    box, card = h.enroll_box("a"), h.enroll_card(acct)
    assert isinstance(h.hello("c1", box), Welcome)
    # a box that registers often (many card swaps, re-registrations) is never refused for it
    for _ in range(3 * h.config.max_live_nonces):
        assert isinstance(h.reply("c1", h.register_msg("c1", box, card)), Registered)


def test_unpresented_nonces_still_count(harness: Any) -> None:
    h = harness
    h.account("Ann", "+15550100001")
    box = h.enroll_box("a")
    assert isinstance(h.hello("c1", box), Welcome)
    for _ in range(h.config.max_live_nonces):
        h.nonce("c1", NoncePurpose.REGISTER)
    refused = h.reply("c1", NonceRequest(purpose=NoncePurpose.REGISTER))
    assert isinstance(refused, Error) and refused.code == ErrorCode.FORBIDDEN
