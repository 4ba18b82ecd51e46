"""The box's local store: SQLite (the standard library's ``sqlite3``) in WAL mode.

Holds the durable outbox (what the cloud must hear and cannot now: delivered exactly once by idempotency
key), the current holders' cached profiles (wiped the moment their card leaves) and an event log.
Constructing a BoxStore does no I/O; ``open``/``close`` are explicit and idempotent.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamline.firmware.errors import UsageError


@dataclass(frozen=True, slots=True)
class OutboxItem:
    key: str
    kind: str
    payload: dict[str, Any]
    created: float


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS [outbox] ([key] TEXT PRIMARY KEY, [kind] TEXT, [payload] TEXT, "
    "[created] FLOAT)",
    "CREATE TABLE IF NOT EXISTS [holders] ([card_id] TEXT PRIMARY KEY, [profile] TEXT, [cached_at] FLOAT)",
    "CREATE TABLE IF NOT EXISTS [events] ([id] INTEGER PRIMARY KEY, [ts] FLOAT, [kind] TEXT, [fields] TEXT)",
)


class BoxStore:
    """Plain ``sqlite3`` (no sqlite-utils: a box has little memory and must start quickly; the tables
    are the ones sqlite-utils made, so an existing box.db opens unchanged)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        if self._db is not None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self._path), isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for ddl in _SCHEMA:
            db.execute(ddl)
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise UsageError("store is not open")
        return self._db

    # outbox ------------------------------------------------------------------------------------------
    def enqueue(self, kind: str, payload: dict[str, Any], now: float, key: str | None = None) -> str:
        """Add an item; the same ``key`` twice stays one item (idempotent)."""
        key = key or uuid.uuid4().hex
        self.db.execute("INSERT OR IGNORE INTO outbox (key, kind, payload, created) VALUES (?, ?, ?, ?)",
                        (key, kind, json.dumps(payload), now))
        return key

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        rows = self.db.execute("SELECT key, kind, payload, created FROM outbox ORDER BY created LIMIT ?",
                               (limit,)).fetchall()
        return [OutboxItem(r["key"], r["kind"], json.loads(r["payload"]), r["created"]) for r in rows]

    def delivered(self, keys: list[str]) -> None:
        """The cloud acknowledged these keys: forget them (in one transaction)."""
        db = self.db
        db.execute("BEGIN")
        try:
            db.executemany("DELETE FROM outbox WHERE key = ?", [(k,) for k in keys])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # holders ------------------------------------------------------------------------------------------
    def cache_holder(self, card_id: str, profile: dict[str, Any], now: float) -> None:
        self.db.execute("INSERT INTO holders (card_id, profile, cached_at) VALUES (?, ?, ?) "
                        "ON CONFLICT(card_id) DO UPDATE SET profile = excluded.profile, "
                        "cached_at = excluded.cached_at",
                        (card_id, json.dumps(profile), now))

    def holder(self, card_id: str) -> dict[str, Any] | None:
        rows = self.db.execute("SELECT profile FROM holders WHERE card_id = ?", (card_id,)).fetchall()
        return json.loads(rows[0]["profile"]) if rows else None  # fetchall: no statement left open

    def wipe_holder(self, card_id: str) -> None:
        """Forget everything cached for a holder whose card left (profile, speed-dials, call list)."""
        self.db.execute("DELETE FROM holders WHERE card_id = ?", (card_id,))

    def holders(self) -> list[str]:
        rows = self.db.execute("SELECT card_id FROM holders ORDER BY rowid").fetchall()
        return [r["card_id"] for r in rows]

    # event log ----------------------------------------------------------------------------------------
    def log_event(self, kind: str, now: float, **fields: Any) -> None:
        self.db.execute("INSERT INTO events (ts, kind, fields) VALUES (?, ?, ?)",
                        (now, kind, json.dumps(fields, default=str)))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT ts, kind, fields FROM events"
        args: tuple[str, ...] = ()
        if kind:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return [{"ts": r["ts"], "kind": r["kind"], **json.loads(r["fields"])}
                for r in self.db.execute(sql + " ORDER BY id", args).fetchall()]
