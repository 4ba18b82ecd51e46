"""The registry's storage interface: the record dataclasses and the ``RegistryStore`` protocol.

The registry core speaks only to ``RegistryStore``, so a PostgreSQL implementation can sit behind the same
methods later (``roamline.cloud.sqlite_store.SqliteStore`` is the one there is). Times are wall-clock seconds
(they must mean the same thing after a restart). Methods that write join the caller's open ``transaction()``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str
    created: float


@dataclass(frozen=True, slots=True)
class Card:
    card_id: str
    account_id: str
    cert_pem: str  # key 9E (Card Authentication): what registrations are signed with
    revoked: bool
    created: float
    cert_9a_pem: str | None = None  # key 9A (PIV Authentication, PIN): tickets and consent
    enroll_token: str | None = None  # hash of the installer token that enrolled it (it may add 9A once)


@dataclass(frozen=True, slots=True)
class Box:
    box_id: str
    cert_pem: str
    name: str
    board: str
    location: Json | None
    line_number: str | None
    owner: str | None
    revoked: bool
    created: float
    emergency_contacts: tuple[str, ...] = ()  # who is told of a 911 call there (roamline.wire.contacts)


@dataclass(frozen=True, slots=True)
class VoicemailRecord:
    """One voicemail message (cloud.voicemail): taken when the registry asked a host line to record it
    (``recording``), ``new`` once all its chunks arrived, ``saved`` when the holder kept it."""

    message_id: str
    account_id: str
    number: str  # the holder's number that was called
    call_id: str  # the call's (missed-call) record
    host_box: str
    created: float  # when the registry asked for it
    state: str  # recording | new | saved
    caller: str | None = None
    caller_name: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float = 0.0
    ended: str = ""
    audio_bytes: int = 0
    received: float | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    registration_id: str
    card_id: str
    box_id: str
    account_id: str
    since: float
    lease_expiry: float
    seq: int
    location: Json | None
    active: bool
    ended: float | None = None
    end_reason: str | None = None
    proven_at: float = 0.0  # when the nonce the card signed was issued: orders registrations of one card


@dataclass(frozen=True, slots=True)
class LineRight:
    """What an account may do on a host line (its owner decides; ``roamline cloud rights``).

    ``receive``: the line's incoming calls may ring this account's holders; ``call_out``: the account may
    call out through it, to numbers starting with one of ``prefixes`` (none: any number in the line's
    area), never to ``blocked`` (numbers or prefixes), for at most ``max_call_s`` per call, while
    ``spent`` + the call's cost at ``rate_per_min`` stays within ``spend_limit`` (None: no limit)."""

    line_number: str
    account_id: str
    call_out: bool = True
    receive: bool = True
    max_call_s: float | None = None
    prefixes: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    spend_limit: float | None = None
    rate_per_min: float = 0.0
    spent: float = 0.0

    def to_json(self) -> Json:
        from dataclasses import asdict

        out = asdict(self)
        out["prefixes"], out["blocked"] = list(self.prefixes), list(self.blocked)
        return out


TokenKind = Literal["box", "card", "any"]
"""What an installer token may enroll."""


@dataclass(frozen=True, slots=True)
class Token:
    token_hash: str
    kind: TokenKind
    expires: float
    used: bool


@dataclass(frozen=True, slots=True)
class Event:
    event_id: int
    at: float
    kind: str
    fields: Json


@dataclass(frozen=True, slots=True)
class AnsweringPoint:
    """One entry of the answering-point directory (cloud.psap): the SIP URI of a PSAP and one service
    area: ``kind`` ``circle`` (``lat``, ``lon``, ``radius_m``), ``admin`` (``country``, and optionally
    ``a1`` state and ``a3`` city, RFC 5139) or ``default`` (anywhere no other entry covers).

    ``callback_from``: the networks (CIDR, normalised) its call-backs may come from; ``tls_fingerprint``
    (``AB:CD:…``, SHA-256 of the DER certificate) and ``tls_ca`` (PEM text: a CA or its own self-signed
    certificate) authenticate it when its URI says TLS (``sips:`` or ``;transport=tls``)."""

    name: str
    uri: str
    kind: str
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    country: str = ""
    a1: str = ""
    a3: str = ""
    callback_from: tuple[str, ...] = ()
    tls_fingerprint: str = ""
    tls_ca: str = ""


