"""A registry on loopback for the card-issue command tests (the command runs its own event loop)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from roamline.cli.main import main as cli_main
from roamline.cloud.registry import Registry, RegistryConfig
from roamline.cloud.server import RegistryServer
from roamline.cloud.store import Card, SqliteStore, Token
from roamline.wire import identity

SERVER_NAME = "registry.roamline"
T = TypeVar("T")


class Registrar:
    """A registry on loopback in its own thread (the command under test runs its own event loop)."""

    def __init__(self, root: Path) -> None:
        now = time.time()
        self.ca = identity.CertificateAuthority.create(now=now)
        self.ca_path = root / "ca.pem"
        self.ca_path.write_bytes(self.ca.cert_pem)
        self.tls = self.ca.issue_registry_tls(dns_name=SERVER_NAME, now=now)
        self.db = root / "registry.db"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store: SqliteStore = self.call(self._open)
        self.server = RegistryServer(Registry(self.store, self.ca, RegistryConfig()), host="127.0.0.1",
                                     port=0, tls_cert_pem=self.tls[0], tls_key_pem=self.tls[1],
                                     wall=time.time)

    def _open(self) -> SqliteStore:
        store = SqliteStore(self.db)
        store.open()
        store.create_account("acct-ann", "Ann", time.time())
        store.create_account("acct-bob", "Bob", time.time())
        return store

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the registry's thread (SQLite connections belong to the thread that made them)."""
        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def stop(self) -> None:
        """Idempotent (a test may stop the registry itself)."""
        if not self.thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.call(self.store.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def token(self) -> str:
        tok = identity.new_installer_token()
        self.call(self.store.add_token, Token(identity.token_hash(tok), "card", time.time() + 600, False))
        return tok

    def token_used(self, tok: str) -> bool:
        def used() -> bool:
            row = self.store.conn.execute("SELECT used FROM installer_tokens WHERE token_hash = ?",
                                          (identity.token_hash(tok),)).fetchone()
            return bool(row[0])
        return self.call(used)

    def cards(self) -> list[str]:
        sql = "SELECT card_id FROM cards ORDER BY 1"
        return self.call(lambda: [r[0] for r in self.store.conn.execute(sql)])

    def card(self, card_id: str) -> Card | None:
        return self.call(self.store.get_card, card_id)

    def issue(self, token: str, out: Path, *extra: str, account: str = "acct-ann") -> int:
        return cli_main(["provision", "card", "issue", "--registry", f"127.0.0.1:{self.server.port}",
                         "--ca", str(self.ca_path), "--token", token, "--account", account,
                         "--out", str(out), *extra])


