"""The registry's storage in one import: the interface (``roamline.cloud.records``: record dataclasses
and the ``RegistryStore`` protocol) and its SQLite implementation
(``roamline.cloud.sqlite_store.SqliteStore``)."""

from roamline.cloud.records import Account, Box, Card, Event, Json, Registration, RegistryStore, Token
from roamline.cloud.sqlite_store import SqliteStore

__all__ = [
    "Account",
    "Box",
    "Card",
    "Event",
    "Json",
    "Registration",
    "RegistryStore",
    "SqliteStore",
    "Token",
]
