"""Registry nonces live in memory with their connection: they die with it, expire, are never stored."""

from __future__ import annotations

from typing import Any

from roamline.wire.errors import ErrorCode
from roamline.wire.messages import Error, NoncePurpose, NonceRequest, Registered, Welcome


def _code(msg: Any) -> Any:
    assert isinstance(msg, Error), msg
    return msg.code


def test_nonce_of_a_closed_connection_is_refused(harness: Any) -> None:
    h = harness
    box = h.enroll_box("a")
    msg = h.hello_msg("c1", box)
    h.registry.connection_closed("c1", h.now)
    h.connect("c1b")
    assert _code(h.reply("c1b", msg)) == ErrorCode.STALE_NONCE


def test_expired_nonces_free_the_budget(harness: Any) -> None:
    h = harness
    acct = h.account("Ann", "+15550100001")
    box, card = h.enroll_box("a"), h.enroll_card(acct)
    assert isinstance(h.hello("c1", box), Welcome)
    for _ in range(h.config.max_live_nonces):
        h.nonce("c1", NoncePurpose.REGISTER)
    assert _code(h.reply("c1", NonceRequest(purpose=NoncePurpose.REGISTER))) == ErrorCode.FORBIDDEN
    h.clock.advance(h.config.nonce_ttl_s + 1)
    assert isinstance(h.reply("c1", h.register_msg("c1", box, card)), Registered)


def test_sweep_forgets_expired_nonces_and_they_stay_refused(harness: Any) -> None:
    h = harness
    box = h.enroll_box("a")
    msg = h.hello_msg("c1", box)
    h.clock.advance(h.config.nonce_ttl_s + 1)
    h.registry.sweep(h.now)
    assert _code(h.reply("c1", msg)) == ErrorCode.STALE_NONCE


def test_registration_commits_once_and_stores_no_nonce(harness: Any) -> None:
    h = harness
    acct = h.account("Ann", "+15550100001")
    box, card = h.enroll_box("a"), h.enroll_card(acct)
    assert isinstance(h.hello("c1", box), Welcome)
    commits: list[str] = []
    h.store.db.conn.set_trace_callback(lambda sql: commits.append(sql) if sql.startswith("COMMIT") else None)
    msg = h.register_msg("c1", box, card)  # nonce round trip included
    assert isinstance(h.reply("c1", msg), Registered)
    h.store.db.conn.set_trace_callback(None)
    assert len(commits) == 1  # the registration's own durable commit, nothing for the nonce
    tables = {r[0] for r in h.store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "nonces" not in tables and "registrations" in tables
