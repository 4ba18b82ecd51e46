"""The registry's storage in one import: the interface (``roamline.cloud.records``: record dataclasses and
the ``Store`` protocol) and its SQLite implementation (``roamline.cloud.sqlite_store.SqliteStore``)."""

from roamline.cloud.records import Account, Box, Card, Event, Json, Nonce, Registration, Store, Token
from roamline.cloud.sqlite_store import SqliteStore

__all__ = [
    "Account", "Box", "Card", "Event", "Json", "Nonce", "Registration", "SqliteStore", "Store", "Token",
]