@dataclass(frozen=True, slots=True)
class Service:
    """One entry of the local-services directory (cloud.services)."""

    category: str
    name: str
    number: str  # E.164
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call, one row (docs/protocol.md §10.5). ``state`` is ``open`` while the call lives.

    ``route``: ``incoming`` (a host line rang), ``box``, ``own-line``, ``host-line`` (placed calls).
    ``account_id``/``card_id``: the holder the call is for (incoming: who answered, else the first
    subscribed) or billed to (placed). ``outcome``: ``answered`` | ``missed`` | ``refused`` once closed.
    ``reports``: what boxes delivered about the call through their outbox, by box id.
    """

    call_id: str
    route: str
    caller: str  # the caller's number (caller ID, the caller's follow-me number) or "" when unknown
    called: str  # the number called
    created: float
    state: str = "open"
    line: str | None = None  # the host line used (its number)
    account_id: str | None = None
    card_id: str | None = None
    host_box: str | None = None
    terminal_box: str | None = None
    offered: tuple[str, ...] = ()
    answered_at: float | None = None
    ended_at: float | None = None
    duration_s: float | None = None
    answer_inferred: bool = False
    outcome: str | None = None
    end_reason: str | None = None
    reports: Json | None = None

    def to_json(self) -> Json:
        from dataclasses import asdict

        out = asdict(self)
        out["offered"] = list(self.offered)
        return out


@dataclass(frozen=True, slots=True)
class EmergencyRecord:
    """One emergency call (DESIGN §6.4; docs/protocol.md §4.2), keyed by the box's call id.

    ``at``: when the box dialled (Unix seconds; None if its report had no usable time); ``received``: when
    the registry heard of it (later than ``at`` when the box's outbox held the report while offline).
    ``account_id``/``holder``: the holder whose card was chosen at the box, if any. ``location``: the box's
    snapshot in the report, else its recorded location. ``contacts``: who was to be told (the box's
    emergency contacts then); ``notifications``: one result per contact (``contact``, ``ok``, ``attempts``,
    ``at``, ``error``); ``notify_state``: ``pending`` | ``sent`` | ``partial`` | ``failed`` | ``no-contacts``.
    """

    call_id: str
    box_id: str
    at: float | None
    received: float
    number: str
    route: str
    box_name: str = ""
    card_id: str | None = None
    account_id: str | None = None
    holder: str | None = None
    call_back: str | None = None
    location: Json | None = None
    contacts: tuple[str, ...] = ()
    notify_state: str = "pending"
    notifications: tuple[Json, ...] = ()
    notified_at: float | None = None
    problems: tuple[str, ...] = ()
    # the answering points' call-backs: ``at``, ``psap``, ``uri``, ``from``, ``transport``, ``status``
    callbacks: tuple[Json, ...] = ()

    def to_json(self) -> Json:
        from dataclasses import asdict

        out = asdict(self)
        out["contacts"] = list(self.contacts)
        out["notifications"] = list(self.notifications)
        out["problems"] = list(self.problems)
        return out


class RegistryStore(Protocol):
    """What the registry needs from storage. Methods that write join the caller's open transaction."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def create_account(self, account_id: str, name: str, now: float) -> Account: ...
    def get_account(self, account_id: str) -> Account | None: ...
    def find_account(self, id_or_name: str) -> Account | None: ...
    def add_number(self, account_id: str, number: str) -> None: ...
    def numbers_of(self, account_id: str) -> list[str]: ...
    def accounts_for_number(self, number: str) -> list[str]: ...

    def put_card(self, card: Card) -> None: ...
    def get_card(self, card_id: str) -> Card | None: ...
    def revoke_card(self, card_id: str, now: float) -> bool: ...

    def put_box(self, box: Box) -> None: ...
    def get_box(self, box_id: str) -> Box | None: ...
    def list_boxes(self, limit: int) -> list[Box]: ...  # newest first
    def revoke_box(self, box_id: str, now: float) -> bool: ...


    def add_token(self, token: Token) -> None: ...
    def consume_token(self, token_hash: str) -> Token | None: ...

    def active_registration(self, card_id: str) -> Registration | None: ...
    def active_registrations_at(self, box_id: str) -> list[Registration]: ...
    def active_registrations_for(self, account_id: str) -> list[Registration]: ...
    def next_seq(self, card_id: str) -> int: ...
    def add_registration(self, reg: Registration) -> None: ...
    def end_registration(self, registration_id: str, now: float, reason: str) -> None: ...
    def extend_lease(self, registration_id: str, lease_expiry: float) -> None: ...
    def lapsed_registrations(self, now: float) -> list[Registration]: ...
    def revoked_registrations(self) -> list[Registration]: ...
    def earliest_lease_expiry(self) -> float | None: ...

    def add_delivery(self, key: str, box_id: str, kind: str, payload: Json, at: float) -> bool: ...
    def add_event(self, at: float, kind: str, fields: Json) -> None: ...

    # host lines and the rights of accounts on them
    def grant_line(self, account_id: str, line_number: str) -> None: ...
    def line_rights_of(self, account_id: str) -> list[str]: ...  # lines the account may call out through
    def put_line_right(self, right: LineRight) -> None: ...
    def line_right(self, account_id: str, line_number: str) -> LineRight | None: ...
    def line_rights_on(self, line_number: str) -> list[LineRight]: ...
    def add_spent(self, account_id: str, line_number: str, amount: float) -> None: ...
    def host_lines(self) -> list[tuple[str, str]]: ...

    # holders' profiles (wire.profile JSON), one per account; ``version`` grows with every change
    def put_profile(self, account_id: str, profile: Json, now: float) -> int: ...
    def get_profile(self, account_id: str) -> tuple[Json, int] | None: ...
    def profiles_changed_since(self, version: int) -> list[tuple[str, int]]: ...
    def profile_version(self) -> int: ...
    def last_emergency_at(self, box_id: str) -> float | None: ...

    # call records: one row per call id
    def open_call(self, rec: CallRecord) -> bool: ...
    def close_call(
        self, call_id: str, *, ended_at: float, outcome: str, end_reason: str, answered_at: float | None,
        answer_inferred: bool, account_id: str | None, card_id: str | None, terminal_box: str | None,
        host_box: str | None, line: str | None, offered: tuple[str, ...],
    ) -> bool: ...
    def answer_call(
        self, call_id: str, *, answered_at: float, answer_inferred: bool, terminal_box: str | None,
        account_id: str | None, card_id: str | None,
    ) -> None: ...
    def merge_call_report(self, call_id: str, box_id: str, payload: Json, at: float) -> bool: ...
    def get_call(self, call_id: str) -> CallRecord | None: ...
    def calls(self, number: str | None = None, limit: int = 100) -> list[CallRecord]: ...
    def open_calls(self) -> list[CallRecord]: ...
    def last_sos_call_back(self, number: str) -> tuple[str, float] | None: ...  # (box, when) presented
    def last_sos_call(self, number: str) -> tuple[str, str, float] | None: ...  # (call id, box, when)
    def add_emergency_callback(self, call_id: str, entry: Json) -> None: ...
    def events(self, limit: int = 100) -> list[Event]: ...

    # emergency calls: one row per call id (cloud.notify sends the notifications)
    def add_emergency(self, rec: EmergencyRecord) -> bool: ...
    def get_emergency(self, call_id: str) -> EmergencyRecord | None: ...
    def emergencies(self, limit: int = 100) -> list[EmergencyRecord]: ...  # oldest first
    def pending_emergencies(self) -> list[EmergencyRecord]: ...
    def set_emergency_notified(
        self, call_id: str, *, state: str, notifications: tuple[Json, ...], at: float
    ) -> None: ...

    def replace_services(self, services: list[Service]) -> None: ...
    def replace_answering_points(self, points: list[AnsweringPoint]) -> None: ...
    def answering_points(self) -> list[AnsweringPoint]: ...
    # voicemail (cloud.voicemail)
    def add_voicemail(self, rec: VoicemailRecord) -> bool: ...
    def get_voicemail(self, message_id: str) -> VoicemailRecord | None: ...
    def voicemails(self, account_id: str) -> list[VoicemailRecord]: ...
    def voicemail_audio(self, message_id: str) -> bytes | None: ...
    def add_voicemail_chunk(self, message_id: str, seq: int, audio: bytes, meta: Json | None) -> bool: ...
    def voicemail_chunks(self, message_id: str) -> list[tuple[int, bytes, Json | None]]: ...
    def finish_voicemail(self, message_id: str, audio: bytes, meta: Json, received: float) -> bool: ...
    def set_voicemail_state(self, message_id: str, state: str) -> bool: ...
    def delete_voicemail(self, message_id: str) -> bool: ...
    def count_new_voicemails(self, account_id: str) -> int: ...
    def add_greeting_piece(self, account_id: str, greeting_id: str, seq: int, audio: bytes,
                           last: bool) -> None: ...
    def greeting_pieces(self, account_id: str, greeting_id: str) -> list[tuple[int, bytes, bool]]: ...
    def put_greeting(self, account_id: str, greeting_id: str, audio: bytes, now: float) -> None: ...
    def greeting_audio(self, account_id: str, greeting_id: str) -> bytes | None: ...
    def services(self, category: str | None = None) -> list[Service]: ...
    def services_near(self, category: str, lat: float, lon: float) -> list[Service]: ...
