"""What the operator commands share: the data directory layout, opening its store, E.164 checks."""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass
from pathlib import Path

from roamline.cloud.errors import UsageError
from roamline.cloud.sqlite_store import SqliteStore

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


@dataclass(frozen=True, slots=True)
class DataDir:
    """The registry host's data directory: the store, the CA and the registry's TLS identity."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "registry.db"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"


def add_data_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, metavar="DIR", help="registry data directory")


def open_store(data: Path, background_checkpoint_s: float | None = None) -> SqliteStore:
    if not data.is_dir():
        raise UsageError(f"{data}: no such data directory (run `roamline cloud ca init --data {data}` first)")
    store = SqliteStore(DataDir(data).db, background_checkpoint_s)
    store.open()
    return store


def e164(number: str) -> str:
    if not _E164.match(number):
        raise UsageError(f"{number!r} is not an E.164 number (like +15551234567)")
    return number


def wall_now() -> float:
    return time.time()
