"""The SQLite registry's tables and indexes, and decoding of its rows into records."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from roamline.cloud.records import Json, Registration

TABLES: dict[str, tuple[dict[str, type], str | tuple[str, ...]]] = {
    "accounts": ({"account_id": str, "name": str, "created": float}, "account_id"),
    "numbers": ({"number": str, "account_id": str}, ("number", "account_id")),
    "cards": (
        {"card_id": str, "account_id": str, "cert_pem": str, "revoked": int, "revoked_at": float,
         "created": float, "cert_9a_pem": str, "enroll_token": str},
        "card_id",
    ),
    "boxes": (
        {"box_id": str, "cert_pem": str, "name": str, "board": str, "location": str, "line_number": str,
         "owner": str, "revoked": int, "revoked_at": float, "created": float},
        "box_id",
    ),
    "registrations": (
        {"registration_id": str, "card_id": str, "box_id": str, "account_id": str, "since": float,
         "lease_expiry": float, "seq": int, "location": str, "active": int, "ended": float,
         "end_reason": str, "proven_at": float},
        "registration_id",
    ),
    "installer_tokens": ({"token_hash": str, "kind": str, "expires": float, "used": int}, "token_hash"),
    "deliveries": (
        {"key": str, "box_id": str, "kind": str, "payload": str, "at": float}, ("box_id", "key")
    ),
    "events": ({"event_id": int, "at": float, "kind": str, "fields": str}, "event_id"),
}

INDEXES = [
    # one live registration per card, enforced by the database as well as by the registry
    "CREATE UNIQUE INDEX IF NOT EXISTS reg_one_active ON registrations(card_id) WHERE active = 1",
    "CREATE INDEX IF NOT EXISTS reg_box ON registrations(box_id, active)",
    "CREATE INDEX IF NOT EXISTS reg_account ON registrations(account_id, active)",
    "CREATE INDEX IF NOT EXISTS reg_lease ON registrations(active, lease_expiry)",
    # next_seq(): MAX(seq) of one card without scanning every registration ever stored
    "CREATE INDEX IF NOT EXISTS reg_card_seq ON registrations(card_id, seq)",
    "CREATE INDEX IF NOT EXISTS numbers_account ON numbers(account_id)",
]

# Tables of earlier versions that nothing uses any more, dropped on open (nonces live in the registry's
# memory with their connection since the registry stopped storing them).
RETIRED = ["DROP INDEX IF EXISTS nonces_expires", "DROP TABLE IF EXISTS nonces"]


def json_or_none(text: str | None) -> Json | None:
    return None if text is None else dict(json.loads(text))


def reg_from_row(row: sqlite3.Row | dict[str, Any]) -> Registration:
    r = row
    return Registration(
        registration_id=r["registration_id"], card_id=r["card_id"], box_id=r["box_id"],
        account_id=r["account_id"], since=r["since"], lease_expiry=r["lease_expiry"], seq=r["seq"],
        location=json_or_none(r["location"]), active=bool(r["active"]), ended=r["ended"],
        end_reason=r["end_reason"], proven_at=r["proven_at"] or 0.0,
    )
