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
    def events(self, limit: int = 100) -> list[Event]: ...
