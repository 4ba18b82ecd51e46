"""``SqliteStore``: the registry's ``RegistryStore`` on one SQLite file.

sqlite-utils in WAL mode with ``synchronous=NORMAL``: a commit is durable against a process crash and costs
no fsync per transaction. Every write happens inside ``transaction()``; nested calls join the outer
transaction, so the registry can make "consume nonce + store registration" one commit. The hot path uses
the bare connection (cached statements) and caches rarely written rows, checked against ``data_version``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from roamline.cloud.errors import StoreError
from roamline.cloud.records import (
    Account,
    AnsweringPoint,
    Box,
    CallRecord,
    Card,
    EmergencyRecord,
    Event,
    Json,
    LineRight,
    Registration,
    Service,
    Token,
    VoicemailRecord,
)
from roamline.cloud.sqlite_schema import (
    INDEXES,
    RETIRED,
    TABLES,
    box_from_row,
    call_from_row,
    emergency_from_row,
    json_or_none,
    reg_from_row,
    right_from_row,
    voicemail_from_row,
)
from roamline.cloud.wal_checkpoint import WalCheckpointer
from roamline.wire.emergency import EMERGENCY_CALL_KIND
from roamline.wire.geo import EARTH_RADIUS_M

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_M_PER_DEGREE_LAT = EARTH_RADIUS_M * math.pi / 180  # a degree of latitude along a meridian (wire.geo)


class SqliteStore:
    """``RegistryStore`` on one SQLite file (created with its schema on open; reopened as it is).

    ``background_checkpoint_s`` (the long-running registry sets it): checkpoint the WAL from a thread
    every that many seconds; the writer then checkpoints inline only if the WAL grows past
    ``_FALLBACK_CHECKPOINT_PAGES`` (the thread stalled). Short-lived commands leave it None.
    """

    _FALLBACK_CHECKPOINT_PAGES = 50_000

    def __init__(self, path: str | Path, background_checkpoint_s: float | None = None) -> None:
        self._path = Path(path)
        self._db: sqlite_utils.Database | None = None
        self._conn: sqlite3.Connection | None = None  # the same connection, used bare on the hot path
        # Rows of the small, rarely written tables (boxes, cards, accounts, numbers) read on every message.
        # Fresh for every read: dropped when this connection writes those tables or rolls back, and when
        # PRAGMA data_version says another connection (`roamline cloud card revoke`...) committed.
        self._rows: dict[tuple[str, str], Any] = {}
        self._data_version: int | None = None
        self._checkpointer = (
            None if background_checkpoint_s is None else WalCheckpointer(self._path, background_checkpoint_s)
        )

    @property
    def path(self) -> Path:
        return self._path

    def open(self) -> None:
        if self._db is not None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self._path), timeout=10.0)
            conn.row_factory = sqlite3.Row
            db = sqlite_utils.Database(conn)
            db.enable_wal()
            db.execute("PRAGMA synchronous=NORMAL")
            with db.atomic():
                for name, (columns, pk) in TABLES.items():
                    db[name].create(columns, pk=pk, if_not_exists=True)  # type: ignore[union-attr]
                    have = db[name].columns_dict  # a store made before a column was added gets it now
                    for column, kind in columns.items():
                        if column not in have:
                            db[name].add_column(column, kind)  # type: ignore[union-attr]
                for sql in INDEXES + RETIRED:
                    db.execute(sql)
            if self._checkpointer is not None:
                db.execute(f"PRAGMA wal_autocheckpoint={self._FALLBACK_CHECKPOINT_PAGES}")
        except sqlite3.Error as exc:
            raise StoreError(f"{self._path}: cannot open registry store: {exc}") from None
        self._db = db
        self._conn = conn
        self._rows.clear()
        self._data_version = None
        if self._checkpointer is not None:
            self._checkpointer.start()
        log.info("store-open", extra={"fields": {"path": str(self._path)}})

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._db is not None:
            self._db.close()
            self._db = None
            self._conn = None

    def __enter__(self) -> SqliteStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite_utils.Database:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("store is not open")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self.db.atomic():
                yield
        except BaseException:
            self._rows.clear()  # rows read or written inside the rolled-back part may be gone
            raise

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        """Join the open transaction as it is, else open one: no per-statement SAVEPOINT (each has a new
        random name, so SQLite prepares it afresh) when a statement or read-then-write is atomic anyway."""
        if self.conn.in_transaction:
            yield
        else:
            with self.transaction():
                yield

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        conn = self.conn
        if conn.in_transaction:
            return int(conn.execute(sql, params).rowcount)
        with self.transaction():
            return int(conn.execute(sql, params).rowcount)

    def _write_cached(self, sql: str, params: tuple[Any, ...]) -> int:
        """A write to a table whose rows are cached: the cache goes (also if the write fails)."""
        self._rows.clear()
        return self._write(sql, params)

    def _cached(self, kind: str, key: str) -> Any:
        """The cached row (a KeyError when there is none), after making sure no one else wrote since."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._rows.clear()
            self._data_version = version
        return self._rows[kind, key]

    def _cache(self, kind: str, key: str, value: _T) -> _T:
        if len(self._rows) >= 100_000:
            self._rows.clear()
        self._rows[kind, key] = value
        return value

    # accounts and numbers
    def create_account(self, account_id: str, name: str, now: float) -> Account:
        try:
            self._write_cached(
                "INSERT INTO accounts(account_id, name, created) VALUES (?, ?, ?)", (account_id, name, now)
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"account {account_id} exists") from None
        return Account(account_id, name, now)

    def get_account(self, account_id: str) -> Account | None:
        try:
            found: Account | None = self._cached("account", account_id)
            return found
        except KeyError:
            pass
        r = self._one("SELECT * FROM accounts WHERE account_id = ?", (account_id,))
        return self._cache("account", account_id,
                           None if r is None else Account(r["account_id"], r["name"], r["created"]))

    def find_account(self, id_or_name: str) -> Account | None:
        found = self.get_account(id_or_name)
        if found is not None:
            return found
        rows = self._all("SELECT * FROM accounts WHERE name = ?", (id_or_name,))
        if len(rows) > 1:
            raise StoreError(f"account name {id_or_name!r} is ambiguous: use its id")
        return None if not rows else Account(rows[0]["account_id"], rows[0]["name"], rows[0]["created"])

    def add_number(self, account_id: str, number: str) -> None:
        self._write_cached("INSERT OR IGNORE INTO numbers(number, account_id) VALUES (?, ?)",
                           (number, account_id))

    def numbers_of(self, account_id: str) -> list[str]:
        try:
            return list(self._cached("numbers", account_id))
        except KeyError:
            pass
        rows = self._all("SELECT number FROM numbers WHERE account_id = ? ORDER BY number", (account_id,))
        return list(self._cache("numbers", account_id, tuple(r["number"] for r in rows)))

    def accounts_for_number(self, number: str) -> list[str]:
        rows = self._all("SELECT account_id FROM numbers WHERE number = ? ORDER BY account_id", (number,))
        return [r["account_id"] for r in rows]

    # cards
    def put_card(self, card: Card) -> None:
        self._write_cached(
            "INSERT OR REPLACE INTO cards(card_id, account_id, cert_pem, revoked, created, cert_9a_pem,"
            " enroll_token) VALUES (?,?,?,?,?,?,?)",
            (card.card_id, card.account_id, card.cert_pem, int(card.revoked), card.created, card.cert_9a_pem,
             card.enroll_token),
        )

    def get_card(self, card_id: str) -> Card | None:
        try:
            found: Card | None = self._cached("card", card_id)
            return found
        except KeyError:
            pass
        r = self._one("SELECT * FROM cards WHERE card_id = ?", (card_id,))
        if r is None:
            return self._cache("card", card_id, None)
        return self._cache("card", card_id, Card(r["card_id"], r["account_id"], r["cert_pem"],
                                                 bool(r["revoked"]), r["created"], r["cert_9a_pem"],
                                                 r["enroll_token"]))

    def revoke_card(self, card_id: str, now: float) -> bool:
        sql = "UPDATE cards SET revoked = 1, revoked_at = ? WHERE card_id = ?"
        return self._write_cached(sql, (now, card_id)) > 0

    # boxes
    def put_box(self, box: Box) -> None:
        self._write_cached(
            "INSERT OR REPLACE INTO boxes(box_id, cert_pem, name, board, location, line_number, owner,"
            " revoked, created, emergency_contacts) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (box.box_id, box.cert_pem, box.name, box.board,
             None if box.location is None else json.dumps(box.location, sort_keys=True),
             box.line_number, box.owner, int(box.revoked), box.created,
             json.dumps(list(box.emergency_contacts))),
        )

    def get_box(self, box_id: str) -> Box | None:
        try:
            found: Box | None = self._cached("box", box_id)
            return found
        except KeyError:
            pass
        r = self._one("SELECT * FROM boxes WHERE box_id = ?", (box_id,))
        if r is None:
            return self._cache("box", box_id, None)
        return self._cache("box", box_id, box_from_row(r))

    def list_boxes(self, limit: int) -> list[Box]:
        rows = self._all("SELECT * FROM boxes ORDER BY created DESC, box_id LIMIT ?", (limit,))
        return [box_from_row(r) for r in rows]

    def revoke_box(self, box_id: str, now: float) -> bool:
        sql = "UPDATE boxes SET revoked = 1, revoked_at = ? WHERE box_id = ?"
        return self._write_cached(sql, (now, box_id)) > 0

    # installer tokens: only the hash is stored
    def add_token(self, token: Token) -> None:
        self._write(
            "INSERT INTO installer_tokens(token_hash, kind, expires, used) VALUES (?,?,?,?)",
            (token.token_hash, token.kind, token.expires, int(token.used)),
        )

    def consume_token(self, token_hash: str) -> Token | None:
        with self._atomic():
            r = self._one("SELECT * FROM installer_tokens WHERE token_hash = ?", (token_hash,))
            if r is None:
                return None
            if not r["used"]:
                self.conn.execute("UPDATE installer_tokens SET used = 1 WHERE token_hash = ?", (token_hash,))
        return Token(r["token_hash"], r["kind"], r["expires"], bool(r["used"]))

    # registrations
    def active_registration(self, card_id: str) -> Registration | None:
        r = self._one("SELECT * FROM registrations WHERE card_id = ? AND active = 1", (card_id,))
        return None if r is None else reg_from_row(r)

    def active_registrations_at(self, box_id: str) -> list[Registration]:
        sql = "SELECT * FROM registrations WHERE box_id = ? AND active = 1 ORDER BY since"
        rows = self._all(sql, (box_id,))
        return [reg_from_row(r) for r in rows]

    def active_registrations_for(self, account_id: str) -> list[Registration]:
        rows = self._all(
            "SELECT * FROM registrations WHERE account_id = ? AND active = 1 ORDER BY since", (account_id,)
        )
        return [reg_from_row(r) for r in rows]

    def next_seq(self, card_id: str) -> int:
        r = self._one("SELECT MAX(seq) AS m FROM registrations WHERE card_id = ?", (card_id,))
        return 1 if r is None or r["m"] is None else int(r["m"]) + 1

    def add_registration(self, reg: Registration) -> None:
        self._write(
            "INSERT INTO registrations(registration_id, card_id, box_id, account_id, since, lease_expiry,"
            " seq, location, active, ended, end_reason, proven_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (reg.registration_id, reg.card_id, reg.box_id, reg.account_id, reg.since, reg.lease_expiry,
             reg.seq,
             None if reg.location is None else json.dumps(reg.location, sort_keys=True), int(reg.active),
             reg.ended, reg.end_reason, reg.proven_at),
        )

    def end_registration(self, registration_id: str, now: float, reason: str) -> None:
        self._write(
            "UPDATE registrations SET active = 0, ended = ?, end_reason = ?"
            " WHERE registration_id = ? AND active = 1",
            (now, reason, registration_id),
        )

    def extend_lease(self, registration_id: str, lease_expiry: float) -> None:
        self._write(
            "UPDATE registrations SET lease_expiry = ? WHERE registration_id = ? AND active = 1",
            (lease_expiry, registration_id),
        )

    def lapsed_registrations(self, now: float) -> list[Registration]:
        rows = self._all("SELECT * FROM registrations WHERE active = 1 AND lease_expiry <= ?", (now,))
        return [reg_from_row(r) for r in rows]

    def revoked_registrations(self) -> list[Registration]:
        """Live registrations whose card or box is revoked (the registry ends them and tells the box)."""
        rows = self._all(
            "SELECT r.* FROM registrations r LEFT JOIN cards c ON c.card_id = r.card_id"
            " LEFT JOIN boxes b ON b.box_id = r.box_id"
            " WHERE r.active = 1 AND (c.revoked = 1 OR b.revoked = 1)"
        )
        return [reg_from_row(r) for r in rows]

    def earliest_lease_expiry(self) -> float | None:
        r = self._one("SELECT MIN(lease_expiry) AS m FROM registrations WHERE active = 1")
        return None if r is None or r["m"] is None else float(r["m"])

    # durable deliveries from boxes' outboxes: idempotent per (box, key)
    def add_delivery(self, key: str, box_id: str, kind: str, payload: Json, at: float) -> bool:
        """Store one delivered item; False when this box had already delivered ``key`` (nothing changes)."""
        n = self._write(
            "INSERT OR IGNORE INTO deliveries(key, box_id, kind, payload, at) VALUES (?,?,?,?,?)",
            (key, box_id, kind, json.dumps(payload), at),
        )
        return n > 0

    # events
    def add_event(self, at: float, kind: str, fields: Json) -> None:
        self._write("INSERT INTO events(at, kind, fields) VALUES (?,?,?)", (at, kind, json.dumps(fields)))

    def events(self, limit: int = 100) -> list[Event]:
        rows = self._all("SELECT * FROM events ORDER BY event_id DESC LIMIT ?", (limit,))
        return [Event(r["event_id"], r["at"], r["kind"], json.loads(r["fields"])) for r in reversed(rows)]

    # local-services directory
    def replace_services(self, services: list[Service]) -> None:
        """The directory becomes exactly ``services`` (one transaction: an import is all or nothing)."""
        with self._atomic():
            self._write("DELETE FROM services")
            self.conn.executemany(
                "INSERT INTO services(category, number, name, lat, lon, radius_m) VALUES (?,?,?,?,?,?)",
                [(s.category, s.number, s.name, s.lat, s.lon, s.radius_m) for s in services])

    def replace_answering_points(self, points: list[AnsweringPoint]) -> None:
        """The answering-point directory becomes exactly ``points`` (all or nothing)."""
        with self._atomic():
            self._write("DELETE FROM answering_points")
            self.conn.executemany(
                "INSERT INTO answering_points(seq, name, uri, kind, lat, lon, radius_m, country, a1, a3, "
                "callback_from, tls_fingerprint, tls_ca) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(i, p.name, p.uri, p.kind, p.lat, p.lon, p.radius_m, p.country, p.a1, p.a3,
                  json.dumps(list(p.callback_from)), p.tls_fingerprint, p.tls_ca)
                 for i, p in enumerate(points)])

    def answering_points(self) -> list[AnsweringPoint]:
        rows = self._all("SELECT * FROM answering_points ORDER BY seq", ())
        return [AnsweringPoint(r["name"], r["uri"], r["kind"], r["lat"], r["lon"], r["radius_m"],
                               r["country"] or "", r["a1"] or "", r["a3"] or "",
                               tuple(json.loads(r["callback_from"] or "[]")), r["tls_fingerprint"] or "",
                               r["tls_ca"] or "") for r in rows]

    def services(self, category: str | None = None) -> list[Service]:
        where, params = (" WHERE category = ?", (category,)) if category is not None else ("", ())
        rows = self._all(f"SELECT * FROM services{where} ORDER BY category, name, number", params)
        return [Service(r["category"], r["name"], r["number"], r["lat"], r["lon"], r["radius_m"])
                for r in rows]

    def services_near(self, category: str, lat: float, lon: float) -> list[Service]:
        """The services of ``category`` that may cover (lat, lon): those whose latitude alone does not
        put them beyond their radius (a great-circle distance is at least the latitude difference's
        meridian arc), so no covering service is left out; ``services.nearest`` decides among them."""
        rows = self._all("SELECT * FROM services WHERE category = ? AND ABS(lat - ?) * ? <= radius_m "
                         "ORDER BY name, number", (category, lat, _M_PER_DEGREE_LAT * 0.999))
        return [Service(r["category"], r["name"], r["number"], r["lat"], r["lon"], r["radius_m"])
                for r in rows]
    # host lines and rights on them
    def grant_line(self, account_id: str, line_number: str) -> None:
        """The account may call out through the line (other rights as they were, or the defaults)."""
        with self._atomic():
            right = self.line_right(account_id, line_number) or LineRight(line_number, account_id)
            self.put_line_right(dataclasses.replace(right, call_out=True))

    def line_rights_of(self, account_id: str) -> list[str]:
        rows = self._all("SELECT line_number FROM line_rights WHERE account_id = ? "
                         "AND COALESCE(call_out, 1) = 1 ORDER BY line_number", (account_id,))
        return [r["line_number"] for r in rows]

    def put_line_right(self, right: LineRight) -> None:
        self._write(
            "INSERT OR REPLACE INTO line_rights(line_number, account_id, call_out, receive, max_call_s, "
            "prefixes, blocked, spend_limit, rate_per_min, spent) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (right.line_number, right.account_id, int(right.call_out), int(right.receive), right.max_call_s,
             json.dumps(list(right.prefixes)), json.dumps(list(right.blocked)), right.spend_limit,
             right.rate_per_min, right.spent),
        )

    def line_right(self, account_id: str, line_number: str) -> LineRight | None:
        r = self._one("SELECT * FROM line_rights WHERE account_id = ? AND line_number = ?",
                      (account_id, line_number))
        return None if r is None else right_from_row(r)

    def line_rights_on(self, line_number: str) -> list[LineRight]:
        rows = self._all("SELECT * FROM line_rights WHERE line_number = ? ORDER BY account_id",
                         (line_number,))
        return [right_from_row(r) for r in rows]

    def add_spent(self, account_id: str, line_number: str, amount: float) -> None:
        self._write("UPDATE line_rights SET spent = COALESCE(spent, 0) + ? WHERE account_id = ? "
                    "AND line_number = ?", (amount, account_id, line_number))

    # holders' profiles
    def put_profile(self, account_id: str, profile: Json, now: float) -> int:
        with self._atomic():
            row = self._one("SELECT COALESCE(MAX(version), 0) AS v FROM profiles")
            version = (int(row["v"]) if row is not None else 0) + 1
            self._write("INSERT OR REPLACE INTO profiles(account_id, profile, version, updated) "
                        "VALUES (?, ?, ?, ?)", (account_id, json.dumps(profile), version, now))
        return version

    def get_profile(self, account_id: str) -> tuple[Json, int] | None:
        r = self._one("SELECT profile, version FROM profiles WHERE account_id = ?", (account_id,))
        return None if r is None else (dict(json.loads(r["profile"])), int(r["version"]))

    def profiles_changed_since(self, version: int) -> list[tuple[str, int]]:
        rows = self._all("SELECT account_id, version FROM profiles WHERE version > ? ORDER BY version",
                         (version,))
        return [(r["account_id"], int(r["version"])) for r in rows]

    def profile_version(self) -> int:
        row = self._one("SELECT COALESCE(MAX(version), 0) AS v FROM profiles")
        return int(row["v"]) if row is not None else 0

    def last_emergency_at(self, box_id: str) -> float | None:
        """When the box last placed an emergency call, as its outbox told us (None: never)."""
        r = self._one("SELECT payload, at FROM deliveries WHERE box_id = ? AND kind = ? "
                      "ORDER BY at DESC LIMIT 1", (box_id, EMERGENCY_CALL_KIND))
        if r is None:
            return None
        dialled = json.loads(r["payload"]).get("dialled_at")
        return float(dialled) if isinstance(dialled, int | float) else float(r["at"])

    def host_lines(self) -> list[tuple[str, str]]:
        """(line number, box id) of every box with a line that is not revoked."""
        rows = self._all("SELECT line_number, box_id FROM boxes WHERE line_number IS NOT NULL "
                         "AND line_number != '' AND revoked = 0 ORDER BY line_number, box_id")
        return [(r["line_number"], r["box_id"]) for r in rows]

    # call records
    def open_call(self, rec: CallRecord) -> bool:
        """Insert the record of a new call; False (nothing changes) if the call id has one already."""
        n = self._write(
            "INSERT OR IGNORE INTO calls(call_id, route, caller, called, created, state, line, account_id, "
            "card_id, host_box, terminal_box, offered, answered_at, ended_at, duration_s, answer_inferred, "
            "outcome, end_reason, reports) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (rec.call_id, rec.route, rec.caller, rec.called, rec.created, rec.state, rec.line,
             rec.account_id, rec.card_id, rec.host_box, rec.terminal_box, json.dumps(list(rec.offered)),
             rec.answered_at, rec.ended_at, rec.duration_s, int(rec.answer_inferred), rec.outcome,
             rec.end_reason, None if rec.reports is None else json.dumps(rec.reports)),
        )
        return n > 0

    def close_call(
        self, call_id: str, *, ended_at: float, outcome: str, end_reason: str, answered_at: float | None,
        answer_inferred: bool, account_id: str | None, card_id: str | None, terminal_box: str | None,
        host_box: str | None, line: str | None, offered: tuple[str, ...],
    ) -> bool:
        """Close an open record (False if it is closed already or missing). What a box reported through
        its outbox before (an inferred answer) is kept."""
        n = self._write(
            "UPDATE calls SET state = 'closed', ended_at = ?, outcome = ?, end_reason = ?, "
            "answered_at = COALESCE(?, answered_at), answer_inferred = MAX(answer_inferred, ?), "
            "duration_s = CASE WHEN COALESCE(?, answered_at) IS NULL THEN 0 "
            "ELSE MAX(0, ? - COALESCE(?, answered_at)) END, "
            "account_id = COALESCE(?, account_id), card_id = COALESCE(?, card_id), "
            "terminal_box = COALESCE(?, terminal_box), host_box = COALESCE(?, host_box), "
            "line = COALESCE(?, line), offered = ? WHERE call_id = ? AND state = 'open'",
            (ended_at, outcome, end_reason, answered_at, int(answer_inferred), answered_at, ended_at,
             answered_at, account_id, card_id, terminal_box, host_box, line, json.dumps(list(offered)),
             call_id),
        )
        return n > 0

    def answer_call(
        self, call_id: str, *, answered_at: float, answer_inferred: bool, terminal_box: str | None,
        account_id: str | None, card_id: str | None,
    ) -> None:
        """Note the answer on an open record (durable at once: a restart then records it answered)."""
        self._write(
            "UPDATE calls SET answered_at = COALESCE(answered_at, ?), "
            "answer_inferred = MAX(answer_inferred, ?), "
            "terminal_box = COALESCE(?, terminal_box), account_id = COALESCE(?, account_id), "
            "card_id = COALESCE(?, card_id) WHERE call_id = ? AND state = 'open'",
            (answered_at, int(answer_inferred), terminal_box, account_id, card_id, call_id),
        )

    def merge_call_report(self, call_id: str, box_id: str, payload: Json, at: float) -> bool:
        """Fold a box's outbox report about ``call_id`` into its record; create the record (closed) when
        the registry has none (a call made on a box's own line while the registry was unreachable).
        True when a record was created."""
        with self._atomic():
            row = self._one("SELECT * FROM calls WHERE call_id = ?", (call_id,))
            side = payload.get("side")  # one box can be host and terminal of the same call
            report_key = f"{box_id}/{side}" if isinstance(side, str) and side else box_id
            inferred = bool(payload.get("answer_inferred", False))
            answered = payload.get("answered_at")
            answered_at = float(answered) if isinstance(answered, int | float) else None
            if row is not None:
                reports = json_or_none(row["reports"]) or {}
                reports[report_key] = payload
                self._write(
                    "UPDATE calls SET reports = ?, answer_inferred = MAX(answer_inferred, ?), "
                    "answered_at = COALESCE(answered_at, ?) WHERE call_id = ?",
                    (json.dumps(reports), int(inferred), answered_at, call_id),
                )
                return False
            ended = payload.get("ended_at")
            ended_at = float(ended) if isinstance(ended, int | float) else at
            started = payload.get("started_at")
            created = float(started) if isinstance(started, int | float) else ended_at
            outcome = str(payload.get("outcome") or ("answered" if answered_at is not None else "missed"))
            route = str(payload.get("route") or "own-line")
            card_id = _str_or_none(payload.get("card_id"))
            account = _str_or_none(payload.get("account"))
            if account is None and card_id is not None:  # the holder the box's card names
                card = self.get_card(card_id)
                account = card.account_id if card is not None else None
            line = _str_or_none(payload.get("line"))
            if line is None and route == "own-line":  # the line of the box that made the call
                box = self.get_box(box_id)
                line = box.line_number if box is not None else None
            rec = CallRecord(
                call_id=call_id, route=route,
                caller=str(payload.get("caller") or line or ""), called=str(payload.get("number") or ""),
                created=created, state="closed", line=line,
                account_id=account, card_id=card_id,
                terminal_box=box_id, answered_at=answered_at, ended_at=ended_at,
                duration_s=0.0 if answered_at is None else max(0.0, ended_at - answered_at),
                answer_inferred=inferred, outcome=outcome,
                end_reason=str(payload.get("end_reason") or payload.get("reason") or "hangup"),
                reports={report_key: payload},
            )
            self.open_call(rec)
            return True

    def get_call(self, call_id: str) -> CallRecord | None:
        r = self._one("SELECT * FROM calls WHERE call_id = ?", (call_id,))
        return None if r is None else call_from_row(r)

    def calls(self, number: str | None = None, limit: int = 100) -> list[CallRecord]:
        """The newest ``limit`` records (oldest first), or those where ``number`` called, was called or
        was the host line."""
        if number is None:
            rows = self._all("SELECT * FROM calls ORDER BY created DESC, call_id LIMIT ?", (limit,))
        else:
            rows = self._all("SELECT * FROM calls WHERE caller = ? OR called = ? OR line = ? "
                             "ORDER BY created DESC, call_id LIMIT ?", (number, number, number, limit))
        return [call_from_row(r) for r in reversed(rows)]

    def open_calls(self) -> list[CallRecord]:
        return [call_from_row(r) for r in self._all("SELECT * FROM calls WHERE state = 'open'")]

    def last_sos_call_back(self, number: str) -> tuple[str, float] | None:
        """The box and time of the newest emergency call the cloud's SIP route placed presenting
        ``number`` as its call-back number (None: never). In the calls table, so it survives a restart."""
        r = self._one("SELECT terminal_box, created FROM calls WHERE route = 'sos' AND caller = ? "
                      "AND terminal_box IS NOT NULL ORDER BY created DESC LIMIT 1", (number,))
        return None if r is None else (str(r["terminal_box"]), float(r["created"]))

    def last_sos_call(self, number: str) -> tuple[str, str, float] | None:
        """:meth:`last_sos_call_back` with that emergency call's id first."""
        r = self._one("SELECT call_id, terminal_box, created FROM calls WHERE route = 'sos' AND caller = ? "
                      "AND terminal_box IS NOT NULL ORDER BY created DESC LIMIT 1", (number,))
        return None if r is None else (str(r["call_id"]), str(r["terminal_box"]), float(r["created"]))

    def add_emergency_callback(self, call_id: str, entry: Json) -> None:
        """Append one answering point's call-back to emergency call ``call_id``'s record (if it has one)."""
        with self._atomic():
            r = self._one("SELECT callbacks FROM emergencies WHERE call_id = ?", (call_id,))
            if r is None:
                return
            entries = [*json.loads(r["callbacks"] or "[]"), entry][-50:]
            self._write("UPDATE emergencies SET callbacks = ? WHERE call_id = ?",
                        (json.dumps(entries), call_id))

    # emergency calls
    def add_emergency(self, rec: EmergencyRecord) -> bool:
        """Insert the record of an emergency call; False (nothing changes) if the call id has one."""
        n = self._write(
            "INSERT OR IGNORE INTO emergencies(call_id, box_id, at, received, number, route, box_name, "
            "card_id, "
            "account_id, holder, call_back, location, contacts, notify_state, notifications, notified_at, "
            "problems) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (rec.call_id, rec.box_id, rec.at, rec.received, rec.number, rec.route, rec.box_name, rec.card_id,
             rec.account_id, rec.holder, rec.call_back,
             None if rec.location is None else json.dumps(rec.location),
             json.dumps(list(rec.contacts)), rec.notify_state, json.dumps(list(rec.notifications)),
             rec.notified_at, json.dumps(list(rec.problems))),
        )
        return n > 0

    def get_emergency(self, call_id: str) -> EmergencyRecord | None:
        r = self._one("SELECT * FROM emergencies WHERE call_id = ?", (call_id,))
        return None if r is None else emergency_from_row(r)

    def emergencies(self, limit: int = 100) -> list[EmergencyRecord]:
        """The newest ``limit`` emergency calls, oldest first."""
        rows = self._all("SELECT * FROM emergencies ORDER BY received DESC, call_id LIMIT ?", (limit,))
        return [emergency_from_row(r) for r in reversed(rows)]

    def pending_emergencies(self) -> list[EmergencyRecord]:
        rows = self._all("SELECT * FROM emergencies WHERE notify_state = 'pending' ORDER BY received")
        return [emergency_from_row(r) for r in rows]

    def set_emergency_notified(
        self, call_id: str, *, state: str, notifications: tuple[Json, ...], at: float
    ) -> None:
        self._write("UPDATE emergencies SET notify_state = ?, notifications = ?, notified_at = ? "
                    "WHERE call_id = ?",
                    (state, json.dumps(list(notifications)), at, call_id))

    # voicemail (cloud.voicemail)
    _VM_COLUMNS = ("message_id, account_id, number, call_id, host_box, created, state, caller, caller_name, "
                   "started_at, ended_at, duration_s, ended, received, length(audio) AS audio_bytes")

    def add_voicemail(self, rec: VoicemailRecord) -> bool:
        """A message the registry asked a host to record (state ``recording``); False if the id exists."""
        n = self._write(
            "INSERT OR IGNORE INTO voicemails(message_id, account_id, number, call_id, host_box, created, "
            "state, caller, caller_name, duration_s) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (rec.message_id, rec.account_id, rec.number, rec.call_id, rec.host_box, rec.created, rec.state,
             rec.caller, rec.caller_name, rec.duration_s))
        return n > 0

    def get_voicemail(self, message_id: str) -> VoicemailRecord | None:
        r = self._one(f"SELECT {self._VM_COLUMNS} FROM voicemails WHERE message_id = ?", (message_id,))
        return None if r is None else voicemail_from_row(r)

    def voicemails(self, account_id: str) -> list[VoicemailRecord]:
        """The account's messages that have arrived (new and saved), oldest first."""
        rows = self._all(f"SELECT {self._VM_COLUMNS} FROM voicemails WHERE account_id = ? "
                         "AND state IN ('new', 'saved') ORDER BY started_at, message_id", (account_id,))
        return [voicemail_from_row(r) for r in rows]

    def voicemail_audio(self, message_id: str) -> bytes | None:
        r = self._one("SELECT audio FROM voicemails WHERE message_id = ? AND state IN ('new', 'saved')",
                      (message_id,))
        return None if r is None or r["audio"] is None else bytes(r["audio"])

    def add_voicemail_chunk(self, message_id: str, seq: int, audio: bytes, meta: Json | None) -> bool:
        n = self._write("INSERT OR IGNORE INTO voicemail_chunks(message_id, seq, audio, meta) "
                        "VALUES (?,?,?,?)",
                        (message_id, seq, audio, None if meta is None else json.dumps(meta)))
        return n > 0

    def voicemail_chunks(self, message_id: str) -> list[tuple[int, bytes, Json | None]]:
        rows = self._all("SELECT seq, audio, meta FROM voicemail_chunks WHERE message_id = ? ORDER BY seq",
                         (message_id,))
        return [(int(r["seq"]), bytes(r["audio"]), json_or_none(r["meta"])) for r in rows]

    def finish_voicemail(self, message_id: str, audio: bytes, meta: Json, received: float) -> bool:
        """All chunks came: the message becomes ``new`` with its audio; its chunks go. False unless it was
        still ``recording``."""
        with self._atomic():
            n = self._write(
                "UPDATE voicemails SET state = 'new', audio = ?, caller = ?, caller_name = ?, "
                "started_at = ?, ended_at = ?, duration_s = ?, ended = ?, received = ? "
                "WHERE message_id = ? AND state = 'recording'",
                (audio, meta.get("caller"), meta.get("caller_name"), meta.get("started_at"),
                 meta.get("ended_at"), meta.get("duration_s"), meta.get("ended"), received, message_id))
            self._write("DELETE FROM voicemail_chunks WHERE message_id = ?", (message_id,))
        return n > 0

    def set_voicemail_state(self, message_id: str, state: str) -> bool:
        n = self._write("UPDATE voicemails SET state = ? WHERE message_id = ? "
                        "AND state IN ('new', 'saved')", (state, message_id))
        return n > 0

    def delete_voicemail(self, message_id: str) -> bool:
        with self._atomic():
            n = self._write("DELETE FROM voicemails WHERE message_id = ?", (message_id,))
            self._write("DELETE FROM voicemail_chunks WHERE message_id = ?", (message_id,))
        return n > 0

    def count_new_voicemails(self, account_id: str) -> int:
        r = self._one("SELECT COUNT(*) AS n FROM voicemails WHERE account_id = ? AND state = 'new'",
                      (account_id,))
        return int(r["n"]) if r is not None else 0

    # greetings recorded at a handset
    def add_greeting_piece(self, account_id: str, greeting_id: str, seq: int, audio: bytes,
                           last: bool) -> None:
        self._write("INSERT OR IGNORE INTO greeting_pieces(account_id, greeting_id, seq, audio, last) "
                    "VALUES (?,?,?,?,?)", (account_id, greeting_id, seq, audio, int(last)))

    def greeting_pieces(self, account_id: str, greeting_id: str) -> list[tuple[int, bytes, bool]]:
        rows = self._all("SELECT seq, audio, last FROM greeting_pieces WHERE account_id = ? "
                         "AND greeting_id = ? ORDER BY seq", (account_id, greeting_id))
        return [(int(r["seq"]), bytes(r["audio"]), bool(r["last"])) for r in rows]

    def put_greeting(self, account_id: str, greeting_id: str, audio: bytes, now: float) -> None:
        with self._atomic():
            self._write("INSERT OR REPLACE INTO greetings(account_id, greeting_id, audio, created) "
                        "VALUES (?,?,?,?)", (account_id, greeting_id, audio, now))
            self._write("DELETE FROM greeting_pieces WHERE account_id = ? AND greeting_id = ?",
                        (account_id, greeting_id))

    def greeting_audio(self, account_id: str, greeting_id: str) -> bytes | None:
        r = self._one("SELECT audio FROM greetings WHERE account_id = ? AND greeting_id = ?",
                      (account_id, greeting_id))
        return None if r is None else bytes(r["audio"])


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
