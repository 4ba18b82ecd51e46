from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from roamline.cloud.errors import StoreError
from roamline.cloud.store import Box, Card, Registration, SqliteStore, Token


def _reg(rid: str, card: str, box: str, since: float, seq: int = 1) -> Registration:
    return Registration(rid, card, box, "acct-1", since, since + 60, seq, {"lat": 1.0}, True)


def test_schema_wal_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with SqliteStore(path) as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        s.create_account("acct-1", "Ann", 1.0)
        s.add_number("acct-1", "+15551230001")
        s.put_card(Card("c1", "acct-1", "PEM", False, 1.0))
        s.put_box(Box("box-a", "PEM", "A", "pi4", {"civic": "x"}, "+15550000001", None, False, 1.0))
        s.add_registration(_reg("r1", "c1", "box-a", 10.0))
    with SqliteStore(path) as s:
        assert s.get_account("acct-1") is not None
        assert s.accounts_for_number("+15551230001") == ["acct-1"]
        assert s.get_box("box-a") == Box("box-a", "PEM", "A", "pi4", {"civic": "x"}, "+15550000001", None,
                                         False, 1.0)
        reg = s.active_registration("c1")
        assert reg is not None and reg.location == {"lat": 1.0} and reg.box_id == "box-a"
        assert s.next_seq("c1") == 2


def test_one_active_registration_per_card_enforced_by_db(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as s:
        s.add_registration(_reg("r1", "c1", "box-a", 10.0))
        with pytest.raises(sqlite3.IntegrityError):
            s.add_registration(_reg("r2", "c1", "box-b", 11.0, 2))
        s.end_registration("r1", 11.0, "superseded")
        s.add_registration(_reg("r2", "c1", "box-b", 11.0, 2))
        assert [r.registration_id for r in s.active_registrations_at("box-b")] == ["r2"]
        assert s.active_registrations_at("box-a") == []


def test_transaction_rolls_back_together(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as s:
        with pytest.raises(RuntimeError), s.transaction():
            s.add_registration(_reg("r1", "c1", "box-a", 10.0))
            s.add_event(10.0, "x", {})
            raise RuntimeError("boom")
        assert s.active_registration("c1") is None and s.events() == []


def test_token_is_one_time(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as s:
        assert s.consume_token("nope") is None
        s.add_token(Token("h", "box", 50.0, False))
        t1, t2 = s.consume_token("h"), s.consume_token("h")
        assert t1 is not None and not t1.used and t2 is not None and t2.used


def test_leases_lapse_and_revocation(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as s:
        s.add_registration(_reg("r1", "c1", "box-a", 10.0))
        assert s.earliest_lease_expiry() == 70.0
        assert s.lapsed_registrations(69.0) == []
        s.extend_lease("r1", 200.0)
        assert s.lapsed_registrations(199.0) == []
        assert [r.registration_id for r in s.lapsed_registrations(200.0)] == ["r1"]
        assert not s.revoke_card("c1", 1.0)  # no such card
        s.put_card(Card("c1", "acct-1", "PEM", False, 1.0))
        assert s.revoke_card("c1", 1.0)
        card = s.get_card("c1")
        assert card is not None and card.revoked


def test_accounts_names_and_errors(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as s:
        s.create_account("a1", "Ann", 1.0)
        with pytest.raises(StoreError, match="exists"):
            s.create_account("a1", "Ann", 1.0)
        found = s.find_account("Ann")
        assert found is not None and found.account_id == "a1"
        s.create_account("a2", "Ann", 1.0)
        with pytest.raises(StoreError, match="ambiguous"):
            s.find_account("Ann")
        s.add_number("a1", "+1555")
        s.add_number("a2", "+1555")
        s.add_number("a2", "+1555")
        assert s.accounts_for_number("+1555") == ["a1", "a2"]
    with pytest.raises(StoreError, match="not open"):
        SqliteStore(tmp_path / "x.db").get_card("c")


def test_background_checkpoint_copies_the_wal_and_stops_on_close(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "r.db"
    s = SqliteStore(path, background_checkpoint_s=0.01)
    s.open()
    assert s.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SqliteStore._FALLBACK_CHECKPOINT_PAGES
    for i in range(50):
        s.put_card(Card(f"c{i}", "acct-1", "PEM", False, 1.0))
    # the thread (not the writer) brings the main file up to date: another reader of the file alone sees it
    for _ in range(500):
        with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as ro:  # ignores the WAL
            try:
                if ro.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 50:
                    break
            except sqlite3.Error:
                pass
        threading.Event().wait(0.01)
    else:
        raise AssertionError("the WAL was never checkpointed into the database file")
    s.close()
    assert not [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]
    s.close()  # idempotent


def test_row_cache_forgets_rolled_back_writes(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as s:
        with pytest.raises(RuntimeError), s.transaction():
            s.put_card(Card("c1", "acct-1", "PEM", False, 1.0))
            assert s.get_card("c1") is not None  # read (and cached) inside the transaction
            raise RuntimeError("abort")
        assert s.get_card("c1") is None


def test_the_retired_nonce_table_is_dropped_on_open(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "r.db"
    with sqlite3.connect(path) as old:  # a store written before nonces moved to the registry's memory
        old.execute("CREATE TABLE nonces (nonce TEXT PRIMARY KEY, expires FLOAT)")
        old.execute("CREATE INDEX nonces_expires ON nonces(expires)")
    old.close()
    with SqliteStore(path) as s:
        names = {r[0] for r in s.db.execute("SELECT name FROM sqlite_master").fetchall()}
    assert "nonces" not in names and "nonces_expires" not in names and "registrations" in names
