"""The box's local store: SQLite (sqlite-utils) in WAL mode.

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

import sqlite_utils

from roamline.firmware.errors import UsageError


@dataclass(frozen=True, slots=True)
class OutboxItem:
    key: str
    kind: str
    payload: dict[str, Any]
    created: float


class BoxStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite_utils.Database | None = None

    def open(self) -> None:
        if self._db is not None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self._path), isolation_level=None, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.table("outbox").create(
            {"key": str, "kind": str, "payload": str, "created": float}, pk="key", if_not_exists=True
        )
        db.table("holders").create(
            {"card_id": str, "profile": str, "cached_at": float}, pk="card_id", if_not_exists=True
        )
        db.table("events").create(
            {"id": int, "ts": float, "kind": str, "fields": str}, pk="id", if_not_exists=True
        )
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None

    @property
    def db(self) -> sqlite_utils.Database:
        if self._db is None:
            raise UsageError("store is not open")
        return self._db

    # outbox ------------------------------------------------------------------------------------------
    def enqueue(self, kind: str, payload: dict[str, Any], now: float, key: str | None = None) -> str:
        """Add an item; the same ``key`` twice stays one item (idempotent)."""
        key = key or uuid.uuid4().hex
        self.db.table("outbox").insert(
            {"key": key, "kind": kind, "payload": json.dumps(payload), "created": now}, ignore=True
        )
        return key

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        rows = self.db["outbox"].rows_where(order_by="created", limit=limit)
        return [OutboxItem(r["key"], r["kind"], json.loads(r["payload"]), r["created"]) for r in rows]

    def delivered(self, keys: list[str]) -> None:
        """The cloud acknowledged these keys: forget them."""
        with self.db.conn:
            for key in keys:
                self.db.execute("DELETE FROM outbox WHERE key = ?", [key])

    # holders ------------------------------------------------------------------------------------------
    def cache_holder(self, card_id: str, profile: dict[str, Any], now: float) -> None:
        row = {"card_id": card_id, "profile": json.dumps(profile), "cached_at": now}
        self.db.table("holders").upsert(row, pk="card_id")

    def holder(self, card_id: str) -> dict[str, Any] | None:
        rows = list(self.db["holders"].rows_where("card_id = ?", [card_id]))
        return json.loads(rows[0]["profile"]) if rows else None

    def wipe_holder(self, card_id: str) -> None:
        """Forget everything cached for a holder whose card left (profile, speed-dials, call list)."""
        self.db.execute("DELETE FROM holders WHERE card_id = ?", [card_id])

    def holders(self) -> list[str]:
        return [r["card_id"] for r in self.db["holders"].rows]

    # event log ----------------------------------------------------------------------------------------
    def log_event(self, kind: str, now: float, **fields: Any) -> None:
        self.db.table("events").insert({"ts": now, "kind": kind, "fields": json.dumps(fields, default=str)})

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        where, args = ("kind = ?", [kind]) if kind else (None, [])
        return [
            {"ts": r["ts"], "kind": r["kind"], **json.loads(r["fields"])}
            for r in self.db["events"].rows_where(where, args, order_by="id")
        ]
