"""What the operator commands share: the data directory layout, opening its store, E.164 checks, and
what the directory imports (`cloud psap import`, `cloud services import`) do around their parsers."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamline.cloud.errors import UsageError
from roamline.cloud.sqlite_store import SqliteStore


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


def add_data_arg(parser: argparse.ArgumentParser, *, create: bool = False) -> None:
    """``--data DIR``: a registry data directory (`roamline cloud ca init` makes one; only it may)."""
    from roamline.wire import validate

    kind: validate.Validator = validate.NewDir() if create else validate.ExistingDir(
        marker="registry.db", hint="run `roamline cloud ca init --data {path}` first")
    parser.add_argument("--data", required=True, type=kind, metavar="DIR", help="registry data directory")


def open_store(data: Path, background_checkpoint_s: float | None = None) -> SqliteStore:
    if not data.is_dir():
        raise UsageError(f"{data}: no such data directory (run `roamline cloud ca init --data {data}` first)")
    store = SqliteStore(DataDir(data).db, background_checkpoint_s)
    store.open()
    return store


def e164(number: str) -> str:
    from roamline.wire import errors, validate

    try:
        return validate.check_e164(number)
    except errors.UsageError as exc:
        raise UsageError(f"{number!r} is not an E.164 number (like +15551234567): {exc}") from None


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, fsynced, then renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def wall_now() -> float:
    return time.time()


def add_import_args(parser: argparse.ArgumentParser, columns: str) -> None:
    """``FILE.csv`` (its header: ``columns``), ``--data DIR`` and ``--json``: a directory import's."""
    from roamline.wire import validate

    parser.add_argument("file", type=validate.ExistingFile(), metavar="FILE.csv", help=columns)
    add_data_arg(parser)
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def read_csv_file(path: Path) -> str:
    """The text of a directory's CSV file (``cloud.csvfile``): UsageError if it is not UTF-8."""
    from roamline.cloud.csvfile import text_of

    return text_of(path.read_bytes(), str(path))


def replace_directory(data: Path, replace: Callable[[SqliteStore], None], event: str,
                      fields: dict[str, Any]) -> None:
    """One transaction: ``replace`` a directory in the store and record ``event`` with ``fields``."""
    store = open_store(data)
    try:
        with store.transaction():
            replace(store)
            store.add_event(wall_now(), event, fields)
    finally:
        store.close()


def print_result(result: dict[str, Any], summary: str, json_only: bool) -> None:
    """``summary`` for people (not with --json), then the JSON result line."""
    import json

    if not json_only:
        print(summary)
    print(json.dumps(result))
