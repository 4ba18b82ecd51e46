"""The SQLite registry's tables and indexes, and decoding of its rows into records."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from roamline.cloud.records import (
    Box,
    CallRecord,
    EmergencyRecord,
    Json,
    LineRight,
    Registration,
    VoicemailRecord,
)

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
         "owner": str, "revoked": int, "revoked_at": float, "created": float, "emergency_contacts": str},
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
    # the local-services directory behind location speed-dials (cloud.services)
    "services": (
        {"category": str, "number": str, "name": str, "lat": float, "lon": float, "radius_m": float},
        ("category", "number"),
    ),
    # the answering-point directory behind the emergency route (cloud.psap); rows in file order
    "answering_points": (
        {"seq": int, "name": str, "uri": str, "kind": str, "lat": float, "lon": float, "radius_m": float,
         "country": str, "a1": str, "a3": str, "callback_from": str, "tls_fingerprint": str, "tls_ca": str},
        "seq",
    ),
    "line_rights": (
        {"line_number": str, "account_id": str, "call_out": int, "receive": int, "max_call_s": float,
         "prefixes": str, "blocked": str, "spend_limit": float, "rate_per_min": float, "spent": float},
        ("line_number", "account_id"),
    ),
    "profiles": ({"account_id": str, "profile": str, "version": int, "updated": float}, "account_id"),
    "calls": (
        {"call_id": str, "route": str, "caller": str, "called": str, "created": float, "state": str,
         "line": str, "account_id": str, "card_id": str, "host_box": str, "terminal_box": str,
         "offered": str, "answered_at": float, "ended_at": float, "duration_s": float,
         "answer_inferred": int, "outcome": str, "end_reason": str, "reports": str},
        "call_id",
    ),
    "emergencies": (
        {"call_id": str, "box_id": str, "at": float, "received": float, "number": str, "route": str,
         "box_name": str, "card_id": str, "account_id": str, "holder": str, "call_back": str,
         "location": str, "contacts": str, "notify_state": str, "notifications": str,
         "notified_at": float, "problems": str, "callbacks": str},
        "call_id",
    ),
    # voicemail (cloud.voicemail): one row per message; its chunks wait in voicemail_chunks until all came
    "voicemails": (
        {"message_id": str, "account_id": str, "number": str, "call_id": str, "host_box": str,
         "created": float, "state": str, "caller": str, "caller_name": str, "started_at": float,
         "ended_at": float, "duration_s": float, "ended": str, "audio": bytes, "received": float},
        "message_id",
    ),
    "voicemail_chunks": ({"message_id": str, "seq": int, "audio": bytes, "meta": str}, ("message_id", "seq")),
    # greetings holders recorded at a handset (*98 *), and the pieces of one still arriving
    "greetings": ({"account_id": str, "greeting_id": str, "audio": bytes, "created": float},
                  ("account_id", "greeting_id")),
    "greeting_pieces": ({"account_id": str, "greeting_id": str, "seq": int, "audio": bytes, "last": int},
                        ("account_id", "greeting_id", "seq")),
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
    "CREATE INDEX IF NOT EXISTS line_rights_account ON line_rights(account_id)",
    "CREATE INDEX IF NOT EXISTS calls_open ON calls(state)",
    "CREATE INDEX IF NOT EXISTS profiles_version ON profiles(version)",
    "CREATE INDEX IF NOT EXISTS deliveries_kind ON deliveries(box_id, kind, at)",  # last_emergency_at
    "CREATE INDEX IF NOT EXISTS calls_created ON calls(created)",
    "CREATE INDEX IF NOT EXISTS emergencies_received ON emergencies(received)",
    "CREATE INDEX IF NOT EXISTS emergencies_pending ON emergencies(notify_state)",
    "CREATE INDEX IF NOT EXISTS voicemails_account ON voicemails(account_id, state)",
]

# Tables of earlier versions that nothing uses any more, dropped on open (nonces live in the registry's
# memory with their connection since the registry stopped storing them).
RETIRED = ["DROP INDEX IF EXISTS nonces_expires", "DROP TABLE IF EXISTS nonces"]


def json_or_none(text: str | None) -> Json | None:
    return None if text is None else dict(json.loads(text))


def box_from_row(r: sqlite3.Row | dict[str, Any]) -> Box:
    contacts = json.loads(r["emergency_contacts"]) if r["emergency_contacts"] else []
    return Box(r["box_id"], r["cert_pem"], r["name"] or "", r["board"] or "", json_or_none(r["location"]),
               r["line_number"], r["owner"], bool(r["revoked"]), r["created"], tuple(contacts))


def reg_from_row(row: sqlite3.Row | dict[str, Any]) -> Registration:
    r = row
    return Registration(
        registration_id=r["registration_id"], card_id=r["card_id"], box_id=r["box_id"],
        account_id=r["account_id"], since=r["since"], lease_expiry=r["lease_expiry"], seq=r["seq"],
        location=json_or_none(r["location"]), active=bool(r["active"]), ended=r["ended"],
        end_reason=r["end_reason"], proven_at=r["proven_at"] or 0.0,
    )


def call_from_row(r: sqlite3.Row | dict[str, Any]) -> CallRecord:
    return CallRecord(
        call_id=r["call_id"], route=r["route"], caller=r["caller"] or "", called=r["called"] or "",
        created=r["created"], state=r["state"], line=r["line"], account_id=r["account_id"],
        card_id=r["card_id"], host_box=r["host_box"], terminal_box=r["terminal_box"],
        offered=tuple(json.loads(r["offered"] or "[]")), answered_at=r["answered_at"], ended_at=r["ended_at"],
        duration_s=r["duration_s"], answer_inferred=bool(r["answer_inferred"]), outcome=r["outcome"],
        end_reason=r["end_reason"], reports=json_or_none(r["reports"]),
    )


def right_from_row(r: sqlite3.Row | dict[str, Any]) -> LineRight:
    return LineRight(
        line_number=r["line_number"], account_id=r["account_id"],
        call_out=bool(1 if r["call_out"] is None else r["call_out"]),
        receive=bool(1 if r["receive"] is None else r["receive"]), max_call_s=r["max_call_s"],
        prefixes=tuple(json.loads(r["prefixes"] or "[]")), blocked=tuple(json.loads(r["blocked"] or "[]")),
        spend_limit=r["spend_limit"], rate_per_min=r["rate_per_min"] or 0.0, spent=r["spent"] or 0.0,
    )


def emergency_from_row(r: sqlite3.Row | dict[str, Any]) -> EmergencyRecord:
    return EmergencyRecord(
        call_id=r["call_id"], box_id=r["box_id"], at=r["at"], received=r["received"],
        number=r["number"] or "", route=r["route"] or "", box_name=r["box_name"] or "",
        card_id=r["card_id"], account_id=r["account_id"],
        holder=r["holder"], call_back=r["call_back"], location=json_or_none(r["location"]),
        contacts=tuple(json.loads(r["contacts"] or "[]")), notify_state=r["notify_state"] or "pending",
        notifications=tuple(json.loads(r["notifications"] or "[]")), notified_at=r["notified_at"],
        problems=tuple(json.loads(r["problems"] or "[]")),
        callbacks=tuple(json.loads(r["callbacks"] or "[]")),
    )


def voicemail_from_row(r: sqlite3.Row | dict[str, Any]) -> VoicemailRecord:
    return VoicemailRecord(
        message_id=r["message_id"], account_id=r["account_id"], number=r["number"] or "",
        call_id=r["call_id"] or "", host_box=r["host_box"] or "", created=r["created"], state=r["state"],
        caller=r["caller"], caller_name=r["caller_name"], started_at=r["started_at"], ended_at=r["ended_at"],
        duration_s=r["duration_s"] or 0.0, ended=r["ended"] or "", audio_bytes=int(r["audio_bytes"] or 0),
        received=r["received"],
    )
