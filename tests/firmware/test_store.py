from __future__ import annotations

from pathlib import Path

import pytest

from roamline.firmware.errors import UsageError
from roamline.firmware.store import BoxStore


@pytest.fixture
def store(tmp_path: Path) -> BoxStore:
    s = BoxStore(tmp_path / "box.db")
    s.open()
    s.open()  # idempotent
    return s


def test_outbox_is_durable_and_idempotent(tmp_path: Path, store: BoxStore) -> None:
    k = store.enqueue("call-record", {"secs": 12}, now=1.0, key="call-1")
    assert store.enqueue("call-record", {"secs": 99}, now=2.0, key="call-1") == k
    store.enqueue("e911", {"at": "x"}, now=3.0)
    store.close()
    again = BoxStore(tmp_path / "box.db")
    again.open()
    items = again.pending()
    assert [i.kind for i in items] == ["call-record", "e911"]
    assert items[0].payload == {"secs": 12}
    again.delivered([k])
    assert [i.kind for i in again.pending()] == ["e911"]


def test_holder_cache_is_wiped(store: BoxStore) -> None:
    store.cache_holder("c1", {"speed_dials": {"#2": "+15551234567"}}, now=1.0)
    store.cache_holder("c2", {"speed_dials": {}}, now=1.0)
    assert store.holder("c1") == {"speed_dials": {"#2": "+15551234567"}}
    store.wipe_holder("c1")
    assert store.holder("c1") is None
    assert store.holders() == ["c2"]


def test_closed_store_refuses(tmp_path: Path) -> None:
    s = BoxStore(tmp_path / "x.db")
    with pytest.raises(UsageError):
        s.pending()
    s.close()  # idempotent even when never opened


def test_event_log(store: BoxStore) -> None:
    store.log_event("card-inserted", 5.0, reader="r0", card_id="c1")
    store.log_event("registered", 5.1, card_id="c1")
    assert store.events("registered") == [{"ts": 5.1, "kind": "registered", "card_id": "c1"}]
    assert len(store.events()) == 2


def test_a_database_made_by_the_former_sqlite_utils_store_opens_unchanged(tmp_path: Path) -> None:
    """Boxes in the field have box.db files that sqlite-utils created: the plain-sqlite3 store reads and
    writes them as they are."""
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "box.db")
    db.table("outbox").create({"key": str, "kind": str, "payload": str, "created": float}, pk="key")
    db.table("holders").create({"card_id": str, "profile": str, "cached_at": float}, pk="card_id")
    db.table("events").create({"id": int, "ts": float, "kind": str, "fields": str}, pk="id")
    db.table("outbox").insert({"key": "k1", "kind": "call-record", "payload": '{"secs": 3}', "created": 1.0})
    db.table("holders").insert({"card_id": "c1", "profile": '{"name": "Alice"}', "cached_at": 1.0})
    db.conn.close()
    store = BoxStore(tmp_path / "box.db")
    store.open()
    assert [(i.key, i.payload) for i in store.pending()] == [("k1", {"secs": 3})]
    assert store.holder("c1") == {"name": "Alice"} and store.holders() == ["c1"]
    store.cache_holder("c1", {"name": "Alice B"}, 2.0)  # upsert on the old table's primary key
    assert store.holder("c1") == {"name": "Alice B"} and store.holders() == ["c1"]
    store.log_event("card-inserted", 3.0, reader="r0")
    assert store.events("card-inserted") == [{"ts": 3.0, "kind": "card-inserted", "reader": "r0"}]
    store.delivered(["k1", "nope"])
    assert store.pending() == []
    store.close()


def test_a_write_after_a_read_is_visible_to_another_connection_at_once(tmp_path: Path) -> None:
    """Rigs read a running box's box.db from another process: a wipe or an event written after reads is
    committed at once (autocommit, every read's statement run to its end)."""
    box = BoxStore(tmp_path / "box.db")
    box.open()
    box.cache_holder("c1", {"name": "Alice"}, 1.0)
    box.cache_holder("c2", {"name": "Bob"}, 1.0)
    assert box.holder("c1") == {"name": "Alice"}
    box.wipe_holder("c1")
    other = BoxStore(tmp_path / "box.db")
    other.open()
    try:
        assert other.holders() == ["c2"]
        box.holders()
        box.events()
        box.log_event("holder-wiped", 2.0, card_id="c1")
        assert [e["kind"] for e in other.events()] == ["holder-wiped"]
    finally:
        other.close()
        box.close()
